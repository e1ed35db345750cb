package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// TestClientResponseCryptoFlags: the --id-token-encrypted-response-* and
// --userinfo-* flags register the metadata, the table shows it, an update
// with "" clears it, and a client without an encryption key is refused.
func TestClientResponseCryptoFlags(t *testing.T) {
	e := newAdminEnv(t)
	dir := t.TempDir()
	keyFile, jwksFile := filepath.Join(dir, "rp-enc.json"), filepath.Join(dir, "rp-enc-jwks.json")
	r := writ(t, "", "key", "generate", "--alg", "ECDH-ES+A256KW", "--out", keyFile).mustSucceed(t)
	if err := os.WriteFile(jwksFile, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.createJSON(t, "--id", "enc-rp", "--grant-type", "authorization_code", "--redirect-uri", "https://rp.example.com/cb",
		"--jwks", "@"+jwksFile,
		"--id-token-encrypted-response-alg", "ECDH-ES+A256KW",
		"--userinfo-signed-response-alg", "RS256",
		"--userinfo-encrypted-response-alg", "ECDH-ES+A256KW", "--userinfo-encrypted-response-enc", "A256GCM")
	if c.IDTokenEncryptedResponseAlg != "ECDH-ES+A256KW" || c.IDTokenEncryptedResponseEnc != "A128CBC-HS256" ||
		c.UserinfoSignedResponseAlg != "RS256" || c.UserinfoEncryptedResponseAlg != "ECDH-ES+A256KW" || c.UserinfoEncryptedResponseEnc != "A256GCM" {
		t.Fatalf("registered %+v", c)
	}
	table := writAdmin(t, "", "client", "get", "enc-rp", "--endpoint", e.url).mustSucceed(t)
	for _, want := range []string{"ID TOKEN ENCRYPTION", "ECDH-ES+A256KW / A128CBC-HS256", "USERINFO SIGNING ALG", "USERINFO ENCRYPTION", "ECDH-ES+A256KW / A256GCM"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, table.stdout)
		}
	}
	writAdmin(t, "", "client", "update", "enc-rp", "--endpoint", e.url,
		"--userinfo-encrypted-response-alg", "", "--userinfo-encrypted-response-enc", "", "--userinfo-signed-response-alg", "").mustSucceed(t)
	stored, err := e.store.GetClient(context.Background(), "enc-rp")
	if err != nil {
		t.Fatal(err)
	}
	if stored.UserinfoEncryptedResponseAlg != "" || stored.UserinfoEncryptedResponseEnc != "" || stored.UserinfoSignedResponseAlg != "" || stored.IDTokenEncryptedResponseAlg != "ECDH-ES+A256KW" {
		t.Fatalf("after update: %+v", stored)
	}
	writAdmin(t, "", "client", "create", "--endpoint", e.url, "--grant-type", "authorization_code", "--redirect-uri", "https://rp.example.com/cb",
		"--id-token-encrypted-response-alg", "RSA-OAEP-256").mustFail(t, exitUsage, "id_token_encrypted_response_alg needs the client's encryption key", "invalid_client_metadata")
}

// TestTokenDecrypt: "writ token decrypt" opens a nested token made with
// the public key "writ key generate" printed, and prints the inner JWS.
func TestTokenDecrypt(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []string{"RSA-OAEP-256", "RSA-OAEP", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"} {
		t.Run(alg, func(t *testing.T) {
			keyFile := filepath.Join(dir, alg+".json")
			r := writ(t, "", "key", "generate", "--alg", alg, "--out", keyFile).mustSucceed(t)
			ks, err := jose.ParseKeySet([]byte(r.stdout))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := jose.EncryptionKey(ks, jose.Algorithm(alg))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := jose.GenerateKey(jose.ES256)
			if err != nil {
				t.Fatal(err)
			}
			inner, err := jose.Sign(sig, []byte(`{"sub":"user-1"}`), &jose.SignOptions{Type: "JWT"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jose.EncryptNested(inner, pub, jose.A256CBCHS512)
			if err != nil {
				t.Fatal(err)
			}
			out := writ(t, tok, "token", "decrypt", "--key", keyFile).mustSucceed(t)
			if out.stdout != inner+"\n" || !strings.Contains(out.stderr, "NOT verified") {
				t.Fatalf("stdout %q stderr %q", out.stdout, out.stderr)
			}
			// Another key does not open it.
			other := filepath.Join(dir, alg+"-other.json")
			writ(t, "", "key", "generate", "--alg", alg, "--out", other).mustSucceed(t)
			writ(t, tok, "token", "decrypt", "--key", other).mustFail(t, exitRejected, "cannot decrypt token")
		})
	}
	sigKey := filepath.Join(dir, "sig.json")
	writ(t, "", "key", "generate", "--out", sigKey).mustSucceed(t)
	writ(t, "x.y.z.a.b", "token", "decrypt", "--key", sigKey).mustFail(t, exitUsage, "not a private key for encryption")
	writ(t, "x", "token", "decrypt").mustFail(t, exitUsage, "--key FILE is required")
}

// TestKeyGenerateEncryption: the public JWK of an encryption key says
// "use":"enc" and names its algorithm, so a relying party can register it.
func TestKeyGenerateEncryption(t *testing.T) {
	r := writ(t, "", "key", "generate", "--alg", "RSA-OAEP-256", "--bits", "3072", "--out", filepath.Join(t.TempDir(), "k.json")).mustSucceed(t)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("%v %s", err, r.stdout)
	}
	if k := set.Keys[0]; k["use"] != "enc" || k["alg"] != "RSA-OAEP-256" || k["kty"] != "RSA" {
		t.Fatalf("public JWK %v", k)
	}
}
