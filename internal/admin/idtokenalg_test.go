package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/jose"
)

// TestClientIDTokenAlg: id_token_signed_response_alg defaults to RS256
// (OIDC Registration §2), takes only what the server signs with, and null
// resets it.
func TestClientIDTokenAlg(t *testing.T) {
	e := newEnv(t, func(o *admin.Options) {
		o.IDTokenAlgorithms = []jose.Algorithm{jose.ES256, jose.RS256, jose.EdDSA}
	})
	web := func(extra map[string]any) map[string]any {
		m := map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://a.example/cb"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	stored := func(id string) string {
		c, err := e.store.GetClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return c.IDTokenSignedResponseAlg
	}

	def := e.create(t, web(nil))
	if def["id_token_signed_response_alg"] != "RS256" || stored(def["client_id"].(string)) != "RS256" {
		t.Fatalf("default: %v, stored %q", def["id_token_signed_response_alg"], stored(def["client_id"].(string)))
	}
	es := e.create(t, web(map[string]any{"client_id": "es", "id_token_signed_response_alg": "ES256"}))
	if es["id_token_signed_response_alg"] != "ES256" || stored("es") != "ES256" {
		t.Fatalf("ES256: %v", es["id_token_signed_response_alg"])
	}

	for _, tc := range []struct {
		alg  any
		want string
	}{
		{"PS256", "this server signs ID tokens with ES256, RS256, EdDSA"}, // no PS256 key
		{"HS256", "not supported"},
		{"none", "not supported"},
		{"rs256", "not supported"},
		{"", "not supported"},
		{42, "id_token_signed_response_alg"},
	} {
		r := e.call(t, http.MethodPost, "/admin/clients", web(map[string]any{"id_token_signed_response_alg": tc.alg}))
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(r.body, &body)
		if r.status != http.StatusBadRequest || body.Error != admin.CodeInvalidClientMetadata || !strings.Contains(body.Description, tc.want) {
			t.Errorf("alg %v: %d %s", tc.alg, r.status, r.body)
		}
	}

	r := e.call(t, http.MethodPatch, "/admin/clients/es", map[string]any{"id_token_signed_response_alg": "EdDSA"})
	if r.status != http.StatusOK || stored("es") != "EdDSA" {
		t.Fatalf("PATCH EdDSA: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodPatch, "/admin/clients/es", map[string]any{"id_token_signed_response_alg": nil})
	if r.status != http.StatusOK || stored("es") != "RS256" {
		t.Fatalf("PATCH null: %d %s, stored %q", r.status, r.body, stored("es"))
	}
}
