package rs_test

// End to end: a real writ node on loopback (started as `writ serve` starts
// it, TLS with a test CA) is the issuer; the Verifier discovers it, fetches
// its keys and verifies the access tokens it issues, across a key
// rotation.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/testcert"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// e2eNode is a running writ node.
type e2eNode struct {
	issuer, admin, adminToken string
	client                    *http.Client // trusts the test CA
}

func startWritNode(t *testing.T) *e2eNode {
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
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	n := &e2eNode{
		issuer:     a.Issuer,
		admin:      "http://" + a.AdminAddr().String(),
		adminToken: a.AdminToken,
		client: &http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
			Timeout:   30 * time.Second,
		},
	}
	t.Cleanup(n.client.CloseIdleConnections)
	return n
}

// do sends req and returns the status and body.
func (n *e2eNode) do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// adminCall calls the admin API and decodes a 2xx answer into out.
func (n *e2eNode) adminCall(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.adminToken)
	req.Header.Set("Content-Type", "application/json")
	status, got := n.do(t, req)
	if status/100 != 2 {
		t.Fatalf("admin %s %s: %d %s", method, path, status, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatal(err)
		}
	}
}

// clientToken registers a client_credentials client for audience and gets
// an access token for it.
func (n *e2eNode) clientToken(t *testing.T, id, audience string) string {
	t.Helper()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	n.adminCall(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id":   id,
		"client_name": id,
		"grant_types": []string{"client_credentials"},
		"scope":       "orders:read orders:write",
		"audiences":   []string{audience},
	}, &c)
	return n.token(t, c.ID, c.Secret)
}

func (n *e2eNode) token(t *testing.T, id, secret string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	status, body := n.do(t, req)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("client credentials for %s: %d %s", id, status, body)
	}
	return tr.AccessToken
}

func TestVerifierAgainstWrit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a writ node")
	}
	n := startWritNode(t)
	const api = "https://api.example.com"
	ctx := context.Background()
	clk := clocktest.Real() // the real time, which writ's tokens carry, moved on at will
	v, err := rs.NewVerifier(ctx, []rs.IssuerConfig{
		{Issuer: n.issuer, Audiences: []string{api}, RequiredClaims: []string{"sub", "client_id", "iat", "jti"}},
		{Issuer: "https://partner.example", JWKSURI: "https://127.0.0.1:1/never-fetched", Audiences: []string{api}},
	}, rs.WithHTTPClient(n.client), rs.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}

	raw := n.clientToken(t, "orders-service", api)
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify of writ's access token: %v", err)
	}
	if tok.Issuer != n.issuer || tok.ClientID != "orders-service" || !tok.HasScope("orders:read") ||
		tok.Subject == "" || tok.ID == "" || tok.Expiry.IsZero() {
		t.Fatalf("token = %+v", tok)
	}
	st := v.Status()
	if !st[0].Available || st[0].Source != rs.KeysDiscovered || !strings.HasPrefix(st[0].JWKSURI, n.issuer) || st[0].Fetches != 1 {
		t.Fatalf("Status of writ = %+v", st[0])
	}
	if st[1].Fetches != 0 || st[1].LastError != "" {
		t.Fatalf("the other issuer was fetched: %+v", st[1])
	}

	// A token for another audience is refused.
	other := n.clientToken(t, "billing-service", "https://billing.example.com")
	if _, err := v.Verify(ctx, other); !errors.Is(err, rs.ErrInvalidToken) || !errors.Is(err, jwt.ErrAudience) {
		t.Fatalf("Verify of a token for another audience: %v", err)
	}

	// writ rotates its signing key (twice, so that the active key is one
	// the cached set may not hold); tokens of the new key verify.
	for range 2 {
		n.adminCall(t, http.MethodPost, "/admin/keys/rotate", map[string]any{"force": true}, nil)
	}
	var c struct {
		Secret string `json:"client_secret"`
	}
	n.adminCall(t, http.MethodPost, "/admin/clients/orders-service/rotate-secret", nil, &c)
	after := n.token(t, "orders-service", c.Secret)
	// Within the minimum refresh interval of the last fetch, an unknown kid
	// does not fetch again (the bound on forged kids): a 401.
	if _, err := v.Verify(ctx, after); !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Fatalf("Verify of a new kid within the interval: %v", err)
	}
	if st := v.Status()[0]; st.Fetches != 1 {
		t.Fatalf("fetched within the interval: %+v", st)
	}
	// After it, the new kid makes the set refresh at once.
	clk.Advance(rs.DefaultMinRefreshInterval)
	tok2, err := v.Verify(ctx, after)
	if err != nil {
		t.Fatalf("Verify after writ rotated its keys: %v", err)
	}
	if tok2.JWT.Header().KeyID == tok.JWT.Header().KeyID {
		t.Fatal("the rotation did not change the signing key")
	}
	if st := v.Status()[0]; st.Fetches != 2 || !st.Available || st.LastError != "" {
		t.Fatalf("Status after the rotation = %+v", st)
	}
}
