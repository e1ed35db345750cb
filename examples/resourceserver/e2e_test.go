package main

// End to end: a real writ node on loopback (started in-process as `writ
// serve` starts it: development mode, SQLite in a temporary directory,
// plain HTTP) issues the tokens; the example API runs as its main runs it
// (run, with flags and environment) on another loopback port; clients
// registered through writ's admin API get their tokens with
// golang.org/x/oauth2/clientcredentials and call the API.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// The API's resource identifier and public origin in the tests.
const testAudience = "https://orders.example.test"

// writNode is a running writ.
type writNode struct {
	issuer, admin, adminToken string
	clock                     *clocktest.Clock
	http                      *http.Client
}

func startWrit(t *testing.T) *writNode {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "warn",
	}
	clock := clocktest.Real()
	a := apptest.Start(t, env, app.Options{
		Announce: io.Discard,
		Now:      clock.Now,
	})
	w := &writNode{issuer: a.Issuer, admin: "http://" + a.AdminAddr().String(), adminToken: a.AdminToken,
		clock: clock, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(w.http.CloseIdleConnections)
	return w
}

// client is a client registered at writ.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client_credentials client through the admin API.
func (w *writNode) createClient(t *testing.T, name, scope, audience string, extra map[string]any) client {
	t.Helper()
	md := map[string]any{
		"client_name": name, "grant_types": []string{"client_credentials"},
		"scope": scope, "audiences": []string{audience},
	}
	for k, v := range extra {
		md[k] = v
	}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, w.admin+"/admin/clients", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c client
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &c) != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("create client %s: %d %s", name, resp.StatusCode, body)
	}
	return c
}

// token gets an access token for c with the client credentials grant.
func (w *writNode) token(t *testing.T, c client, scopes ...string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: w.issuer + "/oauth2/token", Scopes: scopes}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatalf("client credentials for %s: %v", c.ID, err)
	}
	return tok.AccessToken
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startAPI runs the example as main does, with args and env, and returns
// its base URL and its log. The test ends with the API shut down
// gracefully.
func startAPI(t *testing.T, w *writNode, args []string, env map[string]string, extra []rs.IssuerConfig) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), func(k string) string { return env[k] },
			io.MultiWriter(logs, t.Output()), func(a string) { addr <- a },
			func(c *Config) { c.Now = w.clock.Now; c.extraIssuers = extra })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("the API did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the API did not shut down cleanly: %v", err)
		}
	})
	return base, logs
}

// answer is a response as the tests look at it.
type answer struct {
	status    int
	challenge []string // WWW-Authenticate fields
	nonce     string   // DPoP-Nonce
	body      map[string]any
}

// call sends one request to the API. auth is the Authorization header
// (none if empty), proof the DPoP header (none if empty).
func call(t *testing.T, method, u, auth, proof, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if proof != "" {
		req.Header.Set(dpop.Header, proof)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, challenge: resp.Header.Values("WWW-Authenticate"), nonce: resp.Header.Get(dpop.NonceHeader)}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %q", method, u, a.status, raw)
		}
	}
	return a
}

// challengeOf returns the challenge of the scheme, or "".
func (a answer) challengeOf(scheme string) string {
	for _, c := range a.challenge {
		if strings.HasPrefix(c, scheme+" ") {
			return c
		}
	}
	return ""
}

func TestOrdersAPIWithWrit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a writ node")
	}
	w := startWrit(t)
	reader := w.createClient(t, "reader", "orders:read", testAudience, nil)
	writer := w.createClient(t, "writer", "orders:read orders:write", testAudience, nil)
	elsewhere := w.createClient(t, "elsewhere", "orders:read orders:write", "https://billing.example.test", nil)

	// The flags' environment variables, as a deployment would set them.
	base, logs := startAPI(t, w, nil, map[string]string{"ORDERS_ISSUER": w.issuer, "ORDERS_AUDIENCE": testAudience}, nil)
	const metadata = testAudience + "/.well-known/oauth-protected-resource"
	readTok, writeTok := w.token(t, reader), w.token(t, writer)

	t.Run("ready", func(t *testing.T) {
		if a := call(t, "GET", base+"/readyz", "", "", ""); a.status != 200 || a.body["ready"] != true {
			t.Fatalf("readyz: %+v", a)
		}
	})

	t.Run("no token: 401 naming the metadata", func(t *testing.T) {
		a := call(t, "GET", base+"/orders", "", "", "")
		want := `Bearer resource_metadata="` + metadata + `"`
		if a.status != 401 || a.challengeOf("Bearer") != want {
			t.Fatalf("got %d %q, want 401 %q", a.status, a.challenge, want)
		}
		if d := a.challengeOf("DPoP"); !strings.Contains(d, `algs="`) || !strings.Contains(d, `resource_metadata="`+metadata+`"`) {
			t.Errorf("DPoP challenge %q", d)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		a := call(t, "GET", base+"/.well-known/oauth-protected-resource", "", "", "")
		servers, _ := a.body["authorization_servers"].([]any)
		if a.status != 200 || a.body["resource"] != testAudience || len(servers) != 1 || servers[0] != w.issuer {
			t.Fatalf("metadata: %+v", a)
		}
		if fmt.Sprint(a.body["scopes_supported"]) != "[orders:read orders:write]" || a.body["dpop_signing_alg_values_supported"] == nil {
			t.Errorf("metadata: %+v", a.body)
		}
	})

	t.Run("read with orders:read: 200", func(t *testing.T) {
		a := call(t, "GET", base+"/orders", "Bearer "+readTok, "", "")
		if a.status != 200 || a.body["caller"] != reader.ID {
			t.Fatalf("got %+v", a)
		}
	})

	t.Run("write without orders:write: 403 naming it", func(t *testing.T) {
		a := call(t, "POST", base+"/orders", "Bearer "+readTok, "", `{"item":"pens","quantity":2}`)
		c := a.challengeOf("Bearer")
		if a.status != 403 || !strings.Contains(c, `error="insufficient_scope"`) || !strings.Contains(c, `scope="orders:write"`) ||
			a.body["error"] != "insufficient_scope" {
			t.Fatalf("got %d %q %v", a.status, a.challenge, a.body)
		}
	})

	t.Run("write with orders:write: 201, then listed", func(t *testing.T) {
		a := call(t, "POST", base+"/orders", "Bearer "+writeTok, "", `{"item":"pens","quantity":2}`)
		if a.status != 201 || a.body["item"] != "pens" || a.body["client_id"] != writer.ID {
			t.Fatalf("got %+v", a)
		}
		l := call(t, "GET", base+"/orders", "Bearer "+writeTok, "", "")
		if orders, _ := l.body["orders"].([]any); l.status != 200 || len(orders) == 0 {
			t.Fatalf("list: %+v", l)
		}
	})

	t.Run("bad order body: 400", func(t *testing.T) {
		for _, body := range []string{`{"item":"pens","quantity":0}`, `{"item":"","quantity":1}`, `{"item":"x","quantity":1,"price":3}`,
			`{"item":"x","quantity":1}{}`, `not json`, `{"item":"` + strings.Repeat("x", 200) + `","quantity":1}`} {
			if a := call(t, "POST", base+"/orders", "Bearer "+writeTok, "", body); a.status != 400 {
				t.Errorf("%s: %d %v", body, a.status, a.body)
			}
		}
		if a := call(t, "POST", base+"/orders", "Bearer "+writeTok, "", `{"item":"`+strings.Repeat("x", 5000)+`"}`); a.status != 413 {
			t.Errorf("large body: %d", a.status)
		}
	})

	t.Run("another audience: 401 invalid_token", func(t *testing.T) {
		a := call(t, "GET", base+"/orders", "Bearer "+w.token(t, elsewhere), "", "")
		if a.status != 401 || !strings.Contains(a.challengeOf("Bearer"), `error="invalid_token"`) {
			t.Fatalf("got %d %q", a.status, a.challenge)
		}
	})

	t.Run("writ's unbound token under DPoP: 401", func(t *testing.T) {
		key, _ := jose.GenerateKey(jose.ES256)
		proof, _ := dpop.NewProof(key, "GET", base+"/orders", readTok, "", w.clock.Now())
		a := call(t, "GET", base+"/orders", "DPoP "+readTok, proof, "")
		if a.status != 401 || !strings.Contains(a.challengeOf("DPoP"), `error="invalid_token"`) {
			t.Fatalf("got %d %q", a.status, a.challenge)
		}
	})

	for _, tok := range []string{readTok, writeTok} {
		if strings.Contains(logs.String(), tok) {
			t.Fatal("a token is in the API's log")
		}
	}
}

// writ does not bind its access tokens to DPoP keys (cnf.jkt) yet, so the
// DPoP cases use tokens the test mints itself, under an issuer with
// explicit keys that the API trusts besides writ.
func TestOrdersAPIDPoP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a writ node")
	}
	w := startWrit(t)
	const partner = "https://dpop-issuer.example.test"
	issuerKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jwt.NewSigner(issuerKey, jwt.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	extra := []rs.IssuerConfig{{Issuer: partner, Keys: jose.NewKeySet(issuerKey.Public()), Audiences: []string{testAudience}}}
	// Behind a proxy: proofs name the public origin, whatever address the
	// request reaches.
	base, logs := startAPI(t, w, []string{"-issuer", w.issuer, "-audience", testAudience, "-public-url", testAudience}, nil, extra)
	clientKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(scope string) string {
		now := w.clock.Now()
		tok, err := signer.Sign(map[string]any{
			"iss": partner, "aud": testAudience, "sub": "agent-7", "client_id": "agent-7", "scope": scope,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": fmt.Sprint(now.UnixNano()),
			"cnf": map[string]any{"jkt": clientKey.ThumbprintSHA256()},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint("orders:read orders:write")
	proofFor := func(method, u, nonce string) string {
		p, err := dpop.NewProof(clientKey, method, u, tok, nonce, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The first proof has no nonce: 401 use_dpop_nonce with the nonce.
	a := call(t, "GET", base+"/orders", "DPoP "+tok, proofFor("GET", testAudience+"/orders", ""), "")
	if a.status != 401 || !strings.Contains(a.challengeOf("DPoP"), `error="use_dpop_nonce"`) || a.nonce == "" {
		t.Fatalf("without a nonce: %d %q nonce %q", a.status, a.challenge, a.nonce)
	}
	nonce := a.nonce

	t.Run("bound token with a proof: 200", func(t *testing.T) {
		p := proofFor("GET", testAudience+"/orders", nonce)
		a := call(t, "GET", base+"/orders", "DPoP "+tok, p, "")
		if a.status != 200 || a.body["caller"] != "agent-7" || a.nonce == "" {
			t.Fatalf("got %+v", a)
		}
		t.Run("replayed proof: 401 invalid_dpop_proof", func(t *testing.T) {
			a := call(t, "GET", base+"/orders", "DPoP "+tok, p, "")
			if a.status != 401 || !strings.Contains(a.challengeOf("DPoP"), `error="invalid_dpop_proof"`) {
				t.Fatalf("replay: %d %q", a.status, a.challenge)
			}
		})
	})

	t.Run("POST with a proof: 201", func(t *testing.T) {
		a := call(t, "POST", base+"/orders", "DPoP "+tok, proofFor("POST", testAudience+"/orders", nonce), `{"item":"ink","quantity":1}`)
		if a.status != 201 {
			t.Fatalf("got %+v", a)
		}
	})

	t.Run("bound token under Bearer: 401 invalid_token", func(t *testing.T) {
		for _, proof := range []string{"", proofFor("GET", testAudience+"/orders", nonce)} {
			a := call(t, "GET", base+"/orders", "Bearer "+tok, proof, "")
			if a.status != 401 || !strings.Contains(a.challengeOf("Bearer"), `error="invalid_token"`) {
				t.Fatalf("downgrade (proof %v): %d %q", proof != "", a.status, a.challenge)
			}
		}
	})

	t.Run("proof for another request: 401 invalid_dpop_proof", func(t *testing.T) {
		for name, p := range map[string]string{
			"method":   proofFor("POST", testAudience+"/orders", nonce),
			"url":      proofFor("GET", base+"/orders", nonce), // not the public origin
			"no proof": "",
		} {
			a := call(t, "GET", base+"/orders", "DPoP "+tok, p, "")
			if a.status != 401 || !strings.Contains(a.challengeOf("DPoP"), `error="invalid_dpop_proof"`) {
				t.Errorf("%s: %d %q", name, a.status, a.challenge)
			}
		}
	})

	t.Run("proof by another key: 401", func(t *testing.T) {
		other, _ := jose.GenerateKey(jose.ES256)
		p, _ := dpop.NewProof(other, "GET", testAudience+"/orders", tok, nonce, w.clock.Now())
		if a := call(t, "GET", base+"/orders", "DPoP "+tok, p, ""); a.status != 401 {
			t.Fatalf("got %d %q", a.status, a.challenge)
		}
	})

	t.Run("bound token without the scope: 403", func(t *testing.T) {
		ro := mint("orders:read")
		p, _ := dpop.NewProof(clientKey, "POST", testAudience+"/orders", ro, nonce, w.clock.Now())
		a := call(t, "POST", base+"/orders", "DPoP "+ro, p, `{"item":"ink","quantity":1}`)
		if a.status != 403 || !strings.Contains(a.challengeOf("DPoP"), `scope="orders:write"`) {
			t.Fatalf("got %d %q", a.status, a.challenge)
		}
	})

	if strings.Contains(logs.String(), tok) {
		t.Fatal("a token is in the API's log")
	}
}

// With -introspect the API also accepts writ's opaque tokens, asking writ
// about each (and caching the answer); scope checks still apply.
func TestOrdersAPIIntrospection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a writ node")
	}
	w := startWrit(t)
	self := w.createClient(t, "orders api", "orders:read", testAudience, nil)
	opaqueReader := w.createClient(t, "opaque reader", "orders:read", testAudience, map[string]any{"access_token_format": "opaque"})
	opaqueWriter := w.createClient(t, "opaque writer", "orders:read orders:write", testAudience, map[string]any{"access_token_format": "opaque"})
	jwtReader := w.createClient(t, "jwt reader", "orders:read", testAudience, nil)

	base, logs := startAPI(t, w, []string{"-introspect"}, map[string]string{
		"ORDERS_ISSUER": w.issuer, "ORDERS_AUDIENCE": testAudience,
		"ORDERS_CLIENT_ID": self.ID, "ORDERS_CLIENT_SECRET": self.Secret,
	}, nil)

	rt, wt := w.token(t, opaqueReader), w.token(t, opaqueWriter)
	if strings.Count(rt, ".") == 2 {
		t.Fatal("writ issued a JWT, want an opaque token")
	}
	for _, tc := range []struct {
		name, method, tok, body string
		want                    int
	}{
		{"opaque, read", "GET", rt, "", 200},
		{"opaque, read again (cached)", "GET", rt, "", 200},
		{"opaque, write without the scope", "POST", rt, `{"item":"a","quantity":1}`, 403},
		{"opaque, write", "POST", wt, `{"item":"a","quantity":1}`, 201},
		{"JWT still verified locally", "GET", w.token(t, jwtReader), "", 200},
		{"made-up opaque token", "GET", "writ_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", 401},
	} {
		if a := call(t, tc.method, base+"/orders", "Bearer "+tc.tok, "", tc.body); a.status != tc.want {
			t.Errorf("%s: %d %q %v, want %d", tc.name, a.status, a.challenge, a.body, tc.want)
		}
	}
	if s := logs.String(); strings.Contains(s, rt) || strings.Contains(s, wt) || strings.Contains(s, self.Secret) {
		t.Fatal("a token or the client secret is in the API's log")
	}
}

// When writ cannot be reached, the API cannot tell a good token from a bad
// one: it answers 503 without a challenge (the client keeps its token),
// never 401, and /readyz says it is not ready.
func TestOrdersAPIIssuerDown(t *testing.T) {
	down := "http://127.0.0.1:1" // nothing listens on port 1
	w := &writNode{clock: clocktest.Real()}
	base, _ := startAPI(t, w, []string{"-issuer", down, "-audience", testAudience}, nil, nil)

	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jwt.NewSigner(key, jwt.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := signer.Sign(map[string]any{"iss": down, "aud": testAudience, "sub": "s", "client_id": "s", "jti": "1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "scope": "orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	if a := call(t, "GET", base+"/orders", "Bearer "+tok, "", ""); a.status != 503 || len(a.challenge) != 0 {
		t.Fatalf("token of an unreachable issuer: %d %q, want 503 without a challenge", a.status, a.challenge)
	}
	if a := call(t, "GET", base+"/readyz", "", "", ""); a.status != 503 || a.body["ready"] != false {
		t.Fatalf("readyz: %+v", a)
	}
	// A token of an issuer the API does not trust is the token's fault.
	other, err := signer.Sign(map[string]any{"iss": "https://elsewhere.example", "aud": testAudience, "sub": "s",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if a := call(t, "GET", base+"/orders", "Bearer "+other, "", ""); a.status != 401 {
		t.Fatalf("token of an untrusted issuer: %d, want 401", a.status)
	}
}
