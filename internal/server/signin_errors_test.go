package server_test

// Error paths of browser sign-in: the authorization endpoint (error page or
// redirect, RFC 6749 §4.1.2.1), the login form (wrong credentials,
// throttling, CSRF, sealed request), the authorization code and refresh
// token grants, UserInfo and RP-initiated logout.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
)

// wantErrorPage checks an error page: the status, HTML, no redirect.
func wantErrorPage(t testing.TB, p *page, status int) {
	t.Helper()
	if p.Status != status {
		t.Errorf("status = %d, want %d: %s", p.Status, status, p)
	}
	if p.Location != nil {
		t.Errorf("error page redirects to %s", p.Location)
	}
	if ct := p.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want an HTML page", ct)
	}
	if p.Kind() != pageError {
		t.Errorf("got a %s page, want an error page", p.Kind())
	}
}

// wantRedirectError checks an authorization error response (RFC 6749
// §4.1.2.1, RFC 9207): a 303 to the redirect URI with error, state and iss,
// and no code.
func wantRedirectError(t testing.TB, e *testEnv, p *page, redirectURI, code, state string) {
	t.Helper()
	q := e.redirectedTo(t, p, redirectURI)
	if got := q.Get("error"); got != code {
		t.Errorf("error = %q, want %q (%s)", got, code, q.Get("error_description"))
	}
	if got := q.Get("state"); got != state {
		t.Errorf("state = %q, want %q", got, state)
	}
	if got := q.Get("iss"); got != e.Issuer {
		t.Errorf("iss = %q, want %q", got, e.Issuer)
	}
	if q.Has("code") {
		t.Errorf("an error response carries a code: %s", p.Location)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	e.addConfidential(t, "webapp", webApp(redirect))
	e.addPublic(t, "native", webApp(redirect))
	e.addConfidential(t, "two-uris", webApp(redirect, cb.URL+"/other"))
	e.addConfidential(t, "nocode", webApp(redirect), withGrants("client_credentials"))

	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	valid := func() url.Values {
		return url.Values{
			"response_type":         {"code"},
			"client_id":             {"webapp"},
			"redirect_uri":          {redirect},
			"scope":                 {"openid profile"},
			"state":                 {"st-1"},
			"nonce":                 {"n-1"},
			"code_challenge":        {challenge},
			"code_challenge_method": {"S256"},
		}
	}
	tests := []struct {
		name   string
		change func(q url.Values)
		raw    string // appended to the query as is
		// page is the status of an error page; zero means a redirect
		// with the error code.
		page int
		code string
	}{
		// Before the client and redirect URI are known good: a page.
		{name: "unknown client", change: func(q url.Values) { q.Set("client_id", "nobody") }, page: 400},
		{name: "no client_id", change: func(q url.Values) { q.Del("client_id") }, page: 400},
		{name: "redirect_uri of another site", change: func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }, page: 400},
		{name: "redirect_uri with another path", change: func(q url.Values) { q.Set("redirect_uri", cb.URL+"/callback/x") }, page: 400},
		{name: "redirect_uri with a query added", change: func(q url.Values) { q.Set("redirect_uri", redirect+"?next=/") }, page: 400},
		{name: "redirect_uri on localhost", change: func(q url.Values) {
			q.Set("redirect_uri", strings.Replace(redirect, "127.0.0.1", "localhost", 1))
		}, page: 400},
		{name: "no redirect_uri, several registered", change: func(q url.Values) { q.Set("client_id", "two-uris"); q.Del("redirect_uri") }, page: 400},
		{name: "repeated parameter", raw: "&scope=openid", page: 400},
		{name: "repeated client_id", raw: "&client_id=webapp", page: 400},
		// Afterwards: back to the client.
		{name: "no response_type", change: func(q url.Values) { q.Del("response_type") }, code: oauth.CodeInvalidRequest},
		{name: "response_type=token", change: func(q url.Values) { q.Set("response_type", "token") }, code: oauth.CodeUnsupportedResponseType},
		{name: "response_type=code id_token", change: func(q url.Values) { q.Set("response_type", "code id_token") }, code: oauth.CodeUnsupportedResponseType},
		{name: "client without the code grant", change: func(q url.Values) { q.Set("client_id", "nocode") }, code: oauth.CodeUnauthorizedClient},
		{name: "scope beyond the client's", change: func(q url.Values) { q.Set("scope", "openid phone") }, code: oauth.CodeInvalidScope},
		{name: "no scope", change: func(q url.Values) { q.Del("scope") }, code: oauth.CodeInvalidScope},
		{name: "public client without PKCE", change: func(q url.Values) {
			q.Set("client_id", "native")
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		}, code: oauth.CodeInvalidRequest},
		{name: "code_challenge_method=plain", change: func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", strings.Repeat("a", 43))
		}, code: oauth.CodeInvalidRequest},
		{name: "code_challenge without method", change: func(q url.Values) { q.Del("code_challenge_method") }, code: oauth.CodeInvalidRequest},
		{name: "malformed code_challenge", change: func(q url.Values) { q.Set("code_challenge", "short") }, code: oauth.CodeInvalidRequest},
		{name: "request object", change: func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, code: "invalid_request_object"},
		{name: "request_uri", change: func(q url.Values) { q.Set("request_uri", "https://client.example/req/1") }, code: "request_uri_not_supported"},
		{name: "unknown prompt", change: func(q url.Values) { q.Set("prompt", "maybe") }, code: oauth.CodeInvalidRequest},
		{name: "prompt=none with login", change: func(q url.Values) { q.Set("prompt", "none login") }, code: oauth.CodeInvalidRequest},
		{name: "negative max_age", change: func(q url.Values) { q.Set("max_age", "-1") }, code: oauth.CodeInvalidRequest},
		{name: "response_mode=fragment", change: func(q url.Values) { q.Set("response_mode", "fragment") }, code: oauth.CodeInvalidRequest},
		{name: "prompt=none without a session", change: func(q url.Values) { q.Set("prompt", "none") }, code: "login_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := valid()
			if tc.change != nil {
				tc.change(q)
			}
			u := e.url(server.PathAuthorize) + "?" + q.Encode() + tc.raw
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				b := e.newBrowser(t)
				var p *page
				if method == http.MethodGet {
					p = b.get(t, u)
				} else {
					body := q.Encode() + tc.raw
					p = b.postForm(t, server.PathAuthorize, mustParseQuery(t, body))
				}
				if tc.page != 0 {
					wantErrorPage(t, p, tc.page)
					continue
				}
				wantRedirectError(t, e, p, redirect, tc.code, "st-1")
			}
		})
	}

	// With a session: errors that depend on the user.
	alice := user{Username: "alice", Password: alicePassword}
	b := e.newBrowser(t)
	rp := e.newRP(t, "webapp", "", redirect, scopeOpenID, scopeProfile)
	t.Run("prompt=none when consent is needed", func(t *testing.T) {
		// Sign in without consenting: deny.
		r := rp.authorize()
		seen, p := b.run(t, r.URL, user{Username: alice.Username, Password: alice.Password, Deny: true})
		if len(seen) != 2 || seen[1] != pageConsent {
			t.Fatalf("pages %v, want [login consent]", seen)
		}
		wantRedirectError(t, e, p, redirect, oauth.CodeAccessDenied, r.State)
		// Signed in now, but without consent.
		r = rp.authorize(oauth2.SetAuthURLParam("prompt", "none"))
		wantRedirectError(t, e, b.get(t, r.URL), redirect, "consent_required", r.State)
	})
	t.Run("prompt=none when max_age needs a new login", func(t *testing.T) {
		r := rp.authorize(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("max_age", "0"))
		wantRedirectError(t, e, b.get(t, r.URL), redirect, "login_required", r.State)
	})
	t.Run("deny on consent", func(t *testing.T) {
		r := rp.authorize()
		p := b.get(t, r.URL)
		p = b.consent(t, p, "deny")
		wantRedirectError(t, e, p, redirect, oauth.CodeAccessDenied, r.State)
		if _, err := e.Store.GetConsent(context.Background(), "u-alice", "webapp"); err == nil {
			t.Error("a denied consent was stored")
		}
	})
	t.Run("consent without a decision", func(t *testing.T) {
		p := b.get(t, rp.authorize().URL)
		p.want(t, pageConsent)
		wantErrorPage(t, b.submit(t, p, url.Values{"decision": {"maybe"}}), http.StatusBadRequest)
	})
}

func mustParseQuery(t testing.TB, s string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

const wrongCredentials = "The username or password is not correct."

func TestSignInLoginErrors(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	e.addUser(t, "u-bob", "bob", bobPassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	t.Run("wrong credentials", func(t *testing.T) {
		for _, tc := range []struct{ name, username, password string }{
			{"wrong password", "alice", "not the password"},
			{"unknown user", "nobody", "not the password"},
			{"username in another case, wrong password", "ALICE", "not the password"},
			{"empty password", "alice", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.newBrowser(t)
				p := b.get(t, rp.authorize().URL)
				p = b.login(t, p, tc.username, tc.password)
				if p.Status != http.StatusUnauthorized || p.Kind() != pageLogin {
					t.Fatalf("got %s, want the login page with 401", p)
				}
				if got := p.Alert(); got != wrongCredentials {
					t.Errorf("message = %q, want %q", got, wrongCredentials)
				}
				if b.cookie(authn.DefaultSessionCookie) != "" {
					t.Error("a session cookie was set")
				}
			})
		}
	})

	t.Run("delayed, then refused, after 5 failures", func(t *testing.T) {
		b := e.newBrowser(t)
		p := b.get(t, rp.authorize().URL)
		// Five free failures, then delays of 1, 2 and 4 s, waited out on
		// the server (the test's clock), then a refusal: 8 s is more than
		// the server waits.
		for i := 1; i <= 8; i++ {
			p = b.login(t, p, "bob", "wrong password "+strconv.Itoa(i))
			if p.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: got %s, want 401", i, p)
			}
		}
		for _, pw := range []string{"wrong password 9", bobPassword} {
			p = b.login(t, p, "bob", pw)
			if p.Status != http.StatusTooManyRequests || p.Kind() != pageLogin {
				t.Fatalf("got %s, want the login page with 429", p)
			}
			ra, err := strconv.Atoi(p.Header.Get("Retry-After"))
			if err != nil || ra <= 0 || ra > int(authn.DefaultMaxDelay/time.Second) {
				t.Errorf("Retry-After = %q, want seconds within the longest delay", p.Header.Get("Retry-After"))
			}
			if !strings.Contains(p.Alert(), "Too many failed attempts") {
				t.Errorf("message = %q", p.Alert())
			}
		}
		if b.cookie(authn.DefaultSessionCookie) != "" {
			t.Error("a throttled sign-in set a session cookie")
		}
		// Another account is not delayed.
		p = b.login(t, p, "alice", alicePassword)
		p.want(t, pageConsent)
	})

	t.Run("CSRF", func(t *testing.T) {
		headers := func(kv ...string) func(url.Values, http.Header) {
			return func(_ url.Values, h http.Header) {
				for i := 0; i < len(kv); i += 2 {
					h.Set(kv[i], kv[i+1])
				}
			}
		}
		for _, tc := range []struct {
			name   string
			change func(form url.Values, h http.Header)
			ok     bool // the form is accepted
		}{
			{name: "no token", change: func(f url.Values, _ http.Header) { f.Del(authn.CSRFField) }},
			{name: "forged token", change: func(f url.Values, _ http.Header) {
				f.Set(authn.CSRFField, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
			}},
			{name: "token of another browser"}, // set below
			{name: "foreign Origin", change: headers("Origin", "https://evil.example")},
			{name: "cross-site fetch", change: headers("Sec-Fetch-Site", "cross-site")},
			{name: "same-site fetch", change: headers("Sec-Fetch-Site", "same-site")},
			{name: "Origin null, cross-site", change: headers("Origin", "null", "Sec-Fetch-Site", "cross-site")},
			{name: "Origin null, no Sec-Fetch-Site", change: headers("Origin", "null")},
			// What browsers send from the login page: its Referrer-Policy
			// no-referrer makes the Origin of its own form post "null".
			{name: "Origin null, same-origin (as browsers post)", change: headers("Origin", "null", "Sec-Fetch-Site", "same-origin"), ok: true},
			{name: "own Origin, same-origin", change: func(_ url.Values, h http.Header) {
				h.Set("Origin", e.Issuer)
				h.Set("Sec-Fetch-Site", "same-origin")
			}, ok: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.newBrowser(t)
				p := b.get(t, rp.authorize().URL)
				p.want(t, pageLogin)
				form := url.Values{"username": {"alice"}, "password": {alicePassword}}
				for k, v := range p.Hidden {
					form[k] = v
				}
				change := tc.change
				if change == nil {
					other := e.newBrowser(t).get(t, rp.authorize().URL)
					change = func(f url.Values, _ http.Header) { f.Set(authn.CSRFField, other.Hidden.Get(authn.CSRFField)) }
				}
				h := http.Header{"Content-Type": {formType}}
				change(form, h)
				req, err := http.NewRequest(http.MethodPost, e.url(server.PathLogin), strings.NewReader(form.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header = h
				p = b.do(t, req)
				if tc.ok {
					p.want(t, pageConsent)
					return
				}
				wantErrorPage(t, p, http.StatusForbidden)
				if b.cookie(authn.DefaultSessionCookie) != "" {
					t.Error("a refused form set a session cookie")
				}
			})
		}
	})

	t.Run("GET /login", func(t *testing.T) {
		p := e.newBrowser(t).get(t, server.PathLogin)
		wantErrorPage(t, p, http.StatusMethodNotAllowed)
		if got := p.Header.Get("Allow"); got != http.MethodPost {
			t.Errorf("Allow = %q", got)
		}
	})

	t.Run("tampered sealed request", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			change func(string) string
		}{
			{"flipped character", func(s string) string {
				c := byte('A')
				if s[10] == 'A' {
					c = 'B'
				}
				return s[:10] + string(c) + s[11:]
			}},
			{"truncated", func(s string) string { return s[:len(s)-4] }},
			{"empty", func(string) string { return "" }},
			{"not base64", func(string) string { return "!!!" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.newBrowser(t)
				p := b.get(t, rp.authorize().URL)
				p.Hidden.Set("request", tc.change(p.Hidden.Get("request")))
				p = b.login(t, p, "alice", alicePassword)
				wantErrorPage(t, p, http.StatusBadRequest)
				if b.cookie(authn.DefaultSessionCookie) != "" {
					t.Error("a session was started for a tampered request")
				}
			})
		}
	})
}

// TestSignInExpiredRequest lets a sign-in take longer than authz.Timeout.
func TestSignInExpiredRequest(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	b := e.newBrowser(t)
	p := b.get(t, rp.authorize().URL)
	p.want(t, pageLogin)
	e.Clock.Advance(authz.Timeout + time.Minute)
	p = b.login(t, p, "alice", alicePassword)
	wantErrorPage(t, p, http.StatusBadRequest)
	if !strings.Contains(p.Body, "took too long") {
		t.Errorf("the page does not say the sign-in expired:\n%s", p.Body)
	}
	if b.cookie(authn.DefaultSessionCookie) != "" {
		t.Error("a session was started for an expired request")
	}
}

// codeEnv is a signed-in browser with consent given to two confidential
// clients, ready to get codes.
type codeEnv struct {
	*testEnv
	redirect string
	b        *browser
	web      *relyingParty // client "webapp"
	other    *relyingParty // client "otherapp"
	secrets  map[string]string
}

func newCodeEnv(t *testing.T) *codeEnv {
	t.Helper()
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	ce := &codeEnv{testEnv: e, redirect: redirect, b: e.newBrowser(t), secrets: map[string]string{}}
	for _, id := range []string{"webapp", "otherapp"} {
		ce.secrets[id] = e.addConfidential(t, id, webApp(redirect), withPostLogout(redirect+"/signed-out/"+id))
	}
	ce.web = e.newRP(t, "webapp", ce.secrets["webapp"], redirect, webScopes...)
	ce.other = e.newRP(t, "otherapp", ce.secrets["otherapp"], redirect, webScopes...)
	alice := user{Username: "alice", Password: alicePassword}
	ce.web.signIn(t, e, ce.b, alice)
	ce.other.signIn(t, e, ce.b, alice)
	return ce
}

// code gets a code for rp without any page (signed in, consented).
func (ce *codeEnv) code(t testing.TB, rp *relyingParty, opts ...oauth2.AuthCodeOption) (string, authRequest) {
	t.Helper()
	r := rp.authorize(opts...)
	p := ce.b.get(t, r.URL)
	return ce.callback(t, p, ce.redirect, r.State), r
}

// redeem posts an authorization_code token request as client id.
func (ce *codeEnv) redeem(t testing.TB, id string, form url.Values) *response {
	t.Helper()
	form.Set("grant_type", "authorization_code")
	return ce.post(t, server.PathToken, form, basic(id, ce.secrets[id]))
}

// refreshAs posts a refresh_token token request as client id.
func (ce *codeEnv) refreshAs(t testing.TB, id, refreshToken string, extra url.Values) *response {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	for k, v := range extra {
		form[k] = v
	}
	return ce.post(t, server.PathToken, form, basic(id, ce.secrets[id]))
}

type userTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

func decodeTokens(t testing.TB, r *response) userTokens {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("token request: %s", r)
	}
	var tok userTokens
	decodeJSON(t, r.Body, &tok)
	return tok
}

// tokens gets fresh tokens for webapp (scope as asked, or every web scope).
func (ce *codeEnv) tokens(t testing.TB, scope string) userTokens {
	t.Helper()
	var opts []oauth2.AuthCodeOption
	if scope != "" {
		opts = append(opts, oauth2.SetAuthURLParam("scope", scope))
	}
	code, r := ce.code(t, ce.web, opts...)
	return decodeTokens(t, ce.redeem(t, "webapp", url.Values{"code": {code}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}))
}

func TestSignInCodeErrors(t *testing.T) {
	ce := newCodeEnv(t)
	// withoutPKCE asks for a code without code_challenge.
	withoutPKCE := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", ""), oauth2.SetAuthURLParam("code_challenge_method", "")}

	tests := []struct {
		name   string
		noPKCE bool
		client string // who redeems; webapp by default
		form   func(code string, r authRequest) url.Values
		status int
		err    string // OAuth error code; empty means success
	}{
		{name: "valid", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}
		}, status: 200},
		{name: "valid without PKCE", noPKCE: true, form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}}
		}, status: 200},
		{name: "wrong redirect_uri", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect + "/x"}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "loopback redirect_uri with another port", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {"http://127.0.0.1:1/callback"}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "no redirect_uri", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "missing code_verifier", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "wrong code_verifier", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}, "code_verifier": {oauth2.GenerateVerifier()}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "code_verifier is the challenge", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}, "code_verifier": {oauth2.S256ChallengeFromVerifier(r.Verifier)}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "code_verifier without code_challenge", noPKCE: true, form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "code of another client", client: "otherapp", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {c}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "unknown code", form: func(c string, r authRequest) url.Values {
			return url.Values{"code": {"x" + c}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidGrant},
		{name: "no code", form: func(c string, r authRequest) url.Values {
			return url.Values{"redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}
		}, status: 400, err: oauth.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			if tc.noPKCE {
				opts = withoutPKCE
			}
			code, r := ce.code(t, ce.web, opts...)
			if tc.noPKCE {
				r.Verifier = oauth2.GenerateVerifier()
			}
			client := tc.client
			if client == "" {
				client = "webapp"
			}
			resp := ce.redeem(t, client, tc.form(code, r))
			if tc.err == "" {
				if cc, pragma := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || pragma != "no-cache" {
					t.Errorf("Cache-Control %q, Pragma %q: want no-store, no-cache", cc, pragma)
				}
				tok := decodeTokens(t, resp)
				if tok.AccessToken == "" || tok.IDToken == "" || tok.RefreshToken == "" {
					t.Errorf("incomplete token response %s", resp.Body)
				}
				return
			}
			wantOAuthError(t, resp, tc.status, tc.err)
		})
	}

	// RFC 6749 §4.1.3: redirect_uri is required at the token endpoint only
	// when the authorization request included it. A client with one
	// registered URI may omit it in both.
	t.Run("redirect_uri omitted in both requests", func(t *testing.T) {
		omit := oauth2.SetAuthURLParam("redirect_uri", "")
		code, r := ce.code(t, ce.web, omit)
		resp := ce.redeem(t, "webapp", url.Values{"code": {code}, "code_verifier": {r.Verifier}})
		if tok := decodeTokens(t, resp); tok.AccessToken == "" {
			t.Fatalf("no access token: %s", resp.Body)
		}
		code, r = ce.code(t, ce.web, omit)
		wantOAuthError(t, ce.redeem(t, "webapp", url.Values{"code": {code}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}),
			http.StatusBadRequest, oauth.CodeInvalidGrant)
	})

	t.Run("code reuse revokes what the first use issued", func(t *testing.T) {
		code, r := ce.code(t, ce.web)
		form := url.Values{"code": {code}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}}
		first := decodeTokens(t, ce.redeem(t, "webapp", form))
		introspector := basic("webapp", ce.secrets["webapp"])
		resp, in := ce.introspect(t, first.AccessToken, introspector)
		if in["active"] != true {
			t.Fatalf("the first access token is not active: %s", resp)
		}

		wantOAuthError(t, ce.redeem(t, "webapp", form), http.StatusBadRequest, oauth.CodeInvalidGrant)

		resp, in = ce.introspect(t, first.AccessToken, introspector)
		wantInactive(t, resp, in)
		wantOAuthError(t, ce.refreshAs(t, "webapp", first.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
		// A third attempt is refused too.
		wantOAuthError(t, ce.redeem(t, "webapp", form), http.StatusBadRequest, oauth.CodeInvalidGrant)
	})
}

// TestSignInCodeExpires redeems a code after its 60 s lifetime.
func TestSignInCodeExpires(t *testing.T) {
	ce := newCodeEnv(t)
	for _, tc := range []struct {
		name    string
		advance time.Duration
		status  int
	}{
		{"within the lifetime", 50 * time.Second, http.StatusOK},
		{"past the lifetime", 61 * time.Second, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, r := ce.code(t, ce.web)
			ce.Clock.Advance(tc.advance)
			resp := ce.redeem(t, "webapp", url.Values{"code": {code}, "redirect_uri": {ce.redirect}, "code_verifier": {r.Verifier}})
			if tc.status == http.StatusOK {
				decodeTokens(t, resp)
				return
			}
			wantOAuthError(t, resp, tc.status, oauth.CodeInvalidGrant)
		})
	}
}

func TestRefreshErrors(t *testing.T) {
	ce := newCodeEnv(t)

	t.Run("reuse revokes the family", func(t *testing.T) {
		first := ce.tokens(t, "")
		second := decodeTokens(t, ce.refreshAs(t, "webapp", first.RefreshToken, nil))
		if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
			t.Fatalf("not rotated: %q", second.RefreshToken)
		}
		wantOAuthError(t, ce.refreshAs(t, "webapp", first.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
		// The newest token of the family is revoked too.
		wantOAuthError(t, ce.refreshAs(t, "webapp", second.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
	})

	t.Run("concurrent refresh: exactly one success", func(t *testing.T) {
		tok := ce.tokens(t, "")
		const n = 8
		results := make([]*response, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
				req := ce.request(t, http.MethodPost, server.PathToken, formType, form.Encode())
				basic("webapp", ce.secrets["webapp"])(req)
				resp, err := ce.Client.Do(req)
				if err != nil {
					t.Errorf("refresh %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Errorf("refresh %d: read body: %v", i, err)
					return
				}
				results[i] = &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, r := range results {
			if r == nil {
				continue
			}
			if r.Status == http.StatusOK {
				ok++
				continue
			}
			t.Run("loser "+strconv.Itoa(i), func(t *testing.T) {
				wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeInvalidGrant)
			})
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent refreshes succeeded, want exactly 1", ok, n)
		}
	})

	t.Run("broader scope", func(t *testing.T) {
		tok := ce.tokens(t, "openid email offline_access")
		for _, scope := range []string{"openid profile", "openid email offline_access phone", "openid email offline_access profile"} {
			wantOAuthError(t, ce.refreshAs(t, "webapp", tok.RefreshToken, url.Values{"scope": {scope}}), http.StatusBadRequest, oauth.CodeInvalidScope)
		}
		// The refused requests did not use the token up.
		decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, nil))
	})

	t.Run("narrower scope keeps the refresh token's scope", func(t *testing.T) {
		// RFC 6749 §6: a new refresh token has the scope of the one
		// presented, whatever the access token was narrowed to.
		tok := ce.tokens(t, "")
		narrow := decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, url.Values{"scope": {"openid email"}}))
		if narrow.Scope != "openid email" {
			t.Errorf("narrowed scope = %q, want %q", narrow.Scope, "openid email")
		}
		if c, _ := verifyAccessToken(t, ce.testEnv, narrow.AccessToken, ce.Issuer); c.Scope != "openid email" {
			t.Errorf("narrowed access token scope = %q", c.Scope)
		}
		if narrow.RefreshToken == "" {
			t.Fatal("no new refresh token after a narrowed refresh")
		}
		full := decodeTokens(t, ce.refreshAs(t, "webapp", narrow.RefreshToken, nil))
		if want := strings.Join(webScopes, " "); full.Scope != want {
			t.Errorf("scope after the narrowed refresh = %q, want the original %q", full.Scope, want)
		}
	})

	t.Run("another client", func(t *testing.T) {
		tok := ce.tokens(t, "")
		wantOAuthError(t, ce.refreshAs(t, "otherapp", tok.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
		// The refused attempt did not revoke the owner's token.
		decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, nil))
	})

	t.Run("unknown token", func(t *testing.T) {
		wantOAuthError(t, ce.refreshAs(t, "webapp", "writ_rt_nothing", nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
	})

	t.Run("no refresh_token", func(t *testing.T) {
		wantOAuthError(t, ce.refreshAs(t, "webapp", "", nil), http.StatusBadRequest, oauth.CodeInvalidRequest)
	})

	t.Run("no offline_access, no refresh token", func(t *testing.T) {
		if tok := ce.tokens(t, "openid profile"); tok.RefreshToken != "" {
			t.Error("a refresh token was issued without offline_access")
		}
	})
}

func TestUserInfoErrors(t *testing.T) {
	ce := newCodeEnv(t)
	ccSecret := ce.addConfidential(t, "machine", withScopes(scopeOpenID, scopeRead))
	cc := ce.token(t, "machine", ccSecret, url.Values{"scope": {"openid " + scopeRead}})
	userTok := ce.tokens(t, "openid email")
	noOpenID := ce.tokens(t, "email")

	tests := []struct {
		name      string
		auth      string
		status    int
		challenge string
	}{
		{"client credentials token", "Bearer " + cc.AccessToken, http.StatusUnauthorized,
			`Bearer realm="writ", error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
		{"garbage token", "Bearer abc.def.ghi", http.StatusUnauthorized,
			`Bearer realm="writ", error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
		{"no token", "", http.StatusUnauthorized, `Bearer realm="writ"`},
		{"token without openid", "Bearer " + noOpenID.AccessToken, http.StatusForbidden,
			`Bearer realm="writ", error="insufficient_scope", error_description="the access token lacks the openid scope", scope="openid"`},
		{"user token", "Bearer " + userTok.AccessToken, http.StatusOK, ""},
	}
	for _, tc := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				req := ce.request(t, method, server.PathUserInfo, "", "")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp := ce.do(t, req)
				if resp.Status != tc.status {
					t.Fatalf("status = %d, want %d: %s", resp.Status, tc.status, resp)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q", cc)
				}
			})
		}
	}
}

func TestLogoutErrors(t *testing.T) {
	ce := newCodeEnv(t)
	tok := ce.tokens(t, "")
	ccSecret := ce.addConfidential(t, "machine", withScopes(scopeOpenID))
	cc := ce.token(t, "machine", ccSecret, nil)

	tests := []struct {
		name   string
		params url.Values
	}{
		{"unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {tok.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}}},
		{"post_logout_redirect_uri of another client", url.Values{"client_id": {"otherapp"}, "post_logout_redirect_uri": {ce.redirect + "/signed-out/webapp"}}},
		{"post_logout_redirect_uri without a client", url.Values{"post_logout_redirect_uri": {ce.redirect + "/signed-out/webapp"}}},
		{"client_id not the hint's audience", url.Values{"id_token_hint": {tok.IDToken}, "client_id": {"otherapp"}}},
		{"access token as id_token_hint", url.Values{"id_token_hint": {cc.AccessToken}}},
		{"garbage id_token_hint", url.Values{"id_token_hint": {"a.b.c"}}},
		{"unknown client", url.Values{"client_id": {"nobody"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ce.b.get(t, server.PathEndSession+"?"+tc.params.Encode())
			wantErrorPage(t, p, http.StatusBadRequest)
			if ce.b.cookie(authn.DefaultSessionCookie) == "" {
				t.Error("a refused logout request ended the session")
			}
		})
	}
}
