package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion returns the module version writ was built from, or "devel"
// for a build from a work tree.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "devel"
	}
	return info.Main.Version
}

// buildRevision describes the version control state the binary was built
// from: the commit, its time, and "+dirty" for uncommitted changes; ""
// when the build recorded none (go run, or a build outside a checkout).
func buildRevision(info *debug.BuildInfo) string {
	var rev, when string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if dirty {
		rev += "+dirty"
	}
	if when != "" {
		rev += " " + when
	}
	return rev
}

// versionLine is what "writ version" prints: the module version, the VCS
// revision, the Go version and the platform.
func versionLine() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("writ devel (no build information; %s %s/%s)", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	rev := buildRevision(info)
	if rev == "" {
		rev = "revision unknown"
	}
	return fmt.Sprintf("writ %s (%s; %s %s/%s)", buildVersion(), rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newVersionCmd builds "writ version".
func newVersionCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the writ version and the commit it was built from",
		Long: `Print the version of this writ binary: the module version it was built
from ("go install github.com/writ-dev/writ/cmd/writ@v1.2.3" gives v1.2.3, a
build from a source tree "devel"), the VCS revision and commit time Go
recorded ("+dirty" for uncommitted changes; "revision unknown" for
"go run", builds outside a git checkout and -buildvcs=false), the Go version
and the platform.`,
		Example: `  writ version`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(s.out, versionLine())
			return err
		},
	}
}
