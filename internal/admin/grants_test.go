package admin_test

import (
	"net/http"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
)

// TestAdminGrantTypesServed: a client may register only the grant types
// the token endpoint serves; the rest is refused at registration and on
// update. The device grant is served (and may carry refresh_token).
func TestAdminGrantTypesServed(t *testing.T) {
	e := newEnv(t)
	for _, g := range []string{
		"password",
		"implicit",
	} {
		t.Run(g, func(t *testing.T) {
			r := e.call(t, http.MethodPost, "/admin/clients", m2m(map[string]any{"grant_types": []string{"client_credentials", g}}))
			r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "use client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:token-exchange, urn:ietf:params:oauth:grant-type:device_code")
		})
	}
	c := e.create(t, m2m(nil))
	id, _ := c["client_id"].(string)
	r := e.call(t, http.MethodPatch, "/admin/clients/"+id, map[string]any{"grant_types": []string{"password"}})
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "not supported")
	// jwt-bearer is served, for confidential clients only.
	e.create(t, m2m(map[string]any{"grant_types": []string{admin.GrantJWTBearer}}))
	r = e.call(t, http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{admin.GrantJWTBearer}, "token_endpoint_auth_method": "none"})
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "public clients")
	// refresh_token needs the one grant that issues refresh tokens.
	r = e.call(t, http.MethodPost, "/admin/clients", m2m(map[string]any{"grant_types": []string{"client_credentials", "refresh_token"}}))
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "authorization_code")
	dev := e.create(t, map[string]any{"client_name": "tv", "token_endpoint_auth_method": "none",
		"grant_types": []string{admin.GrantDeviceCode, "refresh_token"}})
	if dev["client_id"] == "" {
		t.Errorf("a device client was not created: %v", dev)
	}
}

// TestAdminTokenExchangeGrant: token exchange is served, for confidential
// clients; it may come with refresh_token only when its policy issues
// refresh tokens.
func TestAdminTokenExchangeGrant(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, m2m(map[string]any{"grant_types": []string{admin.GrantTokenExchange}, "audiences": []string{"https://b.example.com"}}))
	if g, _ := c["grant_types"].([]any); len(g) != 1 || g[0] != admin.GrantTokenExchange {
		t.Fatalf("grant_types = %v", c["grant_types"])
	}
	r := e.call(t, http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{admin.GrantTokenExchange}, "token_endpoint_auth_method": "none"})
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "public clients")
	r = e.call(t, http.MethodPost, "/admin/clients", m2m(map[string]any{"grant_types": []string{admin.GrantTokenExchange, "refresh_token"}}))
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "token_exchange.refresh_tokens")
	e.create(t, m2m(map[string]any{"grant_types": []string{admin.GrantTokenExchange, "refresh_token"}, "token_exchange": map[string]any{"refresh_tokens": true}}))
}
