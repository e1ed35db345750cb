package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

// TestStoreFailureNoPanic: writ serve and writ migrate report a store that
// does not open in one line that names it without its password, with exit
// status 2 and no panic.
func TestStoreFailureNoPanic(t *testing.T) {
	t.Setenv("WRIT_CONFIG", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dsn := "postgres://writ:pa55word@" + addr + "/writ?sslmode=disable"
	for _, args := range [][]string{
		{"serve", "--database", dsn, "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"},
		{"migrate", "--database", dsn},
	} {
		r := writ(t, "", args...)
		if r.code != exitUsage || strings.Contains(r.stderr, "pa55word") || strings.Contains(r.stderr, "panic") {
			t.Fatalf("%s: exit %d\n%s", args[0], r.code, r.stderr)
		}
		last := r.stderr[strings.LastIndex(strings.TrimSuffix(r.stderr, "\n"), "\n")+1:]
		if !strings.HasPrefix(last, "writ: open database postgres://writ:xxxxx@"+addr+"/writ") || !strings.Contains(last, "check that PostgreSQL is running") {
			t.Fatalf("%s: last line %q", args[0], last)
		}
	}
}

// TestJoinedErrorsOnePerLine: an error made of several (errors.Join, as
// production checks build them) is listed one per line after its prefix.
func TestJoinedErrorsOnePerLine(t *testing.T) {
	err := fmt.Errorf("production mode: %w", errors.Join(errors.New("admin_addr is public"), errors.New("WRIT_ADMIN_TOKEN is\nweak")))
	msg, code := describeError(context.Background(), nil, err)
	want := "production mode: 2 problems:\n  - admin_addr is public\n  - WRIT_ADMIN_TOKEN is weak"
	if msg != want || code != exitUsage {
		t.Fatalf("got %d %q, want %q", code, msg, want)
	}
	msg, _ = describeError(context.Background(), nil, errors.Join(errors.New("a"), errors.New("b")))
	if msg != "2 problems:\n  - a\n  - b" {
		t.Fatalf("bare join: %q", msg)
	}
	if msg, _ := describeError(context.Background(), nil, fmt.Errorf("x: %w", errors.Join(errors.New("only")))); msg != "x: only" {
		t.Fatalf("single: %q", msg)
	}
}

// TestServeJSONConfigError: with --log-format json, even a configuration
// that does not load is reported as one JSON line, and production problems
// as a JSON list.
func TestServeJSONConfigError(t *testing.T) {
	t.Setenv("WRIT_CONFIG", "")
	t.Setenv("WRIT_MASTER_KEY", "")
	t.Setenv("WRIT_ACCESS_TOKEN_TTL", "ten minutes")
	r := writ(t, "", "serve", "--log-format", "json", "--data-dir", t.TempDir())
	if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 || !json.Valid([]byte(r.stderr)) || !strings.Contains(r.stderr, "WRIT_ACCESS_TOKEN_TTL") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	t.Setenv("WRIT_ACCESS_TOKEN_TTL", "")
	r = writ(t, "", "serve", "--log-format", "json", "--mode", "production", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	var line struct {
		Msg      string   `json:"msg"`
		Problems []string `json:"problems"`
	}
	if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 || json.Unmarshal([]byte(r.stderr), &line) != nil || line.Msg != "invalid configuration" || len(line.Problems) != 3 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
