package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/rs"
)

const appRedirect = "http://127.0.0.1/callback"

var (
	formRe   = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// signIn signs username in at n to clientID (a first-party client: no
// consent page) with the authorization code flow and PKCE, as a browser
// would, and returns the token response.
func (n *node) signIn(clientID, secret, username, password string) map[string]any {
	t := n.t
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer := n.app.Issuer
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), issuer+"/") {
			return http.ErrUseLastResponse // the client's redirect URI
		}
		return nil
	}}
	do := func(req *http.Request) (*http.Response, string) {
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(body)
	}
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st-1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	req, _ := http.NewRequest(http.MethodGet, issuer+"/oauth2/authorize?"+q.Encode(), nil)
	resp, body := do(req)
	m := formRe.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `name="password"`) {
		t.Fatalf("no login page: %d %.1500s", resp.StatusCode, body)
	}
	form := url.Values{"username": {username}, "password": {password}}
	for _, h := range hiddenRe.FindAllStringSubmatch(body, -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, body = do(req)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), appRedirect+"?") ||
		loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("after sign-in: %d %q %.500s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	status, raw := n.do(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {appRedirect},
		"code_verifier": {verifier},
	}.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	})
	var tok map[string]any
	if status != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok["id_token"] == nil {
		t.Fatalf("code redemption: %d %s", status, raw)
	}
	return tok
}

// exchangeResponse is a token exchange answer, success or error.
type exchangeResponse struct {
	status          int
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	Scope           string `json:"scope"`
	Error           string `json:"error"`
}

// exchange asks n's token endpoint, as client c, for a token exchange.
func (n *node) exchange(c client, form url.Values) exchangeResponse {
	n.t.Helper()
	form.Set("grant_type", grant.TypeTokenExchange)
	status, body := n.do(http.MethodPost, n.app.Issuer+"/oauth2/token", strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	})
	var out exchangeResponse
	if err := json.Unmarshal(body, &out); err != nil {
		n.t.Fatalf("token exchange response: %v %s", err, body)
	}
	out.status = status
	return out
}

// TestIDJAGByTokenExchange: cross-app access over HTTP only. At node A
// (the IdP) alice signs in to the client "app" and gets an ID token; app
// exchanges it at A (RFC 8693, requested_token_type id-jag, audience B's
// issuer, which app's exchange policy names); node B (the resource's
// authorization server) trusts A for ID-JAGs, with a rule for app, and
// redeems the ID-JAG with the jwt-bearer grant. Refused: an audience app's
// policy at A does not name, another client presenting the ID-JAG at B,
// the same ID-JAG twice.
func TestIDJAGByTokenExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two writ nodes")
	}
	clock := clocktest.Real()
	a, b := start(t, clock, ""), start(t, clock, "")
	ctx := context.Background()

	// Discovery: A lists id-jag among the requested token types of token
	// exchange, B the ID-JAG grant profile and the jwt-bearer grant.
	var metaA, metaB struct {
		GrantTypes []string `json:"grant_types_supported"`
		Requested  []string `json:"identity_chaining_requested_token_types_supported"`
		Profiles   []string `json:"authorization_grant_profiles_supported"`
	}
	for _, m := range []struct {
		n   *node
		out any
	}{{a, &metaA}, {b, &metaB}} {
		status, body := m.n.do(http.MethodGet, m.n.app.Issuer+"/.well-known/oauth-authorization-server", nil, nil)
		if status != http.StatusOK || json.Unmarshal(body, m.out) != nil {
			t.Fatalf("discovery: %d %s", status, body)
		}
	}
	if !slices.Contains(metaA.GrantTypes, grant.TypeTokenExchange) || !slices.Contains(metaA.Requested, grant.TokenTypeIDJAG) {
		t.Errorf("A's metadata: grant_types_supported %q, identity_chaining_requested_token_types_supported %q", metaA.GrantTypes, metaA.Requested)
	}
	if !slices.Contains(metaB.GrantTypes, grant.TypeJWTBearer) || !slices.Contains(metaB.Profiles, grant.IDJAGProfile) {
		t.Errorf("B's metadata: grant_types_supported %q, authorization_grant_profiles_supported %q", metaB.GrantTypes, metaB.Profiles)
	}

	// A: the user and the client, which may get ID-JAGs for B only.
	const password = "idjag exchange test password"
	status, body := a.adminCall(http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": password})
	var alice struct {
		ID string `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &alice) != nil || alice.ID == "" {
		t.Fatalf("create user at A: %d %s", status, body)
	}
	appA := a.createClient(map[string]any{
		"client_id": "app", "grant_types": []string{grant.TypeAuthorizationCode, grant.TypeTokenExchange},
		"redirect_uris": []string{appRedirect}, "first_party": true, "scope": "openid read",
		"token_exchange": map[string]any{"id_jag_audiences": []string{b.app.Issuer}},
	})

	// B: trusts A for ID-JAGs (keys from A's JWKS URI), app may get tokens
	// for apiX with scope read.
	status, body = b.adminCall(http.MethodPost, "/admin/trusted-issuers", map[string]any{
		"issuer": a.app.Issuer, "jwks_uri": a.app.Issuer + "/.well-known/jwks.json", "uses": []string{"id_jag"},
		"rules": []map[string]any{{"client_id": "app", "audiences": []string{apiX}, "scopes": []string{"read"}}},
	})
	if status != http.StatusCreated {
		t.Fatalf("trust A at B: %d %s", status, body)
	}
	reg := func(id string) map[string]any {
		return map[string]any{"client_id": id, "grant_types": []string{grant.TypeJWTBearer}, "scope": "read", "audiences": []string{apiX}}
	}
	appB, otherB := b.createClient(reg("app")), b.createClient(reg("other"))

	idToken, _ := a.signIn(appA.ID, appA.Secret, "alice", password)["id_token"].(string)
	jagForm := func(audience string) url.Values {
		return url.Values{"subject_token": {idToken}, "subject_token_type": {grant.TokenTypeIDToken},
			"requested_token_type": {grant.TokenTypeIDJAG}, "audience": {audience}, "resource": {apiX}, "scope": {"read"}}
	}
	x := a.exchange(appA, jagForm(b.app.Issuer))
	if x.status != http.StatusOK || x.IssuedTokenType != grant.TokenTypeIDJAG || x.TokenType != "N_A" || x.AccessToken == "" {
		t.Fatalf("ID-JAG by token exchange at A: %+v", x)
	}
	jag := x.AccessToken
	if h := jwtPart(t, jag, 0); h["typ"] != grant.IDJAGType {
		t.Errorf("ID-JAG header %v", h)
	}
	if c := jwtPart(t, jag, 1); c["iss"] != a.app.Issuer || c["aud"] != b.app.Issuer || c["sub"] != alice.ID || c["client_id"] != "app" {
		t.Errorf("ID-JAG claims %v", c)
	} else if at := jwtPart(t, idToken, 1)["auth_time"]; at == nil || c["auth_time"] != at {
		t.Errorf("ID-JAG auth_time %v, the ID token's %v", c["auth_time"], at)
	}

	// Refused at A: an audience the client's policy does not name.
	if x := a.exchange(appA, jagForm("https://elsewhere.example.test")); x.status != http.StatusBadRequest || x.Error != "invalid_target" || x.AccessToken != "" {
		t.Errorf("ID-JAG for another audience: %+v", x)
	}
	// Refused at B: another client presenting app's ID-JAG.
	if got := b.bearer(otherB, jag); got.status != http.StatusBadRequest || got.Error != "invalid_grant" || got.AccessToken != "" {
		t.Errorf("ID-JAG presented by another client: %+v", got)
	}

	got := b.bearer(appB, jag)
	if got.status != http.StatusOK || got.Scope != "read" {
		t.Fatalf("ID-JAG at B: %+v", got)
	}
	v, err := rs.NewVerifier(ctx, []rs.IssuerConfig{{Issuer: b.app.Issuer, Audiences: []string{apiX}}}, rs.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(ctx, got.AccessToken)
	if err != nil || tok.Subject != alice.ID || tok.ClientID != "app" {
		t.Fatalf("B's token: %v %+v", err, tok)
	}
	// Refused at B: the same ID-JAG again (single-use jti).
	if got := b.bearer(appB, jag); got.status != http.StatusBadRequest || got.Error != "invalid_grant" {
		t.Errorf("ID-JAG replayed: %+v", got)
	}

	// Both sides audited.
	evs, err := a.app.Store.ListAudit(ctx, store.AuditQuery{Type: store.AuditIDJAGIssued})
	if err != nil || len(evs) != 1 || evs[0].ClientID != "app" || evs[0].Subject != alice.ID {
		t.Errorf("audit at A: %v %+v", err, evs)
	}
	evs, err = b.app.Store.ListAudit(ctx, store.AuditQuery{Type: store.AuditIDJAGRedeemed})
	if err != nil || len(evs) != 1 || evs[0].ClientID != "app" || evs[0].Subject != alice.ID {
		t.Errorf("audit at B: %v %+v", err, evs)
	}
}

// jwtPart decodes the header (i 0) or the claims (i 1) of a compact JWS,
// without verifying it.
func jwtPart(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("JWS part %d: %v", i, err)
	}
	return m
}
