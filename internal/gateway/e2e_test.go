package gateway_test

// End-to-end: a real writ node (started in-process as `writ serve` starts
// it, development mode, SQLite in a temporary directory, loopback), the
// gateway in front of a sample upstream, and tokens writ issued by
// client_credentials.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/gateway"
	gwconfig "github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/rs"
)

const e2eAudience = "https://api.example.test"

type writNode struct {
	t                            *testing.T
	issuer                       string
	admin                        string
	token                        string
	clock                        *clocktest.Clock
	tokenEndpoint, introspection string
}

func startWrit(t *testing.T) *writNode {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": filepath.Join(dir, "data"),
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "warn",
	}
	clock := clocktest.Real()
	a := apptest.Start(t, env, app.Options{Announce: io.Discard, Now: clock.Now})
	w := &writNode{t: t, issuer: a.Issuer, admin: "http://" + a.AdminAddr().String(), token: a.AdminToken, clock: clock}
	var disc struct {
		Token         string `json:"token_endpoint"`
		Introspection string `json:"introspection_endpoint"`
	}
	resp, err := http.Get(w.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil {
		t.Fatal(err)
	}
	w.tokenEndpoint, w.introspection = disc.Token, disc.Introspection
	return w
}

type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (w *writNode) createClient(metadata map[string]any) client {
	w.t.Helper()
	b, _ := json.Marshal(metadata)
	req, _ := http.NewRequest("POST", w.admin+"/admin/clients", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var c client
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("create client: %s %v", resp.Status, err)
	}
	return c
}

func (w *writNode) accessToken(c client, scope string) string {
	w.t.Helper()
	req, _ := http.NewRequest("POST", w.tokenEndpoint, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		w.t.Fatalf("token: %s %v", resp.Status, err)
	}
	return out.AccessToken
}

func TestGatewayEndToEndWithWrit(t *testing.T) {
	w := startWrit(t)
	reader := w.createClient(map[string]any{"client_name": "reader", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{e2eAudience}})
	other := w.createClient(map[string]any{"client_name": "other", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{"https://elsewhere.test"}})
	opaque := w.createClient(map[string]any{"client_name": "opaque", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{e2eAudience}, "access_token_format": "opaque"})
	gw := w.createClient(map[string]any{"client_name": "gateway", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{e2eAudience}})

	var mu sync.Mutex
	var last http.Header
	up := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Clone()
		mu.Unlock()
		_, _ = io.WriteString(rw, "upstream "+r.URL.Path)
	}))
	defer up.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(gw.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := `listen: 127.0.0.1:0
issuers:
  - issuer: ` + w.issuer + `
    audiences: [` + e2eAudience + `]
introspection:
  endpoint: ` + w.introspection + `
  client_id: ` + gw.ID + `
  client_secret_file: ` + secret + `
  jwt_response: true
  issuer: ` + w.issuer + `
routes:
  - path: /orders/{id}
    upstream: ` + up.URL + `
    scopes: {all: [orders:read]}
    headers: {X-Client: client_id}
  - path: /admin/
    upstream: ` + up.URL + `
    scopes: {all: [orders:admin]}
  - path: /phantom/
    upstream: ` + up.URL + `
    token: opaque
    phantom: true
    scopes: {all: [orders:read]}
`
	f, err := gwconfig.Parse([]byte(file), "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), f, gateway.Deps{
		NewVerifier: func(ctx context.Context, issuers []gwconfig.Issuer) (rs.TokenVerifier, error) {
			return gateway.NewVerifier(ctx, issuers, rs.WithClock(w.clock.Now))
		},
		NewIntrospector: func(ctx context.Context, cfg gwconfig.Introspection) (gateway.Introspector, error) {
			return gateway.NewIntrospector(ctx, cfg)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	call := func(path, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("X-Client", "forged")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	readerTok := w.accessToken(reader, "orders:read")
	if code, body := call("/orders/7", readerTok); code != 200 || body != "upstream /orders/7" {
		t.Fatalf("allowed: %d %q", code, body)
	}
	mu.Lock()
	if last.Get("X-Client") != reader.ID || last.Get("Authorization") != "" {
		t.Errorf("upstream headers %v", last)
	}
	mu.Unlock()
	if code, _ := call("/admin/x", readerTok); code != 403 {
		t.Errorf("denied: %d", code)
	}
	if code, _ := call("/orders/7", w.accessToken(other, "orders:read")); code != 401 {
		t.Errorf("wrong audience: %d", code)
	}
	if code, _ := call("/orders/7", readerTok[:len(readerTok)-4]+"AAAA"); code != 401 {
		t.Errorf("forged signature: %d", code)
	}
	if code, _ := call("/orders/7", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	// Phantom: the opaque token is introspected, the upstream gets the JWT.
	opaqueTok := w.accessToken(opaque, "orders:read")
	if code, body := call("/phantom/x", opaqueTok); code != 200 {
		t.Fatalf("phantom: %d %q", code, body)
	}
	mu.Lock()
	phantom := strings.TrimPrefix(last.Get("Authorization"), "Bearer ")
	mu.Unlock()
	if strings.Count(phantom, ".") != 2 || strings.Contains(phantom, opaqueTok) {
		t.Errorf("upstream Authorization %q is not the phantom JWT", phantom)
	}
	if code, _ := call("/phantom/x", "writ_at_not-a-token"); code != 401 {
		t.Errorf("unknown opaque token: %d", code)
	}
	// Expired: the verifier's clock moves past exp (the verified-token
	// cache never serves a token past its exp).
	w.clock.Advance(2 * time.Hour)
	if code, _ := call("/orders/7", readerTok); code != 401 {
		t.Errorf("expired: %d", code)
	}
}
