package cimd_test

// End to end: a real writ node (internal/apptest) with metadata documents
// on, a client metadata document on a loopback TLS server that only the
// test's allow-list lets writ reach, and a scripted browser that signs in
// with the authorization code flow and PKCE; documents on private, loopback
// and link-local addresses outside the allow-list are refused.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/store"
)

const redirectURI = "http://127.0.0.1/callback"

type e2e struct {
	app      *app.App
	clock    *clocktest.Clock
	name     *atomic.Value // the document's client_name
	issuer   string
	admin    string
	token    string
	docURL   string
	docHits  *atomic.Int64
	username string
	password string
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	var hits atomic.Int64
	var name atomic.Value
	name.Store("MCP Inspector")
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":%q,"redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none","scope":"openid profile offline_access mcp:tools"}`,
			"https://"+r.Host+r.URL.Path, name.Load().(string), redirectURI)
	}))
	t.Cleanup(docs.Close)
	pool := x509.NewCertPool()
	pool.AddCert(docs.Certificate())

	dir := t.TempDir()
	env := map[string]string{
		"WRIT_MODE":                      "development",
		"WRIT_DATA_DIR":                  filepath.Join(dir, "data"),
		"WRIT_ADDR":                      "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":                "127.0.0.1:0",
		"WRIT_LOG_LEVEL":                 "warn",
		"WRIT_CLIENT_METADATA_DOCUMENTS": "true",
	}
	clock := clocktest.Real()
	a := apptest.Start(t, env, app.Options{Now: clock.Now, ClientMetadata: func(o *cimd.Options) {
		o.RootCAs = pool
		// Only the test's document server, nothing else on loopback.
		o.Guard.Allow = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddrPort(docs.Listener.Addr().String()).Addr(), 32)}
	}})
	e := &e2e{app: a, clock: clock, name: &name, issuer: a.Issuer, admin: "http://" + a.AdminAddr().String(), token: a.AdminToken,
		docURL: docs.URL + "/client.json", docHits: &hits, username: "alice", password: "cimd " + rand.Text()}
	var u struct {
		ID string `json:"id"`
	}
	e.adminPost(t, "/admin/users", map[string]any{"username": e.username, "password": e.password, "name": "Alice"}, &u)
	return e
}

func (e *e2e) adminPost(t *testing.T, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.admin+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
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

type page struct {
	url      *url.URL
	status   int
	body     string
	location string
}

// browser follows redirects within writ and stops at any other site (the
// client's redirect URI).
type browser struct {
	c      *http.Client
	issuer string
}

func newBrowser(issuer string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{issuer: issuer}
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), issuer+"/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *browser) do(t *testing.T, req *http.Request) *page {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &page{url: resp.Request.URL, status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location")}
}

func (b *browser) get(t *testing.T, u string) *page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(t, req)
}

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
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(t, req)
}

func authorizeURL(issuer, clientID, challenge string) string {
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"st-1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	return issuer + "/oauth2/authorize?" + q.Encode()
}

func pkce() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestMetadataDocumentEndToEnd(t *testing.T) {
	e := startE2E(t)

	t.Run("discovery", func(t *testing.T) {
		var m map[string]any
		resp, err := http.Get(e.issuer + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m["client_id_metadata_document_supported"] != true {
			t.Fatalf("client_id_metadata_document_supported = %v", m["client_id_metadata_document_supported"])
		}
		if _, ok := m["registration_endpoint"]; ok {
			t.Fatal("registration_endpoint listed while registration is off")
		}
	})

	t.Run("refused addresses", func(t *testing.T) {
		port := netip.MustParseAddrPort(strings.TrimPrefix(strings.Split(e.docURL, "/client.json")[0], "https://")).Port()
		for _, id := range []string{
			fmt.Sprintf("https://127.0.0.2:%d/client.json", port),  // loopback, not on the allow-list
			fmt.Sprintf("https://localhost:%d/client.json", port),  // a name resolving to loopback
			"https://10.0.0.1/client.json",                         // private
			"https://169.254.169.254/latest/meta-data/client.json", // cloud metadata service
			"https://[fd00::1]/client.json",                        // IPv6 ULA
		} {
			before := e.docHits.Load()
			_, challenge := pkce()
			p := newBrowser(e.issuer).get(t, authorizeURL(e.issuer, id, challenge))
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Unknown application") {
				t.Errorf("%s: %d %.300s", id, p.status, p.body)
			}
			if e.docHits.Load() != before {
				t.Errorf("%s: the document server was reached", id)
			}
		}
	})

	t.Run("sign-in with PKCE", func(t *testing.T) {
		for round := range 2 {
			tok := e.signIn(t, e.docURL, "MCP Inspector", true)
			if claims := jwtClaims(t, tok["id_token"].(string)); claims["aud"] != e.docURL {
				t.Fatalf("round %d: id_token aud = %v", round, claims["aud"])
			}
			if round == 1 {
				// A public client's refresh token rotates (client_id, no secret).
				r := postForm(t, e.issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {e.docURL}})
				if r["access_token"] == nil || r["refresh_token"] == nil || r["refresh_token"] == tok["refresh_token"] {
					t.Fatalf("refresh: %v", r)
				}
			}
		}
		// The document was fetched once: the cache served the rest.
		if n := e.docHits.Load(); n != 1 {
			t.Errorf("the document was fetched %d times, want 1", n)
		}
		c, err := e.app.Store.GetClient(t.Context(), e.docURL)
		if err != nil || c.Origin != store.OriginMetadataDocument || c.FirstParty || c.Name != "MCP Inspector" ||
			strings.Join(c.Scopes, " ") != "openid profile offline_access" {
			t.Fatalf("stored client %+v, %v", c, err)
		}
	})

	t.Run("a changed document is seen after its max-age", func(t *testing.T) {
		e.name.Store("MCP Inspector 2")
		before := e.docHits.Load()
		e.clock.Advance(301 * time.Second)
		e.signIn(t, e.docURL, "MCP Inspector 2", true)
		if e.docHits.Load() != before+1 {
			t.Fatalf("fetches: %d, want one more", e.docHits.Load()-before)
		}
		c, err := e.app.Store.GetClient(t.Context(), e.docURL)
		if err != nil || c.Name != "MCP Inspector 2" || c.Origin != store.OriginMetadataDocument {
			t.Fatalf("stored client %+v, %v", c, err)
		}
		events, err := e.app.Store.ListAudit(t.Context(), store.AuditQuery{ClientID: e.docURL})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range events {
			// The registration's own events; sign-ins and tokens are
			// audited too.
			if strings.HasPrefix(ev.Type, "client_") {
				types = append(types, ev.Type+"/"+ev.By)
			}
		}
		if want := "client_registered/metadata_document client_updated/metadata_document"; strings.Join(types, " ") != want {
			t.Fatalf("audit events %v, want %s", types, want)
		}
	})

	t.Run("an administrator's registration wins", func(t *testing.T) {
		// A client registered under an https id the document server does
		// not serve: writ uses the registration and fetches nothing.
		id := strings.Replace(e.docURL, "/client.json", "/registered-by-admin", 1)
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := e.app.Store.CreateClient(t.Context(), store.Client{
			ID: id, Name: "Vetted app", RedirectURIs: []string{redirectURI},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile", "offline_access"},
			TokenEndpointAuthMethod: "none", AccessTokenFormat: "jwt", IDTokenSignedResponseAlg: "RS256",
			FirstParty: true, CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
		before := e.docHits.Load()
		e.signIn(t, id, "", false) // first-party: no consent page
		if e.docHits.Load() != before {
			t.Fatal("the document of an admin-registered client was fetched")
		}
	})

	t.Run("an administrator deletes a metadata document client", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, e.admin+"/admin/clients/"+url.PathEscape(e.docURL), nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("admin DELETE: %d", resp.StatusCode)
		}
		if _, err := e.app.Store.GetClient(t.Context(), e.docURL); err == nil {
			t.Fatal("still stored")
		}
	})

	t.Run("scope beyond dynamic_client_scopes", func(t *testing.T) {
		_, challenge := pkce()
		u := strings.Replace(authorizeURL(e.issuer, e.docURL, challenge), "scope=openid+profile", "scope=openid+mcp%3Atools", 1)
		p := newBrowser(e.issuer).get(t, u)
		if p.status != http.StatusFound && p.status != http.StatusSeeOther || !strings.Contains(p.location, "error=invalid_scope") {
			t.Fatalf("%d %q", p.status, p.location)
		}
	})
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40s", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signIn signs the user in to clientID with code + PKCE and returns the
// token response. consent says whether a consent page naming name (and the
// document's host) must come.
func (e *e2e) signIn(t *testing.T, clientID, name string, consent bool) map[string]any {
	t.Helper()
	b := newBrowser(e.issuer)
	verifier, challenge := pkce()
	u := strings.Replace(authorizeURL(e.issuer, clientID, challenge), "scope=openid+profile", "scope=openid+profile+offline_access", 1)
	p := b.get(t, u)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("no login page: %d %.1500s", p.status, p.body)
	}
	p = b.submit(t, p, url.Values{"username": {e.username}, "password": {e.password}})
	if consent {
		// The consent page every time, naming the document's host.
		if !strings.Contains(p.body, `value="approve"`) {
			t.Fatalf("no consent page: %d %.1500s", p.status, p.body)
		}
		if !strings.Contains(p.body, html.EscapeString(name)) || !strings.Contains(p.body, ">127.0.0.1<") {
			t.Fatalf("consent page does not name the client %q and its host: %.2000s", name, p.body)
		}
		p = b.submit(t, p, url.Values{"decision": {"approve"}})
	}
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirectURI+"?") {
		t.Fatalf("after sign-in: %d %q %.500s", p.status, p.location, p.body)
	}
	loc, _ := url.Parse(p.location)
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("redirect %s", p.location)
	}
	tok := postForm(t, e.issuer+"/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {clientID}, "code_verifier": {verifier},
	})
	if tok["access_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("token response %v", tok)
	}
	return tok
}

// postForm posts a form and decodes a 200 JSON answer.
func postForm(t *testing.T, u string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
