package main

import (
	"strings"
	"testing"
)

// TestServeProductionProblemsOnePerLine: every production-mode problem is
// listed, each on its own line.
func TestServeProductionProblemsOnePerLine(t *testing.T) {
	t.Setenv("WRIT_MASTER_KEY", "")
	t.Setenv("WRIT_CONFIG", "")
	r := writ(t, "", "serve", "--mode", "production", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{
		"writ: the configuration has 3 problems:",
		"  - production mode needs an explicit issuer",
		"  - production mode needs a master key",
		"  - production mode needs --tls-cert-file/--tls-key-file, or --tls-terminated when",
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), r.stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start %q", i+1, lines[i], w)
		}
	}
}

// TestServeBoolFlagBare: --tls-terminated works bare; with it the TLS
// problem is gone.
func TestServeBoolFlagBare(t *testing.T) {
	t.Setenv("WRIT_MASTER_KEY", "")
	t.Setenv("WRIT_CONFIG", "")
	r := writ(t, "", "serve", "--mode", "production", "--tls-terminated", "--issuer", "https://id.example.com", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	r.mustFail(t, exitUsage, "configuration: production mode needs a master key")
}

// TestUnknownEnvironmentWarned: a WRIT_* variable that names no setting is
// warned about by the commands that read the configuration.
func TestUnknownEnvironmentWarned(t *testing.T) {
	t.Setenv("WRIT_ADRR", "127.0.0.1:9999")
	t.Setenv("WRIT_CONFIG", "")
	r := writ(t, "", "config", "show").mustSucceed(t)
	if !strings.Contains(r.stderr, "writ: warning: environment variable WRIT_ADRR names no writ setting; it is ignored (did you mean WRIT_ADDR?)") {
		t.Fatalf("stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "addr: 127.0.0.1:8080\n") {
		t.Fatalf("stdout: %q", r.stdout)
	}
}
