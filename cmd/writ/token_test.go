package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/jose"
)

// decodeClaims returns the claims of a token through "writ token decode".
func decodeClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	r := writ(t, "", "token", "decode", token).mustSucceed(t)
	var out struct {
		Verified *bool          `json:"verified"`
		Header   map[string]any `json:"header"`
		Claims   map[string]any `json:"claims"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	return out.Claims
}

func TestMintClaims(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	before := time.Now().Unix()

	// Defaults: iat now, exp now+10m, random 128-bit jti, typ at+jwt.
	token := mint(t, g.keyFile, "--subject", "alice")
	c := decodeClaims(t, token)
	iat, exp := int64(c["iat"].(float64)), int64(c["exp"].(float64))
	if iat < before || iat > time.Now().Unix() || exp != iat+600 {
		t.Fatalf("iat %d exp %d", iat, exp)
	}
	jti, _ := c["jti"].(string)
	if raw, err := jose.ParseCompact(token, 0); err != nil || raw.Header.Type != "at+jwt" {
		t.Fatalf("header: %v", err)
	}
	if b, err := decodeB64(jti); err != nil || len(b) != 16 {
		t.Fatalf("jti %q is not 128 bits of base64url", jti)
	}
	if other := decodeClaims(t, mint(t, g.keyFile))["jti"]; other == jti {
		t.Fatal("jti repeated")
	}

	// Inline claims; flags override them; given exp, iat and jti are kept.
	token = mint(t, g.keyFile, "--subject", "bob", "--claims",
		`{"iss":"https://old.test","sub":"old","aud":"x","exp":4102444800,"iat":1700000000,"jti":"fixed","scope":"a b","n":1e3}`)
	c = decodeClaims(t, token)
	want := map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "bob", "exp": 4102444800.0, "iat": 1700000000.0, "jti": "fixed", "scope": "a b", "n": 1000.0}
	for k, v := range want {
		if c[k] != v {
			t.Fatalf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	// Several audiences become an array.
	r := writ(t, "", "token", "mint", "--key", g.keyFile, "--issuer", testIssuer, "--audience", "a1", "--audience", "a2").mustSucceed(t)
	if aud := decodeClaims(t, strings.TrimSpace(r.stdout))["aud"]; len(aud.([]any)) != 2 {
		t.Fatalf("aud %v", aud)
	}

	// Claims from a file and from standard input.
	file := filepath.Join(dir, "claims.json")
	os.WriteFile(file, []byte(`{"sub":"from-file"}`), 0o644)
	if c := decodeClaims(t, mint(t, g.keyFile, "--claims", "@"+file)); c["sub"] != "from-file" {
		t.Fatalf("claims %v", c)
	}
	r = writ(t, `{"sub":"from-stdin"}`, "token", "mint", "--key", g.keyFile, "--claims", "-").mustSucceed(t)
	if c := decodeClaims(t, strings.TrimSpace(r.stdout)); c["sub"] != "from-stdin" {
		t.Fatalf("claims %v", c)
	}

	// --ttl and --type.
	token = mint(t, g.keyFile, "--ttl", "1h", "--type", "JWT")
	c = decodeClaims(t, token)
	if int64(c["exp"].(float64))-int64(c["iat"].(float64)) != 3600 {
		t.Fatalf("ttl: %v", c)
	}
	writ(t, token, verifyArgs(g.jwks, "--type", "at+jwt")...).rejectedWith(t, "jwt: wrong token type")
	writ(t, token, verifyArgs(g.jwks, "--type", "JWT")...).mustSucceed(t)
	if j, _ := jose.ParseCompact(mint(t, g.keyFile, "--type", ""), 0); j.Header.Type != "" {
		t.Fatalf("--type \"\" left typ %q", j.Header.Type)
	}
}

func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

func TestMintErrors(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	pubJWK := filepath.Join(dir, "pub.json")
	pub, _ := json.Marshal(g.key.Public())
	os.WriteFile(pubJWK, pub, 0o644)
	bigClaims := filepath.Join(dir, "big.json")
	os.WriteFile(bigClaims, []byte(`{"x":"`+strings.Repeat("a", maxClaimsSize)+`"}`), 0o644)
	base := []string{"token", "mint", "--key", g.keyFile}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "mint"}, "--key is required"},
		{[]string{"token", "mint", "--key", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"token", "mint", "--key", g.jwks}, "JWK Set"},
		{[]string{"token", "mint", "--key", pubJWK}, "public key"},
		{append(base, "--alg", "RS256"), "does not match"},
		{append(base, "--ttl", "0"), "--no-exp"},
		{append(base, "--ttl", "-5m"), "negative"},
		{append(base, "--ttl", "1500ms"), "whole seconds"},
		{append(base, "--ttl", "5m", "--no-exp"), "contradict"},
		{append(base, "--no-exp", "--claims", `{"exp":1}`), "contradicts"},
		{append(base, "--ttl", "5m", "--claims", `{"exp":1}`), "contradicts"},
		{append(base, "--claims", `[1,2]`), "JSON object"},
		{append(base, "--claims", `{"a":1,"a":2}`), "duplicate"},
		{append(base, "--claims", `{"a":1`), "JSON object"},
		{append(base, "--claims", `{"exp":"soon"}`), `"exp" must be a number`},
		{append(base, "--claims", `{"aud":[]}`), `"aud" must be`},
		{append(base, "--claims", `{"iss":1}`), `"iss" must be a string`},
		{append(base, "--claims", "@"+filepath.Join(dir, "nope.json")), "no such file"},
		{append(base, "--claims", "@"+bigClaims), "larger than"},
		{append(base, "--issuer", ""), "--issuer must not be empty"},
		{append(base, "--audience", ""), "--audience"},
		{append(base, "--subject", "a\nb"), "control characters"},
		{append(base, "extra"), "no arguments"},
	} {
		r := writ(t, "", tc.args...).mustFail(t, exitUsage, tc.want)
		if r.stdout != "" {
			t.Fatalf("%v: stdout %q", tc.args, r.stdout)
		}
	}
}

func TestMintKid(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.EdDSA)
	token := mint(t, g.keyFile, "--kid", "other")
	if j, _ := jose.ParseCompact(token, 0); j.Header.KeyID != "other" {
		t.Fatalf("kid %q", j.Header.KeyID)
	}
	// The JWKS has the thumbprint kid, so the lookup is exact and fails.
	writ(t, token, verifyArgs(g.jwks)...).rejectedWith(t, "jose: no matching key")
}

func TestDecode(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	token := mint(t, g.keyFile, "--subject", "carol")
	for _, r := range []result{
		writ(t, "", "token", "decode", token),
		writ(t, token+"\n", "token", "decode"),
	} {
		r.mustSucceed(t)
		if r.stderr != notVerifiedWarning+"\n" {
			t.Fatalf("stderr %q, want the warning line", r.stderr)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		if string(out["verified"]) != "false" || len(out) != 3 {
			t.Fatalf("decode output: %s", r.stdout)
		}
		if !strings.Contains(r.stdout, `"sub": "carol"`) || !strings.Contains(r.stdout, `"alg": "ES256"`) {
			t.Fatalf("decode output: %s", r.stdout)
		}
	}

	// Decoding does not verify: an expired, unsigned-by-us token decodes.
	parts := strings.Split(token, ".")
	forged := parts[0] + "." + b64url([]byte(`{"sub":"mallory","exp":1}`)) + "." + parts[2]
	if c := decodeClaims(t, forged); c["sub"] != "mallory" {
		t.Fatalf("claims %v", c)
	}

	// Malformed input: exit 1, one line, no warning, nothing on stdout.
	for _, tc := range []struct{ token, want string }{
		{"hello", "jose: malformed token"},
		{parts[0] + "." + parts[1], "jose: malformed token"},
		{b64url([]byte(`{"alg":"none"}`)) + "." + parts[1] + "." + parts[2], "alg none"},
		{parts[0] + "." + b64url([]byte(`{"a":1,"a":2}`)) + "." + parts[2], "duplicate"},
		{parts[0] + "." + b64url([]byte(`not json`)) + "." + parts[2], "claims"},
		{strings.Repeat("a", 20<<10), "jose: token too large"},
	} {
		r := writ(t, tc.token, "token", "decode").mustFail(t, exitRejected, "writ: cannot decode token: ", tc.want)
		if r.stdout != "" || strings.Contains(r.stderr, "warning") {
			t.Fatalf("%q: stdout %q stderr %q", tc.want, r.stdout, r.stderr)
		}
	}
	writ(t, "", "token", "decode", "a", "b").mustFail(t, exitUsage, "too many arguments")
}

// TestHelp checks that every command has a Short, a Long and Examples, and
// that --help prints them.
func TestHelp(t *testing.T) {
	var walk func(cmd *cobra.Command)
	seen := 0
	walk = func(cmd *cobra.Command) {
		if !cmd.IsAvailableCommand() || cmd.Name() == "help" {
			return
		}
		seen++
		path := strings.Fields(cmd.CommandPath())[1:]
		if cmd.Short == "" || cmd.Long == "" || cmd.Example == "" {
			t.Errorf("%q lacks a Short, Long or Example", cmd.CommandPath())
		}
		r := writ(t, "", append(path, "--help")...).mustSucceed(t)
		firstExample := strings.TrimSpace(strings.SplitN(strings.TrimSpace(cmd.Example), "\n", 2)[0])
		for _, want := range []string{"Examples:", firstExample, "Usage:"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%q --help lacks %q", cmd.CommandPath(), want)
			}
		}
		if r.stderr != "" {
			t.Errorf("%q --help wrote to stderr: %q", cmd.CommandPath(), r.stderr)
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRootCmd(&streams{in: strings.NewReader(""), out: new(strings.Builder), err: new(strings.Builder)}))
	if seen < 7 { // writ, key, key generate, token, mint, verify, decode, version
		t.Fatalf("only %d commands checked", seen)
	}

	// The root help documents the exit statuses; no arguments prints it too.
	root := writ(t, "").mustSucceed(t)
	for _, want := range []string{"Exit status", "130", "writ key generate --out key.json"} {
		if !strings.Contains(root.stdout, want) {
			t.Errorf("writ help lacks %q", want)
		}
	}
	writ(t, "", "tokne").mustFail(t, exitUsage, `unknown command "tokne"`, `did you mean "token"`)
	writ(t, "", "token", "frob").mustFail(t, exitUsage, `unknown command "frob" for "writ token"`)
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\n\tb  c\x1b[31m\r\n"); got != "a b c?[31m" {
		t.Fatalf("oneLine: %q", got)
	}
}

func TestVersion(t *testing.T) {
	r := writ(t, "", "version").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "writ devel (") {
		t.Fatalf("version: %q", r.stdout)
	}
	writ(t, "", "--version").mustSucceed(t)
}
