// Package docs holds writ's guides. Its only Go file is this test, which
// pastes every shell block of README.md and docs/*.md into bash, so that the
// walkthroughs cannot drift from the code.
package docs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The walkthroughs use the development server's fixed addresses, so the
// test needs them free.
var walkthroughPorts = []string{"127.0.0.1:8080", "127.0.0.1:8081"}

// block is one ```sh block of a Markdown file.
type block struct {
	file string // relative to the repository root
	line int    // line of the opening fence
	text string
	skip string // reason, from <!-- doc-test: skip (reason) -->
}

var (
	fenceRe = regexp.MustCompile("^\\s*```+\\s*([A-Za-z0-9_+-]*)")
	skipRe  = regexp.MustCompile(`^<!--\s*doc-test:\s*skip\s*\((.+)\)\s*-->\s*$`)
	// bashLineRe finds bash's reference to a line of the script.
	bashLineRe = regexp.MustCompile(`bash: line (\d+):`)
)

// shellBlocks returns the sh, bash and shell blocks of a Markdown file, in
// order. A block preceded by <!-- doc-test: skip (reason) --> (blank lines
// between allowed) is marked skipped with that reason.
func shellBlocks(name string, data []byte) ([]block, error) {
	var out []block
	lines := strings.Split(string(data), "\n")
	pendingSkip := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := skipRe.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			pendingSkip = m[1]
			continue
		}
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "<!--") && strings.Contains(t, "doc-test:") {
			return nil, fmt.Errorf("%s:%d: malformed marker %q; write <!-- doc-test: skip (reason) -->", name, i+1, strings.TrimSpace(l))
		}
		m := fenceRe.FindStringSubmatch(l)
		if m == nil {
			if strings.TrimSpace(l) != "" {
				pendingSkip = ""
			}
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && !fenceRe.MatchString(lines[i]); i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: code block never closed", name, start+1)
		}
		switch m[1] {
		case "sh", "bash", "shell":
			out = append(out, block{file: name, line: start + 1, text: strings.Join(body, "\n"), skip: pendingSkip})
		}
		pendingSkip = ""
	}
	return out, nil
}

// TestShellBlocks pastes the shell blocks of README.md and docs/*.md into
// bash, file by file, each file twice (a walkthrough must survive being
// pasted again) in a fresh copy of the repository, with a freshly built
// writ first on PATH. The blocks start the servers they talk to; the test
// ends every process they started.
func TestShellBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("pastes every walkthrough against real servers; not in -short")
	}
	ci := os.Getenv("CI") == "true"
	var missing []string
	for _, tool := range []string{"bash", "curl", "python3", "openssl", "psql", "go", "xmlsec1"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	// docs/saml.md's service provider runs on Debian's python-saml.
	if exec.Command("/usr/bin/python3", "-c", "import onelogin.saml2.auth").Run() != nil {
		missing = append(missing, "python3-onelogin-saml2 (Debian)")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5432", 2*time.Second); err != nil {
		missing = append(missing, "PostgreSQL on 127.0.0.1:5432")
	} else {
		c.Close()
	}
	if len(missing) > 0 {
		if ci {
			t.Fatalf("the walkthroughs need %s", strings.Join(missing, ", "))
		}
		t.Skipf("the walkthroughs need %s", strings.Join(missing, ", "))
	}

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	mds, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	sort.Strings(mds)
	for _, m := range mds {
		files = append(files, filepath.Join("docs", filepath.Base(m)))
	}

	tmp := t.TempDir()
	dropWalkthroughDatabase(t)
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "writ"), "./cmd/writ")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/writ: %v\n%s", err, out)
	}

	var skipped []string
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := shellBlocks(name, data)
		if err != nil {
			t.Fatal(err)
		}
		var run []block
		for _, b := range blocks {
			if b.skip != "" {
				skipped = append(skipped, fmt.Sprintf("%s:%d (%s)", b.file, b.line, b.skip))
				continue
			}
			run = append(run, b)
		}
		if len(run) == 0 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(tmp, strings.NewReplacer("/", "_", ".", "_").Replace(name))
			if err := copyRepo(root, dir); err != nil {
				t.Fatal(err)
			}
			for pass := 1; pass <= 2; pass++ {
				if !pasteBlocks(t, dir, bin, run, pass) {
					return
				}
			}
		})
	}
	for _, s := range skipped {
		t.Logf("not run (marked doc-test: skip): %s", s)
	}
}

// The PostgreSQL section of docs/server.md creates this role and database.
const walkthroughDB = "writ"

// dropWalkthroughDatabase arranges for the role and database the
// walkthroughs create to be dropped when the test ends, unless they were
// there before it (then they are someone else's, and left alone).
func dropWalkthroughDatabase(t *testing.T) {
	t.Helper()
	psql := func(sql string) (string, error) {
		out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc", sql).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	db, err := psql("SELECT count(*) FROM pg_database WHERE datname = '" + walkthroughDB + "'")
	if err != nil {
		t.Fatalf("psql: %v: %s", err, db)
	}
	role, err := psql("SELECT count(*) FROM pg_roles WHERE rolname = '" + walkthroughDB + "'")
	if err != nil {
		t.Fatalf("psql: %v: %s", err, role)
	}
	t.Cleanup(func() {
		if db == "0" {
			if out, err := psql("DROP DATABASE IF EXISTS " + walkthroughDB + " WITH (FORCE)"); err != nil {
				t.Errorf("drop the walkthrough database: %v: %s", err, out)
			}
		}
		if role == "0" {
			if out, err := psql("DROP ROLE IF EXISTS " + walkthroughDB); err != nil {
				t.Errorf("drop the walkthrough role: %v: %s", err, out)
			}
		}
	})
}

// pasteBlocks runs the blocks in one bash session in dir and reports a
// failure with the file, the line of the failing block and its output. It
// returns false when the session failed.
func pasteBlocks(t *testing.T, dir, bin string, blocks []block, pass int) bool {
	t.Helper()
	waitPortsFree(t, 30*time.Second)
	var script strings.Builder
	script.WriteString("set -euo pipefail\nexport PS4='+ '\nset -x\n")
	// lineMap maps a line of the script to its line in the Markdown file,
	// so that bash's "line N" can be told in the file's terms.
	lineMap := map[int]int{}
	for _, b := range blocks {
		fmt.Fprintf(&script, "{ set +x; } 2>/dev/null\nprintf '\\n=== doc-test: %s:%d\\n'\nset -x\n", b.file, b.line)
		first := strings.Count(script.String(), "\n") + 1
		for i := range strings.Count(b.text, "\n") + 1 {
			lineMap[first+i] = b.line + 1 + i
		}
		script.WriteString(b.text + "\n")
	}
	script.WriteString("{ set +x; } 2>/dev/null\nprintf '\\n=== doc-test: done\\n'\n")

	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = walkthroughEnv(bin)
	// A file, not a pipe: servers left in the background keep their
	// standard output open, and Wait must not wait for them.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(3*time.Minute, func() {
		timedOut.Store(true)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	runErr := cmd.Wait()
	timer.Stop()
	endGroup(t, cmd.Process.Pid)

	log, _ := os.ReadFile(out.Name())
	if runErr == nil && !timedOut.Load() {
		return true
	}
	where, tail := failingBlock(log)
	why := runErr.Error()
	if timedOut.Load() {
		why = "timed out after 3 minutes"
	}
	tail = bashLineRe.ReplaceAllStringFunc(tail, func(m string) string {
		n, _ := strconv.Atoi(bashLineRe.FindStringSubmatch(m)[1])
		if doc, ok := lineMap[n]; ok {
			return fmt.Sprintf("%s (%s:%d):", strings.TrimSuffix(m, ":"), blocks[0].file, doc)
		}
		return m
	})
	t.Errorf("paste %d: the block at %s failed (%s); its output:\n%s", pass, where, why, tail)
	return false
}

// failingBlock finds the last block marker in the session's output and
// returns its location and the output after it (at most 80 lines).
func failingBlock(log []byte) (string, string) {
	const marker = "\n=== doc-test: "
	i := bytes.LastIndex(log, []byte(marker))
	if i < 0 {
		return "(before the first block)", string(log)
	}
	rest := log[i+len(marker):]
	where, body, _ := bytes.Cut(rest, []byte("\n"))
	lines := strings.Split(strings.TrimRight(string(body), "\n"), "\n")
	if len(lines) > 80 {
		lines = append([]string{"[...]"}, lines[len(lines)-80:]...)
	}
	return string(where), strings.Join(lines, "\n")
}

// walkthroughEnv is the test's environment without writ's own variables
// (a developer's WRIT_ADMIN_TOKEN must not leak in), with bin first on PATH.
func walkthroughEnv(bin string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WRIT_") || name == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// endGroup ends every process of the session's process group (servers the
// blocks started in the background): SIGTERM, then SIGKILL if the ports
// are still taken.
func endGroup(t *testing.T, pgid int) {
	t.Helper()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if !portsFreeWithin(20 * time.Second) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func waitPortsFree(t *testing.T, d time.Duration) {
	t.Helper()
	if !portsFreeWithin(d) {
		t.Fatalf("%s must be free: the walkthroughs use the development server's addresses", strings.Join(walkthroughPorts, " and "))
	}
}

// portsFreeWithin polls until every walkthrough port can be bound.
func portsFreeWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		free := true
		for _, addr := range walkthroughPorts {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyRepo copies the repository's files (tracked and untracked, not
// ignored ones, per git; every file when git is not there) into dir: a
// fresh clone with the working tree's content.
func copyRepo(root, dir string) error {
	var names []string
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	if out, err := ls.Output(); err == nil {
		for _, n := range strings.Split(string(out), "\x00") {
			if n != "" {
				names = append(names, n)
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "writ-data") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				names = append(names, rel)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, n := range names {
		src := filepath.Join(root, n)
		info, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func TestShellBlocksParse(t *testing.T) {
	md := "# t\n\n```sh\necho one\n```\n\n<!-- doc-test: skip (needs a browser) -->\n\n```sh\necho two\n```\n\n```go\nx := 1\n```\n\n```bash\necho three\n```\n"
	got, err := shellBlocks("t.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []block{
		{file: "t.md", line: 3, text: "echo one"},
		{file: "t.md", line: 9, text: "echo two", skip: "needs a browser"},
		{file: "t.md", line: 17, text: "echo three"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if _, err := shellBlocks("t.md", []byte("<!-- doc-test: skip -->\n```sh\nx\n```\n")); err == nil {
		t.Error("a skip marker without a reason was accepted")
	}
	if _, err := shellBlocks("t.md", []byte("```sh\nx\n")); err == nil {
		t.Error("an unclosed block was accepted")
	}
}
