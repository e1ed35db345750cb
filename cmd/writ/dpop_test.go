package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

func TestDPoPProof(t *testing.T) {
	dir := t.TempDir()
	es := genKey(t, dir, jose.ES256)
	ed := genKey(t, dir, jose.EdDSA)
	hs := genKey(t, dir, jose.HS256)
	const tokenURL = "https://id.example.test/oauth2/token"
	tokenFile := filepath.Join(dir, "token.txt")
	if err := os.WriteFile(tokenFile, []byte("writ_at_abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, proof string, p dpop.Params, nonces *dpop.Nonces) *dpop.Proof {
		t.Helper()
		v, err := dpop.NewVerifier(dpop.Config{Nonces: nonces})
		if err != nil {
			t.Fatal(err)
		}
		p.Proof = strings.TrimSuffix(proof, "\n")
		pr, err := v.Verify(t.Context(), p)
		if err != nil {
			t.Fatalf("the proof does not verify: %v", err)
		}
		return pr
	}

	t.Run("token endpoint", func(t *testing.T) {
		r := writ(t, "", "dpop", "proof", "--key", es.keyFile, "--htu", tokenURL+"?x=1").mustSucceed(t)
		pr := verify(t, r.stdout, dpop.Params{Method: "POST", URL: tokenURL}, nil)
		thumb := writ(t, "", "dpop", "thumbprint", "--key", es.keyFile).mustSucceed(t).stdout
		if pr.JKT != strings.TrimSpace(thumb) || pr.JKT != es.key.Public().ThumbprintSHA256() {
			t.Errorf("proof key %s, thumbprint %q", pr.JKT, thumb)
		}
	})
	t.Run("resource request with a token from a file and a nonce", func(t *testing.T) {
		n, err := dpop.NewNonces(bytes.Repeat([]byte{1}, 32), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := writ(t, "", "dpop", "proof", "--key", ed.keyFile, "--htm", "GET", "--htu", "https://api.example.test/orders",
			"--access-token-file", tokenFile, "--nonce", n.Current()).mustSucceed(t)
		verify(t, r.stdout, dpop.Params{Method: "GET", URL: "https://api.example.test/orders", AccessToken: "writ_at_abc"}, n)
	})
	t.Run("RSA key in PEM form", func(t *testing.T) {
		pem := filepath.Join(dir, "rsa.pem")
		writ(t, "", "key", "generate", "--alg", "PS256", "--format", "pem", "--out", pem).mustSucceed(t)
		writ(t, "", "dpop", "proof", "--key", pem, "--htu", tokenURL).mustFail(t, exitUsage, "--alg")
		r := writ(t, "", "dpop", "proof", "--key", pem, "--alg", "PS256", "--htu", tokenURL).mustSucceed(t)
		pr := verify(t, r.stdout, dpop.Params{Method: "POST", URL: tokenURL}, nil)
		thumb := writ(t, "", "dpop", "thumbprint", "--key", pem, "--alg", "PS256").mustSucceed(t).stdout
		if strings.TrimSpace(thumb) != pr.JKT {
			t.Errorf("thumbprint %q, proof key %s", thumb, pr.JKT)
		}
	})
	t.Run("token on standard input", func(t *testing.T) {
		r := writ(t, "writ_at_abc\n", "dpop", "proof", "--key", es.keyFile, "--htm", "GET", "--htu", "https://api.example.test/orders",
			"--access-token-file", "-").mustSucceed(t)
		verify(t, r.stdout, dpop.Params{Method: "GET", URL: "https://api.example.test/orders", AccessToken: "writ_at_abc"}, nil)
	})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"--htu", tokenURL}, "--key is required"},
		{"no htu", []string{"--key", es.keyFile}, "--htu is required"},
		{"relative htu", []string{"--key", es.keyFile, "--htu", "/oauth2/token"}, "--htu must be an absolute"},
		{"lower-case method", []string{"--key", es.keyFile, "--htu", tokenURL, "--htm", "post"}, "--htm must be an HTTP method"},
		{"HMAC key", []string{"--key", hs.keyFile, "--htu", tokenURL}, "asymmetric"},
		{"public key", []string{"--key", es.jwks, "--htu", tokenURL}, "JWK Set"},
		{"empty token file", []string{"--key", es.keyFile, "--htu", tokenURL, "--access-token-file", os.DevNull}, "does not hold one access token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := writ(t, "", append([]string{"dpop", "proof"}, tc.args...)...)
			r.mustFail(t, exitUsage, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}
