package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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
	cmd := exec.Command(bin, "serve", "--config", file, "--data-dir", filepath.Join(dir, "data"),
		"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func(want string) map[string]any {
		t.Helper()
		deadline := time.After(time.Minute) // a guard against a hang, not a timing check
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q", want)
				}
				if msg, _ := m["msg"].(string); strings.Contains(msg, want) {
					return m
				}
			case <-deadline:
				t.Fatalf("no log line %q", want)
			}
		}
	}
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
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
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
	cmd.Process.Signal(syscall.SIGHUP)
	if m := next("configuration reload failed"); m["level"] != "ERROR" {
		t.Fatalf("failed reload line %v", m)
	}
	if resp := token(); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after a failed reload: %d, want 429 still", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("writ stopped")
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}
