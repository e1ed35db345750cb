package interop_test

// The writ node the interoperability tests drive: started from a Config as
// `writ serve` starts it (development mode, its own data directory, TLS on
// the public listener with a test CA, the admin API on loopback), clients
// and users registered through the admin API, and a scripted browser that
// signs a user in by posting writ's forms.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/testcert"
)

// inCI reports whether the tests run in CI (.ci/run sets CI=true), where a
// missing program or a missing feature fails instead of skipping.
func inCI() bool { return os.Getenv("CI") == "true" }

// needProgram returns the path of a program the test needs. Without it the
// test skips, or fails in CI.
func needProgram(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if inCI() {
		t.Fatalf("%s is not installed (CI=true): %s", name, install)
	}
	t.Skipf("%s is not installed; %s (with CI=true this fails)", name, install)
	return ""
}

// needFeature skips a check that depends on a writ feature another item of
// issue 7 brings, when the running server does not have it yet. With
// CI=true it fails instead, so that a skip can never hide a regression once
// the feature has landed. The probes that call it look at the server (its
// discovery document or its answers), so the check turns on by itself when
// the feature is merged.
func needFeature(t testing.TB, present bool, item string) {
	t.Helper()
	if present {
		return
	}
	if inCI() {
		t.Fatalf("the server lacks %s (CI=true: a missing feature fails)", item)
	}
	t.Skipf("needs %s, which this server lacks (probed; with CI=true this fails)", item)
}

// writNode is a running writ.
type writNode struct {
	// Issuer is the https URL of the public listener.
	Issuer string
	// Admin is the http URL of the admin API.
	Admin      string
	AdminToken string
	// CAFile is the PEM file of the CA that signed the public listener's
	// certificate; CAPool holds it.
	CAFile string
	CAPool *x509.CertPool
	// Discovery is the OpenID Provider metadata.
	Discovery map[string]any

	client *http.Client
}

// startWrit starts a development-mode node: SQLite in a temporary data
// directory, the public listener on https://127.0.0.1:port with a
// certificate of a test CA, the admin API on http://127.0.0.1:port. It
// stops when the test ends.
func startWrit(t testing.TB) *writNode {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := testcert.Write(t, dir)
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
	pool := x509.NewCertPool()
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pemCA)
	w := &writNode{
		Issuer:     a.Issuer,
		Admin:      "http://" + a.AdminAddr().String(),
		AdminToken: a.AdminToken,
		CAFile:     caFile,
		CAPool:     pool,
		client: &http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
			Timeout: 30 * time.Second,
		},
	}
	t.Cleanup(w.client.CloseIdleConnections)
	if !strings.HasPrefix(w.Issuer, "https://127.0.0.1:") {
		t.Fatalf("issuer = %q, want https on 127.0.0.1", w.Issuer)
	}
	resp := w.httpGet(t, w.Issuer+"/.well-known/openid-configuration")
	if resp.Status != http.StatusOK {
		t.Fatalf("discovery: %s", resp)
	}
	if err := json.Unmarshal(resp.Body, &w.Discovery); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return w
}

// HTTPClient returns the node's client: it trusts the test CA and follows
// no redirects.
func (w *writNode) HTTPClient() *http.Client { return w.client }

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

func (w *writNode) send(t testing.TB, req *http.Request) *response {
	t.Helper()
	resp, err := w.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func (w *writNode) httpGet(t testing.TB, u string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.send(t, req)
}

// postForm posts form to the public path with optional Basic credentials.
func (w *writNode) postForm(t testing.TB, path string, form url.Values, basicID, basicSecret string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return w.send(t, req)
}

// admin calls the admin API with a JSON body and decodes the JSON answer
// into out (when not nil); any status but want fails the test.
func (w *writNode) admin(t testing.TB, method, path string, body, out any, want int) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.Admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp := w.send(t, req)
	if resp.Status != want {
		t.Fatalf("admin %s %s: %s, want status %d", method, path, resp, want)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			t.Fatalf("admin %s %s: decode %s: %v", method, path, resp.Body, err)
		}
	}
}

// client is a registered client.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client through the admin API with the given
// metadata (as `writ client create` does) and returns its id and secret.
func (w *writNode) createClient(t testing.TB, metadata map[string]any) client {
	t.Helper()
	var c client
	w.admin(t, http.MethodPost, "/admin/clients", metadata, &c, http.StatusCreated)
	if c.ID == "" {
		t.Fatalf("no client_id in the registration answer")
	}
	return c
}

// person is a user who signs in.
type person struct {
	ID, Username, Password, Email, Name string
}

// createUser registers a user with a verified email through the admin API.
func (w *writNode) createUser(t testing.TB, username string) person {
	t.Helper()
	p := person{
		Username: username,
		Password: "interop " + rand.Text(),
		Email:    username + "@example.com",
		Name:     strings.ToUpper(username[:1]) + username[1:] + " Example",
	}
	var out struct {
		ID string `json:"id"`
	}
	w.admin(t, http.MethodPost, "/admin/users", map[string]any{
		"username": p.Username, "password": p.Password,
		"email": p.Email, "email_verified": true, "name": p.Name,
	}, &out, http.StatusCreated)
	if out.ID == "" {
		t.Fatalf("no id in the user registration answer")
	}
	p.ID = out.ID
	return p
}

// discoveryList returns a string array member of the discovery document.
func (w *writNode) discoveryList(name string) []string {
	raw, _ := w.Discovery[name].([]any)
	var out []string
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// hasRS256IDTokens probes item 14 (RS256 ID tokens, OIDC Discovery §3): the
// discovery document lists RS256 for ID tokens.
func (w *writNode) hasRS256IDTokens() bool {
	return slices.Contains(w.discoveryList("id_token_signing_alg_values_supported"), "RS256")
}

// acceptsEitherSecretMethod probes item 16: a client registered for
// client_secret_basic authenticates by client_secret_post too. The probe
// redeems a code that does not exist with the secret in the body: a server
// with item 16 gets past client authentication and answers invalid_grant,
// one without answers invalid_client.
func (w *writNode) acceptsEitherSecretMethod(t testing.TB) bool {
	t.Helper()
	c := w.createClient(t, map[string]any{
		"client_name":   "probe: client_secret_post for a client_secret_basic client",
		"redirect_uris": []string{"http://127.0.0.1:9/callback"},
		"grant_types":   []string{"authorization_code"},
		"scope":         "openid",
	})
	resp := w.postForm(t, "/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {"no-such-code"},
		"redirect_uri": {"http://127.0.0.1:9/callback"},
		"client_id":    {c.ID}, "client_secret": {c.Secret},
	}, "", "")
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(resp.Body, &e)
	switch e.Error {
	case "invalid_grant":
		return true
	case "invalid_client":
		return false
	}
	t.Fatalf("probe of client_secret_post: unexpected answer %s", resp)
	return false
}

// The scripted browser reads writ's sign-in pages as the server's own
// end-to-end tests do: the form's action and its hidden inputs.
var (
	formRe    = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?`)
	hiddenRe  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	accountRe = regexp.MustCompile(`<button type="submit" name="account" value="([^"]*)"`)
)

// Paths of writ's sign-in pages.
const (
	pathLogin         = "/login"
	pathConsent       = "/consent"
	pathSelectAccount = "/select-account"
	pathLogoutConfirm = "/logout"
)

// browser is a scripted user agent with a cookie jar. It follows redirects
// across hosts (writ, a relying party, oauth2-proxy) and fills in writ's
// login, consent and account pages as the user would.
type browser struct {
	w    *writNode
	u    person
	jar  *cookiejar.Jar
	c    *http.Client
	stop func(*url.URL) bool
}

// newBrowser returns a browser that signs in as u. It trusts the test CA.
func (w *writNode) newBrowser(t testing.TB, u person) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{w: w, u: u, jar: jar}
	b.c = &http.Client{
		Transport: w.HTTPClient().Transport,
		Jar:       jar,
		Timeout:   30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 20 {
				return errors.New("more than 20 redirects")
			}
			if b.stop != nil && b.stop(req.URL) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// page is what the browser shows: the last response of a navigation.
type page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
	// Location is the target of a redirect the browser stopped at.
	Location *url.URL
	// Action and Hidden describe a writ form on the page, if any.
	Action string
	Hidden url.Values
}

func (p *page) String() string {
	s := fmt.Sprintf("%d at %s", p.Status, p.URL)
	if p.Location != nil {
		s += " → " + p.Location.String()
	}
	body := p.Body
	if len(body) > 2000 {
		body = body[:2000] + "…"
	}
	return s + "\n" + body
}

func (b *browser) do(t testing.TB, req *http.Request) *page {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("browser: %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("browser: %s %s: %v", req.Method, req.URL, err)
	}
	p := &page{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body), Hidden: url.Values{}}
	if loc, err := resp.Location(); err == nil {
		p.Location = loc
	}
	if m := formRe.FindStringSubmatch(p.Body); m != nil && p.onWrit(b.w) {
		p.Action = html.UnescapeString(m[1])
		for _, h := range hiddenRe.FindAllStringSubmatch(p.Body, -1) {
			p.Hidden.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
	}
	return p
}

func (p *page) onWrit(w *writNode) bool {
	return strings.HasPrefix(p.URL.String(), w.Issuer+"/")
}

// submit posts the page's writ form: its hidden inputs plus fields.
func (b *browser) submit(t testing.TB, p *page, fields url.Values) *page {
	t.Helper()
	form := url.Values{}
	for k, v := range p.Hidden {
		form[k] = slices.Clone(v)
	}
	for k, v := range fields {
		form[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, b.w.Issuer+p.Action, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

// visit opens rawURL and goes on as the user would: it follows redirects,
// signs in on writ's login page, approves on its consent page and picks the
// signed-in account. It stops at a redirect to a URL for which stop (when
// not nil) reports true, or at any other page, and returns that page.
func (b *browser) visit(t testing.TB, rawURL string, stop func(*url.URL) bool) *page {
	t.Helper()
	b.stop = stop
	defer func() { b.stop = nil }()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := b.do(t, req)
	for range 8 {
		switch p.Action {
		case pathLogin:
			p = b.submit(t, p, url.Values{"username": {b.u.Username}, "password": {b.u.Password}})
		case pathConsent:
			p = b.submit(t, p, url.Values{"decision": {"approve"}})
		case pathSelectAccount:
			m := accountRe.FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("no account button on %s", p)
			}
			p = b.submit(t, p, url.Values{"account": {html.UnescapeString(m[1])}})
		default:
			return p
		}
	}
	t.Fatalf("browser: still on a writ form after 8 pages: %s", p)
	return nil
}

// callback runs an authorization request to its redirect back to
// redirectURI and returns that URL.
func (b *browser) callback(t testing.TB, authURL, redirectURI string) *url.URL {
	t.Helper()
	p := b.visit(t, authURL, func(u *url.URL) bool {
		return strings.HasPrefix(u.String(), redirectURI)
	})
	if p.Location == nil || !strings.HasPrefix(p.Location.String(), redirectURI) {
		t.Fatalf("no redirect to %s: %s", redirectURI, p)
	}
	return p.Location
}

// idAlg returns the alg of a compact JWS's protected header.
func idAlg(t testing.TB, compact string) string {
	t.Helper()
	head, _, ok := strings.Cut(compact, ".")
	if !ok {
		t.Fatalf("not a compact JWS: %.40q", compact)
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	return h.Alg
}
