package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// Values shared by the tests.
const (
	testIssuer   = "https://issuer.test"
	testAudience = "https://api.test"
)

// result is what one in-process run of writ produced.
type result struct {
	code   int
	stdout string
	stderr string
}

// writ runs the command line in-process with stdin as standard input.
func writ(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return writCtx(t, context.Background(), strings.NewReader(stdin), args...)
}

// writCtx is writ with a context and any standard input.
func writCtx(t testing.TB, ctx context.Context, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, stdin, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustSucceed fails the test unless r exited 0.
func (r result) mustSucceed(t testing.TB) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

// mustFail fails the test unless r exited with code and printed exactly one
// line on standard error containing every one of want.
func (r result) mustFail(t testing.TB, code int, want ...string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if lines := strings.Count(r.stderr, "\n"); lines != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr has %d lines, want exactly 1: %q", lines, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "writ: ") {
		t.Fatalf("stderr does not start with %q: %q", "writ: ", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr %q does not mention %q", r.stderr, w)
		}
	}
	return r
}

// rejectedWith checks a token rejection: exit 1, nothing on standard
// output, one line "writ: token rejected: <reason>" mentioning want, or
// one of its alternatives separated by "|".
func (r result) rejectedWith(t testing.TB, want string) {
	t.Helper()
	r.mustFail(t, exitRejected, "writ: token rejected: ")
	found := false
	for _, w := range strings.Split(want, "|") {
		found = found || strings.Contains(r.stderr, w)
	}
	if !found {
		t.Fatalf("stderr %q does not mention %q", r.stderr, want)
	}
	if !strings.HasPrefix(r.stderr, "writ: token rejected: ") {
		t.Fatalf("stderr %q does not start with the rejection prefix", r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("a rejected token printed on stdout: %q", r.stdout)
	}
}

// generated is a key made by "writ key generate --out".
type generated struct {
	alg     jose.Algorithm
	keyFile string // private JWK
	jwks    string // public JWK Set file; for HMAC keys the key file itself
	key     *jose.Key
}

// genKey runs "writ key generate" for alg into dir.
func genKey(t testing.TB, dir string, alg jose.Algorithm, extra ...string) generated {
	t.Helper()
	g := generated{alg: alg, keyFile: filepath.Join(dir, string(alg)+".key.json")}
	args := append([]string{"key", "generate", "--alg", string(alg), "--out", g.keyFile}, extra...)
	r := writ(t, "", args...).mustSucceed(t)
	data, err := os.ReadFile(g.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if g.key, err = jose.ParseKey(data); err != nil {
		t.Fatalf("private JWK does not parse: %v", err)
	}
	if alg.IsSymmetric() {
		g.jwks = g.keyFile
		return g
	}
	g.jwks = filepath.Join(dir, string(alg)+".jwks.json")
	if err := os.WriteFile(g.jwks, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

// mint runs "writ token mint" with the test issuer and audience.
func mint(t testing.TB, keyFile string, extra ...string) string {
	t.Helper()
	args := append([]string{"token", "mint", "--key", keyFile, "--issuer", testIssuer, "--audience", testAudience}, extra...)
	r := writ(t, "", args...).mustSucceed(t)
	if !strings.HasSuffix(r.stdout, "\n") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("mint output is not one line: %q", r.stdout)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

// verifyArgs are the arguments of "writ token verify" against jwks with the
// test issuer and audience.
func verifyArgs(jwks string, extra ...string) []string {
	return append([]string{"token", "verify", "--jwks", jwks, "--issuer", testIssuer, "--audience", testAudience}, extra...)
}

// verifiedOutput is the JSON "writ token verify" prints.
type verifiedOutput struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// parseVerified decodes the output of a successful verify.
func parseVerified(t testing.TB, stdout string) verifiedOutput {
	t.Helper()
	var v verifiedOutput
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("verify output is not the expected JSON: %v\n%s", err, stdout)
	}
	if v.Header == nil || v.Claims == nil {
		t.Fatalf("verify output lacks header or claims: %s", stdout)
	}
	return v
}
