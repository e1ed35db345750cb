package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/jose"
)

func TestAdminAuth(t *testing.T) {
	e := newEnv(t)
	disabled := newEnv(t, func(o *admin.Options) { o.Token = "" })
	tests := []struct {
		name      string
		env       *env
		auth      string
		path      string
		status    int
		code      string
		challenge string
	}{
		{"disabled", disabled, "Bearer " + testToken, "/admin/clients", 503, "admin_disabled", ""},
		{"disabled without credential", disabled, "", "/admin/keys", 503, "admin_disabled", ""},
		{"disabled with empty bearer", disabled, "Bearer ", "/admin/clients", 503, "admin_disabled", ""},
		{"missing", e, "", "/admin/clients", 401, "unauthorized", `Bearer realm="writ-admin"`},
		{"wrong", e, "Bearer not-the-token", "/admin/clients", 401, "invalid_token", `error="invalid_token"`},
		{"prefix of the token", e, "Bearer " + testToken[:10], "/admin/clients", 401, "invalid_token", `error="invalid_token"`},
		{"token plus suffix", e, "Bearer " + testToken + "x", "/admin/clients", 401, "invalid_token", `error="invalid_token"`},
		{"empty bearer", e, "Bearer ", "/admin/clients", 401, "invalid_token", "Bearer"},
		{"basic scheme", e, "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+testToken)), "/admin/clients", 401, "invalid_request", "Bearer"},
		{"unknown route needs auth too", e, "", "/admin/nothing", 401, "unauthorized", "Bearer"},
		{"valid", e, "Bearer " + testToken, "/admin/clients", 200, "", ""},
		{"scheme is case-insensitive", e, "bearer " + testToken, "/admin/keys", 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.env.callWith(t, http.MethodGet, tt.path, nil, map[string]string{"Authorization": tt.auth})
			if tt.code == "" {
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				return
			}
			r.wantError(t, tt.status, tt.code, "")
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Fatalf("WWW-Authenticate %q, want it to contain %q", got, tt.challenge)
			}
		})
	}
	r := disabled.call(t, http.MethodGet, "/admin/clients", nil)
	r.wantError(t, 503, "admin_disabled", "set WRIT_ADMIN_TOKEN")
}

func TestAdminCreateConfidential(t *testing.T) {
	e := newEnv(t)
	r := e.call(t, http.MethodPost, "/admin/clients", m2m(map[string]any{
		"audiences":        []string{"https://orders.example.com", "https://billing.example.com"},
		"access_token_ttl": 900,
		"metadata":         map[string]string{"team": "payments"},
	}))
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	got := r.json(t)
	id, _ := got["client_id"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22,}$`).MatchString(id) {
		t.Fatalf("generated client_id %q is not 22+ base64url characters", id)
	}
	if loc := r.header.Get("Location"); loc != "/admin/clients/"+id {
		t.Errorf("Location %q", loc)
	}
	secret, _ := got["client_secret"].(string)
	if len(secret) < 43 {
		t.Fatalf("client_secret %q is shorter than 256 bits of base64url", secret)
	}
	want := map[string]any{
		"client_name": "billing", "token_endpoint_auth_method": "client_secret_basic",
		"access_token_format": "jwt", "scope": "orders:read orders:write",
		"client_secret_expires_at": float64(0), "access_token_ttl": float64(900),
		"first_party": false, "client_id_issued_at": float64(e.clock().Unix()),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if fmt.Sprint(got["grant_types"]) != "[client_credentials]" || fmt.Sprint(got["response_types"]) != "[]" {
		t.Errorf("grant_types %v response_types %v", got["grant_types"], got["response_types"])
	}

	// The store holds the keyed hash, which verifies the secret.
	stored, err := e.store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !e.hasher.Verify(secret, stored.SecretHash) {
		t.Fatal("the stored hash does not verify the returned secret")
	}
	if e.hasher.Verify(secret+"x", stored.SecretHash) {
		t.Fatal("the stored hash verifies a wrong secret")
	}
	if strings.Contains(string(stored.SecretHash), secret) {
		t.Fatal("the secret is stored in plaintext")
	}
	if stored.AccessTokenTTL != 15*time.Minute || stored.Audiences[0] != "https://orders.example.com" || stored.Metadata["team"] != "payments" {
		t.Errorf("stored client %+v", stored)
	}
	if !stored.CreatedAt.Equal(e.clock().Truncate(time.Microsecond)) {
		t.Errorf("created_at %v, want %v", stored.CreatedAt, e.clock())
	}
	if e.cache.count(id) != 1 {
		t.Errorf("cache invalidations %v, want one for %s", e.cache.calls(), id)
	}

	// The secret is never shown again, nor its hash.
	hashB64 := base64.RawURLEncoding.EncodeToString(stored.SecretHash)
	hashStd := base64.StdEncoding.EncodeToString(stored.SecretHash)
	for _, path := range []string{"/admin/clients/" + id, "/admin/clients"} {
		g := e.call(t, http.MethodGet, path, nil)
		if g.status != 200 {
			t.Fatalf("GET %s: %d %s", path, g.status, g.body)
		}
		for _, leak := range []string{secret, "client_secret\"", hashB64, hashStd, fmt.Sprintf("%x", stored.SecretHash), "secret_hash"} {
			if strings.Contains(string(g.body), leak) {
				t.Fatalf("GET %s shows %q: %s", path, leak, g.body)
			}
		}
	}
	logs := e.logs.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, hashStd) {
		t.Fatal("the secret or its hash was logged")
	}
	if !strings.Contains(logs, id) || !strings.Contains(logs, "client registered") {
		t.Fatalf("the registration was not logged with its client_id: %s", logs)
	}
}

func TestAdminCreateChosenIDAndConflict(t *testing.T) {
	e := newEnv(t)
	got := e.create(t, m2m(map[string]any{"client_id": "billing-service"}))
	if got["client_id"] != "billing-service" {
		t.Fatalf("client_id %v", got["client_id"])
	}
	r := e.call(t, http.MethodPost, "/admin/clients", m2m(map[string]any{"client_id": "billing-service"}))
	r.wantError(t, 409, "conflict", "billing-service")
}

func TestAdminCreatePublicAndPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.NewKeySet(key))

	public := e.create(t, map[string]any{
		"token_endpoint_auth_method": "none",
		"redirect_uris":              []string{"http://127.0.0.1/callback", "com.example.app:/cb"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
	})
	if _, ok := public["client_secret"]; ok {
		t.Fatalf("public client got a secret: %v", public)
	}
	if _, ok := public["client_secret_expires_at"]; ok {
		t.Fatalf("public client has client_secret_expires_at: %v", public)
	}
	if fmt.Sprint(public["response_types"]) != "[code]" {
		t.Fatalf("response_types %v, want the default [code]", public["response_types"])
	}

	pkjwt := e.create(t, m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(pub)}))
	if _, ok := pkjwt["client_secret"]; ok {
		t.Fatalf("private_key_jwt client got a secret")
	}
	stored, err := e.store.GetClient(context.Background(), pkjwt["client_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.SecretHash) != 0 {
		t.Fatal("private_key_jwt client has a secret hash")
	}
	if ks, err := jose.ParseKeySet(stored.JWKS); err != nil || ks.Len() != 1 {
		t.Fatalf("stored jwks does not parse: %v", err)
	}
	uri := e.create(t, m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://client.example.com/jwks.json"}))
	if uri["jwks_uri"] != "https://client.example.com/jwks.json" {
		t.Fatalf("jwks_uri %v", uri["jwks_uri"])
	}
}

func TestAdminCreateValidation(t *testing.T) {
	e := newEnv(t)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.NewKeySet(key))
	priv, _ := json.Marshal(key)
	privSet := `{"keys":[` + string(priv) + `]}`
	long := strings.Repeat("a", 3000)
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("https://app.example.com/cb%d", i)
	}
	bigMeta := map[string]string{}
	for i := range 40 {
		bigMeta[fmt.Sprint("k", i)] = "v"
	}
	ac := func(uris ...string) map[string]any {
		return map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": uris}
	}
	tests := []struct {
		name string
		body any
		code string
		desc string
	}{
		{"empty body", "", "invalid_client_metadata", "JSON object"},
		{"array", "[]", "invalid_client_metadata", "JSON object"},
		{"malformed", `{"client_name":`, "invalid_client_metadata", "not valid JSON"},
		{"trailing garbage", `{"grant_types":["client_credentials"]} x`, "invalid_client_metadata", "not valid JSON"},
		{"duplicate member", `{"client_name":"a","client_name":"b","grant_types":["client_credentials"]}`, "invalid_client_metadata", "repeats"},
		{"unknown field", m2m(map[string]any{"client_uri": "https://x"}), "invalid_client_metadata", `unknown field "client_uri"`},
		{"client_secret", m2m(map[string]any{"client_secret": "mine"}), "invalid_client_metadata", "rotate-secret"},
		{"name not a string", m2m(map[string]any{"client_name": 5}), "invalid_client_metadata", "client_name must be a string"},
		{"name too long", m2m(map[string]any{"client_name": long}), "invalid_client_metadata", "client_name is longer"},
		{"name with newline", m2m(map[string]any{"client_name": "a\nb"}), "invalid_client_metadata", "control character"},
		{"default grant needs redirect", map[string]any{"client_name": "x"}, "invalid_redirect_uri", "grant_types defaults to authorization_code"},
		{"auth code needs redirect", map[string]any{"grant_types": []string{"authorization_code"}}, "invalid_redirect_uri", "authorization_code grant needs at least one redirect_uri"},
		{"no grant types", m2m(map[string]any{"grant_types": []string{}}), "invalid_client_metadata", "at least one"},
		{"unknown grant", m2m(map[string]any{"grant_types": []string{"password"}}), "invalid_client_metadata", `"password" is not supported`},
		{"implicit response", m2m(map[string]any{"grant_types": []string{"authorization_code"}, "response_types": []string{"token"}, "redirect_uris": []string{"https://a.example/cb"}}), "invalid_client_metadata", `"token" is not supported`},
		{"code without grant", m2m(map[string]any{"response_types": []string{"code"}}), "invalid_client_metadata", "needs the authorization_code grant"},
		{"auth code without code", map[string]any{"grant_types": []string{"authorization_code"}, "response_types": []string{}, "redirect_uris": []string{"https://a.example/cb"}}, "invalid_client_metadata", `response_types ["code"]`},
		{"repeated grant", m2m(map[string]any{"grant_types": []string{"client_credentials", "client_credentials"}}), "invalid_client_metadata", "twice"},
		{"refresh alone", m2m(map[string]any{"grant_types": []string{"client_credentials", "refresh_token"}}), "invalid_client_metadata", "refresh_token grant needs"},
		{"unknown auth method", m2m(map[string]any{"token_endpoint_auth_method": "tls_client_auth"}), "invalid_client_metadata", "tls_client_auth"},
		{"public client credentials", m2m(map[string]any{"token_endpoint_auth_method": "none"}), "invalid_client_metadata", "public clients"},
		{"pkjwt without keys", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt"}), "invalid_client_metadata", "jwks or jwks_uri"},
		{"jwks and jwks_uri", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(pub), "jwks_uri": "https://c.example/jwks"}), "invalid_client_metadata", "not both"},
		{"private jwks", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(privSet)}), "invalid_client_metadata", "private"},
		{"jwks not a set", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": []string{"x"}}), "invalid_client_metadata", "JWK Set"},
		{"jwks empty", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": map[string]any{"keys": []any{}}}), "invalid_client_metadata", "no usable public key"},
		{"jwks_uri http", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://c.example/jwks"}), "invalid_client_metadata", "jwks_uri must use https"},
		{"jwks_uri relative", m2m(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "/jwks"}), "invalid_client_metadata", "jwks_uri must be an absolute"},
		{"backchannel http", m2m(map[string]any{"backchannel_logout_uri": "http://rp.example/logout"}), "invalid_client_metadata", "backchannel_logout_uri must use https"},
		{"bad scope chars", m2m(map[string]any{"scope": `a "b"`}), "invalid_client_metadata", "scope"},
		{"double space scope", m2m(map[string]any{"scope": "a  b"}), "invalid_client_metadata", "single spaces"},
		{"scope not a string", m2m(map[string]any{"scope": []string{"a"}}), "invalid_client_metadata", "scope must be a string"},
		{"token format", m2m(map[string]any{"access_token_format": "paseto"}), "invalid_client_metadata", "jwt or opaque"},
		{"ttl too long", m2m(map[string]any{"access_token_ttl": 90000}), "invalid_client_metadata", "access_token_ttl must be a whole number of seconds from 1 to 86400"},
		{"ttl negative", m2m(map[string]any{"refresh_token_ttl": -1}), "invalid_client_metadata", "refresh_token_ttl"},
		{"ttl fraction", m2m(map[string]any{"id_token_ttl": 1.5}), "invalid_client_metadata", "id_token_ttl"},
		{"ttl string", m2m(map[string]any{"access_token_ttl": "15m"}), "invalid_client_metadata", "number of seconds"},
		{"ttl huge", `{"grant_types":["client_credentials"],"access_token_ttl":1e400}`, "invalid_client_metadata", "access_token_ttl"},
		{"audience relative", m2m(map[string]any{"audiences": []string{"orders"}}), "invalid_client_metadata", "audiences[0] must be an absolute URI"},
		{"audience fragment", m2m(map[string]any{"audiences": []string{"https://a.example/#x"}}), "invalid_client_metadata", "audiences[0]"},
		{"too many audiences", m2m(map[string]any{"audiences": many}), "invalid_client_metadata", "more than 16"},
		{"too many redirect uris", ac(many...), "invalid_client_metadata", "more than 32"},
		{"redirect uri too long", ac("https://a.example/" + long), "invalid_client_metadata", "longer than 2048"},
		{"metadata not strings", m2m(map[string]any{"metadata": map[string]any{"a": 1}}), "invalid_client_metadata", "metadata must be an object"},
		{"metadata too big", m2m(map[string]any{"metadata": bigMeta}), "invalid_client_metadata", "more than 32"},
		{"metadata empty key", m2m(map[string]any{"metadata": map[string]string{"": "v"}}), "invalid_client_metadata", "metadata keys"},
		{"metadata long value", m2m(map[string]any{"metadata": map[string]string{"k": long}}), "invalid_client_metadata", "longer than 1024"},
		{"first_party not bool", m2m(map[string]any{"first_party": "yes"}), "invalid_client_metadata", "first_party must be true or false"},
		{"client_id bad chars", m2m(map[string]any{"client_id": "a b"}), "invalid_client_metadata", "client_id may contain only"},
		{"client_id slash", m2m(map[string]any{"client_id": "a/b"}), "invalid_client_metadata", "client_id may contain only"},
		{"client_id dots", m2m(map[string]any{"client_id": ".."}), "invalid_client_metadata", "cannot be"},
		{"client_id too long", m2m(map[string]any{"client_id": strings.Repeat("x", 129)}), "invalid_client_metadata", "1 to 128"},
		{"client_id empty", m2m(map[string]any{"client_id": ""}), "invalid_client_metadata", "1 to 128"},
		{"client_id number", m2m(map[string]any{"client_id": 7}), "invalid_client_metadata", "client_id must be a string"},
		{"deeply nested", `{"metadata":` + strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat(`}`, 20) + `}`, "invalid_client_metadata", "nested too deeply"},
		{"invalid utf-8", "{\"client_name\":\"\xff\",\"grant_types\":[\"client_credentials\"]}", "invalid_client_metadata", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, http.MethodPost, "/admin/clients", tt.body)
			r.wantError(t, http.StatusBadRequest, tt.code, tt.desc)
		})
	}
	// Nothing was stored, and nothing invalidated.
	list, err := e.store.ListClients(context.Background(), storeListAll())
	if err != nil || len(list) != 0 {
		t.Fatalf("rejected registrations were stored: %d, %v", len(list), err)
	}
}

func TestAdminRedirectURIs(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		uri  string
		ok   bool
		desc string
	}{
		{"https://app.example.com/callback", true, ""},
		{"https://app.example.com:8443/cb?x=1", true, ""},
		{"http://127.0.0.1/callback", true, ""},
		{"http://127.0.0.1:51004/callback", true, ""},
		{"http://[::1]:8080/cb", true, ""},
		{"http://localhost:3000/cb", true, ""},
		{"com.example.app:/oauth2redirect", true, ""},
		{"com.example.app://callback", true, ""},
		{"http://app.example.com/cb", false, "loopback"},
		{"http://127.0.0.2/cb", false, "loopback"},
		{"http://localhost.evil.com/cb", false, "loopback"},
		{"https://app.example.com/cb#frag", false, "fragment"},
		{"https://app.example.com/cb#", false, "fragment"},
		{"/callback", false, "absolute"},
		{"app.example.com/cb", false, "absolute"},
		{"javascript:alert(1)", false, "private-use scheme"},
		{"data:text/html,hi", false, "private-use scheme"},
		{"myapp:/cb", false, "private-use scheme"},
		{"https://user:pw@app.example.com/cb", false, "user information"},
		{"https:///cb", false, "no host"},
		{"https://app.example.com/a b", false, "spaces"},
		{"https://app.example.com/\\evil", false, "backslashes"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			for _, field := range []string{"redirect_uris", "post_logout_redirect_uris"} {
				body := map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://ok.example/cb"}}
				body[field] = []string{tt.uri}
				r := e.call(t, http.MethodPost, "/admin/clients", body)
				if tt.ok {
					if r.status != http.StatusCreated {
						t.Fatalf("%s: status %d: %s", field, r.status, r.body)
					}
					continue
				}
				r.wantError(t, http.StatusBadRequest, "invalid_redirect_uri", tt.desc)
				r.wantError(t, http.StatusBadRequest, "invalid_redirect_uri", field+"[0]")
			}
		})
	}
}

func TestAdminGetNotFound(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/admin/clients/nope", "/admin/clients/" + strings.Repeat("x", 600), "/admin/clients/%FF", "/admin/clients/a%00b"} {
		e.call(t, http.MethodGet, path, nil).wantError(t, 404, "not_found", "no client")
	}
	e.call(t, http.MethodPatch, "/admin/clients/nope", map[string]any{"client_name": "x"}).wantError(t, 404, "not_found", "nope")
	e.call(t, http.MethodDelete, "/admin/clients/nope", nil).wantError(t, 404, "not_found", "nope")
	e.call(t, http.MethodPost, "/admin/clients/nope/rotate-secret", nil).wantError(t, 404, "not_found", "nope")
}

func TestAdminPatch(t *testing.T) {
	e := newEnv(t)
	created := e.create(t, m2m(map[string]any{"client_id": "svc", "audiences": []string{"https://api.example.com"}, "metadata": map[string]string{"a": "1"}}))
	secret := created["client_secret"].(string)
	path := "/admin/clients/svc"

	e.advance(time.Hour)
	r := e.call(t, http.MethodPatch, path, map[string]any{"client_name": "billing v2", "scope": "orders:read", "access_token_format": "opaque", "audiences": nil})
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	got := r.json(t)
	if got["client_name"] != "billing v2" || got["scope"] != "orders:read" || got["access_token_format"] != "opaque" {
		t.Fatalf("patched fields not applied: %s", r.body)
	}
	if _, ok := got["audiences"]; ok {
		t.Fatalf("audiences: null did not reset the field: %s", r.body)
	}
	if fmt.Sprint(got["metadata"]) != "map[a:1]" || fmt.Sprint(got["grant_types"]) != "[client_credentials]" {
		t.Fatalf("fields not in the request changed: %s", r.body)
	}
	if _, ok := got["client_secret"]; ok {
		t.Fatal("a patch that keeps the auth method showed a secret")
	}
	stored, _ := e.store.GetClient(context.Background(), "svc")
	if !e.hasher.Verify(secret, stored.SecretHash) {
		t.Fatal("the patch changed the secret")
	}
	if !stored.UpdatedAt.Equal(e.clock().Truncate(time.Microsecond)) || stored.CreatedAt.Equal(stored.UpdatedAt) {
		t.Fatalf("updated_at %v created_at %v", stored.UpdatedAt, stored.CreatedAt)
	}
	if e.cache.count("svc") != 2 {
		t.Fatalf("cache invalidations %v, want create + patch", e.cache.calls())
	}

	// Errors: validation of the merged result, shapes, immutability.
	errs := []struct {
		name   string
		body   any
		status int
		code   string
		desc   string
	}{
		{"client_id change", map[string]any{"client_id": "other"}, 400, "invalid_client_metadata", "client_id cannot change"},
		{"nothing", map[string]any{}, 400, "invalid_client_metadata", "changes nothing"},
		{"only same client_id", map[string]any{"client_id": "svc"}, 400, "invalid_client_metadata", "changes nothing"},
		{"result invalid", map[string]any{"grant_types": []string{"authorization_code"}, "response_types": []string{"code"}}, 400, "invalid_redirect_uri", "redirect_uri"},
		{"auth code without response type", map[string]any{"grant_types": []string{"authorization_code"}}, 400, "invalid_client_metadata", "response_types"},
		{"public with client credentials", map[string]any{"token_endpoint_auth_method": "none"}, 400, "invalid_client_metadata", "public clients"},
		{"unknown field", map[string]any{"colour": "red"}, 400, "invalid_client_metadata", "unknown field"},
		{"bad shape", map[string]any{"redirect_uris": "https://a.example/cb"}, 400, "invalid_client_metadata", "array of strings"},
		{"secret", map[string]any{"client_secret": "x"}, 400, "invalid_client_metadata", "cannot be set"},
		{"not json", "client_name=x", 400, "invalid_client_metadata", "JSON object"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			e.call(t, http.MethodPatch, path, tt.body).wantError(t, tt.status, tt.code, tt.desc)
		})
	}
	after, _ := e.store.GetClient(context.Background(), "svc")
	if after.Name != "billing v2" || !after.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Fatalf("a rejected patch changed the client: %+v", after)
	}

	// application/merge-patch+json is accepted too.
	r = e.callWith(t, http.MethodPatch, path, `{"first_party":true}`, map[string]string{
		"Authorization": "Bearer " + testToken, "Content-Type": "application/merge-patch+json"})
	if r.status != 200 || r.json(t)["first_party"] != true {
		t.Fatalf("merge-patch: %d %s", r.status, r.body)
	}

	// require_pushed_authorization_requests (RFC 9126 §6): set, shown,
	// stored, cleared.
	r = e.call(t, http.MethodPatch, path, `{"require_pushed_authorization_requests":true}`)
	if got, _ := e.store.GetClient(context.Background(), "svc"); r.status != 200 || r.json(t)["require_pushed_authorization_requests"] != true || !got.RequirePushedAuthorizationRequests {
		t.Fatalf("require PAR: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodPatch, path, `{"require_pushed_authorization_requests":false}`)
	if got, _ := e.store.GetClient(context.Background(), "svc"); r.status != 200 || got.RequirePushedAuthorizationRequests {
		t.Fatalf("require PAR cleared: %d %s", r.status, r.body)
	}
	e.call(t, http.MethodPatch, path, `{"require_pushed_authorization_requests":"yes"}`).wantError(t, 400, "invalid_client_metadata", "require_pushed_authorization_requests must be true or false")
}

func TestAdminPatchAuthMethodSwitch(t *testing.T) {
	e := newEnv(t)
	key, _ := jose.GenerateKey(jose.ES256)
	pub, _ := json.Marshal(jose.NewKeySet(key))
	created := e.create(t, m2m(map[string]any{"client_id": "svc"}))
	first := created["client_secret"].(string)

	// basic -> post keeps the secret and shows nothing.
	r := e.call(t, http.MethodPatch, "/admin/clients/svc", map[string]any{"token_endpoint_auth_method": "client_secret_post"})
	if r.status != 200 || r.json(t)["client_secret"] != nil {
		t.Fatalf("basic->post: %d %s", r.status, r.body)
	}
	c, _ := e.store.GetClient(context.Background(), "svc")
	if !e.hasher.Verify(first, c.SecretHash) {
		t.Fatal("basic->post lost the secret")
	}

	// -> private_key_jwt drops the secret hash.
	r = e.call(t, http.MethodPatch, "/admin/clients/svc", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(pub)})
	if r.status != 200 {
		t.Fatalf("->private_key_jwt: %d %s", r.status, r.body)
	}
	c, _ = e.store.GetClient(context.Background(), "svc")
	if len(c.SecretHash) != 0 || !c.SecretRotatedAt.IsZero() {
		t.Fatal("switching to private_key_jwt kept the secret hash")
	}

	// -> client_secret_basic again issues a new secret, shown once here.
	r = e.call(t, http.MethodPatch, "/admin/clients/svc", map[string]any{"token_endpoint_auth_method": nil, "jwks": nil})
	if r.status != 200 {
		t.Fatalf("->basic: %d %s", r.status, r.body)
	}
	got := r.json(t)
	second, _ := got["client_secret"].(string)
	if got["token_endpoint_auth_method"] != "client_secret_basic" || second == "" || second == first {
		t.Fatalf("switching back to a secret method did not issue a new secret: %s", r.body)
	}
	c, _ = e.store.GetClient(context.Background(), "svc")
	if !e.hasher.Verify(second, c.SecretHash) || e.hasher.Verify(first, c.SecretHash) {
		t.Fatal("the new secret does not verify, or the old one still does")
	}
}

func TestAdminConcurrentPatches(t *testing.T) {
	e := newEnv(t)
	e.create(t, map[string]any{"client_id": "svc", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://a.example/cb"}})
	// Each writer owns one field; every field must survive the others.
	patches := []map[string]any{
		{"client_name": "concurrent"},
		{"scope": "a b c"},
		{"audiences": []string{"https://api.example.com"}},
		{"access_token_ttl": 60},
		{"refresh_token_ttl": 3600},
		{"id_token_ttl": 300},
		{"first_party": true},
		{"metadata": map[string]string{"k": "v"}},
		{"post_logout_redirect_uris": []string{"https://a.example/bye"}},
		{"backchannel_logout_uri": "https://a.example/bc"},
		{"access_token_format": "opaque"},
		{"token_endpoint_auth_method": "client_secret_post"},
	}
	const rounds = 3
	var wg sync.WaitGroup
	errs := make(chan string, len(patches)*rounds)
	for _, p := range patches {
		for range rounds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.do(http.MethodPatch, "/admin/clients/svc", p, map[string]string{"Authorization": "Bearer " + testToken})
				if err != nil {
					errs <- err.Error()
				} else if r.status != 200 {
					errs <- fmt.Sprintf("%v: %d %s", p, r.status, r.body)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c, err := e.store.GetClient(context.Background(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"client_name":               c.Name == "concurrent",
		"scope":                     slices.Equal(c.Scopes, []string{"a", "b", "c"}),
		"audiences":                 len(c.Audiences) == 1,
		"access_token_ttl":          c.AccessTokenTTL == time.Minute,
		"refresh_token_ttl":         c.RefreshTokenTTL == time.Hour,
		"id_token_ttl":              c.IDTokenTTL == 5*time.Minute,
		"first_party":               c.FirstParty,
		"metadata":                  c.Metadata["k"] == "v",
		"post_logout_redirect_uris": len(c.PostLogoutRedirectURIs) == 1,
		"backchannel_logout_uri":    c.BackchannelLogoutURI == "https://a.example/bc",
		"access_token_format":       c.AccessTokenFormat == "opaque",
		"token_endpoint_auth_method": c.TokenEndpointAuthMethod == "client_secret_post" &&
			len(c.SecretHash) > 0,
		"redirect_uris": len(c.RedirectURIs) == 1,
	}
	for field, ok := range checks {
		if !ok {
			t.Errorf("a concurrent patch lost %s", field)
		}
	}
	if n := e.cache.count("svc"); n != 1+len(patches)*rounds {
		t.Errorf("invalidations %d, want %d", n, 1+len(patches)*rounds)
	}
}

func TestAdminDelete(t *testing.T) {
	e := newEnv(t)
	e.create(t, m2m(map[string]any{"client_id": "gone"}))
	r := e.call(t, http.MethodDelete, "/admin/clients/gone", nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("delete: %d %q", r.status, r.body)
	}
	if e.cache.count("gone") != 2 {
		t.Fatalf("invalidations %v", e.cache.calls())
	}
	e.call(t, http.MethodGet, "/admin/clients/gone", nil).wantError(t, 404, "not_found", "gone")
	e.call(t, http.MethodDelete, "/admin/clients/gone", nil).wantError(t, 404, "not_found", "gone")
	if !strings.Contains(e.logs.String(), "client deleted") {
		t.Fatal("the deletion was not logged")
	}
}

func TestAdminRotateSecret(t *testing.T) {
	e := newEnv(t)
	created := e.create(t, m2m(map[string]any{"client_id": "svc"}))
	old := created["client_secret"].(string)
	e.advance(time.Minute)
	for i, body := range []any{nil, "{}"} {
		r := e.call(t, http.MethodPost, "/admin/clients/svc/rotate-secret", body)
		if r.status != 200 {
			t.Fatalf("rotate %d: %d %s", i, r.status, r.body)
		}
		got := r.json(t)
		secret, _ := got["client_secret"].(string)
		if secret == "" || secret == old || got["client_secret_expires_at"] != float64(0) {
			t.Fatalf("rotate %d: %s", i, r.body)
		}
		c, _ := e.store.GetClient(context.Background(), "svc")
		if !e.hasher.Verify(secret, c.SecretHash) || e.hasher.Verify(old, c.SecretHash) {
			t.Fatalf("rotate %d: the new secret does not verify or the old one still does", i)
		}
		if !c.SecretRotatedAt.Equal(e.clock().Truncate(time.Microsecond)) {
			t.Fatalf("secret rotated at %v", c.SecretRotatedAt)
		}
		if strings.Contains(e.logs.String(), secret) {
			t.Fatal("the new secret was logged")
		}
		old = secret
	}
	if e.cache.count("svc") != 3 {
		t.Fatalf("invalidations %v", e.cache.calls())
	}
	e.call(t, http.MethodPost, "/admin/clients/svc/rotate-secret", `{"x":1}`).wantError(t, 400, "invalid_request", "no body")

	e.create(t, map[string]any{"client_id": "spa", "token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://spa.example/cb"}})
	e.call(t, http.MethodPost, "/admin/clients/spa/rotate-secret", nil).wantError(t, 400, "invalid_request", "has no secret")
	if c, _ := e.store.GetClient(context.Background(), "spa"); len(c.SecretHash) != 0 {
		t.Fatal("a public client got a secret")
	}
}

func TestAdminList(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 7 {
		id := fmt.Sprintf("client-%02d", i)
		ids = append(ids, id)
		e.create(t, m2m(map[string]any{"client_id": id}))
	}
	var seen []string
	after := ""
	pages := 0
	for {
		path := "/admin/clients?limit=3"
		if after != "" {
			path += "&after=" + after
		}
		r := e.call(t, http.MethodGet, path, nil)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		if strings.Contains(string(r.body), "client_secret\"") {
			t.Fatalf("the listing shows a secret: %s", r.body)
		}
		var page admin.ListResponse
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, raw := range page.Clients {
			var c struct {
				ID string `json:"client_id"`
			}
			json.Unmarshal(raw, &c)
			seen = append(seen, c.ID)
		}
		if page.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		after = page.Next
	}
	if !slices.Equal(seen, ids) || pages != 3 {
		t.Fatalf("pages %d, seen %v, want %v", pages, seen, ids)
	}

	// An exact multiple of the page size ends without an empty page.
	r := e.call(t, http.MethodGet, "/admin/clients?limit=7", nil)
	var page admin.ListResponse
	json.Unmarshal(r.body, &page)
	if len(page.Clients) != 7 || page.Next != "" {
		t.Fatalf("limit=7: %d clients, next %q", len(page.Clients), page.Next)
	}
	r = e.call(t, http.MethodGet, "/admin/clients?after=zzz", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"clients":[]`) {
		t.Fatalf("empty page: %s", r.body)
	}

	bad := []struct{ query, desc string }{
		{"limit=0", "limit must be"},
		{"limit=501", "limit must be"},
		{"limit=x", "limit must be"},
		{"limit=1&limit=2", "repeated"},
		{"limt=2", "unknown query parameter"},
		{"after=" + strings.Repeat("a", 600), "after must be"},
		{"limit=%zz", "malformed"},
		{"after=a%00b", "after must be"},
	}
	for _, tt := range bad {
		e.call(t, http.MethodGet, "/admin/clients?"+tt.query, nil).wantError(t, 400, "invalid_request", tt.desc)
	}
}

func TestAdminHTTPRules(t *testing.T) {
	e := newEnv(t, func(o *admin.Options) { o.MaxBytes = 1024 })
	auth := "Bearer " + testToken
	tests := []struct {
		name, method, path, ctype string
		body                      any
		status                    int
		code, desc, allow         string
	}{
		{"too large", "POST", "/admin/clients", "application/json", `{"client_name":"` + strings.Repeat("a", 2000) + `"}`, 413, "request_too_large", "1024 bytes", ""},
		{"form body", "POST", "/admin/clients", "application/x-www-form-urlencoded", "client_name=x", 415, "unsupported_media_type", "application/json", ""},
		{"no content type", "POST", "/admin/clients", "", `{}`, 415, "unsupported_media_type", "application/json", ""},
		{"merge-patch on POST", "POST", "/admin/clients", "application/merge-patch+json", `{}`, 415, "unsupported_media_type", "", ""},
		{"latin1 json", "POST", "/admin/clients", "application/json; charset=latin1", `{}`, 415, "unsupported_media_type", "", ""},
		{"put clients", "PUT", "/admin/clients", "application/json", `{}`, 405, "method_not_allowed", "GET or POST", "GET, POST"},
		{"post client", "POST", "/admin/clients/x", "application/json", `{}`, 405, "method_not_allowed", "", "GET, PATCH, DELETE"},
		{"get rotate", "GET", "/admin/clients/x/rotate-secret", "", nil, 405, "method_not_allowed", "", "POST"},
		{"delete keys", "DELETE", "/admin/keys", "", nil, 405, "method_not_allowed", "", "GET"},
		{"get key rotate", "GET", "/admin/keys/rotate", "", nil, 405, "method_not_allowed", "", "POST"},
		{"unknown route", "GET", "/admin/nothing", "", nil, 404, "not_found", "/admin/nothing", ""},
		{"root", "GET", "/", "", nil, 404, "not_found", "", ""},
		{"trailing slash", "GET", "/admin/clients/", "", nil, 404, "not_found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": auth, "Content-Type": tt.ctype}
			r := e.callWith(t, tt.method, tt.path, tt.body, hdr)
			r.wantError(t, tt.status, tt.code, tt.desc)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}
