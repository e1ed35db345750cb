package server_test

// Shared setup of the end-to-end, error-path and rotation tests: a real
// SQLite store in a temporary directory, a key ring, the server behind a
// real loopback listener, and helpers to register clients and to send
// requests.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/jose"
)

// Scopes and audiences the test clients register.
const (
	scopeRead  = "orders:read"
	scopeWrite = "orders:write"
	audOrders  = "https://api.example.test/orders"
	audBilling = "https://api.example.test/billing"
)

// testClock is the shared fake clock: realClock follows the real time plus
// an offset (so that real clients, which use time.Now, agree with the
// server); fixedClock stands still until advanced.
type testClock = clocktest.Clock

// realClock follows time.Now, shifted by Advance.
func realClock() *testClock { return clocktest.Real() }

// fixedClock stands at a fixed instant until advanced.
func fixedClock() *testClock { return clocktest.Default() }

// rsaPool holds the RSA keys of every test ring: generating RSA keys is slow,
// and rings of different tests may share key material.
var rsaPool struct {
	mu   sync.Mutex
	keys []*jose.Key
}

// pooledKeys returns a keys.Options.Generate whose RS256 keys come from
// rsaPool, distinct within one ring; other algorithms are generated.
func pooledKeys() func(jose.Algorithm) (*jose.Key, error) {
	n := 0
	return func(alg jose.Algorithm) (*jose.Key, error) {
		if alg != jose.RS256 {
			return jose.GenerateKey(alg)
		}
		rsaPool.mu.Lock()
		defer rsaPool.mu.Unlock()
		if n == len(rsaPool.keys) {
			k, err := jose.GenerateKey(alg)
			if err != nil {
				return nil, err
			}
			rsaPool.keys = append(rsaPool.keys, k)
		}
		n++
		return rsaPool.keys[n-1], nil
	}
}

// envOptions tune newEnv; the zero value gives a real-time clock and the
// server's defaults.
type envOptions struct {
	Clock            *testClock
	MinPublish       time.Duration
	MaxTokenLifetime time.Duration
	AccessTokenTTL   time.Duration
	MaxRequestBytes  int64
	// Rotations is how often the ring is rotated at start; zero means 2
	// (an active key and a published next key).
	Rotations int
	// Logger receives the sign-in server's logs (newSignInEnv); nil
	// discards them.
	Logger *slog.Logger
	// AccessOnly gives the ring ES256 keys only, no RS256 keys for ID
	// tokens, for tests that count the published keys.
	AccessOnly bool
	// DPoP configures DPoP at the token endpoint (server.Options.DPoP).
	DPoP *server.DPoPOptions
	// RequirePAR requires pushed authorization requests
	// (newSignInEnv).
	RequirePAR bool
	// Metrics receives the sign-in server's metrics (newSignInEnv); nil
	// keeps none.
	Metrics *metrics.Metrics
	// AuditRecorder turns the audit on (server.Options.AuditRecorder).
	AuditRecorder grant.Recorder
}

// testEnv is a running server with its parts.
type testEnv struct {
	Issuer string
	Server *server.Server
	HTTP   *httptest.Server
	Store  store.Store
	Ring   *keys.Ring
	Hasher *oauth.SecretHasher
	Clock  *testClock
	// Client talks to the server; it never follows redirects.
	Client *http.Client
}

// newEnv starts a server on 127.0.0.1 with its own SQLite database. The
// issuer is the listener's URL, known before the server is built.
func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	ctx := context.Background()
	if o.Clock == nil {
		o.Clock = realClock()
	}
	st, err := storeopen.Open(ctx, "sqlite:"+t.TempDir()+"/writ.db")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	idAlgs := []jose.Algorithm{jose.RS256} // ID tokens by default
	if o.AccessOnly {
		idAlgs = nil
	}
	ring, err := keys.NewRing(keys.Options{
		Algorithm:        jose.ES256,
		Algorithms:       idAlgs,
		Generate:         pooledKeys(),
		Clock:            o.Clock.Now,
		MinPublish:       o.MinPublish,
		MaxTokenLifetime: o.MaxTokenLifetime,
	})
	if err != nil {
		t.Fatalf("new ring: %v", err)
	}
	rotations := o.Rotations
	if rotations == 0 {
		rotations = 2
	}
	for range rotations {
		if err := ring.Rotate(); err != nil {
			t.Fatalf("rotate: %v", err)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	hasher, err := oauth.NewSecretHasher(key)
	if err != nil {
		t.Fatalf("secret hasher: %v", err)
	}

	ts := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1:0
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := server.New(server.Options{
		Issuer:          issuer,
		Store:           st,
		DPoP:            o.DPoP,
		Ring:            ring,
		Hasher:          hasher,
		Now:             o.Clock.Now,
		AccessTokenTTL:  o.AccessTokenTTL,
		MaxRequestBytes: o.MaxRequestBytes,
		AuditRecorder:   o.AuditRecorder,
	})
	if err != nil {
		ts.Close()
		t.Fatalf("server.New: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	if ts.URL != issuer {
		t.Fatalf("test server URL %q differs from the issuer %q", ts.URL, issuer)
	}
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &testEnv{
		Issuer: issuer, Server: srv, HTTP: ts, Store: st, Ring: ring, Hasher: hasher, Clock: o.Clock,
		Client: client,
	}
}

func (e *testEnv) url(path string) string { return e.Issuer + path }

// clientOption changes a client registration before it is stored.
type clientOption func(*store.Client)

func withScopes(s ...string) clientOption    { return func(c *store.Client) { c.Scopes = s } }
func withAudiences(a ...string) clientOption { return func(c *store.Client) { c.Audiences = a } }
func withGrants(g ...string) clientOption    { return func(c *store.Client) { c.GrantTypes = g } }
func withMethod(m string) clientOption {
	return func(c *store.Client) { c.TokenEndpointAuthMethod = m }
}
func opaqueFormat() clientOption {
	return func(c *store.Client) { c.AccessTokenFormat = store.AccessTokenOpaque }
}
func withTTL(d time.Duration) clientOption { return func(c *store.Client) { c.AccessTokenTTL = d } }

// baseClient is a client_credentials client with two scopes and JWT tokens.
func (e *testEnv) baseClient(id string) store.Client {
	now := e.Clock.Now().UTC()
	return store.Client{
		ID:                      id,
		Name:                    "test client " + id,
		GrantTypes:              []string{"client_credentials"},
		Scopes:                  []string{scopeRead, scopeWrite},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic,
		AccessTokenFormat:       store.AccessTokenJWT,
		CreatedAt:               now,
		UpdatedAt:               now,
	}
}

func (e *testEnv) create(t testing.TB, c store.Client) {
	t.Helper()
	if err := e.Store.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("create client %q: %v", c.ID, err)
	}
}

// addConfidential registers a client authenticating with a secret
// (client_secret_basic unless an option says otherwise) and returns the
// secret.
func (e *testEnv) addConfidential(t testing.TB, id string, opts ...clientOption) string {
	t.Helper()
	secret, err := oauth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	e.addWithSecret(t, id, secret, opts...)
	return secret
}

// addWithSecret registers a confidential client with the given secret.
func (e *testEnv) addWithSecret(t testing.TB, id, secret string, opts ...clientOption) {
	t.Helper()
	c := e.baseClient(id)
	c.SecretHash = e.Hasher.Hash(secret)
	c.SecretRotatedAt = c.CreatedAt
	for _, o := range opts {
		o(&c)
	}
	e.create(t, c)
}

// addPublic registers a public client (token_endpoint_auth_method none).
func (e *testEnv) addPublic(t testing.TB, id string, opts ...clientOption) {
	t.Helper()
	c := e.baseClient(id)
	c.TokenEndpointAuthMethod = oauth.AuthNone
	for _, o := range opts {
		o(&c)
	}
	e.create(t, c)
}

// addKeyJWT registers a private_key_jwt client with a fresh ES256 key and
// returns the private key.
func (e *testEnv) addKeyJWT(t testing.TB, id string, opts ...clientOption) *jose.Key {
	t.Helper()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jose.NewKeySet(key.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c := e.baseClient(id)
	c.TokenEndpointAuthMethod = oauth.AuthPrivateKeyJWT
	c.JWKS = jwks
	for _, o := range opts {
		o(&c)
	}
	e.create(t, c)
	return key
}

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string {
	return http.StatusText(r.Status) + " " + string(r.Body)
}

// do sends req and reads the whole response.
func (e *testEnv) do(t testing.TB, req *http.Request) *response {
	t.Helper()
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// request builds a request to path with a raw body and content type.
func (e *testEnv) request(t testing.TB, method, path, contentType, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

const formType = "application/x-www-form-urlencoded"

// post sends form to path; each of mods may change the request (for
// example to add Basic credentials).
func (e *testEnv) post(t testing.TB, path string, form url.Values, mods ...func(*http.Request)) *response {
	t.Helper()
	req := e.request(t, http.MethodPost, path, formType, form.Encode())
	for _, m := range mods {
		m(req)
	}
	return e.do(t, req)
}

// get fetches path.
func (e *testEnv) get(t testing.TB, path string, mods ...func(*http.Request)) *response {
	t.Helper()
	req := e.request(t, http.MethodGet, path, "", "")
	for _, m := range mods {
		m(req)
	}
	return e.do(t, req)
}

// basic sets RFC 6749 §2.3.1 Basic credentials: both parts form-urlencoded,
// then base64.
func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	}
}

func header(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// tokenResponse is a successful token response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// token gets a client credentials token with Basic credentials.
func (e *testEnv) token(t testing.TB, id, secret string, extra url.Values) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	resp := e.post(t, server.PathToken, form, basic(id, secret))
	if resp.Status != http.StatusOK {
		t.Fatalf("token for %q: %s", id, resp)
	}
	var tr tokenResponse
	decodeJSON(t, resp.Body, &tr)
	if tr.AccessToken == "" {
		t.Fatalf("token for %q: no access_token in %s", id, resp.Body)
	}
	return tr
}

func decodeJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

// wantOAuthError checks an RFC 6749 §5.2 error response: the status, the
// error code, a JSON body with exactly "error" and "error_description",
// no-store caching, and for invalid_client a Basic challenge.
func wantOAuthError(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d (body %s)", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if p := r.Header.Get("Pragma"); p != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", p)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.Body, err)
	}
	if got := body["error"]; got != code {
		t.Errorf("error = %v, want %q (body %s)", got, code, r.Body)
	}
	if d, ok := body["error_description"].(string); !ok || d == "" {
		t.Errorf("error_description missing or empty in %s", r.Body)
	}
	for k := range body {
		if k != "error" && k != "error_description" {
			t.Errorf("unexpected member %q in error body %s", k, r.Body)
		}
	}
	challenge := r.Header.Get("WWW-Authenticate")
	if code == oauth.CodeInvalidClient && status == http.StatusUnauthorized {
		if !strings.HasPrefix(challenge, "Basic ") || !strings.Contains(challenge, `realm="writ"`) {
			t.Errorf("WWW-Authenticate = %q, want a Basic challenge", challenge)
		}
	} else if challenge != "" {
		t.Errorf("WWW-Authenticate = %q on a %s response", challenge, code)
	}
}

// jwksKids returns the kids a JWKS document publishes.
func jwksKids(t testing.TB, body []byte) []string {
	t.Helper()
	ks, err := jose.ParseKeySet(body)
	if err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	var kids []string
	for _, k := range ks.Keys() {
		kids = append(kids, k.KeyID())
	}
	slices.Sort(kids)
	return kids
}

// ringKids returns the kids of the ring's entries in the given state.
// ringKids returns the kids of the ring's keys of the primary algorithm
// (access tokens) in state st, sorted.
func ringKids(r *keys.Ring, st keys.State) []string {
	var kids []string
	for _, e := range r.Entries() {
		if e.State == st && e.Key.Algorithm() == r.Algorithm() {
			kids = append(kids, e.KeyID())
		}
	}
	slices.Sort(kids)
	return kids
}
