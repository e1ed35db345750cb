package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cputime"
	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// cannedTransport answers every upstream request in memory, so that a
// benchmark measures the gateway alone.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("ok")), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// BenchmarkGatewayRoutes measures what the gateway itself costs per
// request (upstream answered in memory) on the routes of the issue's
// contract, with the real verifier (explicit keys), the CEL rule and the
// decision log (JSON, discarded): anonymous, JWT with the rule and
// identity headers, and no token (401).
func BenchmarkGatewayRoutes(b *testing.B) {
	gw, tok := benchGateway(b, "http://127.0.0.1:9", cannedTransport{})
	for _, c := range []struct {
		name, path, auth string
		status           int
	}{
		{"anonymous", "/public/orders/7", "", 200},
		{"jwt+rule", "/orders/7", "Bearer " + tok, 200},
		{"no-token", "/orders/7", "", 401},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", c.path, nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				rec := httptest.NewRecorder()
				gw.ServeHTTP(rec, req)
				if rec.Code != c.status {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkGatewayHTTP is the same over loopback HTTP, in one process: a
// keep-alive client per goroutine, the gateway on a listener, and an
// upstream that answers "ok". Its ratios (jwt+rule / anonymous) are the
// gateway's share of a request, without a separate load generator.
// cpu-ns/op is the CPU time of the whole process (client, gateway and
// upstream) per request: on a shared machine, whose other tenants take
// time from the wall clock, the steadier figure of the two.
func BenchmarkGatewayHTTP(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	gw, tok := benchGateway(b, up.URL, nil)
	front := httptest.NewServer(gw)
	defer front.Close()
	for _, c := range []struct {
		name, url, auth string
		status          int
	}{
		{"upstream", up.URL + "/orders/7", "", 200},
		{"anonymous", front.URL + "/public/orders/7", "", 200},
		{"jwt+rule", front.URL + "/orders/7", "Bearer " + tok, 200},
		{"no-token", front.URL + "/orders/7", "", 401},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			cpu := cputime.Start()
			defer func() { cpu.Report(b, b.N) }()
			b.RunParallel(func(pb *testing.PB) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				defer client.CloseIdleConnections()
				for pb.Next() {
					req, _ := http.NewRequest("GET", c.url, nil)
					if c.auth != "" {
						req.Header.Set("Authorization", c.auth)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != c.status {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}

// benchGateway builds the gateway of the contract's orders and public
// routes to upstream, with an issuer of explicit keys; it returns the
// gateway and a token the orders rule allows.
func benchGateway(b *testing.B, upstream string, transport http.RoundTripper) (*gateway.Gateway, string) {
	key, err := jose.GenerateKey(jose.ES256, jose.WithKeyID("k1"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	set, _ := json.Marshal(jose.NewKeySet(key.Public()))
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), set, 0o600); err != nil {
		b.Fatal(err)
	}
	file := `listen: 127.0.0.1:0
issuers:
  - issuer: https://partner.example
    jwks_file: ` + filepath.Join(dir, "jwks.json") + `
    audiences: [https://api.example.test]
routes:
  - path: /orders/{id}
    methods: [GET]
    upstream: ` + upstream + `
    allow: '"orders:read" in claims.scope.split(" ") && request.params.id != "0"'
    headers: {X-User: sub, X-Client: client_id}
  - path: /public/
    upstream: ` + upstream + `
    anonymous: true
`
	f, err := config.Parse([]byte(file), "")
	if err != nil {
		b.Fatal(err)
	}
	deps := gatewayDeps(time.Now, &countingTransport{base: http.DefaultTransport})
	deps.Transport = transport
	deps.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	gw, err := gateway.New(context.Background(), f, deps)
	if err != nil {
		b.Fatal(err)
	}
	s, err := jwt.NewSigner(key, "at+jwt")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := s.Sign(map[string]any{"iss": "https://partner.example", "aud": "https://api.example.test", "sub": "alice", "client_id": "app",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1", "scope": "orders:read"})
	if err != nil {
		b.Fatal(err)
	}
	return gw, tok
}
