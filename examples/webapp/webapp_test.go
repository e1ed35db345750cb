package main

// End to end: a real writ (started as `writ serve` starts it, TLS with a
// test CA, on loopback ports), the example app on its own TLS listener,
// and a scripted browser with a cookie jar that signs in by posting writ's
// login and consent forms.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/testcert"
)

type writNode struct {
	issuer, admin, adminToken string
	client                    *http.Client
}

func startWrit(t *testing.T, dir, caFile, certFile, keyFile string) *writNode {
	t.Helper()
	env := map[string]string{
		"WRIT_MODE":          "development",
		"WRIT_DATA_DIR":      filepath.Join(dir, "data"),
		"WRIT_ADDR":          "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":    "127.0.0.1:0",
		"WRIT_TLS_CERT_FILE": certFile,
		"WRIT_TLS_KEY_FILE":  keyFile,
		"WRIT_LOG_LEVEL":     "warn",
	}
	a := apptest.Start(t, env, app.Options{})
	w := &writNode{
		issuer: a.Issuer, admin: "http://" + a.AdminAddr().String(), adminToken: a.AdminToken,
		client: &http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testcert.Pool(t, caFile), MinVersion: tls.VersionTLS12}},
			Timeout:   30 * time.Second,
		},
	}
	t.Cleanup(w.client.CloseIdleConnections)
	return w
}

// adminPost posts body to the admin API and decodes the 201 answer.
func (w *writNode) adminPost(t *testing.T, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, w.admin+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+w.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin POST %s: %d %s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

var (
	formRe   = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// browser is a user agent with a cookie jar that trusts the test CA.
type browser struct {
	c *http.Client
}

type page struct {
	url    *url.URL
	status int
	body   string
	header http.Header
}

func (b *browser) do(t *testing.T, req *http.Request) *page {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &page{url: resp.Request.URL, status: resp.StatusCode, body: string(body), header: resp.Header}
}

func (b *browser) get(t *testing.T, u string) *page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(t, req)
}

// post posts a form as a browser does from a page of origin.
func (b *browser) post(t *testing.T, u, origin string, form url.Values) *page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	return b.do(t, req)
}

// submit posts the writ form of p with its hidden inputs plus fields.
func (b *browser) submit(t *testing.T, p *page, fields url.Values) *page {
	t.Helper()
	m := formRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form at %s: %.1500s", p.url, p.body)
	}
	form := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(p.body, -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, v := range fields {
		form[k] = v
	}
	action, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return b.post(t, action.String(), "", form)
}

type fixture struct {
	writ    *writNode
	clock   *clocktest.Clock // the sessions' clock: real time plus an offset
	appURL  string
	user    struct{ id, username, password, name, email string }
	newUser func() *browser
}

func setup(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := testcert.Write(t, dir)
	w := startWrit(t, dir, caFile, certFile, keyFile)
	f := &fixture{writ: w, clock: clocktest.Real()}
	f.user.username, f.user.password = "alice", "webapp "+rand.Text()
	f.user.name, f.user.email = "Alice Liddell", "alice@example.com"
	var u struct {
		ID string `json:"id"`
	}
	w.adminPost(t, "/admin/users", map[string]any{
		"username": f.user.username, "password": f.user.password,
		"email": f.user.email, "email_verified": true, "name": f.user.name,
	}, &u)
	f.user.id = u.ID

	// The app's listener first: its port goes into the redirect URI.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.appURL = "https://" + ln.Addr().String()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	w.adminPost(t, "/admin/clients", map[string]any{
		"client_name":   "example webapp",
		"redirect_uris": []string{f.appURL + "/callback"},
		"grant_types":   []string{"authorization_code"},
		"scope":         "openid profile email",
	}, &c)

	a, err := New(t.Context(), Config{
		IssuerURL: w.issuer, ClientID: c.ID, ClientSecret: c.Secret, AppURL: f.appURL,
		SessionKey: []byte(rand.Text() + rand.Text()), HTTPClient: w.client,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Now:    f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	f.newUser = func() *browser {
		jar, _ := cookiejar.New(nil)
		return &browser{c: &http.Client{Transport: w.client.Transport, Jar: jar, Timeout: 30 * time.Second}}
	}
	return f
}

// signIn runs the whole sign-in from the app's home page and returns the
// signed-in home page.
func (f *fixture) signIn(t *testing.T, b *browser) *page {
	t.Helper()
	home := b.get(t, f.appURL+"/")
	if !strings.Contains(home.body, `href="/login"`) {
		t.Fatalf("home before sign-in: %d %.500s", home.status, home.body)
	}
	p := b.get(t, f.appURL+"/login")
	for range 6 {
		if !strings.HasPrefix(p.url.String(), f.writ.issuer) {
			break
		}
		switch {
		case strings.Contains(p.body, `name="password"`):
			p = b.submit(t, p, url.Values{"username": {f.user.username}, "password": {f.user.password}})
		case strings.Contains(p.body, `name="decision"`) || strings.Contains(p.body, `value="approve"`):
			p = b.submit(t, p, url.Values{"decision": {"approve"}})
		default:
			t.Fatalf("unexpected writ page %s: %d %.1500s", p.url, p.status, p.body)
		}
	}
	if p.status != http.StatusOK || p.url.String() != f.appURL+"/" {
		t.Fatalf("after sign-in: %d at %s: %.500s", p.status, p.url, p.body)
	}
	return p
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func TestSignInAndOut(t *testing.T) {
	f := setup(t)
	b := f.newUser()
	home := f.signIn(t, b)
	if !strings.Contains(home.body, `<strong id="user">`+f.user.name+`</strong>`) ||
		!strings.Contains(home.body, `<code id="sub">`+f.user.id+`</code>`) {
		t.Fatalf("home after sign-in does not show the user: %.1000s", home.body)
	}
	appURL, _ := url.Parse(f.appURL)
	var session *http.Cookie
	for _, c := range b.c.Jar.Cookies(appURL) {
		switch c.Name {
		case "__Host-session":
			session = c
		case loginCookie:
			t.Errorf("the login cookie outlived the callback")
		}
	}
	if session == nil {
		t.Fatal("no session cookie in the jar")
	}
	m := csrfRe.FindStringSubmatch(home.body)
	if m == nil {
		t.Fatal("no CSRF token on the home page")
	}
	csrf := html.UnescapeString(m[1])

	// Logout without the CSRF token, or from another origin, is refused.
	p := b.post(t, f.appURL+"/logout", f.appURL, url.Values{})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "CSRF token") {
		t.Fatalf("logout without CSRF: %d %s", p.status, p.body)
	}
	req, _ := http.NewRequest(http.MethodPost, f.appURL+"/logout", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.do(t, req); p.status != http.StatusForbidden || !strings.Contains(p.body, "cross-origin") {
		t.Fatalf("cross-origin logout: %d %s", p.status, p.body)
	}
	if p := b.get(t, f.appURL+"/"); !strings.Contains(p.body, f.user.name) {
		t.Fatal("a refused logout signed the user out")
	}

	// With the token: signed out, and the cookie is gone.
	p = b.post(t, f.appURL+"/logout", f.appURL, url.Values{"csrf_token": {csrf}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `href="/login"`) {
		t.Fatalf("after logout: %d %.500s", p.status, p.body)
	}
	for _, c := range b.c.Jar.Cookies(appURL) {
		if c.Name == "__Host-session" {
			t.Error("the session cookie survived the logout")
		}
	}
	// Logout without a session: 401.
	if p := b.post(t, f.appURL+"/logout", f.appURL, url.Values{}); p.status != http.StatusUnauthorized {
		t.Errorf("logout without a session: %d", p.status)
	}
}

func TestCallbackRefusals(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name string
		// prepare runs the first half of a sign-in (or not) and returns
		// the callback URL to open.
		prepare func(t *testing.T, b *browser) string
		want    int
	}{
		{"no login cookie", func(t *testing.T, b *browser) string {
			return f.appURL + "/callback?code=x&state=y"
		}, http.StatusBadRequest},
		{"wrong state", func(t *testing.T, b *browser) string {
			f.startLogin(t, b)
			return f.appURL + "/callback?code=x&state=forged"
		}, http.StatusBadRequest},
		{"wrong issuer", func(t *testing.T, b *browser) string {
			state := f.startLogin(t, b)
			return f.appURL + "/callback?code=x&iss=https%3A%2F%2Fevil.example&state=" + url.QueryEscape(state)
		}, http.StatusBadRequest},
		{"provider error", func(t *testing.T, b *browser) string {
			state := f.startLogin(t, b)
			return f.appURL + "/callback?error=access_denied&state=" + url.QueryEscape(state)
		}, http.StatusForbidden},
		{"forged code", func(t *testing.T, b *browser) string {
			state := f.startLogin(t, b)
			return f.appURL + "/callback?code=forged&state=" + url.QueryEscape(state)
		}, http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := f.newUser()
			p := b.get(t, tc.prepare(t, b))
			if p.status != tc.want {
				t.Fatalf("callback: %d %s, want %d", p.status, p.body, tc.want)
			}
			u, _ := url.Parse(f.appURL)
			for _, c := range b.c.Jar.Cookies(u) {
				if c.Name == "__Host-session" {
					t.Error("a refused callback started a session")
				}
			}
		})
	}
}

// startLogin opens /login without following the redirect to writ and
// returns the state of the authorization request.
func (f *fixture) startLogin(t *testing.T, b *browser) string {
	t.Helper()
	c := *b.c
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(f.appURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("/login: %d without a redirect", resp.StatusCode)
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" {
		t.Errorf("the authorization request lacks PKCE or nonce: %s", loc)
	}
	return q.Get("state")
}

// The session slides with use and ends when idle: the app's clock moves on
// (writ's does not need to: the ID token was checked at the callback).
func TestSessionSlidesAndEndsWhenIdle(t *testing.T) {
	f := setup(t)
	b := f.newUser()
	f.signIn(t, b)
	appURL, _ := url.Parse(f.appURL)
	cookie := func() string {
		for _, c := range b.c.Jar.Cookies(appURL) {
			if c.Name == "__Host-session" {
				return c.Value
			}
		}
		return ""
	}
	first := cookie()
	signedIn := func() bool {
		p := b.get(t, f.appURL+"/")
		return strings.Contains(p.body, f.user.name)
	}
	f.clock.Advance(20 * time.Minute) // within the 30-minute idle timeout: slides
	if !signedIn() {
		t.Fatal("signed out after 20 minutes")
	}
	if c := cookie(); c == "" || c == first {
		t.Fatal("the session cookie was not re-issued")
	}
	f.clock.Advance(25 * time.Minute) // 45 minutes after sign-in, 25 after the last use
	if !signedIn() {
		t.Fatal("signed out 25 minutes after the last use")
	}
	f.clock.Advance(31 * time.Minute)
	if signedIn() {
		t.Fatal("still signed in after 31 idle minutes")
	}
	if cookie() != "" {
		t.Error("the idle session's cookie was not cleared")
	}
}
