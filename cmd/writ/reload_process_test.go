package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestServeProcessReload: SIGHUP makes a running "writ serve" read its
// configuration file again: the log level and a rate limit change live, a
// setting that needs a restart is named as such, and the process keeps
// serving.
func TestServeProcessReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildWrit(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "writ.yaml")
	if err := os.WriteFile(file, []byte("log_level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startJSONProc(t, bin, cleanEnv(), "serve", "--config", file, "--data-dir", filepath.Join(dir, "data"),
		"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json")
	next := p.next
	serving := next("writ serving")
	addr, _ := serving["addr"].(string)
	token := func() *http.Response {
		t.Helper()
		resp, err := http.PostForm("http://"+addr+"/oauth2/token", map[string][]string{"grant_type": {"client_credentials"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 3 {
		if resp := token(); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("before the reload: %d, want 401 (no client)", resp.StatusCode)
		}
	}

	if err := os.WriteFile(file, []byte("log_level: debug\nrate_limit_token: 1/h:1\naccess_token_ttl: 30m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	next("SIGHUP received")
	restart := next("applies only after a restart")
	if restart["setting"] != "access_token_ttl" || restart["level"] != "WARN" {
		t.Fatalf("restart line %v", restart)
	}
	done := next("configuration reloaded")
	var applied []string
	for _, v := range done["applied"].([]any) {
		applied = append(applied, v.(string))
	}
	slices.Sort(applied)
	if !slices.Equal(applied, []string{"log_level", "rate_limit_token"}) {
		t.Fatalf("applied %v, want log_level and rate_limit_token", applied)
	}
	if resp := token(); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first request after the reload: %d, want 401", resp.StatusCode)
	}
	// The debug level is on: the refusal is logged at debug.
	if m := next("request rejected"); m["level"] != "DEBUG" {
		t.Fatalf("debug line %v", m)
	}
	resp := token()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3600" {
		t.Fatalf("second request after the reload: %d Retry-After %q, want 429 and 3600", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// A file that no longer loads changes nothing.
	if err := os.WriteFile(file, []byte("log_level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	if m := next("configuration reload failed"); m["level"] != "ERROR" {
		t.Fatalf("failed reload line %v", m)
	}
	if resp := token(); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after a failed reload: %d, want 429 still", resp.StatusCode)
	}
	p.terminate()
}
