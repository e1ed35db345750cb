package admin_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/jose"
)

// fapiJWKS is a public JWK Set for private_key_jwt registrations.
func fapiJWKS(t *testing.T) json.RawMessage {
	t.Helper()
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jose.NewKeySet(k.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// wantMetadataError checks a 400 with code and a description containing
// want.
func wantMetadataError(t *testing.T, r response, code, want string) {
	t.Helper()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(r.body, &body)
	if r.status != http.StatusBadRequest || body.Error != code || !strings.Contains(body.Description, want) {
		t.Errorf("got %d %s, want 400 %s containing %q", r.status, r.body, code, want)
	}
}

// TestClientProfileFAPI2: the admin API registers profile fapi2, fills
// id_token_signed_response_alg with an algorithm the profile allows, and
// refuses a registration or a change that contradicts the profile.
func TestClientProfileFAPI2(t *testing.T) {
	e := newEnv(t, func(o *admin.Options) {
		o.IDTokenAlgorithms = []jose.Algorithm{jose.ES256, jose.RS256}
	})
	jwks := fapiJWKS(t)
	web := func(extra map[string]any) map[string]any {
		m := map[string]any{
			"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{"https://bank.example/cb"},
			"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks, "profile": "fapi2",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	c := e.create(t, web(map[string]any{"client_id": "bank"}))
	if c["profile"] != "fapi2" || c["id_token_signed_response_alg"] != "ES256" {
		t.Fatalf("created: profile %v, id_token_signed_response_alg %v", c["profile"], c["id_token_signed_response_alg"])
	}
	for _, tc := range []struct {
		name       string
		extra      map[string]any
		code, want string
	}{
		{"client_secret_basic", map[string]any{"token_endpoint_auth_method": "client_secret_basic", "jwks": nil}, admin.CodeInvalidClientMetadata, "token_endpoint_auth_method"},
		{"public", map[string]any{"token_endpoint_auth_method": "none", "jwks": nil}, admin.CodeInvalidClientMetadata, "token_endpoint_auth_method"},
		{"RS256 ID tokens", map[string]any{"id_token_signed_response_alg": "RS256"}, admin.CodeInvalidClientMetadata, "id_token_signed_response_alg"},
		{"http redirect", map[string]any{"redirect_uris": []string{"http://bank.example/cb"}}, admin.CodeInvalidRedirectURI, "https"},
		{"unknown profile", map[string]any{"profile": "fapi1"}, admin.CodeInvalidClientMetadata, "profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantMetadataError(t, e.call(t, http.MethodPost, "/admin/clients", web(tc.extra)), tc.code, tc.want)
		})
	}

	// A client with a secret cannot be moved to the profile; without it,
	// it can leave it.
	e.create(t, map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}})
	wantMetadataError(t, e.call(t, http.MethodPatch, "/admin/clients/svc", map[string]any{"profile": "fapi2"}), admin.CodeInvalidClientMetadata, "token_endpoint_auth_method")
	wantMetadataError(t, e.call(t, http.MethodPatch, "/admin/clients/bank", map[string]any{"id_token_signed_response_alg": "RS256"}), admin.CodeInvalidClientMetadata, "id_token_signed_response_alg")
	r := e.call(t, http.MethodPatch, "/admin/clients/bank", map[string]any{"profile": nil})
	if r.status != http.StatusOK || strings.Contains(string(r.body), `"profile"`) {
		t.Fatalf("PATCH profile null: %d %s", r.status, r.body)
	}
}

// TestClientServerWideFAPI2: with the server-wide mode (Options.FAPI2),
// a registration without profile is held to the profile too.
func TestClientServerWideFAPI2(t *testing.T) {
	e := newEnv(t, func(o *admin.Options) {
		o.FAPI2 = true
		o.IDTokenAlgorithms = []jose.Algorithm{jose.EdDSA, jose.RS256}
	})
	wantMetadataError(t, e.call(t, http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{"client_credentials"}}), admin.CodeInvalidClientMetadata, "FAPI 2.0")
	c := e.create(t, map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": fapiJWKS(t)})
	if c["id_token_signed_response_alg"] != "EdDSA" || c["profile"] != nil {
		t.Fatalf("created: %v", c)
	}
}

// TestRegistrationServerWideFAPI2: a node started with WRIT_FAPI2=true
// holds dynamically registered clients to the profile (a client secret is
// refused; private_key_jwt is registered, with a FAPI ID token
// algorithm), ignores a profile member in a registration (dynamic
// registration cannot choose one), and requires pushed requests in
// discovery.
func TestRegistrationServerWideFAPI2(t *testing.T) {
	n := startRegNode(t, "open", map[string]string{"WRIT_FAPI2": "true"})
	endpoint := n.issuer + admin.PathRegister
	web := map[string]any{"redirect_uris": []string{"https://bank.example/cb"}, "scope": "openid", "client_name": "bank"}
	if r := n.call(t, http.MethodPost, endpoint, "", web); r.status != http.StatusBadRequest || r.body["error"] != admin.CodeInvalidClientMetadata {
		t.Fatalf("a client_secret_basic registration: %d %s", r.status, r.raw)
	}
	web["token_endpoint_auth_method"], web["jwks"], web["profile"] = "private_key_jwt", fapiJWKS(t), "none"
	r := n.call(t, http.MethodPost, endpoint, "", web)
	if r.status != http.StatusCreated || r.body["id_token_signed_response_alg"] == "RS256" || r.body["profile"] != nil {
		t.Fatalf("a private_key_jwt registration: %d %s", r.status, r.raw)
	}
	d := n.call(t, http.MethodGet, n.issuer+"/.well-known/openid-configuration", "", nil)
	if d.status != http.StatusOK || d.body["require_pushed_authorization_requests"] != true {
		t.Fatalf("discovery: %d %s", d.status, d.raw)
	}
	m, _ := d.body["token_endpoint_auth_methods_supported"].([]any)
	for _, v := range m {
		if s, _ := v.(string); !oauth.FAPI2AuthMethod(s) {
			t.Errorf("token_endpoint_auth_methods_supported = %v: %v is not a FAPI 2.0 method", m, v)
		}
	}
	if len(m) == 0 {
		t.Error("token_endpoint_auth_methods_supported is empty")
	}
}
