package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writBin is the writ binary the process tests run, built once for all of
// them in dir (removed by TestMain).
var writBin struct {
	once     sync.Once
	dir, bin string
	err      error
}

// buildWrit builds the writ binary, once per test binary run.
func buildWrit(t *testing.T) string {
	t.Helper()
	writBin.once.Do(func() {
		if writBin.dir, writBin.err = os.MkdirTemp("", "writ-process-test-"); writBin.err != nil {
			return
		}
		writBin.bin = filepath.Join(writBin.dir, "writ")
		if out, err := exec.Command("go", "build", "-o", writBin.bin, ".").CombinedOutput(); err != nil {
			writBin.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if writBin.err != nil {
		t.Fatal(writBin.err)
	}
	return writBin.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if writBin.dir != "" {
		os.RemoveAll(writBin.dir)
	}
	os.Exit(code)
}

// cleanEnv is the environment without writ's variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WRIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// jsonProc is a "writ serve --log-format json" process whose output
// (standard error, with standard output merged into it) the test reads
// line by line: every line must be JSON.
type jsonProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan map[string]any
}

// startJSONProc starts bin with args and env; each line of its output is
// decoded as JSON (a line that is not becomes {"NOT JSON": line}, which
// fails the test when it is read).
func startJSONProc(t *testing.T, bin string, env []string, args ...string) *jsonProc {
	t.Helper()
	p := &jsonProc{t: t, cmd: exec.Command(bin, args...), lines: make(chan map[string]any)}
	p.cmd.Env = env
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"NOT JSON": sc.Text()}
			}
			p.lines <- m
		}
	}()
	return p
}

// checkJSON fails on a line that is not JSON.
func (p *jsonProc) checkJSON(m map[string]any) {
	p.t.Helper()
	if raw, bad := m["NOT JSON"]; bad {
		p.t.Fatalf("a line on standard error is not JSON: %q", raw)
	}
}

// next returns the next line whose msg contains want, failing on any line
// that is not JSON.
func (p *jsonProc) next(want string) map[string]any {
	p.t.Helper()
	deadline := time.After(time.Minute) // a guard against a hang, not a timing check
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("output ended before %q", want)
			}
			p.checkJSON(m)
			if msg, _ := m["msg"].(string); strings.Contains(msg, want) {
				return m
			}
		case <-deadline:
			p.t.Fatalf("no log line %q", want)
		}
	}
}

// signal sends sig to the process.
func (p *jsonProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// terminate sends SIGTERM and checks that the process logs "writ
// stopped", ends its output and exits with status 0.
func (p *jsonProc) terminate() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	p.next("writ stopped")
	for m := range p.lines {
		p.checkJSON(m)
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}

// TestServeProcessJSON runs "writ serve --log-format json --access-log" as
// a process: standard error holds only JSON lines, every request gets an
// access log line with its request id (never the query), SIGHUP is logged
// and the server keeps serving, and SIGTERM ends it with exit status 0.
func TestServeProcessJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startJSONProc(t, buildWrit(t), append(cleanEnv(), "WRIT_ADRR=typo"),
		"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json", "--access-log")
	next := p.next
	next("WRIT_ADRR names no writ setting")
	next("DEVELOPMENT mode")
	serving := next("writ serving")
	addr, _ := serving["addr"].(string)

	resp, err := http.Get("http://" + addr + "/healthz?code=SECRETCODE")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	access := next("http request")
	if access["path"] != "/healthz" || access["status"] != float64(200) || access["method"] != "GET" || access["request_id"] == "" ||
		access["request_id"] != resp.Header.Get("X-Request-Id") {
		t.Fatalf("access log line %v (X-Request-Id %q)", access, resp.Header.Get("X-Request-Id"))
	}
	if b, _ := json.Marshal(access); strings.Contains(string(b), "SECRETCODE") {
		t.Fatalf("the access log carries the query: %s", b)
	}

	p.signal(syscall.SIGHUP)
	next("SIGHUP received")
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("not serving after SIGHUP: %v", err)
	}
	resp.Body.Close()

	p.terminate()
}

// TestServeProcessInterrupt: SIGINT shuts a text-logging server down and it
// exits 0, as "writ --help" says.
func TestServeProcessInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildWrit(t)
	cmd := exec.Command(bin, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var all []string
	for sc.Scan() {
		all = append(all, sc.Text())
		if strings.HasPrefix(sc.Text(), "writ: serving ") {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v, want status 0\n%s", err, strings.Join(all, "\n"))
	}
	if last := all[len(all)-1]; last != "writ: stopped" {
		t.Fatalf("last line %q, want %q", last, "writ: stopped")
	}
	if !strings.Contains(rootLong, `"writ serve" instead shuts down`) {
		t.Fatal("writ --help does not say how writ serve exits")
	}
}

func TestMigrateSaysWhatItApplied(t *testing.T) {
	t.Setenv("WRIT_CONFIG", "")
	dir := t.TempDir()
	r := writ(t, "", "migrate", "--data-dir", dir).mustSucceed(t)
	if !strings.HasPrefix(r.stderr, "writ: applied ") || !strings.Contains(r.stderr, "0001 init") {
		t.Fatalf("first run: %q", r.stderr)
	}
	r = writ(t, "", "migrate", "--data-dir", dir).mustSucceed(t)
	if r.stderr != "writ: the database schema is up to date: no migration to apply\n" {
		t.Fatalf("second run: %q", r.stderr)
	}
	r = writ(t, "", "migrate", "--status", "--data-dir", dir).mustSucceed(t)
	if r.stderr != "" || !strings.Contains(r.stdout, "VERSION") {
		t.Fatalf("--status: %q %q", r.stdout, r.stderr)
	}
}

func TestBuildRevision(t *testing.T) {
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "28f7b254c312143ea4c69d81f6dfede933e294a4"},
		{Key: "vcs.time", Value: "2026-12-02T08:14:46Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	if got, want := buildRevision(info), "28f7b254c312143ea4c69d81f6dfede933e294a4+dirty 2026-12-02T08:14:46Z"; got != want {
		t.Errorf("buildRevision = %q, want %q", got, want)
	}
	if got := buildRevision(&debug.BuildInfo{}); got != "" {
		t.Errorf("no VCS settings: %q", got)
	}
	r := writ(t, "", "version").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "writ devel (revision unknown; go") && !strings.HasPrefix(r.stdout, "writ v") {
		t.Errorf("version: %q", r.stdout)
	}
}

func TestFormatStatuses(t *testing.T) {
	if got := formatStatuses(map[int]int64{429: 12, 200: 35551}); got != "200: 35551, 429: 12" {
		t.Errorf("got %q", got)
	}
	if got := formatStatuses(nil); got != "none" {
		t.Errorf("empty: %q", got)
	}
}
