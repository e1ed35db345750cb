package server_test

// End-to-end tests of browser sign-in: a relying party built from
// golang.org/x/oauth2 and coreos/go-oidc signs users in against the real
// server (authorization code flow with PKCE, OpenID Connect), with a
// scripted user agent: an HTTP client with a cookie jar that reads the
// hidden fields of the login, consent and account pages and posts them back.
//
// The shared setup of the sign-in tests (signin_errors_test.go and
// browser_test.go use it too) lives here: newSignInEnv, users, web
// application clients, the relying party and the scripted browser.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// testPasswordParams are cheap argon2id parameters, so that the tests stay
// fast; the server verifies with the same ones (no rehash on sign-in).
var testPasswordParams = authn.Params{Memory: 64, Time: 1, Threads: 1}

// Scopes of the web applications the sign-in tests register.
const (
	scopeOpenID  = "openid"
	scopeProfile = "profile"
	scopeEmail   = "email"
	scopeOffline = "offline_access"
)

var webScopes = []string{scopeOpenID, scopeProfile, scopeEmail, scopeOffline}

// newSignInEnv is newEnv with browser sign-in turned on. newEnv's server
// is built without SignIn, so a second server is started on the same store,
// key ring, secret hasher and clock, with SignIn set and its own loopback
// URL as the issuer; newEnv's listener is closed at once.
func newSignInEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	base := newEnv(t, o)
	base.HTTP.Close()

	ts := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1:0
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := server.New(server.Options{
		Issuer:          issuer,
		Store:           base.Store,
		Ring:            base.Ring,
		Hasher:          base.Hasher,
		Now:             base.Clock.Now,
		Logger:          o.Logger,
		Metrics:         o.Metrics,
		AccessTokenTTL:  o.AccessTokenTTL,
		MaxRequestBytes: o.MaxRequestBytes,
		DPoP:            o.DPoP,
		AuditRecorder:   o.AuditRecorder,
		SignIn: &server.SignInOptions{
			CSRFKey:   randomBytes(t, 32),
			SealKey:   randomBytes(t, 32),
			Passwords: testPasswordParams,
			Sleep:     base.Clock.Sleep,

			RequirePushedAuthorizationRequests: o.RequirePAR,
		},
	})
	if err != nil {
		ts.Close()
		t.Fatalf("server.New with SignIn: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e := *base
	e.Issuer, e.Server, e.HTTP, e.Client = issuer, srv, ts, client
	return &e
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// addUser stores a user whose password is hashed as the server hashes
// them; mods may set further claims.
func (e *testEnv) addUser(t testing.TB, id, username, password string, mods ...func(*store.User)) store.User {
	t.Helper()
	hash, err := authn.Hasher{Params: testPasswordParams}.Hash(password)
	if err != nil {
		t.Fatalf("hash password: %v", err)
	}
	now := e.Clock.Now().UTC()
	u := store.User{ID: id, Username: username, PasswordHash: hash, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	for _, m := range mods {
		m(&u)
	}
	if err := e.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %q: %v", username, err)
	}
	return u
}

func named(name, email string) func(*store.User) {
	return func(u *store.User) { u.Name, u.Email, u.EmailVerified = name, email, true }
}

// webApp makes a client a sign-in client: authorization_code and
// refresh_token grants, response type code, the four web scopes and the
// given redirect URIs.
func webApp(redirectURIs ...string) clientOption {
	return func(c *store.Client) {
		c.GrantTypes = []string{"authorization_code", "refresh_token"}
		c.ResponseTypes = []string{"code"}
		c.Scopes = slices.Clone(webScopes)
		c.RedirectURIs = redirectURIs
	}
}

func withPostLogout(uris ...string) clientOption {
	return func(c *store.Client) { c.PostLogoutRedirectURIs = uris }
}

func withBackchannel(uri string) clientOption {
	return func(c *store.Client) { c.BackchannelLogoutURI = uri }
}

func firstParty() clientOption { return func(c *store.Client) { c.FirstParty = true } }

// newCallbackServer starts the relying party's redirect target on
// 127.0.0.1. The scripted browser stops before it, so it only answers.
func newCallbackServer(t testing.TB) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "callback\n")
	}))
	t.Cleanup(ts.Close)
	return ts
}

// relyingParty is a client application built from x/oauth2 and go-oidc,
// configured by discovery.
type relyingParty struct {
	ID       string
	Config   oauth2.Config
	Provider *oidc.Provider
	Verifier *oidc.IDTokenVerifier
	// Ctx carries the HTTP client for x/oauth2 and go-oidc.
	Ctx context.Context
}

// newRP discovers the server with go-oidc and configures x/oauth2 for the
// client id (public when secret is empty) with the redirect URI and
// scopes.
func (e *testEnv) newRP(t testing.TB, id, secret, redirectURI string, scopes ...string) *relyingParty {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), e.Client)
	p, err := oidc.NewProvider(ctx, e.Issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &relyingParty{
		ID:       id,
		Config:   oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: ep, RedirectURL: redirectURI, Scopes: scopes},
		Provider: p,
		Verifier: p.Verifier(&oidc.Config{ClientID: id, Now: e.Clock.Now}),
		Ctx:      ctx,
	}
}

// authRequest is one authorization request with its secrets.
type authRequest struct {
	URL, State, Nonce, Verifier string
}

// authorize builds an authorization request with state, nonce and an S256
// PKCE challenge; opts add or replace parameters.
func (rp *relyingParty) authorize(opts ...oauth2.AuthCodeOption) authRequest {
	r := authRequest{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	all := append([]oauth2.AuthCodeOption{oidc.Nonce(r.Nonce), oauth2.S256ChallengeOption(r.Verifier)}, opts...)
	r.URL = rp.Config.AuthCodeURL(r.State, all...)
	return r
}

// exchange redeems code with the request's verifier.
func (rp *relyingParty) exchange(t testing.TB, code string, r authRequest) *oauth2.Token {
	t.Helper()
	tok, err := rp.Config.Exchange(rp.Ctx, code, oauth2.VerifierOption(r.Verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// idClaims are the ID token claims the tests look at.
type idClaims struct {
	Sub      string   `json:"sub"`
	Azp      string   `json:"azp"`
	AuthTime int64    `json:"auth_time"`
	Sid      string   `json:"sid"`
	AMR      []string `json:"amr"`
	Nonce    *string  `json:"nonce"`
	AtHash   string   `json:"at_hash"`
}

// verifyIDToken verifies the ID token of tok with go-oidc (signature, iss,
// aud, exp), then the nonce (when not empty) and at_hash, and returns its
// claims.
func (rp *relyingParty) verifyIDToken(t testing.TB, tok *oauth2.Token, nonce string) (*oidc.IDToken, idClaims) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("no id_token in the token response")
	}
	idt, err := rp.Verifier.Verify(rp.Ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatalf("ID token claims: %v", err)
	}
	if !slices.Equal(idt.Audience, []string{rp.ID}) || c.Azp != rp.ID {
		t.Errorf("aud = %v, azp = %q, want %q", idt.Audience, c.Azp, rp.ID)
	}
	return idt, c
}

// retrieveError returns the OAuth error code and status of a failed
// x/oauth2 token request.
func retrieveError(t testing.TB, err error) (string, int) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want an *oauth2.RetrieveError", err)
	}
	return re.ErrorCode, re.Response.StatusCode
}

// refresh redeems a refresh token through x/oauth2's TokenSource.
func (rp *relyingParty) refresh(refreshToken string) (*oauth2.Token, error) {
	return rp.Config.TokenSource(rp.Ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// Page kinds the scripted browser recognises.
const (
	pageLogin    = "login"
	pageConsent  = "consent"
	pageSelect   = "select_account"
	pageLogout   = "logout"
	pageError    = "error"
	pageRedirect = "redirect"
	pageOther    = "other"
)

var (
	formRe    = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?`)
	hiddenRe  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	alertRe   = regexp.MustCompile(`(?s)<div class="alert" role="alert" id="form-error">.*?<p><strong>[^<]*</strong> ([^<]*)</p>`)
	accountRe = regexp.MustCompile(`<button type="submit" name="account" value="([^"]*)"`)
)

// page is a response as the scripted browser sees it.
type page struct {
	Status   int
	Header   http.Header
	Body     string
	Action   string     // the form's action, or empty
	Hidden   url.Values // the form's hidden inputs
	Location *url.URL   // the redirect target of a 3xx
}

func (p *page) Kind() string {
	switch {
	case p.Status >= 300 && p.Status < 400:
		return pageRedirect
	case p.Action == server.PathLogin:
		return pageLogin
	case p.Action == server.PathConsent:
		return pageConsent
	case p.Action == server.PathSelectAccount:
		return pageSelect
	case p.Action == server.PathLogoutConfirm:
		return pageLogout
	case p.Status >= 400:
		return pageError
	}
	return pageOther
}

// Alert is the text of the page's error region, or empty.
func (p *page) Alert() string {
	if m := alertRe.FindStringSubmatch(p.Body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func (p *page) String() string {
	s := http.StatusText(p.Status) + " " + p.Kind()
	if p.Location != nil {
		s += " → " + p.Location.String()
	}
	if a := p.Alert(); a != "" {
		s += " (" + a + ")"
	}
	if p.Kind() == pageError || p.Kind() == pageOther {
		s += "\n" + p.Body
	}
	return s
}

// want fails the test unless the page is of the given kind.
func (p *page) want(t testing.TB, kind string) {
	t.Helper()
	if p.Kind() != kind {
		t.Fatalf("got %s, want a %s page", p, kind)
	}
}

// browser is a scripted user agent: it keeps cookies, follows redirects
// within the issuer and stops at any redirect that leaves it (to the
// client's redirect_uri or post_logout_redirect_uri).
type browser struct {
	e   *testEnv
	jar http.CookieJar
	c   *http.Client
}

func (e *testEnv) newBrowser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := url.Parse(e.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Transport: e.Client.Transport,
		Jar:       jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != issuer.Host || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return &browser{e: e, jar: jar, c: c}
}

func (b *browser) do(t testing.TB, req *http.Request) *page {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	p := &page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Hidden: url.Values{}}
	if loc, err := resp.Location(); err == nil {
		p.Location = loc
	}
	if m := formRe.FindStringSubmatch(p.Body); m != nil {
		p.Action = html.UnescapeString(m[1])
	}
	for _, m := range hiddenRe.FindAllStringSubmatch(p.Body, -1) {
		p.Hidden.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return p
}

// get loads rawURL (absolute, or a path of the issuer).
func (b *browser) get(t testing.TB, rawURL string) *page {
	t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = b.e.Issuer + rawURL
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// postForm posts fields to path of the issuer, as a form would.
func (b *browser) postForm(t testing.TB, path string, fields url.Values) *page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.Issuer+path, strings.NewReader(fields.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	return b.do(t, req)
}

// submit posts p's form: its hidden inputs plus fields.
func (b *browser) submit(t testing.TB, p *page, fields url.Values) *page {
	t.Helper()
	if p.Action == "" {
		t.Fatalf("no form to submit on %s", p)
	}
	form := url.Values{}
	for k, v := range p.Hidden {
		form[k] = slices.Clone(v)
	}
	for k, v := range fields {
		form[k] = v
	}
	return b.postForm(t, p.Action, form)
}

func (b *browser) login(t testing.TB, p *page, username, password string) *page {
	t.Helper()
	p.want(t, pageLogin)
	return b.submit(t, p, url.Values{"username": {username}, "password": {password}})
}

func (b *browser) consent(t testing.TB, p *page, decision string) *page {
	t.Helper()
	p.want(t, pageConsent)
	return b.submit(t, p, url.Values{"decision": {decision}})
}

// cookie returns the value of the named cookie the browser holds for the
// issuer, or empty.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.Issuer)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// user is who signs in, and what they choose on the pages.
type user struct {
	Username, Password string
	// Other makes the account page choose "another account".
	Other bool
	// Deny makes the consent page deny.
	Deny bool
}

// run follows an authorization request through the pages as the user
// would, and returns the kinds of the pages shown and the final page (the
// redirect out of the issuer). It fails on an error page.
func (b *browser) run(t testing.TB, authURL string, u user) ([]string, *page) {
	t.Helper()
	var seen []string
	p := b.get(t, authURL)
	for range 6 {
		switch p.Kind() {
		case pageRedirect:
			return seen, p
		case pageLogin:
			seen = append(seen, pageLogin)
			p = b.login(t, p, u.Username, u.Password)
		case pageConsent:
			seen = append(seen, pageConsent)
			decision := "approve"
			if u.Deny {
				decision = "deny"
			}
			p = b.consent(t, p, decision)
		case pageSelect:
			seen = append(seen, pageSelect)
			if u.Other {
				p = b.submit(t, p, url.Values{"decision": {"other"}})
				continue
			}
			m := accountRe.FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("no account button on %s", p)
			}
			p = b.submit(t, p, url.Values{"account": {html.UnescapeString(m[1])}})
		default:
			t.Fatalf("after %v: unexpected %s", seen, p)
		}
	}
	t.Fatalf("no redirect after %v", seen)
	return nil, nil
}

// callback checks that p redirects to redirectURI with the authorization
// response of RFC 6749 §4.1.2 and RFC 9207 (code, state, iss) and returns
// the code.
func (e *testEnv) callback(t testing.TB, p *page, redirectURI, state string) string {
	t.Helper()
	q := e.redirectedTo(t, p, redirectURI)
	if q.Has("error") {
		t.Fatalf("authorization error %q: %q", q.Get("error"), q.Get("error_description"))
	}
	if got := q.Get("state"); got != state {
		t.Errorf("state = %q, want %q", got, state)
	}
	if got := q.Get("iss"); got != e.Issuer {
		t.Errorf("iss = %q, want the issuer %q", got, e.Issuer)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code in %s", p.Location)
	}
	return code
}

// redirectedTo checks that p is a 303 to redirectURI (with a query added)
// and returns the query.
func (e *testEnv) redirectedTo(t testing.TB, p *page, redirectURI string) url.Values {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Location == nil {
		t.Fatalf("got %s, want a 303 redirect to %s", p, redirectURI)
	}
	loc := *p.Location
	loc.RawQuery = ""
	if loc.String() != redirectURI {
		t.Fatalf("redirected to %s, want %s", p.Location, redirectURI)
	}
	return p.Location.Query()
}

// signIn runs a whole sign-in with the relying party and returns the
// request and the tokens.
func (rp *relyingParty) signIn(t testing.TB, e *testEnv, b *browser, u user, opts ...oauth2.AuthCodeOption) (authRequest, *oauth2.Token, []string) {
	t.Helper()
	r := rp.authorize(opts...)
	seen, p := b.run(t, r.URL, u)
	code := e.callback(t, p, rp.Config.RedirectURL, r.State)
	return r, rp.exchange(t, code, r), seen
}

// logoutReceiver is a client's backchannel_logout_uri on 127.0.0.1; it
// passes the logout tokens it receives to Tokens.
type logoutReceiver struct {
	URL    string
	Tokens chan string
}

func newLogoutReceiver(t testing.TB) *logoutReceiver {
	t.Helper()
	lr := &logoutReceiver{Tokens: make(chan string, 8)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != formType {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil || len(r.PostForm["logout_token"]) != 1 {
			http.Error(w, "want one logout_token", http.StatusBadRequest)
			return
		}
		select {
		case lr.Tokens <- r.PostForm.Get("logout_token"):
		default:
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(ts.Close)
	lr.URL = ts.URL + "/backchannel-logout"
	return lr
}

// next waits for a logout token. The bound only keeps a broken server from
// hanging the test; it is not a timing assertion.
func (lr *logoutReceiver) next(t testing.TB) string {
	t.Helper()
	select {
	case tok := <-lr.Tokens:
		return tok
	case <-time.After(20 * time.Second):
		t.Fatal("no back-channel logout token was delivered")
		return ""
	}
}

// jwtHeader decodes the protected header of a compact JWS.
func jwtHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	return m
}

const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "Tr0ub4dor&3 but longer"
)

// TestSignInEndToEnd signs a user in with a relying party made of x/oauth2
// and go-oidc, checks every token, calls UserInfo, refreshes, and logs out
// (RP-initiated, with back-channel notification).
func TestSignInEndToEnd(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	alice := e.addUser(t, "u-alice", "alice", alicePassword, named("Alice Liddell", "alice@example.test"))
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	afterLogout := cb.URL + "/signed-out"
	logouts := newLogoutReceiver(t)
	secret := e.addConfidential(t, "webapp", webApp(redirect), withAudiences(audOrders),
		withPostLogout(afterLogout), withBackchannel(logouts.URL))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	b := e.newBrowser(t)

	// Front channel: authorize → login → consent → callback.
	req := rp.authorize()
	p := b.get(t, req.URL)
	p.want(t, pageLogin)
	if p.Hidden.Get(authn.CSRFField) == "" || p.Hidden.Get("request") == "" {
		t.Fatalf("login form lacks csrf_token or request: %v", p.Hidden)
	}
	beforeLogin := time.Now().Truncate(time.Second)
	p = b.login(t, p, "alice", alicePassword)
	p.want(t, pageConsent)
	for _, s := range []string{scopeProfile, scopeEmail, scopeOffline} {
		if !strings.Contains(p.Body, `<code class="scope-name">`+s+`</code>`) {
			t.Errorf("consent page does not list the scope %s", s)
		}
	}
	if b.cookie(authn.DefaultSessionCookie) == "" {
		t.Fatal("no session cookie after signing in")
	}
	p = b.consent(t, p, "approve")
	code := e.callback(t, p, redirect, req.State)

	// Back channel: the code for tokens, with the PKCE verifier.
	tok := rp.exchange(t, code, req)
	afterLogin := time.Now()
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" {
		t.Fatalf("token_type %q, refresh token %q: want Bearer and a refresh token", tok.TokenType, tok.RefreshToken)
	}
	wantScope := strings.Join(webScopes, " ")
	if got := tok.Extra("scope"); got != wantScope {
		t.Errorf("scope in the response = %v, want %q", got, wantScope)
	}
	at, _ := verifyAccessToken(t, e, tok.AccessToken, audOrders)
	if at.Sub != alice.ID || at.ClientID != "webapp" || at.Scope != wantScope || at.Iss != e.Issuer {
		t.Errorf("access token sub %q client_id %q scope %q iss %q, want %q webapp %q %q", at.Sub, at.ClientID, at.Scope, at.Iss, alice.ID, wantScope, e.Issuer)
	}
	idt, claims := rp.verifyIDToken(t, tok, req.Nonce)
	if idt.Subject != alice.ID || idt.Issuer != e.Issuer {
		t.Errorf("ID token sub %q iss %q, want %q %q", idt.Subject, idt.Issuer, alice.ID, e.Issuer)
	}
	if claims.AuthTime < beforeLogin.Unix() || claims.AuthTime > afterLogin.Unix() {
		t.Errorf("auth_time = %d, want the sign-in time in [%d, %d]", claims.AuthTime, beforeLogin.Unix(), afterLogin.Unix())
	}
	if claims.Sid == "" || claims.AtHash == "" {
		t.Errorf("sid %q at_hash %q: want both", claims.Sid, claims.AtHash)
	}
	if !slices.Equal(claims.AMR, []string{"pwd"}) {
		t.Errorf("amr = %v, want [pwd]", claims.AMR)
	}
	if sess, err := e.Store.GetSessionByID(context.Background(), claims.Sid); err != nil || sess.UserID != alice.ID {
		t.Errorf("sid %q names no session of the user: %v", claims.Sid, err)
	}

	// UserInfo through go-oidc.
	info, err := rp.Provider.UserInfo(rp.Ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	var infoClaims struct {
		Name string `json:"name"`
	}
	if err := info.Claims(&infoClaims); err != nil {
		t.Fatal(err)
	}
	if info.Subject != alice.ID || info.Email != "alice@example.test" || !info.EmailVerified || infoClaims.Name != "Alice Liddell" {
		t.Errorf("UserInfo sub %q email %q verified %t name %q", info.Subject, info.Email, info.EmailVerified, infoClaims.Name)
	}

	// UserInfo releases claims per granted scope. The session and the
	// remembered consent make each request return a code at once.
	for _, tc := range []struct {
		scope           string
		name, email     bool
		refreshExpected bool
	}{
		{scope: "openid"},
		{scope: "openid profile", name: true},
		{scope: "openid email", email: true},
		{scope: "openid profile email offline_access", name: true, email: true, refreshExpected: true},
	} {
		t.Run("userinfo/"+tc.scope, func(t *testing.T) {
			r, tk, seen := rp.signIn(t, e, b, user{}, oauth2.SetAuthURLParam("scope", tc.scope))
			if len(seen) != 0 {
				t.Errorf("pages %v shown; want none (signed in, consent remembered)", seen)
			}
			rp.verifyIDToken(t, tk, r.Nonce)
			if (tk.RefreshToken != "") != tc.refreshExpected {
				t.Errorf("refresh token issued = %t, want %t", tk.RefreshToken != "", tc.refreshExpected)
			}
			info, err := rp.Provider.UserInfo(rp.Ctx, oauth2.StaticTokenSource(tk))
			if err != nil {
				t.Fatalf("UserInfo: %v", err)
			}
			var got map[string]any
			if err := info.Claims(&got); err != nil {
				t.Fatal(err)
			}
			if got["sub"] != alice.ID {
				t.Errorf("sub = %v", got["sub"])
			}
			if _, ok := got["name"]; ok != tc.name {
				t.Errorf("name released = %t, want %t (%v)", ok, tc.name, got)
			}
			for _, c := range []string{"email", "email_verified"} {
				if _, ok := got[c]; ok != tc.email {
					t.Errorf("%s released = %t, want %t (%v)", c, ok, tc.email, got)
				}
			}
		})
	}

	// Refresh with x/oauth2's TokenSource: a new refresh token, the old one
	// refused afterwards.
	refreshed, err := rp.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh token not rotated: %q", refreshed.RefreshToken)
	}
	if refreshed.AccessToken == tok.AccessToken {
		t.Error("refresh returned the same access token")
	}
	if at2, _ := verifyAccessToken(t, e, refreshed.AccessToken, audOrders); at2.Sub != alice.ID || at2.Scope != wantScope {
		t.Errorf("refreshed access token sub %q scope %q", at2.Sub, at2.Scope)
	}
	idt2, claims2 := rp.verifyIDToken(t, refreshed, "")
	if idt2.Subject != alice.ID || claims2.AuthTime != claims.AuthTime || claims2.Sid != claims.Sid {
		t.Errorf("refreshed ID token sub %q auth_time %d sid %q, want %q %d %q", idt2.Subject, claims2.AuthTime, claims2.Sid, alice.ID, claims.AuthTime, claims.Sid)
	}
	if _, err := rp.refresh(tok.RefreshToken); err == nil {
		t.Error("the rotated refresh token was accepted again")
	} else if code, status := retrieveError(t, err); code != oauth.CodeInvalidGrant || status != http.StatusBadRequest {
		t.Errorf("reusing the rotated refresh token: %s %d, want invalid_grant 400", code, status)
	}

	// RP-initiated logout, skipping the confirmation since id_token_hint
	// names the current session.
	var md struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := rp.Provider.Claims(&md); err != nil || md.EndSession != e.url(server.PathEndSession) {
		t.Fatalf("end_session_endpoint = %q (%v)", md.EndSession, err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	logoutURL := md.EndSession + "?" + url.Values{
		"id_token_hint":            {rawID},
		"post_logout_redirect_uri": {afterLogout},
		"state":                    {"bye-42"},
	}.Encode()
	p = b.get(t, logoutURL)
	q := e.redirectedTo(t, p, afterLogout)
	if q.Get("state") != "bye-42" || len(q) != 1 {
		t.Errorf("post-logout redirect query = %v, want exactly state=bye-42", q)
	}
	cleared := false
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == authn.DefaultSessionCookie && c.MaxAge < 0 && c.Value == "" {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("logout response does not clear the session cookie: %q", p.Header.Values("Set-Cookie"))
	}
	if v := b.cookie(authn.DefaultSessionCookie); v != "" {
		t.Errorf("the browser still holds a session cookie")
	}
	if _, err := e.Store.GetSessionByID(context.Background(), claims.Sid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session %q still stored after logout: %v", claims.Sid, err)
	}

	// Back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4).
	raw := logouts.next(t)
	if h := jwtHeader(t, raw); h["typ"] != "logout+jwt" {
		t.Errorf("logout token typ = %v, want logout+jwt", h["typ"])
	}
	lt, err := rp.Verifier.VerifyLogout(rp.Ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejects the logout token: %v", err)
	}
	if lt.SessionID != claims.Sid || lt.Subject != alice.ID || lt.Issuer != e.Issuer || !slices.Equal(lt.Audience, []string{"webapp"}) {
		t.Errorf("logout token sid %q sub %q iss %q aud %v", lt.SessionID, lt.Subject, lt.Issuer, lt.Audience)
	}
	var ltClaims map[string]json.RawMessage
	if err := lt.Claims(&ltClaims); err != nil {
		t.Fatal(err)
	}
	if _, ok := ltClaims["nonce"]; ok {
		t.Error("logout token has a nonce")
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(ltClaims["events"], &events); err != nil || len(events) != 1 || string(events["http://schemas.openid.net/event/backchannel-logout"]) != "{}" {
		t.Errorf("events = %s, want exactly the back-channel logout event with {}", ltClaims["events"])
	}

	// Signed out: the next authorization request asks to sign in again.
	b.get(t, rp.authorize().URL).want(t, pageLogin)
}

// TestSignInPrompts covers single sign-on and the prompt and max_age
// parameters: which pages a signed-in (or new) user sees before the code.
func TestSignInPrompts(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	fpSecret := e.addConfidential(t, "portal", webApp(redirect), firstParty())
	rps := map[string]*relyingParty{
		"webapp": e.newRP(t, "webapp", secret, redirect, webScopes...),
		"portal": e.newRP(t, "portal", fpSecret, redirect, webScopes...),
	}
	alice := user{Username: "alice", Password: alicePassword}

	// The first sign-in asks to sign in and to consent.
	session := e.newBrowser(t)
	_, _, seen := rps["webapp"].signIn(t, e, session, alice)
	if !slices.Equal(seen, []string{pageLogin, pageConsent}) {
		t.Fatalf("first sign-in showed %v, want [login consent]", seen)
	}

	tests := []struct {
		name    string
		client  string
		newUA   bool // a browser without a session
		other   bool // choose another account on the account page
		params  map[string]string
		want    []string
		newSess bool // the sign-in starts a new session (new sid)
	}{
		{name: "consent remembered", client: "webapp", newUA: true, want: []string{pageLogin}, newSess: true},
		{name: "first-party client skips consent", client: "portal", newUA: true, want: []string{pageLogin}, newSess: true},
		{name: "signed in: no page", client: "webapp", want: nil},
		{name: "prompt=none with a session", client: "webapp", params: map[string]string{"prompt": "none"}, want: nil},
		{name: "prompt=consent forces consent", client: "webapp", params: map[string]string{"prompt": "consent"}, want: []string{pageConsent}},
		{name: "prompt=login forces login", client: "webapp", params: map[string]string{"prompt": "login"}, want: []string{pageLogin}, newSess: true},
		{name: "max_age=0 forces login", client: "webapp", params: map[string]string{"max_age": "0"}, want: []string{pageLogin}, newSess: true},
		{name: "max_age=3600 keeps the session", client: "webapp", params: map[string]string{"max_age": "3600"}, want: nil},
		{name: "select_account: continue", client: "webapp", params: map[string]string{"prompt": "select_account"}, want: []string{pageSelect}},
		{name: "select_account: another account", client: "webapp", params: map[string]string{"prompt": "select_account"}, other: true, want: []string{pageSelect, pageLogin}, newSess: true},
		{name: "login_hint prefills", client: "webapp", newUA: true, params: map[string]string{"login_hint": "alice"}, want: []string{pageLogin}, newSess: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rp := rps[tc.client]
			b := session
			if tc.newUA {
				b = e.newBrowser(t)
			}
			oldSess := b.cookie(authn.DefaultSessionCookie)
			var opts []oauth2.AuthCodeOption
			for k, v := range tc.params {
				opts = append(opts, oauth2.SetAuthURLParam(k, v))
			}
			r := rp.authorize(opts...)
			if tc.params["login_hint"] != "" {
				p := b.get(t, r.URL)
				p.want(t, pageLogin)
				if !strings.Contains(p.Body, `value="`+tc.params["login_hint"]+`"`) {
					t.Errorf("login page not prefilled with the login_hint")
				}
			}
			u := alice
			u.Other = tc.other
			seen, p := b.run(t, r.URL, u)
			if !slices.Equal(seen, tc.want) {
				t.Errorf("pages %v, want %v", seen, tc.want)
			}
			code := e.callback(t, p, redirect, r.State)
			tok := rp.exchange(t, code, r)
			_, c := rp.verifyIDToken(t, tok, r.Nonce)
			if newSess := b.cookie(authn.DefaultSessionCookie) != oldSess; newSess != tc.newSess {
				t.Errorf("new session = %t, want %t", newSess, tc.newSess)
			}
			sess, err := e.Store.GetSessionByID(context.Background(), c.Sid)
			if err != nil {
				t.Fatalf("sid %q: %v", c.Sid, err)
			}
			if c.AuthTime != sess.AuthTime.Unix() {
				t.Errorf("auth_time = %d, want the session's %d", c.AuthTime, sess.AuthTime.Unix())
			}
		})
	}
}

// TestSignInPublicClientPKCE runs the flow for a public native client (no
// secret, PKCE required) whose loopback redirect URI is registered with
// another port or none: RFC 8252 §7.3 lets the port vary.
func TestSignInPublicClientPKCE(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	cb := newCallbackServer(t)
	used := cb.URL + "/callback" // http://127.0.0.1:<port>/callback

	tests := []struct {
		name, registered string
	}{
		{"exact", used},
		{"loopback without port", "http://127.0.0.1/callback"},
		{"loopback with another port", "http://127.0.0.1:1/callback"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "native-" + string(rune('a'+i))
			e.addPublic(t, id, webApp(tc.registered))
			rp := e.newRP(t, id, "", used, webScopes...)
			b := e.newBrowser(t)
			r, tok, seen := rp.signIn(t, e, b, user{Username: "alice", Password: alicePassword})
			if !slices.Equal(seen, []string{pageLogin, pageConsent}) {
				t.Errorf("pages %v, want [login consent]", seen)
			}
			_, c := rp.verifyIDToken(t, tok, r.Nonce)
			if c.Sub != "u-alice" {
				t.Errorf("sub = %q", c.Sub)
			}
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			refreshed, err := rp.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh by the public client: %v", err)
			}
			if refreshed.RefreshToken == tok.RefreshToken {
				t.Error("refresh token not rotated")
			}
		})
	}
}

// TestSignInRevocation withdraws what a refresh token relies on, the way
// the admin API does: disabling the user (sessions ended, refresh tokens
// revoked) or withdrawing consent (the consent only: the refresh grant
// checks it itself).
func TestSignInRevocation(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	ctx := context.Background()

	tests := []struct {
		name     string
		withdraw func(t *testing.T, userID string)
		// signedOut: the browser's session no longer counts.
		signedOut bool
	}{
		{
			name: "user disabled",
			withdraw: func(t *testing.T, userID string) {
				if _, err := e.Store.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
					u.Disabled = true
					return u, nil
				}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.Store.DeleteUserSessions(ctx, userID); err != nil {
					t.Fatal(err)
				}
				if err := e.Store.RevokeUserRefreshTokens(ctx, userID); err != nil {
					t.Fatal(err)
				}
			},
			signedOut: true,
		},
		{
			name: "user disabled, tokens not revoked",
			withdraw: func(t *testing.T, userID string) {
				if _, err := e.Store.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
					u.Disabled = true
					return u, nil
				}); err != nil {
					t.Fatal(err)
				}
			},
			signedOut: true,
		},
		{
			name: "consent withdrawn",
			withdraw: func(t *testing.T, userID string) {
				if err := e.Store.DeleteConsent(ctx, userID, "webapp"); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, name := "u-"+string(rune('a'+i)), "user"+string(rune('a'+i))
			e.addUser(t, id, name, bobPassword, named("User "+name, name+"@example.test"))
			b := e.newBrowser(t)
			_, tok, _ := rp.signIn(t, e, b, user{Username: name, Password: bobPassword})
			next, err := rp.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh before the withdrawal: %v", err)
			}

			tc.withdraw(t, id)

			_, err = rp.refresh(next.RefreshToken)
			if err == nil {
				t.Fatal("refresh succeeded after the withdrawal")
			}
			if code, status := retrieveError(t, err); code != oauth.CodeInvalidGrant || status != http.StatusBadRequest {
				t.Errorf("refresh: %s %d, want invalid_grant 400", code, status)
			}
			p := b.get(t, rp.authorize().URL)
			if tc.signedOut {
				p.want(t, pageLogin)
				// The disabled user cannot sign in again either.
				p = b.login(t, p, name, bobPassword)
				if p.Kind() != pageLogin || p.Status != http.StatusUnauthorized {
					t.Errorf("disabled user signing in: got %s, want the login page with 401", p)
				}
				info, err := rp.Provider.UserInfo(rp.Ctx, oauth2.StaticTokenSource(next))
				if err == nil {
					t.Errorf("UserInfo answered %q for a disabled user", info.Subject)
				}
			} else {
				p.want(t, pageConsent)
			}
		})
	}
}

// TestLogoutConfirmation covers RP-initiated logout without id_token_hint:
// writ asks the user, who signs out or stays signed in.
func TestLogoutConfirmation(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect, afterLogout := cb.URL+"/callback", cb.URL+"/signed-out"
	secret := e.addConfidential(t, "webapp", webApp(redirect), withPostLogout(afterLogout))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	tests := []struct {
		name     string
		change   func(form url.Values, h http.Header)
		status   int  // of the answer to the confirmation
		signedIn bool // still signed in afterwards
	}{
		{name: "sign out", status: http.StatusSeeOther},
		{name: "sign out from a browser (Origin null, same-origin)", change: func(_ url.Values, h http.Header) {
			h.Set("Origin", "null")
			h.Set("Sec-Fetch-Site", "same-origin")
		}, status: http.StatusSeeOther},
		{name: "stay signed in", change: func(f url.Values, _ http.Header) { f.Set("decision", "cancel") }, status: http.StatusOK, signedIn: true},
		{name: "no CSRF token", change: func(f url.Values, _ http.Header) { f.Del(authn.CSRFField) }, status: http.StatusForbidden, signedIn: true},
		{name: "cross-site post", change: func(_ url.Values, h http.Header) { h.Set("Sec-Fetch-Site", "cross-site") }, status: http.StatusForbidden, signedIn: true},
		{name: "changed post_logout_redirect_uri", change: func(f url.Values, _ http.Header) {
			f.Set("post_logout_redirect_uri", "https://evil.example/")
		}, status: http.StatusBadRequest, signedIn: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.newBrowser(t)
			rp.signIn(t, e, b, user{Username: "alice", Password: alicePassword})
			p := b.get(t, server.PathEndSession+"?"+url.Values{
				"client_id": {"webapp"}, "post_logout_redirect_uri": {afterLogout}, "state": {"s-9"},
			}.Encode())
			p.want(t, pageLogout)
			form := url.Values{"decision": {"logout"}}
			for k, v := range p.Hidden {
				form[k] = v
			}
			h := http.Header{"Content-Type": {formType}}
			if tc.change != nil {
				tc.change(form, h)
			}
			req, err := http.NewRequest(http.MethodPost, e.url(p.Action), strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = h
			p = b.do(t, req)
			if p.Status != tc.status {
				t.Fatalf("got %s, want status %d", p, tc.status)
			}
			switch {
			case tc.status == http.StatusOK:
				// Staying signed in leads to the user's account page.
				if p.Action != server.PathAccountRevoke {
					t.Errorf("got %s, want the account page", p)
				}
			case tc.status == http.StatusSeeOther:
				if q := e.redirectedTo(t, p, afterLogout); q.Get("state") != "s-9" || len(q) != 1 {
					t.Errorf("post-logout query = %v, want exactly state=s-9", q)
				}
			}
			want := pageLogin
			if tc.signedIn {
				want = pageRedirect // a code at once
			}
			b.get(t, rp.authorize().URL).want(t, want)
		})
	}
}

// TestSignInDiscovery checks what the discovery document says once sign-in
// is on: everything the tests above use, and nothing unsupported.
func TestSignInDiscovery(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	resp := e.get(t, server.PathOIDCMetadata)
	if resp.Status != http.StatusOK {
		t.Fatalf("discovery: %s", resp)
	}
	var md map[string]any
	decodeJSON(t, resp.Body, &md)
	strs := func(name string) []string {
		var out []string
		list, _ := md[name].([]any)
		for _, v := range list {
			s, _ := v.(string)
			out = append(out, s)
		}
		slices.Sort(out)
		return out
	}
	for name, want := range map[string][]string{
		"response_types_supported":              {"code"},
		"response_modes_supported":              {"query"},
		"code_challenge_methods_supported":      {"S256"},
		"prompt_values_supported":               {"consent", "login", "none", "select_account"},
		"id_token_signing_alg_values_supported": {"ES256", "RS256"}, // sorted here; RS256 is first on the wire
		"subject_types_supported":               {"public"},
	} {
		if got := strs(name); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]any{
		"authorization_endpoint":                         e.url(server.PathAuthorize),
		"userinfo_endpoint":                              e.url(server.PathUserInfo),
		"end_session_endpoint":                           e.url(server.PathEndSession),
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"request_parameter_supported":                    true,
		"pushed_authorization_request_endpoint":          e.url(server.PathPAR),
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     true,
	} {
		if md[name] != want {
			t.Errorf("%s = %v, want %v", name, md[name], want)
		}
	}
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"} {
		if !slices.Contains(strs("grant_types_supported"), g) {
			t.Errorf("grant_types_supported lacks %s", g)
		}
	}
	for _, s := range webScopes {
		if !slices.Contains(strs("scopes_supported"), s) {
			t.Errorf("scopes_supported lacks %s", s)
		}
	}
	for _, absent := range []string{"frontchannel_logout_supported", "check_session_iframe", "registration_endpoint"} {
		if _, ok := md[absent]; ok {
			t.Errorf("discovery lists %s, which is not supported", absent)
		}
	}
}
