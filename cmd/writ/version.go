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

// newVersionCmd builds "writ version".
func newVersionCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the writ version",
		Long: `Print the version of this writ binary: the module version it was built
from ("go install github.com/writ-dev/writ/cmd/writ@v1.2.3" gives v1.2.3),
or "devel" for a build from a source tree, followed by the Go version and
platform.`,
		Example: `  writ version`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.out, "writ %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
