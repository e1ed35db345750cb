package admin_test

// End to end: dynamic client registration (RFC 7591) and its management
// protocol (RFC 7592) against a real writ node (internal/apptest), in
// token mode (an initial access token from a file of hashes) and in open
// mode; the registered clients then get tokens at the token endpoint.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/store"
)

type regNode struct {
	a      *app.App
	issuer string
	admin  string
}

func startRegNode(t *testing.T, mode string, extra map[string]string) *regNode {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"WRIT_MODE":                     "development",
		"WRIT_DATA_DIR":                 filepath.Join(dir, "data"),
		"WRIT_ADDR":                     "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":               "127.0.0.1:0",
		"WRIT_LOG_LEVEL":                "warn",
		"WRIT_REGISTRATION":             mode,
		"WRIT_DYNAMIC_CLIENT_SCOPES":    "openid profile mcp:tools",
		"WRIT_DYNAMIC_CLIENT_AUDIENCES": "https://mcp.example.com",
	}
	for k, v := range extra {
		env[k] = v
	}
	a := apptest.Start(t, env, app.Options{})
	return &regNode{a: a, issuer: a.Issuer, admin: "http://" + a.AdminAddr().String()}
}

type regResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (n *regNode) call(t *testing.T, method, u, bearer string, body any) regResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := regResponse{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func (n *regNode) token(t *testing.T, form url.Values, user, pass string) regResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := regResponse{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func discovery(t *testing.T, issuer string) map[string]any {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRegistrationTokenMode(t *testing.T) {
	const initial = "initial-token-for-the-test-0123456789"
	sum := sha256.Sum256([]byte(initial))
	file := filepath.Join(t.TempDir(), "initial-tokens")
	if err := os.WriteFile(file, []byte("# test\n"+hex.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startRegNode(t, "token", map[string]string{"WRIT_REGISTRATION_INITIAL_TOKENS_FILE": file})
	endpoint := n.issuer + admin.PathRegister
	if got := discovery(t, n.issuer)["registration_endpoint"]; got != endpoint {
		t.Fatalf("registration_endpoint = %v, want %s", got, endpoint)
	}
	if _, ok := discovery(t, n.issuer)["client_id_metadata_document_supported"]; ok {
		t.Fatal("client_id_metadata_document_supported listed while metadata documents are off")
	}
	web := map[string]any{
		"client_name":   "Registered app",
		"redirect_uris": []string{"https://app.example.com/cb"},
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"scope":         "openid profile email",
		"first_party":   true, // an admin field: ignored
		"audiences":     []string{"https://evil.example.com"},
		"logo_uri":      "https://app.example.com/logo.png",
	}

	t.Run("require_pushed_authorization_requests", func(t *testing.T) {
		strict := maps.Clone(web)
		strict["require_pushed_authorization_requests"] = true
		r := n.call(t, http.MethodPost, endpoint, initial, strict)
		if r.status != http.StatusCreated || r.body["require_pushed_authorization_requests"] != true {
			t.Fatalf("register: %d %s", r.status, r.raw)
		}
		id, _ := r.body["client_id"].(string)
		c, err := n.a.Store.GetClient(context.Background(), id)
		if err != nil || !c.RequirePushedAuthorizationRequests {
			t.Fatalf("stored %+v, %v", c, err)
		}
	})

	t.Run("initial access token required", func(t *testing.T) {
		for _, tok := range []string{"", "wrong-token", initial + "x"} {
			r := n.call(t, http.MethodPost, endpoint, tok, web)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("token %q: %d %s", tok, r.status, r.raw)
			}
		}
	})

	var reg regResponse
	t.Run("register a web client", func(t *testing.T) {
		reg = n.call(t, http.MethodPost, endpoint, initial, web)
		if reg.status != http.StatusCreated {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		b := reg.body
		id, _ := b["client_id"].(string)
		if id == "" || b["client_secret"] == nil || b["registration_access_token"] == nil ||
			b["registration_client_uri"] != endpoint+"/"+id || b["token_endpoint_auth_method"] != "client_secret_basic" {
			t.Fatalf("response %s", reg.raw)
		}
		if b["scope"] != "openid profile" { // email is not allowed here
			t.Fatalf("scope = %v", b["scope"])
		}
		if reg.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", reg.header.Get("Cache-Control"))
		}
		// What the admin API sees: a dynamic client, not first-party, with
		// the operator's audiences.
		c, err := n.a.Store.GetClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.FirstParty || !slices.Equal(c.Audiences, []string{"https://mcp.example.com"}) || len(c.RegistrationTokenHash) != sha256.Size {
			t.Fatalf("stored client %+v", c)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name string
			body map[string]any
			code string
		}{
			{"token exchange", map[string]any{"grant_types": []string{"urn:ietf:params:oauth:grant-type:token-exchange"}}, "invalid_client_metadata"},
			{"implicit", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
			{"http redirect", map[string]any{"redirect_uris": []string{"http://app.example.com/cb"}}, "invalid_redirect_uri"},
			{"fragment redirect", map[string]any{"redirect_uris": []string{"https://app.example.com/cb#x"}}, "invalid_redirect_uri"},
			{"no redirect", map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
			{"public client credentials", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
			{"scope not allowed", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "admin"}, "invalid_client_metadata"},
			{"symmetric key", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}}}}, "invalid_client_metadata"},
		}
		for _, tt := range tests {
			r := n.call(t, http.MethodPost, endpoint, initial, tt.body)
			if r.status != http.StatusBadRequest || r.body["error"] != tt.code {
				t.Errorf("%s: %d %s, want 400 %s", tt.name, r.status, r.raw, tt.code)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"redirect_uris":["https://a.example/cb"],"redirect_uris":[]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+initial)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("duplicate member: %d", resp.StatusCode)
		}
	})

	t.Run("service with client_credentials", func(t *testing.T) {
		r := n.call(t, http.MethodPost, endpoint, initial, map[string]any{
			"grant_types": []string{"client_credentials"}, "scope": "mcp:tools", "client_name": "svc",
		})
		if r.status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.status, r.raw)
		}
		id, secret := r.body["client_id"].(string), r.body["client_secret"].(string)
		tok := n.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools"}, "resource": {"https://mcp.example.com"}}, id, secret)
		if tok.status != http.StatusOK || tok.body["access_token"] == nil {
			t.Fatalf("token: %d %s", tok.status, tok.raw)
		}
		if bad := n.token(t, url.Values{"grant_type": {"client_credentials"}}, id, secret+"x"); bad.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret: %d %s", bad.status, bad.raw)
		}
	})

	t.Run("read, update and delete (RFC 7592)", func(t *testing.T) {
		id := reg.body["client_id"].(string)
		rat := reg.body["registration_access_token"].(string)
		secret := reg.body["client_secret"].(string)
		uri := reg.body["registration_client_uri"].(string)

		got := n.call(t, http.MethodGet, uri, rat, nil)
		if got.status != http.StatusOK || got.body["client_id"] != id || got.body["client_secret"] != nil || got.body["registration_access_token"] != rat {
			t.Fatalf("read: %d %s", got.status, got.raw)
		}
		for _, tc := range []struct{ name, uri, tok string }{
			{"no token", uri, ""},
			{"wrong token", uri, rat + "x"},
			{"initial token", uri, initial},
			{"unknown client", endpoint + "/nobody", rat},
		} {
			if r := n.call(t, http.MethodGet, tc.uri, tc.tok, nil); r.status != http.StatusUnauthorized {
				t.Errorf("read with %s: %d %s", tc.name, r.status, r.raw)
			}
		}
		// A client the admin API registered cannot be reached here, even
		// with some registration access token.
		var ac struct {
			ID string `json:"client_id"`
		}
		adminPost(t, n, "/admin/clients", map[string]any{"redirect_uris": []string{"https://a.example/cb"}}, &ac)
		if r := n.call(t, http.MethodGet, endpoint+"/"+ac.ID, rat, nil); r.status != http.StatusUnauthorized {
			t.Errorf("admin client through RFC 7592: %d %s", r.status, r.raw)
		}

		// An administrator's agent policy and audiences survive the
		// client's own updates.
		if _, err := n.a.Store.UpdateClient(context.Background(), id, func(c store.Client) (store.Client, error) {
			c.Agent = &store.AgentPolicy{Owner: store.OwnerClient + id, RequireDPoP: true}
			c.Audiences = []string{"https://mcp.example.com", "https://extra.example.com"}
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		update := map[string]any{
			"client_id": id, "client_secret": secret, "client_name": "Renamed",
			"redirect_uris": []string{"https://app.example.com/cb2"}, "grant_types": []string{"authorization_code"},
		}
		up := n.call(t, http.MethodPut, uri, rat, update)
		if up.status != http.StatusOK || up.body["client_name"] != "Renamed" || up.body["client_secret"] != nil {
			t.Fatalf("update: %d %s", up.status, up.raw)
		}
		if r := n.token(t, url.Values{"grant_type": {"client_credentials"}}, id, secret); r.status == http.StatusUnauthorized {
			t.Fatalf("the secret did not survive the update: %s", r.raw)
		}
		c, err := n.a.Store.GetClient(context.Background(), id)
		if err != nil || c.Name != "Renamed" || !slices.Equal(c.RedirectURIs, []string{"https://app.example.com/cb2"}) || !slices.Equal(c.Scopes, []string{"openid", "profile", "mcp:tools"}) {
			t.Fatalf("stored after update: %+v %v", c, err)
		}
		if c.Agent == nil || !c.Agent.RequireDPoP || len(c.Audiences) != 2 {
			t.Fatalf("the update dropped what the administrator set: agent %+v, audiences %v", c.Agent, c.Audiences)
		}
		for name, body := range map[string]map[string]any{
			"no client_id":    {"redirect_uris": []string{"https://a.example/cb"}},
			"other client_id": {"client_id": "other", "redirect_uris": []string{"https://a.example/cb"}},
			"wrong secret":    {"client_id": id, "client_secret": "nope", "redirect_uris": []string{"https://a.example/cb"}},
			"admin powers":    {"client_id": id, "redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}},
		} {
			if r := n.call(t, http.MethodPut, uri, rat, body); r.status != http.StatusBadRequest {
				t.Errorf("update with %s: %d %s", name, r.status, r.raw)
			}
		}
		// Switching to a public client drops the secret.
		pub := n.call(t, http.MethodPut, uri, rat, map[string]any{"client_id": id, "redirect_uris": []string{"https://app.example.com/cb"}, "token_endpoint_auth_method": "none"})
		if pub.status != http.StatusOK || pub.body["token_endpoint_auth_method"] != "none" {
			t.Fatalf("to public: %d %s", pub.status, pub.raw)
		}
		if c, _ := n.a.Store.GetClient(context.Background(), id); len(c.SecretHash) != 0 {
			t.Fatal("a public client kept its secret hash")
		}
		// And back: a new secret, shown once.
		conf := n.call(t, http.MethodPut, uri, rat, map[string]any{"client_id": id, "redirect_uris": []string{"https://app.example.com/cb"}})
		if conf.status != http.StatusOK || conf.body["client_secret"] == nil {
			t.Fatalf("to confidential: %d %s", conf.status, conf.raw)
		}

		if r := n.call(t, http.MethodDelete, uri, rat+"x", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("delete with a wrong token: %d", r.status)
		}
		if r := n.call(t, http.MethodDelete, uri, rat, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		if r := n.call(t, http.MethodGet, uri, rat, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("read after delete: %d", r.status)
		}
		if _, err := n.a.Store.GetClient(context.Background(), id); err == nil {
			t.Fatal("the client is still stored")
		}
	})

	t.Run("audit", func(t *testing.T) {
		events, err := n.a.Store.ListAudit(context.Background(), store.AuditQuery{ClientID: reg.body["client_id"].(string)})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
			if strings.Contains(string(e.Details), "writ_reg_") || strings.Contains(string(e.Details), initial) {
				t.Fatalf("a credential in the audit trail: %s", e.Details)
			}
		}
		want := []string{store.AuditClientRegistered, store.AuditClientUpdated, store.AuditClientUpdated, store.AuditClientUpdated, store.AuditClientDeleted}
		if !slices.Equal(types, want) {
			t.Fatalf("audit events %v, want %v", types, want)
		}
	})
}

func TestRegistrationOpenMode(t *testing.T) {
	n := startRegNode(t, "open", nil)
	endpoint := n.issuer + admin.PathRegister
	r := n.call(t, http.MethodPost, endpoint, "", map[string]any{
		"client_name": "MCP client", "redirect_uris": []string{"http://127.0.0.1:33418/callback"},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	})
	if r.status != http.StatusCreated || r.body["client_secret"] != nil || r.body["token_endpoint_auth_method"] != "none" {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	// Open registration gives no machine tokens.
	cc := n.call(t, http.MethodPost, endpoint, "", map[string]any{"grant_types": []string{"client_credentials"}})
	if cc.status != http.StatusBadRequest || cc.body["error"] != "invalid_client_metadata" {
		t.Fatalf("client_credentials in open mode: %d %s", cc.status, cc.raw)
	}
	// The public client is usable at the authorization endpoint.
	q := url.Values{"client_id": {r.body["client_id"].(string)}, "redirect_uri": {"http://127.0.0.1:33418/callback"},
		"response_type": {"code"}, "scope": {"openid"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	resp, err := http.Get(n.issuer + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="password"`) {
		t.Fatalf("authorize: %d %.500s", resp.StatusCode, body)
	}
}

func TestRegistrationOpenModeBounded(t *testing.T) {
	n := startRegNode(t, "open", nil)
	body := map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}
	for i := range admin.OpenRegistrationsPerAddress {
		if r := n.call(t, http.MethodPost, n.issuer+admin.PathRegister, "", body); r.status != http.StatusCreated {
			t.Fatalf("registration %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r := n.call(t, http.MethodPost, n.issuer+admin.PathRegister, "", body)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("one more: %d %s (Retry-After %q)", r.status, r.raw, r.header.Get("Retry-After"))
	}
}

func TestRegistrationOff(t *testing.T) {
	n := startRegNode(t, "off", nil)
	if _, ok := discovery(t, n.issuer)["registration_endpoint"]; ok {
		t.Fatal("registration_endpoint listed while registration is off")
	}
	if r := n.call(t, http.MethodPost, n.issuer+admin.PathRegister, "", map[string]any{"redirect_uris": []string{"https://a.example/cb"}}); r.status != http.StatusNotFound {
		t.Fatalf("POST with registration off: %d %s", r.status, r.raw)
	}
}

func adminPost(t *testing.T, n *regNode, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, n.admin+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+n.a.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin POST %s: %d %s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

func TestParseInitialTokens(t *testing.T) {
	h := strings.Repeat("ab", 32)
	got, err := admin.ParseInitialTokens([]byte("# comment\n\n  " + h + "  \n" + strings.ToUpper(h) + "\n"))
	if err != nil || len(got) != 2 {
		t.Fatalf("ParseInitialTokens = %v, %v", got, err)
	}
	for _, bad := range []string{"xyz\n", h[:62] + "\n", h + "00\n", "token-in-clear-text-not-its-hash\n"} {
		if _, err := admin.ParseInitialTokens([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		} else if strings.Contains(err.Error(), strings.TrimSpace(bad)) {
			t.Errorf("the error quotes the line: %v", err)
		}
	}
	if _, err := admin.ParseInitialTokens([]byte(strings.Repeat(h+"\n", 1001))); err == nil {
		t.Error("more than 1000 tokens accepted")
	}
}

func FuzzParseInitialTokens(f *testing.F) {
	f.Add([]byte("# c\n" + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("\r\n\t" + strings.Repeat("0F", 32) + "  \r\n#"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hashes, err := admin.ParseInitialTokens(data)
		if err != nil {
			if hashes != nil {
				t.Fatal("hashes with an error")
			}
			return
		}
		if len(hashes) > 1000 {
			t.Fatalf("%d tokens", len(hashes))
		}
	})
}
