package server_test

// Tests of the account page (GET /account) and of removing an
// application's access (POST /account/revoke) against a real SQLite store,
// with sessions started by authn.Sessions.Start and the CSRF token read
// from the page, as a browser would.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/jose"
)

const acctIssuer = "http://writ.test"

// acctStore wraps the real store to make the two writes of a removal fail
// on demand.
type acctStore struct {
	store.Store
	failRevoke atomic.Bool
	failDelete atomic.Bool
}

var errAcctInjected = errors.New("injected store failure")

func (s *acctStore) RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error {
	if s.failRevoke.Load() {
		return errAcctInjected
	}
	return s.Store.RevokeClientUserRefreshTokens(ctx, clientID, userID)
}

func (s *acctStore) DeleteConsent(ctx context.Context, userID, clientID string) error {
	if s.failDelete.Load() {
		return errAcctInjected
	}
	return s.Store.DeleteConsent(ctx, userID, clientID)
}

// acctEnv is a server with browser sign-in over its own SQLite database,
// called in-process.
type acctEnv struct {
	Handler http.Handler
	Store   *acctStore
	// Sessions starts sessions the server accepts (same store, cookie
	// name and clock).
	Sessions *authn.Sessions
}

func newAcctEnv(t *testing.T) *acctEnv {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, "sqlite:"+t.TempDir()+"/writ.db")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	ring, err := keys.NewRing(keys.Options{Algorithm: jose.ES256, Algorithms: []jose.Algorithm{jose.RS256}, Generate: pooledKeys()})
	if err != nil {
		t.Fatalf("new ring: %v", err)
	}
	for range 2 {
		if err := ring.Rotate(); err != nil {
			t.Fatalf("rotate: %v", err)
		}
	}
	hasher, err := oauth.NewSecretHasher(acctRandom(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	wrapped := &acctStore{Store: st}
	srv, err := server.New(server.Options{
		Issuer: acctIssuer,
		Store:  wrapped,
		Ring:   ring,
		Hasher: hasher,
		SignIn: &server.SignInOptions{
			CSRFKey:   acctRandom(t, 32),
			SealKey:   acctRandom(t, 32),
			Passwords: authn.Params{Memory: 64, Time: 1, Threads: 1},
		},
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return &acctEnv{Handler: srv.Handler(), Store: wrapped, Sessions: &authn.Sessions{Store: st}}
}

func acctRandom(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *acctEnv) addUser(t *testing.T, id, username, name, email string) store.User {
	t.Helper()
	now := time.Now().UTC()
	u := store.User{ID: id, Username: username, Name: name, Email: email, CreatedAt: now, UpdatedAt: now}
	if err := e.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", id, err)
	}
	return u
}

// addClient registers a confidential authorization code client; the
// secret hash must never appear on a page.
func (e *acctEnv) addClient(t *testing.T, id, name string) store.Client {
	t.Helper()
	now := time.Now().UTC()
	c := store.Client{
		ID:                      id,
		Name:                    name,
		SecretHash:              []byte("secret-hash-of-" + id),
		SecretRotatedAt:         now,
		RedirectURIs:            []string{"https://" + id + ".example/cb"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "profile", "email", "offline_access"},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic,
		AccessTokenFormat:       store.AccessTokenJWT,
		CreatedAt:               now,
		UpdatedAt:               now,
	}
	if err := e.Store.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("create client %s: %v", id, err)
	}
	return c
}

func (e *acctEnv) addConsent(t *testing.T, userID, clientID string, granted time.Time, scopes ...string) {
	t.Helper()
	c := store.Consent{UserID: userID, ClientID: clientID, Scopes: scopes, GrantedAt: granted, UpdatedAt: granted}
	if err := e.Store.PutConsent(context.Background(), c); err != nil {
		t.Fatalf("put consent %s/%s: %v", userID, clientID, err)
	}
}

// addRefresh starts a refresh token family and returns its token's hash.
func (e *acctEnv) addRefresh(t *testing.T, family, clientID, userID string) []byte {
	t.Helper()
	now := time.Now().UTC()
	sum := sha256.Sum256(acctRandom(t, 32))
	rt := store.RefreshToken{
		Hash: sum[:], FamilyID: family, ClientID: clientID, UserID: userID,
		Scopes: []string{"openid", "offline_access"}, AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
	}
	if err := e.Store.CreateRefreshToken(context.Background(), rt); err != nil {
		t.Fatalf("create refresh token %s: %v", family, err)
	}
	return rt.Hash
}

func (e *acctEnv) revoked(t *testing.T, hash []byte) bool {
	t.Helper()
	rt, err := e.Store.GetRefreshToken(context.Background(), hash)
	if err != nil {
		t.Fatalf("get refresh token: %v", err)
	}
	return rt.Revoked
}

func (e *acctEnv) hasConsent(t *testing.T, userID, clientID string) bool {
	t.Helper()
	_, err := e.Store.GetConsent(context.Background(), userID, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("get consent: %v", err)
	}
	return true
}

// acctBrowser is one browser's cookies.
type acctBrowser struct {
	cookies map[string]*http.Cookie
}

// signIn starts a session for u and returns a browser holding its cookie.
func (e *acctEnv) signIn(t *testing.T, u store.User) *acctBrowser {
	t.Helper()
	w := httptest.NewRecorder()
	if _, err := e.Sessions.Start(context.Background(), w, u, []string{"pwd"}, ""); err != nil {
		t.Fatalf("start session: %v", err)
	}
	b := &acctBrowser{cookies: map[string]*http.Cookie{}}
	b.keep(w.Result())
	return b
}

// keep stores the cookies a response sets, dropping cleared ones.
func (b *acctBrowser) keep(resp *http.Response) {
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
}

// acctResp is a recorded response.
type acctResp struct {
	Status int
	Header http.Header
	Body   string
}

// send serves req with the browser's cookies (b may be nil: none).
func (e *acctEnv) send(b *acctBrowser, req *http.Request) acctResp {
	if b != nil {
		for _, c := range b.cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	w := httptest.NewRecorder()
	e.Handler.ServeHTTP(w, req)
	resp := w.Result()
	if b != nil {
		b.keep(resp)
	}
	return acctResp{Status: w.Code, Header: w.Header(), Body: w.Body.String()}
}

func (e *acctEnv) getAccount(b *acctBrowser, target string) acctResp {
	return e.send(b, httptest.NewRequest(http.MethodGet, acctIssuer+target, nil))
}

func (e *acctEnv) postRevoke(b *acctBrowser, form url.Values, mods ...func(*http.Request)) acctResp {
	req := httptest.NewRequest(http.MethodPost, acctIssuer+server.PathAccountRevoke, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, m := range mods {
		m(req)
	}
	return e.send(b, req)
}

var acctCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrfToken loads the account page in b and returns its form token.
func (e *acctEnv) csrfToken(t *testing.T, b *acctBrowser) string {
	t.Helper()
	r := e.getAccount(b, server.PathAccount)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /account: %d %s", r.Status, r.Body)
	}
	m := acctCSRFRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no csrf_token on the account page (is any application listed?):\n%s", r.Body)
	}
	return m[1]
}

func wantAcctPageHeaders(t *testing.T, r acctResp) {
	t.Helper()
	for k, v := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

// acctFixture is Alice with two applications and Bob with one, each with
// refresh tokens.
type acctFixture struct {
	env        *acctEnv
	alice, bob store.User
	// Refresh token hashes by owner and client.
	aliceAlpha1, aliceAlpha2, aliceBeta, bobAlpha, bobGamma []byte
}

func newAcctFixture(t *testing.T) *acctFixture {
	t.Helper()
	e := newAcctEnv(t)
	f := &acctFixture{env: e}
	f.alice = e.addUser(t, "u-alice", "alice", "Alice Liddell", "alice@example.com")
	f.bob = e.addUser(t, "u-bob", "bob", "Bob Builder", "bob@example.com")
	e.addClient(t, "alpha", "Alpha <Photos>")
	e.addClient(t, "beta", "")
	e.addClient(t, "gamma", "Gamma Mail")
	granted := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	e.addConsent(t, f.alice.ID, "alpha", granted, "profile", "email", "offline_access")
	e.addConsent(t, f.alice.ID, "beta", granted.AddDate(0, 1, 0))
	e.addConsent(t, f.bob.ID, "alpha", granted, "profile")
	e.addConsent(t, f.bob.ID, "gamma", granted, "email")
	f.aliceAlpha1 = e.addRefresh(t, "fam-alice-alpha-1", "alpha", f.alice.ID)
	f.aliceAlpha2 = e.addRefresh(t, "fam-alice-alpha-2", "alpha", f.alice.ID)
	f.aliceBeta = e.addRefresh(t, "fam-alice-beta", "beta", f.alice.ID)
	f.bobAlpha = e.addRefresh(t, "fam-bob-alpha", "alpha", f.bob.ID)
	f.bobGamma = e.addRefresh(t, "fam-bob-gamma", "gamma", f.bob.ID)
	return f
}

// wantNoneRevoked checks that none of the tokens is revoked.
func (f *acctFixture) wantNoneRevoked(t *testing.T) {
	t.Helper()
	for i, h := range [][]byte{f.aliceAlpha1, f.aliceAlpha2, f.aliceBeta, f.bobAlpha, f.bobGamma} {
		if f.env.revoked(t, h) {
			t.Errorf("token %d revoked", i)
		}
	}
}

func TestAccountWithoutSession(t *testing.T) {
	f := newAcctFixture(t)
	e := f.env
	leaks := []string{"Alice", "alice", "Bob", "Alpha", "alpha", "beta", "Gamma", "example.com", "<form", "csrf_token", "Remove access"}
	check := func(name string, r acctResp) {
		t.Helper()
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, r.Status)
		}
		if !strings.Contains(r.Body, "<h1>Sign in to manage your account</h1>") {
			t.Errorf("%s: not the sign-in-needed page:\n%s", name, r.Body)
		}
		for _, s := range leaks {
			if strings.Contains(r.Body, s) {
				t.Errorf("%s: page shows %q:\n%s", name, s, r.Body)
			}
		}
		if loc := r.Header.Get("Location"); loc != "" {
			t.Errorf("%s: redirects to %q", name, loc)
		}
		wantAcctPageHeaders(t, r)
	}

	check("no cookie", e.getAccount(nil, server.PathAccount))

	forged := &acctBrowser{cookies: map[string]*http.Cookie{
		authn.DefaultSessionCookie: {Name: authn.DefaultSessionCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	}}
	check("unknown session", e.getAccount(forged, server.PathAccount))

	// A session whose user was disabled ends.
	carol := e.addUser(t, "u-carol", "carol", "Carol", "carol@example.com")
	e.addConsent(t, carol.ID, "gamma", time.Now().UTC(), "email")
	b := e.signIn(t, carol)
	if _, err := e.Store.UpdateUser(context.Background(), carol.ID, func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	check("disabled user", e.getAccount(b, server.PathAccount))
	if _, ok := b.cookies[authn.DefaultSessionCookie]; ok {
		t.Errorf("disabled user's session cookie not cleared")
	}

	// A removal without a session changes nothing, even with a valid
	// CSRF token of this browser.
	ab := e.signIn(t, f.alice)
	token := e.csrfToken(t, ab)
	delete(ab.cookies, authn.DefaultSessionCookie)
	r := e.postRevoke(ab, url.Values{"csrf_token": {token}, "client_id": {"alpha"}})
	check("revoke", r)
	if !e.hasConsent(t, f.alice.ID, "alpha") {
		t.Errorf("consent removed without a session")
	}
	f.wantNoneRevoked(t)
}

func TestAccountListsConsents(t *testing.T) {
	f := newAcctFixture(t)
	e := f.env
	b := e.signIn(t, f.alice)
	r := e.getAccount(b, server.PathAccount)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d:\n%s", r.Status, r.Body)
	}
	wantAcctPageHeaders(t, r)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		"<h1>Your account</h1>",
		"<dd>Alice Liddell</dd>", "<dd>alice</dd>", "<dd>alice@example.com</dd>",
		// Names are escaped; a client without a name shows its ID.
		`<h3 class="app-name">Alpha &lt;Photos&gt;</h3>`,
		`<h3 class="app-name">beta</h3>`,
		`aria-label="Remove access for Alpha &lt;Photos&gt;"`,
		`aria-label="Remove access for beta"`,
		`<time datetime="2030-05-06T07:08:09Z">6 May 2030</time>`,
		`<time datetime="2030-06-06T07:08:09Z">6 June 2030</time>`,
		"See your email address",
		"Keep access while you are not using it, until you withdraw it",
		"It can only confirm who you are.",
		`action="` + server.PathAccountRevoke + `"`,
		`<input type="hidden" name="client_id" value="alpha">`,
		`<input type="hidden" name="client_id" value="beta">`,
		`href="` + server.PathEndSession + `"`,
	} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("missing %q in\n%s", want, r.Body)
		}
	}
	// Only Alice's applications and data; no secret, no cookie value.
	unwanted := []string{"Gamma", "gamma", "Bob", "bob@", "secret-hash", "Access removed", `role="status"`}
	for _, c := range b.cookies {
		unwanted = append(unwanted, c.Value)
	}
	for _, s := range unwanted {
		if strings.Contains(r.Body, s) {
			t.Errorf("page shows %q", s)
		}
	}
	if n := strings.Count(r.Body, `name="csrf_token"`); n != 2 {
		t.Errorf("%d csrf_token fields, want one per application (2)", n)
	}
	if _, ok := b.cookies[authn.DefaultCSRFCookie]; !ok {
		t.Errorf("no CSRF cookie set")
	}

	// HEAD works like GET; other methods are refused with a page.
	if r := e.send(b, httptest.NewRequest(http.MethodHead, acctIssuer+server.PathAccount, nil)); r.Status != http.StatusOK {
		t.Errorf("HEAD: %d", r.Status)
	}
	pr := e.send(b, httptest.NewRequest(http.MethodPost, acctIssuer+server.PathAccount, nil))
	if pr.Status != http.StatusMethodNotAllowed || pr.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /account: %d, Allow %q", pr.Status, pr.Header.Get("Allow"))
	}

	// The confirmation flag shows a fixed text; nothing of the query is
	// reflected.
	r = e.getAccount(b, server.PathAccount+"?removed=1&x=%3Cscript%3Ealert(1)%3C/script%3E")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `role="status"`) || !strings.Contains(r.Body, "Access removed.") {
		t.Errorf("no confirmation for ?removed=1: %d\n%s", r.Status, r.Body)
	}
	if strings.Contains(r.Body, "alert(1)") {
		t.Errorf("query reflected in the page")
	}

	// Bob sees his own.
	r = e.getAccount(e.signIn(t, f.bob), server.PathAccount)
	if !strings.Contains(r.Body, "Gamma Mail") || !strings.Contains(r.Body, "Alpha &lt;Photos&gt;") ||
		strings.Contains(r.Body, "Alice") || strings.Contains(r.Body, `value="beta"`) {
		t.Errorf("Bob's page:\n%s", r.Body)
	}
}

func TestAccountListsNoConsents(t *testing.T) {
	e := newAcctEnv(t)
	u := e.addUser(t, "u-dan", "dan", "", "")
	r := e.getAccount(e.signIn(t, u), server.PathAccount)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "No application has access to your account.") ||
		strings.Contains(r.Body, "<form") {
		t.Errorf("%d\n%s", r.Status, r.Body)
	}
}

func TestAccountRevoke(t *testing.T) {
	f := newAcctFixture(t)
	e := f.env
	b := e.signIn(t, f.alice)
	token := e.csrfToken(t, b)

	r := e.postRevoke(b, url.Values{"csrf_token": {token}, "client_id": {"alpha"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303:\n%s", r.Status, r.Body)
	}
	if loc := r.Header.Get("Location"); loc != server.PathAccount+"?removed=1" {
		t.Errorf("Location = %q", loc)
	}
	wantAcctPageHeaders(t, r)

	if e.hasConsent(t, f.alice.ID, "alpha") {
		t.Errorf("Alice's consent to alpha not removed")
	}
	if !e.revoked(t, f.aliceAlpha1) || !e.revoked(t, f.aliceAlpha2) {
		t.Errorf("Alice's refresh tokens at alpha not revoked")
	}
	// Nothing else changed: Alice's other application, Bob's consent and
	// tokens at the same client.
	if !e.hasConsent(t, f.alice.ID, "beta") || !e.hasConsent(t, f.bob.ID, "alpha") || !e.hasConsent(t, f.bob.ID, "gamma") {
		t.Errorf("other consents removed")
	}
	for name, h := range map[string][]byte{"alice@beta": f.aliceBeta, "bob@alpha": f.bobAlpha, "bob@gamma": f.bobGamma} {
		if e.revoked(t, h) {
			t.Errorf("%s revoked", name)
		}
	}

	// Back on the page: the confirmation, and alpha gone.
	page := e.getAccount(b, r.Header.Get("Location"))
	if !strings.Contains(page.Body, "Access removed.") || strings.Contains(page.Body, "Alpha") ||
		!strings.Contains(page.Body, `value="beta"`) {
		t.Errorf("page after removal:\n%s", page.Body)
	}

	// Removing again: the consent is gone, so 404, and nothing changes.
	r = e.postRevoke(b, url.Values{"csrf_token": {token}, "client_id": {"alpha"}})
	if r.Status != http.StatusNotFound {
		t.Errorf("second removal: %d, want 404", r.Status)
	}
}

func TestAccountRevokeCSRF(t *testing.T) {
	f := newAcctFixture(t)
	e := f.env
	b := e.signIn(t, f.alice)
	token := e.csrfToken(t, b)

	// Another browser's token (its own CSRF cookie).
	other := e.signIn(t, f.alice)
	otherToken := e.csrfToken(t, other)

	tests := []struct {
		name string
		form url.Values
		mods []func(*http.Request)
	}{
		{"missing token", url.Values{"client_id": {"alpha"}}, nil},
		{"empty token", url.Values{"csrf_token": {""}, "client_id": {"alpha"}}, nil},
		{"forged token", url.Values{"csrf_token": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "client_id": {"alpha"}}, nil},
		{"another browser's token", url.Values{"csrf_token": {otherToken}, "client_id": {"alpha"}}, nil},
		{"repeated token", url.Values{"csrf_token": {token, token}, "client_id": {"alpha"}}, nil},
		{"cross-site", url.Values{"csrf_token": {token}, "client_id": {"alpha"}},
			[]func(*http.Request){func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }}},
		{"foreign origin", url.Values{"csrf_token": {token}, "client_id": {"alpha"}},
			[]func(*http.Request){func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }}},
	}
	for _, tt := range tests {
		r := e.postRevoke(b, tt.form, tt.mods...)
		if r.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tt.name, r.Status)
		}
		if !strings.Contains(r.Body, "<h1>Request refused</h1>") || strings.Contains(r.Body, "Alpha") {
			t.Errorf("%s: body\n%s", tt.name, r.Body)
		}
		wantAcctPageHeaders(t, r)
	}
	// Without the CSRF cookie, the token is worthless.
	noCookie := &acctBrowser{cookies: map[string]*http.Cookie{authn.DefaultSessionCookie: b.cookies[authn.DefaultSessionCookie]}}
	if r := e.postRevoke(noCookie, url.Values{"csrf_token": {token}, "client_id": {"alpha"}}); r.Status != http.StatusForbidden {
		t.Errorf("no CSRF cookie: status %d, want 403", r.Status)
	}
	// GET is not a removal.
	r := e.send(b, httptest.NewRequest(http.MethodGet, acctIssuer+server.PathAccountRevoke+"?client_id=alpha&csrf_token="+url.QueryEscape(token), nil))
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q", r.Status, r.Header.Get("Allow"))
	}

	if !e.hasConsent(t, f.alice.ID, "alpha") {
		t.Errorf("consent removed by a refused request")
	}
	f.wantNoneRevoked(t)

	// The page's own token still works.
	if r := e.postRevoke(b, url.Values{"csrf_token": {token}, "client_id": {"alpha"}}); r.Status != http.StatusSeeOther {
		t.Errorf("valid token: status %d", r.Status)
	}
}

// A client_id the user holds no consent for is answered 404 and changes
// nothing, whether the client is unknown, consented to by someone else
// only, or not consented to at all; a missing or malformed one is 400.
func TestAccountRevokeNotOwnConsent(t *testing.T) {
	f := newAcctFixture(t)
	e := f.env
	e.addClient(t, "delta", "Delta")
	b := e.signIn(t, f.alice)
	token := e.csrfToken(t, b)

	for _, tt := range []struct {
		clientID []string
		status   int
	}{
		{[]string{"gamma"}, http.StatusNotFound},           // Bob's consent only
		{[]string{"delta"}, http.StatusNotFound},           // nobody's
		{[]string{"no-such"}, http.StatusNotFound},         // unknown client
		{[]string{"u-bob"}, http.StatusNotFound},           // a user ID, not a client
		{nil, http.StatusBadRequest},                       // missing
		{[]string{""}, http.StatusBadRequest},              // empty
		{[]string{"alpha", "beta"}, http.StatusBadRequest}, // repeated
		{[]string{strings.Repeat("x", 5000)}, http.StatusBadRequest},
	} {
		form := url.Values{"csrf_token": {token}}
		if tt.clientID != nil {
			form["client_id"] = tt.clientID
		}
		r := e.postRevoke(b, form)
		if r.Status != tt.status {
			t.Errorf("client_id %.20q: status %d, want %d", tt.clientID, r.Status, tt.status)
		}
		if strings.Contains(r.Body, "Gamma") || strings.Contains(r.Body, "Bob") || strings.Contains(r.Body, "<form") {
			t.Errorf("client_id %.20q: page leaks:\n%s", tt.clientID, r.Body)
		}
		wantAcctPageHeaders(t, r)
	}
	if !e.hasConsent(t, f.bob.ID, "gamma") || !e.hasConsent(t, f.bob.ID, "alpha") ||
		!e.hasConsent(t, f.alice.ID, "alpha") || !e.hasConsent(t, f.alice.ID, "beta") {
		t.Errorf("a consent was removed")
	}
	f.wantNoneRevoked(t)

	// Bob's own session removes his consent to alpha; Alice's stays.
	bb := e.signIn(t, f.bob)
	if r := e.postRevoke(bb, url.Values{"csrf_token": {e.csrfToken(t, bb)}, "client_id": {"alpha"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("Bob's removal: %d", r.Status)
	}
	if e.hasConsent(t, f.bob.ID, "alpha") || !e.hasConsent(t, f.alice.ID, "alpha") {
		t.Errorf("wrong consent removed")
	}
	if !e.revoked(t, f.bobAlpha) || e.revoked(t, f.aliceAlpha1) || e.revoked(t, f.aliceAlpha2) {
		t.Errorf("wrong refresh tokens revoked")
	}
}

// Refresh tokens are revoked before the consent is deleted: a failure of
// either write leaves the consent listed, and retrying completes.
func TestAccountRevokeFailureLeavesConsent(t *testing.T) {
	f := newAcctFixture(t)
	e := f.env
	b := e.signIn(t, f.alice)
	token := e.csrfToken(t, b)
	form := url.Values{"csrf_token": {token}, "client_id": {"alpha"}}

	e.Store.failRevoke.Store(true)
	r := e.postRevoke(b, form)
	e.Store.failRevoke.Store(false)
	if r.Status != http.StatusInternalServerError || strings.Contains(r.Body, errAcctInjected.Error()) {
		t.Errorf("revoke failure: %d\n%s", r.Status, r.Body)
	}
	if !e.hasConsent(t, f.alice.ID, "alpha") || e.revoked(t, f.aliceAlpha1) {
		t.Errorf("revoke failure changed something")
	}

	e.Store.failDelete.Store(true)
	r = e.postRevoke(b, form)
	e.Store.failDelete.Store(false)
	if r.Status != http.StatusInternalServerError {
		t.Errorf("delete failure: %d", r.Status)
	}
	if !e.hasConsent(t, f.alice.ID, "alpha") {
		t.Errorf("consent gone although its deletion failed")
	}
	if !e.revoked(t, f.aliceAlpha1) || !e.revoked(t, f.aliceAlpha2) {
		t.Errorf("tokens not revoked before the consent deletion")
	}
	if page := e.getAccount(b, server.PathAccount); !strings.Contains(page.Body, `value="alpha"`) {
		t.Errorf("consent no longer listed to retry with")
	}

	if r := e.postRevoke(b, form); r.Status != http.StatusSeeOther {
		t.Errorf("retry: %d", r.Status)
	}
	if e.hasConsent(t, f.alice.ID, "alpha") {
		t.Errorf("retry did not remove the consent")
	}
}
