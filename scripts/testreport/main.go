// Command testreport reads the output of "go test -json" on standard input
// and prints what a person needs from it: one line per package, the whole
// output of every failed test, every skipped test with its reason, and a
// count of tests (subtests included) that passed, failed and were skipped.
//
//	go test -json ./... | go run ./scripts/testreport [-counts FILE]
//
// With -counts it also appends "passed failed skipped" to FILE, so that a
// script running several modules can add them up. It exits 1 when a test
// or a package failed (a build failure included).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of "go test -json" (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// counts are the tests seen, by outcome.
type counts struct{ passed, failed, skipped int }

func main() {
	countsFile := flag.String("counts", "", "append `passed failed skipped` to this file")
	flag.Parse()
	c, ok, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if *countsFile != "" {
		f, err := os.OpenFile(*countsFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = fmt.Fprintf(f, "%d %d %d\n", c.passed, c.failed, c.skipped)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	if !ok {
		os.Exit(1)
	}
}

// report reads events from r and writes the report to w. ok is false when
// any test or package failed.
func report(r io.Reader, w io.Writer) (c counts, ok bool, err error) {
	ok = true
	output := map[string][]string{} // package + "\x00" + test → its output
	var skips []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			// Not an event (go vet or linker messages): pass it on.
			fmt.Fprintln(w, string(line))
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "output":
			if e.Test == "" {
				// Package lines: "ok", "FAIL", "?   ... [no test files]",
				// and anything the test binary printed outside a test.
				if out := e.Output; out != "PASS\n" && !strings.HasPrefix(out, "=== ") {
					fmt.Fprint(w, out)
				}
				continue
			}
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test != "" {
				c.passed++
				delete(output, key)
			}
		case "skip":
			if e.Test != "" {
				c.skipped++
				skips = append(skips, fmt.Sprintf("SKIP %s %s: %s", e.Package, e.Test, reason(output[key])))
				delete(output, key)
			}
		case "fail":
			ok = false
			if e.Test != "" {
				c.failed++
				fmt.Fprintf(w, "--- FAIL %s %s\n%s", e.Package, e.Test, strings.Join(output[key], ""))
				delete(output, key)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c, false, err
	}
	if len(skips) > 0 {
		sort.Strings(skips)
		fmt.Fprintf(w, "\nskipped tests (%d):\n", len(skips))
		for _, s := range skips {
			fmt.Fprintln(w, "  "+s)
		}
	}
	return c, ok, nil
}

// reason is what a skipped test said, without the RUN/SKIP framing lines.
func reason(out []string) string {
	var parts []string
	for _, o := range out {
		t := strings.TrimSpace(o)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}
