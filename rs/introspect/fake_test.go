package introspect

// A fake introspection endpoint for the unit tests: it authenticates the
// caller as a real server would, answers from a table of tokens, as JSON or
// as an RFC 9701 JWT, and can be told to misbehave.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const (
	testIssuer   = "https://as.example.test"
	testAudience = "https://api.example.test/orders"
	testClientID = "orders-api"
	testSecret   = "s3cret: with + & = and spaces"
)

// start is the fixed time of the tests' clocks.
var start = clocktest.Default().Now()

// request is what the fake endpoint received.
type request struct {
	Method string
	Header http.Header
	Form   url.Values
}

// fakeAS is a fake introspection endpoint.
type fakeAS struct {
	t      testing.TB
	srv    *httptest.Server
	key    *jose.Key
	clock  *clocktest.Clock
	secret string

	mu     sync.Mutex
	tokens map[string]string // token → response JSON object
	reqs   []request
	// respond, when set, answers instead of the table.
	respond func(w http.ResponseWriter, r *http.Request)
	// entered, when set, receives a value when a request arrives, and
	// release, when set, is waited for before answering.
	entered chan struct{}
	release chan struct{}
}

func newFakeAS(t testing.TB) *fakeAS {
	t.Helper()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAS{t: t, key: key, clock: clocktest.Default(), secret: testSecret, tokens: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the endpoint's URL.
func (f *fakeAS) URL() string { return f.srv.URL + "/introspect" }

// keys is the key set that verifies the fake's response JWTs.
func (f *fakeAS) keys() jwt.KeySource { return jwt.StaticKeys(jose.NewKeySet(f.key.Public())) }

// set makes token active with the given response members (active is added).
func (f *fakeAS) set(token string, members map[string]any) {
	f.t.Helper()
	m := map[string]any{"active": true}
	for k, v := range members {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.tokens[token] = string(b)
	f.mu.Unlock()
}

// revoke makes token inactive.
func (f *fakeAS) revoke(token string) {
	f.mu.Lock()
	delete(f.tokens, token)
	f.mu.Unlock()
}

// requests returns what the endpoint received so far.
func (f *fakeAS) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.reqs = append(f.reqs, request{Method: r.Method, Header: r.Header.Clone(), Form: r.PostForm})
	respond, entered, release := f.respond, f.entered, f.release
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	if respond != nil {
		respond(w, r)
		return
	}
	if !f.authenticated(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	f.mu.Lock()
	body, ok := f.tokens[r.PostForm.Get("token")]
	f.mu.Unlock()
	if !ok {
		body = `{"active":false}`
	}
	if strings.Contains(r.Header.Get("Accept"), MediaTypeJWT) {
		f.writeJWT(w, f.responseClaims(body), TypeJWT)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

// authenticated checks client_secret_basic (form-urlencoded id and
// secret, RFC 6749 §2.3.1) or client_secret_post.
func (f *fakeAS) authenticated(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		enc, ok := strings.CutPrefix(h, "Basic ")
		if !ok {
			return false
		}
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return false
		}
		rawID, rawSecret, ok := strings.Cut(string(b), ":")
		if !ok {
			return false
		}
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		return err1 == nil && err2 == nil && id == testClientID && secret == f.secret
	}
	return r.PostForm.Get("client_id") == testClientID && r.PostForm.Get("client_secret") == f.secret
}

// responseClaims are the claims of an RFC 9701 response carrying body.
func (f *fakeAS) responseClaims(body string) map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": testClientID, "iat": f.clock.Now().Unix(),
		"token_introspection": json.RawMessage(body),
	}
}

// writeJWT answers with claims signed by the fake's key.
func (f *fakeAS) writeJWT(w http.ResponseWriter, claims map[string]any, typ string) {
	w.Header().Set("Content-Type", MediaTypeJWT)
	_, _ = w.Write([]byte(f.sign(claims, typ, f.key)))
}

func (f *fakeAS) sign(claims map[string]any, typ string, key *jose.Key) string {
	f.t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := jose.Sign(key, payload, &jose.SignOptions{Type: typ})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// config is a Config for the fake, JSON mode, with the fake's clock.
func (f *fakeAS) config() Config {
	return Config{
		Endpoint: f.URL(), ClientID: testClientID, ClientSecret: f.secret,
		Issuer: testIssuer, Audience: testAudience, Now: f.clock.Now,
		HTTPClient: f.srv.Client(),
	}
}

// jwtConfig is config in JWT mode.
func (f *fakeAS) jwtConfig() Config {
	cfg := f.config()
	cfg.JWTResponse, cfg.ResponseKeys = true, f.keys()
	return cfg
}

func (f *fakeAS) client(cfg Config) *Client {
	f.t.Helper()
	c, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

// activeMembers is a full active response for a token expiring in an hour.
func activeMembers() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "alice", "client_id": "billing", "scope": "orders:read  orders:write",
		"aud": []string{testAudience, "https://api.example.test/billing"},
		"exp": start.Add(time.Hour).Unix(), "iat": start.Add(-time.Minute).Unix(), "jti": "tok-1",
		"token_type": "DPoP", "cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
		"department": "engineering", "clearance": 3,
	}
}
