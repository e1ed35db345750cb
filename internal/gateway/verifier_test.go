package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// realSetup is a gateway with the real rs.Verifier (static keys from a
// jwks_file) in front of an in-process upstream.
type realSetup struct {
	gw     *Gateway
	signer *jwt.Signer
	up     *httptest.Server
}

func newRealSetup(tb testing.TB, extra string) *realSetup { return newRealSetupWith(tb, extra, nil) }

// cannedTransport answers every request itself: the gateway's own cost,
// without a network hop.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: http.NoBody, ContentLength: 0, Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

func newRealSetupWith(tb testing.TB, extra string, transport http.RoundTripper) *realSetup {
	tb.Helper()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	jwks, _ := jose.NewKeySet(key.Public()).MarshalJSON()
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		tb.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.Header.Get("X-User"))
	}))
	tb.Cleanup(up.Close)
	extra = strings.ReplaceAll(extra, "UP", up.URL)
	file := `
listen: 127.0.0.1:0
issuers:
  - issuer: https://id.example
    jwks_file: ` + filepath.Join(dir, "jwks.json") + `
    audiences: [https://api.example]
routes:
  - path: /public/
    upstream: ` + up.URL + `
    anonymous: true
  - path: /orders/{id}
    upstream: ` + up.URL + `
    scopes: {all: [orders:read]}
    allow: 'claims.client_id == "app" && request.params.id != "0"'
    headers: {X-User: sub}
` + extra
	f, err := config.Parse([]byte(file), "")
	if err != nil {
		tb.Fatal(err)
	}
	gw, err := New(context.Background(), f, Deps{
		Transport: transport,
		NewDPoP: func(ctx context.Context, cfg config.DPoP) (rs.DPoPChecker, error) {
			return NewDPoP(ctx, cfg)
		},
		NewVerifier: func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error) {
			return NewVerifier(ctx, issuers)
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jwt.NewSigner(key, "at+jwt")
	if err != nil {
		tb.Fatal(err)
	}
	return &realSetup{gw: gw, signer: s, up: up}
}

func (s *realSetup) token(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	now := time.Now()
	c := map[string]any{"iss": "https://id.example", "aud": "https://api.example", "sub": "alice", "client_id": "app",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1", "scope": "orders:read"}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := s.signer.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestGatewayWithRealVerifier(t *testing.T) {
	s := newRealSetup(t, "")
	for _, c := range []struct {
		name   string
		claims map[string]any
		status int
	}{
		{"valid", nil, 200},
		{"expired", map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}, 401},
		{"wrong audience", map[string]any{"aud": "https://other"}, 401},
		{"unknown issuer", map[string]any{"iss": "https://evil.example"}, 401},
		{"scope missing", map[string]any{"scope": "orders:write"}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/orders/7", nil)
			req.Header.Set("Authorization", "Bearer "+s.token(t, c.claims))
			req.Header.Set("X-User", "mallory")
			rec := httptest.NewRecorder()
			s.gw.ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if c.status == 200 && rec.Body.String() != "ok alice" {
				t.Fatalf("body %q", rec.Body)
			}
		})
	}
	// A token signed by another key.
	other := newRealSetup(t, "")
	req := httptest.NewRequest("GET", "/orders/7", nil)
	req.Header.Set("Authorization", "Bearer "+other.token(t, nil))
	rec := httptest.NewRecorder()
	s.gw.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("forged: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestGatewayWithRealDPoP(t *testing.T) {
	s := newRealSetup(t, `  - path: /dpop/
    upstream: UP
    dpop: required
    allow: 'true'
`)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	bound := s.token(t, map[string]any{"cnf": map[string]any{"jkt": key.ThumbprintSHA256()}})
	srv := httptest.NewServer(s.gw)
	defer srv.Close()
	send := func(path, scheme, tok, proof string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	proof := func(path string) string {
		p, err := dpop.NewProof(key, "GET", srv.URL+path, bound, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := proof("/dpop/x")
	if r := send("/dpop/x", "DPoP", bound, p); r.StatusCode != 200 {
		t.Fatalf("valid proof: %s %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if r := send("/dpop/x", "DPoP", bound, p); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Fatalf("replayed proof: %s %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if r := send("/dpop/x", "DPoP", bound, proof("/dpop/other")); r.StatusCode != 401 {
		t.Fatalf("proof for another URL: %s", r.Status)
	}
	if r := send("/dpop/x", "Bearer", bound, ""); r.StatusCode != 401 {
		t.Fatalf("DPoP-bound token as Bearer: %s", r.Status)
	}
	if r := send("/orders/7", "Bearer", bound, ""); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("DPoP-bound token as Bearer on a bearer route: %s", r.Status)
	}
	if r := send("/orders/7", "DPoP", bound, proof("/orders/7")); r.StatusCode != 200 {
		t.Fatalf("bound token with proof on a bearer route: %s", r.Status)
	}
	if r := send("/dpop/x", "DPoP", s.token(t, nil), proof("/dpop/x")); r.StatusCode != 401 {
		t.Fatalf("unbound token on a DPoP route: %s", r.Status)
	}
}

// BenchmarkGateway compares the gateway's anonymous route with a route
// that verifies a JWT (cached after the first request), checks a scope
// rule and sets an identity header, both proxying to the same in-process
// upstream.
func BenchmarkGateway(b *testing.B) {
	s := newRealSetup(b, "")
	tok := s.token(b, nil)
	for _, c := range []struct {
		name, path, auth string
	}{
		{"anonymous", "/public/x", ""},
		{"jwt+rule", "/orders/7", "Bearer " + tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", c.path, nil)
					if c.auth != "" {
						req.Header.Set("Authorization", c.auth)
					}
					rec := httptest.NewRecorder()
					s.gw.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}

// BenchmarkGatewayOverhead is BenchmarkGateway with an upstream answered
// in memory: what the gateway itself costs per request.
func BenchmarkGatewayOverhead(b *testing.B) {
	s := newRealSetupWith(b, "", cannedTransport{})
	tok := s.token(b, nil)
	for _, c := range []struct {
		name, path, auth string
	}{
		{"anonymous", "/public/x", ""},
		{"jwt+rule", "/orders/7", "Bearer " + tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", c.path, nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				rec := httptest.NewRecorder()
				s.gw.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
