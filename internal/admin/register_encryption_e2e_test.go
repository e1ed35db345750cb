package admin_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/jose"
)

// TestRegistrationEncryptedResponses: dynamic registration (RFC 7591)
// takes the signed and encrypted response metadata of OpenID Connect
// Registration §2, fills in the default enc, and refuses encryption the
// client has no key for, or algorithms writ does not support.
func TestRegistrationEncryptedResponses(t *testing.T) {
	n := startRegNode(t, "open", nil)
	endpoint := n.issuer + admin.PathRegister
	enc, err := jose.GenerateKey(jose.ECDHESA256KW, jose.WithKeyID("rp-enc"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.GenerateKey(jose.ES256, jose.WithKeyID("rp-sig"))
	if err != nil {
		t.Fatal(err)
	}
	jwks := func(keys ...*jose.Key) json.RawMessage {
		b, err := json.Marshal(jose.NewKeySet(keys...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"client_name": "rp", "redirect_uris": []string{"https://rp.example.com/cb"}, "scope": "openid profile"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	reg := n.call(t, http.MethodPost, endpoint, "", base(map[string]any{
		"jwks":                            jwks(sig, enc),
		"id_token_encrypted_response_alg": "ECDH-ES+A256KW",
		"userinfo_signed_response_alg":    "RS256",
		"userinfo_encrypted_response_alg": "ECDH-ES+A256KW", "userinfo_encrypted_response_enc": "A256GCM",
	}))
	if reg.status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	for name, want := range map[string]string{
		"id_token_encrypted_response_alg": "ECDH-ES+A256KW", "id_token_encrypted_response_enc": "A128CBC-HS256",
		"userinfo_signed_response_alg":    "RS256",
		"userinfo_encrypted_response_alg": "ECDH-ES+A256KW", "userinfo_encrypted_response_enc": "A256GCM",
	} {
		if reg.body[name] != want {
			t.Errorf("%s = %v, want %s", name, reg.body[name], want)
		}
	}

	refused := []struct {
		name  string
		extra map[string]any
	}{
		{"no key set", map[string]any{"id_token_encrypted_response_alg": "ECDH-ES+A256KW"}},
		{"signature key only", map[string]any{"jwks": jwks(sig), "userinfo_encrypted_response_alg": "ECDH-ES+A256KW"}},
		{"key of another type", map[string]any{"jwks": jwks(enc), "id_token_encrypted_response_alg": "RSA-OAEP-256"}},
		{"RSA1_5", map[string]any{"jwks": jwks(enc), "id_token_encrypted_response_alg": "RSA1_5"}},
		{"enc A192GCM", map[string]any{"jwks": jwks(enc), "id_token_encrypted_response_alg": "ECDH-ES+A256KW", "id_token_encrypted_response_enc": "A192GCM"}},
		{"enc without alg", map[string]any{"userinfo_encrypted_response_enc": "A256GCM"}},
		{"userinfo signed none", map[string]any{"userinfo_signed_response_alg": "none"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := n.call(t, http.MethodPost, endpoint, "", base(tt.extra))
			if r.status != http.StatusBadRequest || r.body["error"] != "invalid_client_metadata" {
				t.Fatalf("got %d %s, want 400 invalid_client_metadata", r.status, r.raw)
			}
		})
	}
}
