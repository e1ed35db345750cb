package server_test

// The MCP authorization checklist (MCP authorization specification
// 2026-07-28, RFC 8414, RFC 9207, RFC 8707, OAuth 2.1) against a real
// in-process writ node, started as `writ serve` starts it.

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
)

const (
	mcpServer   = "https://mcp.example.test/mcp"
	mcpToolsAll = "https://tools.example.test/*"
	mcpTool     = "https://tools.example.test/search"
	plainAPI    = "https://api.example.test"
)

// startMCPNode starts a writ node (development mode, SQLite, loopback)
// with the MCP servers of the test marked and an access token lifetime of
// one hour, so that the public clients' cap shows. The testEnv it returns
// serves the browser helpers of the sign-in tests.
func startMCPNode(t *testing.T) (*testEnv, *app.App) {
	t.Helper()
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":             "development",
		"WRIT_DATA_DIR":         dir,
		"WRIT_ADDR":             "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":       "127.0.0.1:0",
		"WRIT_ACCESS_TOKEN_TTL": "1h",
		"WRIT_MCP_RESOURCES":    mcpServer + "," + mcpToolsAll,
	}, app.Options{Announce: io.Discard})
	c := &http.Client{Timeout: 30 * time.Second}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(c.CloseIdleConnections)
	e := &testEnv{Issuer: a.Issuer, Server: a.Server, Store: a.Store, Ring: a.Ring, Clock: realClock(), Client: c}
	return e, a
}

// serviceClient registers a confidential client_credentials client by the
// admin API (which hashes its secret with the node's key) and returns its
// id and secret.
func serviceClient(t *testing.T, a *app.App, audiences ...string) (string, string) {
	t.Helper()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	apptest.Admin(t, a, http.MethodPost, "/admin/clients",
		map[string]any{"client_name": "service", "grant_types": []string{"client_credentials"}, "audiences": audiences},
		&c, http.StatusCreated)
	if c.Secret == "" {
		t.Fatal("create client: no client_secret in the answer")
	}
	return c.ID, c.Secret
}

// TestMCPDiscovery checks every member the MCP authorization specification
// has a client rely on, in both documents it may fetch (RFC 8414 first,
// then OpenID Connect Discovery).
func TestMCPDiscovery(t *testing.T) {
	e, _ := startMCPNode(t)
	docs := map[string]map[string]any{}
	for _, path := range []string{server.PathASMetadata, server.PathOIDCMetadata} {
		r := e.get(t, path)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET %s: %s", path, r)
		}
		var m map[string]any
		decodeJSON(t, r.Body, &m)
		docs[path] = m
	}
	endpoint := func(m map[string]any, name string) string {
		v, _ := m[name].(string)
		return v
	}
	list := func(m map[string]any, name string) []string {
		raw, _ := m[name].([]any)
		var out []string
		for _, v := range raw {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	tests := []struct {
		member string
		why    string
		check  func(m map[string]any) bool
	}{
		{"issuer", "RFC 8414 §3.3: equal to the issuer the metadata was fetched for",
			func(m map[string]any) bool { return endpoint(m, "issuer") == e.Issuer }},
		{"authorization_endpoint", "the code flow", func(m map[string]any) bool {
			return endpoint(m, "authorization_endpoint") == e.Issuer+server.PathAuthorize
		}},
		{"token_endpoint", "the code flow", func(m map[string]any) bool {
			return endpoint(m, "token_endpoint") == e.Issuer+server.PathToken
		}},
		{"jwks_uri", "resource servers verify the JWTs", func(m map[string]any) bool {
			return endpoint(m, "jwks_uri") == e.Issuer+server.PathJWKS
		}},
		{"response_types_supported", "code", func(m map[string]any) bool {
			return slices.Equal(list(m, "response_types_supported"), []string{"code"})
		}},
		{"grant_types_supported", "authorization_code and refresh_token", func(m map[string]any) bool {
			g := list(m, "grant_types_supported")
			return slices.Contains(g, "authorization_code") && slices.Contains(g, "refresh_token")
		}},
		{"code_challenge_methods_supported", "MCP: a client refuses to proceed without it; S256 only", func(m map[string]any) bool {
			return slices.Equal(list(m, "code_challenge_methods_supported"), []string{"S256"})
		}},
		{"authorization_response_iss_parameter_supported", "RFC 9207", func(m map[string]any) bool {
			return m["authorization_response_iss_parameter_supported"] == true
		}},
		{"token_endpoint_auth_methods_supported", "public MCP clients authenticate with none", func(m map[string]any) bool {
			return slices.Contains(list(m, "token_endpoint_auth_methods_supported"), oauth.AuthNone)
		}},
		{"response_modes_supported", "query, where iss is added", func(m map[string]any) bool {
			return slices.Equal(list(m, "response_modes_supported"), []string{"query"})
		}},
		{"scopes_supported", "offline_access for refresh tokens", func(m map[string]any) bool {
			return slices.Contains(list(m, "scopes_supported"), "offline_access")
		}},
	}
	for path, m := range docs {
		for _, tc := range tests {
			t.Run(strings.TrimPrefix(path, "/.well-known/")+"/"+tc.member, func(t *testing.T) {
				if !tc.check(m) {
					t.Errorf("%s = %v (%s)", tc.member, m[tc.member], tc.why)
				}
			})
		}
	}
	a, _ := json.Marshal(docs[server.PathASMetadata])
	o, _ := json.Marshal(docs[server.PathOIDCMetadata])
	if string(a) != string(o) {
		t.Error("the two metadata documents differ")
	}
}

// mcpClient registers a public client of an MCP host: loopback redirect,
// PKCE, refresh tokens; its first audience is an MCP server, so that a
// request without resource would otherwise get it by default.
func mcpClient(t *testing.T, e *testEnv, id string) string {
	t.Helper()
	redirect := "http://127.0.0.1/callback"
	e.addPublic(t, id, webApp(redirect), withAudiences(mcpServer, plainAPI, mcpTool))
	return redirect
}

// pkce returns a verifier and its S256 challenge.
func pkce(t *testing.T) (string, string) {
	t.Helper()
	v := oauth2.GenerateVerifier()
	return v, oauth2.S256ChallengeFromVerifier(v)
}

// authorizeQuery is an MCP client's authorization request.
func authorizeQuery(id, redirect, challenge, resource string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect},
		"scope": {"openid offline_access"}, "state": {"st-1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	return server.PathAuthorize + "?" + q.Encode()
}

// claimsOf decodes a JWT's payload (the token is writ's own, checked by
// other tests; here only its claims matter).
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %.40q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	decodeJSON(t, b, &m)
	return m
}

// mcpTokens is a token response with its refresh token.
type mcpTokens struct {
	tokenResponse
	RefreshToken string `json:"refresh_token"`
}

func audOf(c map[string]any) []string {
	switch a := c["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestMCPAuthorizationCodeFlow is the flow of an MCP client end to end:
// an authorization request with PKCE and resource, the user's sign-in and
// consent, the code with iss (RFC 9207), the token request with resource
// again, an access token for exactly that resource and short-lived, a
// refresh token rotated on use.
func TestMCPAuthorizationCodeFlow(t *testing.T) {
	e, _ := startMCPNode(t)
	e.addUser(t, "u-alice", "alice", "alice's passphrase")
	redirect := mcpClient(t, e, "mcp-host")
	verifier, challenge := pkce(t)

	b := e.newBrowser(t)
	p := b.get(t, authorizeQuery("mcp-host", redirect, challenge, mcpServer))
	p = b.login(t, p, "alice", "alice's passphrase")
	p = b.consent(t, p, "approve")
	p.want(t, pageRedirect)
	q := p.Location.Query()
	if got := p.Location.Scheme + "://" + p.Location.Host + p.Location.Path; got != redirect {
		t.Fatalf("redirected to %s, want %s", got, redirect)
	}
	if q.Get("iss") != e.Issuer || q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("authorization response %v: want code, state and iss = %s (RFC 9207)", q, e.Issuer)
	}
	code := q.Get("code")

	tokenForm := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"mcp-host"},
			"redirect_uri": {redirect}, "code_verifier": {verifier}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	// A resource the code was not granted for: refused, and the code is
	// not spent.
	for _, res := range []string{plainAPI, "https://mcp.example.test/other"} {
		wantOAuthError(t, e.post(t, server.PathToken, tokenForm(url.Values{"resource": {res}})), http.StatusBadRequest, oauth.CodeInvalidTarget)
	}
	r := e.post(t, server.PathToken, tokenForm(url.Values{"resource": {mcpServer}}))
	if r.Status != http.StatusOK {
		t.Fatalf("token request: %s", r)
	}
	var tok mcpTokens
	decodeJSON(t, r.Body, &tok)
	claims := claimsOf(t, tok.AccessToken)
	if aud := audOf(claims); !slices.Equal(aud, []string{mcpServer}) {
		t.Errorf("aud = %v, want [%s]", aud, mcpServer)
	}
	// Public clients get short access tokens, whatever access_token_ttl
	// (1h here) says: at most 15 minutes by default.
	exp, _ := claims["exp"].(json.Number).Int64()
	iat, _ := claims["iat"].(json.Number).Int64()
	if d := time.Duration(exp-iat) * time.Second; d > 15*time.Minute || d <= 0 {
		t.Errorf("access token lifetime %s, want at most 15m for a public client", d)
	}
	if tok.ExpiresIn > 15*60 {
		t.Errorf("expires_in = %d, want at most 900", tok.ExpiresIn)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}

	// Refresh with resource: rotated, same audience; the old one again
	// revokes the family.
	refresh := func(rt string, extra url.Values) *response {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mcp-host"}}
		for k, v := range extra {
			f[k] = v
		}
		return e.post(t, server.PathToken, f)
	}
	wantOAuthError(t, refresh(tok.RefreshToken, url.Values{"resource": {plainAPI}}), http.StatusBadRequest, oauth.CodeInvalidTarget)
	r = refresh(tok.RefreshToken, url.Values{"resource": {mcpServer}})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %s", r)
	}
	var next mcpTokens
	decodeJSON(t, r.Body, &next)
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatal("the refresh token of a public client was not rotated")
	}
	if aud := audOf(claimsOf(t, next.AccessToken)); !slices.Equal(aud, []string{mcpServer}) {
		t.Errorf("refreshed aud = %v", aud)
	}
	wantOAuthError(t, refresh(tok.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
	wantOAuthError(t, refresh(next.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
}

// TestMCPResourceRequired: a request that would get an MCP server as its
// default audience is refused with invalid_target (at the authorization
// endpoint as a redirect carrying iss); one that names it, or a
// prefix-marked one, gets it; other audiences keep their default.
func TestMCPResourceRequired(t *testing.T) {
	e, a := startMCPNode(t)
	e.addUser(t, "u-bob", "bob", "bob's passphrase")
	redirect := mcpClient(t, e, "mcp-host")
	e.addPublic(t, "api-app", webApp(redirect), withAudiences(plainAPI, mcpServer), firstParty())
	e.addPublic(t, "tools-app", webApp(redirect), withAudiences(mcpTool), firstParty())
	_, challenge := pkce(t)

	b := e.newBrowser(t)
	for _, tc := range []struct {
		client, resource string
		wantErr          string
	}{
		{"mcp-host", "", oauth.CodeInvalidTarget},
		{"tools-app", "", oauth.CodeInvalidTarget}, // marked by the prefix
		{"api-app", "", ""},                        // default audience is not an MCP server
		{"api-app", mcpServer, ""},
		{"tools-app", mcpTool, ""},
	} {
		p := b.get(t, authorizeQuery(tc.client, redirect, challenge, tc.resource))
		if p.Kind() == pageLogin {
			p = b.login(t, p, "bob", "bob's passphrase")
		}
		if tc.wantErr == "" {
			if p.Kind() == pageConsent {
				continue // reached the user: the request was accepted
			}
			p.want(t, pageRedirect)
			if p.Location.Query().Get("code") == "" {
				t.Errorf("%s resource=%q: %s, want a code", tc.client, tc.resource, p)
			}
			continue
		}
		p.want(t, pageRedirect)
		q := p.Location.Query()
		if q.Get("error") != tc.wantErr || q.Get("iss") != e.Issuer || q.Get("state") != "st-1" {
			t.Errorf("%s resource=%q: %v, want error=%s with iss and state", tc.client, tc.resource, q, tc.wantErr)
		}
	}

	// client_credentials: the same rule at the token endpoint.
	id, secret := serviceClient(t, a, mcpServer, plainAPI)
	wantOAuthError(t, e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic(id, secret)),
		http.StatusBadRequest, oauth.CodeInvalidTarget)
	r := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}, "resource": {mcpServer}}, basic(id, secret))
	if r.Status != http.StatusOK {
		t.Fatalf("client_credentials with resource: %s", r)
	}
	var tok tokenResponse
	decodeJSON(t, r.Body, &tok)
	if aud := audOf(claimsOf(t, tok.AccessToken)); !slices.Equal(aud, []string{mcpServer}) {
		t.Errorf("aud = %v", aud)
	}
	// A confidential client keeps access_token_ttl (1h here).
	if tok.ExpiresIn < 3500 {
		t.Errorf("confidential expires_in = %d, want about 3600", tok.ExpiresIn)
	}
	id2, secret2 := serviceClient(t, a, plainAPI, mcpServer)
	r = e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic(id2, secret2))
	if r.Status != http.StatusOK {
		t.Fatalf("client_credentials for a plain API: %s", r)
	}
}

// TestMCPIssOnEveryAuthorizationResponse: RFC 9207 §2 — every
// authorization response that goes back to the client, code or error,
// carries iss (and the state it was sent).
func TestMCPIssOnEveryAuthorizationResponse(t *testing.T) {
	e, _ := startMCPNode(t)
	e.addUser(t, "u-carol", "carol", "carol's passphrase")
	redirect := mcpClient(t, e, "mcp-host")
	_, challenge := pkce(t)
	base := func(change func(q url.Values)) string {
		q := url.Values{
			"response_type": {"code"}, "client_id": {"mcp-host"}, "redirect_uri": {redirect},
			"scope": {"openid"}, "state": {"st-9"}, "resource": {mcpServer},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
		if change != nil {
			change(q)
		}
		return server.PathAuthorize + "?" + q.Encode()
	}

	// Signed out.
	for _, tc := range []struct {
		name, code string
		change     func(url.Values)
	}{
		{"unsupported response type", oauth.CodeUnsupportedResponseType, func(q url.Values) { q.Set("response_type", "token") }},
		{"scope not allowed", oauth.CodeInvalidScope, func(q url.Values) { q.Set("scope", "admin") }},
		{"no PKCE for a public client", oauth.CodeInvalidRequest, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"plain PKCE", oauth.CodeInvalidRequest, func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"resource not registered", oauth.CodeInvalidTarget, func(q url.Values) { q.Set("resource", "https://other.example.test/mcp") }},
		{"resource missing for an MCP server", oauth.CodeInvalidTarget, func(q url.Values) { q.Del("resource") }},
		{"request object", "invalid_request_object", func(q url.Values) { q.Set("request", "x.y.z") }},
		{"prompt=none without a session", "login_required", func(q url.Values) { q.Set("prompt", "none") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.newBrowser(t).get(t, base(tc.change))
			p.want(t, pageRedirect)
			q := p.Location.Query()
			if q.Get("error") != tc.code || q.Get("iss") != e.Issuer || q.Get("state") != "st-9" {
				t.Errorf("%v: want error=%s with iss=%s and state", q, tc.code, e.Issuer)
			}
		})
	}

	// Exact redirect URIs: a near miss is an error page, never a redirect
	// (RFC 9700 §4.1.3); a loopback port may differ for a public client
	// (RFC 8252 §7.3).
	for _, bad := range []string{redirect + "/", redirect + "?x=1", "http://127.0.0.1/Callback", "http://localhost/callback", "http://127.0.0.1/callback#"} {
		p := e.newBrowser(t).get(t, base(func(q url.Values) { q.Set("redirect_uri", bad) }))
		if p.Status != http.StatusBadRequest || p.Location != nil {
			t.Errorf("redirect_uri %q: %s, want an error page", bad, p)
		}
	}
	p := e.newBrowser(t).get(t, base(func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:53682/callback") }))
	p.want(t, pageLogin)

	// Signed in: consent required without a prompt, denied, then a code.
	b := e.newBrowser(t)
	p = b.login(t, b.get(t, base(nil)), "carol", "carol's passphrase")
	p.want(t, pageConsent)
	for _, step := range []struct {
		name string
		page func() *page
		want string
	}{
		{"consent required", func() *page { return b.get(t, base(func(q url.Values) { q.Set("prompt", "none") })) }, "consent_required"},
		{"access denied", func() *page { return b.consent(t, b.get(t, base(nil)), "deny") }, oauth.CodeAccessDenied},
		{"code", func() *page { return b.consent(t, b.get(t, base(nil)), "approve") }, ""},
	} {
		p := step.page()
		p.want(t, pageRedirect)
		q := p.Location.Query()
		if q.Get("error") != step.want || q.Get("iss") != e.Issuer || q.Get("state") != "st-9" || (step.want == "") != (q.Get("code") != "") {
			t.Errorf("%s: %v: want error=%q, iss=%s, state", step.name, q, step.want, e.Issuer)
		}
	}
}
