package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// deviceAuthResponse is the device authorization response (RFC 8628 §3.2).
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// newDeviceEnv is a sign-in server on a fixed clock with a public client
// "tv" allowed the device and refresh grants, and a user alice.
func newDeviceEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newSignInEnv(t, envOptions{Clock: fixedClock()})
	e.addPublic(t, "tv", withGrants(grantDeviceCode, "refresh_token"), withScopes("openid", "profile", "offline_access", "read"),
		func(c *store.Client) { c.Name = "Living room TV" })
	e.addUser(t, "alice", "alice", "correct horse battery staple", named("Alice", "alice@example.test"))
	return e
}

func (e *testEnv) deviceAuthorize(t *testing.T, scope string) deviceAuthResponse {
	t.Helper()
	r := e.post(t, server.PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {scope}})
	if r.Status != http.StatusOK {
		t.Fatalf("device authorization: %s", r)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var d deviceAuthResponse
	decodeJSON(t, r.Body, &d)
	return d
}

func (e *testEnv) pollDevice(t *testing.T, deviceCode string) *response {
	t.Helper()
	return e.post(t, server.PathToken, url.Values{"grant_type": {grantDeviceCode}, "device_code": {deviceCode}, "client_id": {"tv"}})
}

// approveDevice signs alice in at the verification page and answers the
// consent page with decision, as a person with a browser does: the link
// of verification_uri_complete, the login form, the prefilled code form,
// the consent page.
func (e *testEnv) approveDevice(t *testing.T, b *browser, d deviceAuthResponse, decision string) *page {
	t.Helper()
	p := b.get(t, d.VerificationURIComplete)
	p = b.login(t, p, "alice", "correct horse battery staple")
	if p.Status != http.StatusOK || p.Action != server.PathDevice {
		t.Fatalf("after login: %s, want the device page", p)
	}
	if !strings.Contains(p.Body, `value="`+d.UserCode+`"`) {
		t.Fatalf("the device page does not prefill %s:\n%s", d.UserCode, p.Body)
	}
	p = b.submit(t, p, url.Values{"user_code": {d.UserCode}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Living room TV") || !strings.Contains(p.Body, `name="decision" value="approve"`) {
		t.Fatalf("code form: %s, want the consent page of the TV", p)
	}
	if !strings.Contains(p.Body, "offline_access") {
		t.Errorf("the consent page does not show scope offline_access")
	}
	return b.submit(t, p, url.Values{"decision": {decision}})
}

// TestDeviceFlowEndToEnd: a device asks, polls (authorization_pending),
// the user approves in a scripted browser, the device gets access, ID and
// refresh tokens, the refresh token works, and the code is single use.
func TestDeviceFlowEndToEnd(t *testing.T) {
	e := newDeviceEnv(t)
	d := e.deviceAuthorize(t, "openid profile offline_access")
	if d.VerificationURI != e.Issuer+server.PathDevice || d.Interval != 5 || d.ExpiresIn != 600 ||
		d.VerificationURIComplete != d.VerificationURI+"?user_code="+url.QueryEscape(d.UserCode) {
		t.Fatalf("device authorization %+v", d)
	}
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "authorization_pending")

	b := e.newBrowser(t)
	p := e.approveDevice(t, b, d, "approve")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "the device is connected") {
		t.Fatalf("after approval: %s", p)
	}

	e.Clock.Advance(5 * time.Second)
	r := e.pollDevice(t, d.DeviceCode)
	if r.Status != http.StatusOK {
		t.Fatalf("token after approval: %s", r)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
		Scope        string `json:"scope"`
	}
	decodeJSON(t, r.Body, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" || tok.TokenType != "Bearer" || tok.Scope != "openid profile offline_access" {
		t.Fatalf("token response %s", r.Body)
	}
	// UserInfo answers for alice.
	ui := e.get(t, server.PathUserInfo, header("Authorization", "Bearer "+tok.AccessToken))
	if ui.Status != http.StatusOK || !strings.Contains(string(ui.Body), `"sub":"alice"`) {
		t.Errorf("userinfo: %s", ui)
	}
	// The refresh token rotates like a code grant's.
	rr := e.post(t, server.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"tv"}})
	if rr.Status != http.StatusOK {
		t.Errorf("refresh: %s", rr)
	}
	// Single use.
	e.Clock.Advance(5 * time.Second)
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, oauth.CodeInvalidGrant)
	// The same user code cannot be answered again.
	p = b.postForm(t, server.PathDevice, url.Values{"user_code": {d.UserCode}, "csrf_token": {csrfOf(t, b)}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Alert(), "not valid") {
		t.Errorf("a used user code: %s", p)
	}
}

// csrfOf loads the device page and returns its CSRF token.
func csrfOf(t *testing.T, b *browser) string {
	t.Helper()
	p := b.get(t, server.PathDevice)
	tok := p.Hidden.Get("csrf_token")
	if tok == "" {
		t.Fatalf("no CSRF token on %s", p)
	}
	return tok
}

// TestDeviceFlowErrors: every RFC 8628 §3.5 answer over HTTP.
func TestDeviceFlowErrors(t *testing.T) {
	e := newDeviceEnv(t)
	b := e.newBrowser(t)

	// slow_down: a second poll within the interval; the interval grows.
	d := e.deviceAuthorize(t, "read")
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "authorization_pending")
	e.Clock.Advance(2 * time.Second)
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "slow_down")
	e.Clock.Advance(6 * time.Second) // 6 s < the 10 s interval now
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "slow_down")
	e.Clock.Advance(15 * time.Second)
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "authorization_pending")

	// access_denied when the user declines.
	denied := e.deviceAuthorize(t, "openid offline_access")
	p := e.approveDevice(t, b, denied, "deny")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "You denied the request") {
		t.Fatalf("after denial: %s", p)
	}
	wantOAuthError(t, e.pollDevice(t, denied.DeviceCode), http.StatusBadRequest, oauth.CodeAccessDenied)

	// expired_token once the code's 10 minutes are over, approved or not.
	e.Clock.Advance(11 * time.Minute)
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "expired_token")

	// invalid_grant for an unknown code; invalid_client without client_id.
	wantOAuthError(t, e.pollDevice(t, "not-a-code"), http.StatusBadRequest, oauth.CodeInvalidGrant)
	r := e.post(t, server.PathDeviceAuthorization, url.Values{"scope": {"read"}})
	wantOAuthError(t, r, http.StatusUnauthorized, oauth.CodeInvalidClient)
	// unauthorized_client for a client without the grant; invalid_scope.
	e.addPublic(t, "web-only", withGrants("authorization_code"), webApp("https://app.test/cb"))
	r = e.post(t, server.PathDeviceAuthorization, url.Values{"client_id": {"web-only"}})
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeUnauthorizedClient)
	r = e.post(t, server.PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {"admin"}})
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeInvalidScope)
	r = e.post(t, server.PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "resource": {"https://elsewhere.test"}})
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeInvalidTarget)
}

// TestDeviceUserCodeBruteForce: wrong codes lock the session after five,
// even for the right code then; the form needs its CSRF token.
func TestDeviceUserCodeBruteForce(t *testing.T) {
	e := newDeviceEnv(t)
	d := e.deviceAuthorize(t, "read")
	b := e.newBrowser(t)
	p := b.get(t, server.PathDevice)
	p = b.login(t, p, "alice", "correct horse battery staple")
	if p.Action != server.PathDevice {
		t.Fatalf("after login: %s", p)
	}
	// No CSRF token: refused before the code is looked at.
	p = b.postForm(t, server.PathDevice, url.Values{"user_code": {d.UserCode}})
	if p.Status != http.StatusForbidden {
		t.Errorf("without CSRF token: %s", p)
	}
	tok := csrfOf(t, b)
	for i, guess := range []string{"BCDF-BCDF", "bcdfbcdg", "XXXX", "ZZZZ-ZZZZ", "QQQQ-QQQQ"} {
		p = b.postForm(t, server.PathDevice, url.Values{"user_code": {guess}, "csrf_token": {tok}})
		if p.Status != http.StatusBadRequest {
			t.Fatalf("guess %d: %s", i, p)
		}
	}
	p = b.postForm(t, server.PathDevice, url.Values{"user_code": {d.UserCode}, "csrf_token": {tok}})
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" || !strings.Contains(p.Alert(), "Too many wrong codes") {
		t.Fatalf("the right code after five wrong ones: %s", p)
	}
	// The lock ends with its window.
	e.Clock.Advance(16 * time.Minute)
	d = e.deviceAuthorize(t, "read")
	p = b.postForm(t, server.PathDevice, url.Values{"user_code": {strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " "))}, "csrf_token": {tok}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Living room TV") {
		t.Fatalf("after the lock, a code typed in lower case with a space: %s", p)
	}
}

// TestDeviceDiscoveryAndInterop: discovery names the endpoint and the
// grant, and golang.org/x/oauth2 (a client no one here wrote) reads the
// device authorization response.
func TestDeviceDiscoveryAndInterop(t *testing.T) {
	e := newDeviceEnv(t)
	r := e.get(t, server.PathOIDCMetadata)
	var m struct {
		Endpoint string   `json:"device_authorization_endpoint"`
		Grants   []string `json:"grant_types_supported"`
	}
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Endpoint != e.Issuer+server.PathDeviceAuthorization || !slices.Contains(m.Grants, grantDeviceCode) {
		t.Errorf("discovery: %s", r.Body)
	}
	cfg := oauth2.Config{ClientID: "tv", Scopes: []string{"read"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: m.Endpoint, TokenURL: e.Issuer + server.PathToken, AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, e.Client)
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.UserCode == "" || da.VerificationURIComplete == "" || da.Interval != 5 || da.Expiry.IsZero() {
		t.Errorf("x/oauth2 read %+v", da)
	}
}

// TestDeviceFlowDPoPAndConfidential: a device that polls with a DPoP
// proof gets a DPoP-bound token; a confidential device client
// authenticates at the device authorization endpoint as at the token
// endpoint.
func TestDeviceFlowDPoPAndConfidential(t *testing.T) {
	e := newDeviceEnv(t)
	key := newDPoPKey(t)
	d := e.deviceAuthorize(t, "openid offline_access")
	e.approveDevice(t, e.newBrowser(t), d, "approve")
	r := e.post(t, server.PathToken, url.Values{"grant_type": {grantDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {"tv"}},
		withDPoP(e.proofAt(t, key, http.MethodPost, e.url(server.PathToken), "")))
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"token_type":"DPoP"`) {
		t.Fatalf("DPoP poll: %s", r)
	}

	secret := e.addConfidential(t, "kiosk", withGrants(grantDeviceCode), withScopes("read"))
	r = e.post(t, server.PathDeviceAuthorization, url.Values{"client_id": {"kiosk"}})
	wantOAuthError(t, r, http.StatusUnauthorized, oauth.CodeInvalidClient)
	r = e.post(t, server.PathDeviceAuthorization, url.Values{}, basic("kiosk", "wrong"))
	wantOAuthError(t, r, http.StatusUnauthorized, oauth.CodeInvalidClient)
	r = e.post(t, server.PathDeviceAuthorization, url.Values{}, basic("kiosk", secret))
	if r.Status != http.StatusOK {
		t.Fatalf("confidential device authorization: %s", r)
	}
	var k deviceAuthResponse
	decodeJSON(t, r.Body, &k)
	// Polling needs the client's authentication too.
	r = e.post(t, server.PathToken, url.Values{"grant_type": {grantDeviceCode}, "device_code": {k.DeviceCode}, "client_id": {"kiosk"}})
	wantOAuthError(t, r, http.StatusUnauthorized, oauth.CodeInvalidClient)
	r = e.post(t, server.PathToken, url.Values{"grant_type": {grantDeviceCode}, "device_code": {k.DeviceCode}}, basic("kiosk", secret))
	wantOAuthError(t, r, http.StatusBadRequest, "authorization_pending")
}
