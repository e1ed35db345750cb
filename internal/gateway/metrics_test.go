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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

// The metrics on a path of the main listener, the verifier's key and
// cache metrics, and an assertion key from a file.
func TestMetricsPathAndStatus(t *testing.T) {
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jwks, _ := jose.NewKeySet(key.Public()).MarshalJSON()
	priv, _ := key.MarshalJSON()
	for name, data := range map[string][]byte{"jwks.json": jwks, "key.json": priv} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	f, err := config.Parse([]byte(`listen: 127.0.0.1:0
metrics: {path: /_metrics}
identity_assertion: {key_file: `+filepath.Join(dir, "key.json")+`}
issuers:
  - issuer: https://id.example
    jwks_file: `+filepath.Join(dir, "jwks.json")+`
    audiences: [https://api.example]
routes:
  - path: /
    upstream: `+up.URL+`
    anonymous: true
`), "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), f, Deps{
		Registerer: prometheus.NewRegistry(),
		NewVerifier: func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error) {
			return NewVerifier(ctx, issuers)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(p string) (int, string) {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if code, _ := get("/x"); code != 200 {
		t.Fatal(code)
	}
	code, body := get("/_metrics")
	for _, want := range []string{
		`writ_gateway_requests_total{decision="anonymous",route="/",status="2xx"} 1`,
		`writ_gateway_jwks_outage{issuer="https://id.example"} 0`,
		`writ_gateway_token_cache_total{result="hit"} 0`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	_, body = get(config.DefaultAssertionJWKSPath)
	ks, err := jose.ParseKeySet([]byte(body))
	if err != nil || ks.Len() != 1 || ks.Keys()[0].KeyID() != key.KeyID() {
		t.Fatalf("assertion JWKS %s: %v", body, err)
	}
	if code, _ := postTo(g, config.DefaultAssertionJWKSPath); code != 405 {
		t.Fatalf("POST to the JWKS: %d", code)
	}
}

func postTo(g http.Handler, p string) (int, string) {
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("POST", p, strings.NewReader("x")))
	return rec.Code, rec.Body.String()
}
