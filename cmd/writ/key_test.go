package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// privateMembers are the JWK members that carry private or secret material.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// TestKeyGenerateAndRoundTrip generates a key of every algorithm through the
// CLI, checks the files and outputs, then mints and verifies a token with it.
func TestKeyGenerateAndRoundTrip(t *testing.T) {
	for _, alg := range jose.SignatureAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "key.json")
			r := writ(t, "", "key", "generate", "--alg", string(alg), "--out", keyFile).mustSucceed(t)

			fi, err := os.Stat(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Fatalf("key file mode %o, want 600", mode)
			}
			data, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := jose.ParseKey(data)
			if err != nil {
				t.Fatalf("private JWK: %v", err)
			}
			if !priv.IsPrivate() || priv.Algorithm() != alg {
				t.Fatalf("private JWK: private=%v alg=%s", priv.IsPrivate(), priv.Algorithm())
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, keyFile) {
				t.Fatalf("stderr should be one line naming the file: %q", r.stderr)
			}

			jwks := keyFile
			if alg.IsSymmetric() {
				if r.stdout != "" {
					t.Fatalf("HMAC key printed something on stdout: %q", r.stdout)
				}
				if !strings.Contains(r.stderr, "no public half") {
					t.Fatalf("HMAC note missing: %q", r.stderr)
				}
			} else {
				checkPublicJWKS(t, r.stdout, priv)
				jwks = filepath.Join(dir, "jwks.json")
				if err := os.WriteFile(jwks, []byte(r.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			token := mint(t, keyFile, "--subject", "user-"+string(alg))
			for _, trusted := range []string{jwks, keyFile} {
				v := parseVerified(t, writ(t, token+"\n", verifyArgs(trusted, "--type", "at+jwt", "--alg", string(alg))...).mustSucceed(t).stdout)
				if v.Claims["sub"] != "user-"+string(alg) || v.Header["alg"] != string(alg) || v.Header["kid"] != priv.KeyID() {
					t.Fatalf("verified output: %+v", v)
				}
			}
		})
	}
}

// checkPublicJWKS checks that out is a JWK Set holding exactly the public
// half of priv and no private member.
func checkPublicJWKS(t *testing.T, out string, priv *jose.Key) {
	t.Helper()
	ks, err := jose.ParseKeySet([]byte(out))
	if err != nil {
		t.Fatalf("public JWKS does not parse: %v\n%s", err, out)
	}
	keys := ks.Keys()
	if len(keys) != 1 || keys[0].IsPrivate() || keys[0].KeyID() != priv.KeyID() || keys[0].Algorithm() != priv.Algorithm() {
		t.Fatalf("public JWKS: %s", out)
	}
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, m := range privateMembers {
		if _, ok := doc.Keys[0][m]; ok {
			t.Fatalf("public JWKS holds private member %q", m)
		}
	}
}

func TestKeyGenerateRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.json")
	writ(t, "", "key", "generate", "--out", keyFile).mustSucceed(t)
	before, _ := os.ReadFile(keyFile)

	r := writ(t, "", "key", "generate", "--out", keyFile).mustFail(t, exitUsage, "already exists", "--force")
	if r.stdout != "" {
		t.Fatalf("stdout: %q", r.stdout)
	}
	after, _ := os.ReadFile(keyFile)
	if string(before) != string(after) {
		t.Fatal("the existing key file was changed")
	}

	// A symlink is never followed without --force.
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	writ(t, "", "key", "generate", "--out", link).mustFail(t, exitUsage, "already exists")
	if _, err := os.Stat(target); err == nil {
		t.Fatal("the symlink target was created")
	}

	// --force replaces the file and tightens a loose mode.
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	writ(t, "", "key", "generate", "--out", keyFile, "--force").mustSucceed(t)
	after, _ = os.ReadFile(keyFile)
	if string(before) == string(after) {
		t.Fatal("--force did not replace the key")
	}
	fi, _ := os.Stat(keyFile)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after --force: %o", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".writ-key-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestKeyGenerateToStdout(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.HS256} {
		r := writ(t, "", "key", "generate", "--alg", string(alg)).mustSucceed(t)
		k, err := jose.ParseKey([]byte(r.stdout))
		if err != nil {
			t.Fatalf("%s: stdout is not a JWK: %v", alg, err)
		}
		if !k.IsPrivate() {
			t.Fatalf("%s: stdout is not the private key", alg)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "standard output") {
			t.Fatalf("%s: stderr note: %q", alg, r.stderr)
		}
	}
}

func TestKeyGenerateOptions(t *testing.T) {
	dir := t.TempDir()

	// A chosen kid appears in the key, the JWKS and minted tokens.
	g := genKey(t, dir, jose.ES384, "--kid", "2025-06")
	if g.key.KeyID() != "2025-06" {
		t.Fatalf("kid %q", g.key.KeyID())
	}
	token := mint(t, g.keyFile)
	v := parseVerified(t, writ(t, token, verifyArgs(g.jwks)...).mustSucceed(t).stdout)
	if v.Header["kid"] != "2025-06" {
		t.Fatalf("header %v", v.Header)
	}

	// RSA with more bits.
	rsaFile := filepath.Join(dir, "rsa.json")
	writ(t, "", "key", "generate", "--alg", "PS384", "--bits", "3072", "--out", rsaFile).mustSucceed(t)
	data, _ := os.ReadFile(rsaFile)
	var jwk struct{ N string }
	if err := json.Unmarshal(data, &jwk); err != nil || len(jwk.N) != 512 { // 384 bytes in base64url
		t.Fatalf("3072-bit modulus expected, n has %d characters (%v)", len(jwk.N), err)
	}
}

func TestKeyGeneratePEM(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		alg     jose.Algorithm
		mintAlg []string
	}{
		{jose.ES256, nil},
		{jose.EdDSA, nil},
		{jose.RS256, []string{"--alg", "RS256"}},
	} {
		pemFile := filepath.Join(dir, string(tc.alg)+".pem")
		r := writ(t, "", "key", "generate", "--alg", string(tc.alg), "--format", "pem", "--out", pemFile).mustSucceed(t)
		data, _ := os.ReadFile(pemFile)
		if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----\n") {
			t.Fatalf("%s: not PKCS#8 PEM: %.40q", tc.alg, data)
		}
		jwks := filepath.Join(dir, string(tc.alg)+".jwks.json")
		os.WriteFile(jwks, []byte(r.stdout), 0o644)
		token := mint(t, pemFile, tc.mintAlg...)
		writ(t, token, verifyArgs(jwks)...).mustSucceed(t)
		// The PEM private key also works as the trusted key (public half).
		writ(t, token, verifyArgs(pemFile, tc.mintAlg...)...).mustSucceed(t)
	}
	// RSA PEM without --alg: a clear error.
	writ(t, "", "token", "mint", "--key", filepath.Join(dir, "RS256.pem"), "--issuer", testIssuer, "--audience", testAudience).
		mustFail(t, exitUsage, "--alg")
}

func TestKeyGenerateBadFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "k.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--alg", "none"}, "never accepted"},
		{[]string{"--alg", "es256"}, "did you mean ES256"},
		{[]string{"--alg", "dir"}, "not a supported signature algorithm"},
		{[]string{"--alg", "RS256", "--bits", "1024"}, "2048"},
		{[]string{"--alg", "RS256", "--bits", "2050"}, "multiple of 8"},
		{[]string{"--alg", "ES256", "--bits", "4096"}, "only to RSA"},
		{[]string{"--alg", "HS256", "--format", "pem"}, "no PEM form"},
		{[]string{"--format", "der"}, "jwk or pem"},
		{[]string{"--format", "pem", "--kid", "x"}, "--kid"},
		{[]string{"--kid", ""}, "--kid"},
		{[]string{"--force"}, "--out"},
		{[]string{"extra-arg"}, "no arguments"},
		{[]string{"--nope"}, "unknown flag"},
	} {
		args := append([]string{"key", "generate"}, tc.args...)
		if tc.args[0] != "--force" && tc.args[0] != "extra-arg" {
			args = append(args, "--out", out)
		}
		r := writ(t, "", args...).mustFail(t, exitUsage, tc.want, "writ key generate --help")
		if r.stdout != "" {
			t.Fatalf("%v: stdout %q", tc.args, r.stdout)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: a key file was written", tc.args)
		}
	}
}
