package e2e

import (
	"context"
	"encoding/json"
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
	"github.com/writ-dev/writ/internal/store"
)

const (
	audFront = "https://a.example.test"
	audMid   = "https://b.example.test"
	audTools = "https://tools.example.test"
	// grantTokenExchange is RFC 8693's grant type.
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// exchangeRoutes lets through to the tools only a token on which the agent
// acts for service A, which acted for the subject: a two-hop act chain.
const exchangeRoutes = `listen: 127.0.0.1:0
issuers:
  - name: writ
    issuer: {{writ}}
    audiences: [https://tools.example.test]
routes:
  - path: /tools/
    upstream: {{upstream}}
    issuers: [writ]
    allow: 'has(claims.act) && claims.act.sub == "{{agent}}" && has(claims.act.act) && claims.act.act.sub == "{{service}}"'
    headers: {X-User: sub}
`

// exchange runs RFC 8693 token exchange for c.
func (w *writNode) exchange(c client, form url.Values) string {
	w.t.Helper()
	form.Set("grant_type", grantTokenExchange)
	resp := w.do(http.MethodPost, w.Discovery.Token, strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	})
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &out) != nil || out.AccessToken == "" {
		w.t.Fatalf("token exchange by %s: %s", c.ID, resp)
	}
	return out.AccessToken
}

// startWritStore is startWrit, also returning the node's store.
func startWritStore(t *testing.T, clock *clocktest.Clock) (*writNode, store.Store) {
	t.Helper()
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "warn",
	}, app.Options{Announce: io.Discard, Now: clock.Now})
	w := &writNode{t: t, Issuer: a.Issuer, Admin: "http://" + a.AdminAddr().String(), token: a.AdminToken, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(w.http.CloseIdleConnections)
	resp := w.do(http.MethodGet, w.Issuer+"/.well-known/openid-configuration", nil, nil)
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &w.Discovery) != nil || w.Discovery.Token == "" {
		t.Fatalf("discovery: %s", resp)
	}
	return w, a.Store
}

// TestGatewayActChain: a two-hop agent chain (the agent acts on service
// A's token, A acted for the front end) passes the route's rule on the
// nested act; a token without the chain, or with another service in it,
// is refused.
func TestGatewayActChain(t *testing.T) {
	clock := clocktest.Real()
	w, st := startWritStore(t, clock)
	up := startUpstream(t)
	mk := func(name string, grants []string, scope string, auds ...string) client {
		// Registered through the admin API as client_credentials clients;
		// the grant types are then set in the store, whatever the admin
		// API of this build accepts.
		c := w.createClient(map[string]any{"client_name": name, "grant_types": []string{"client_credentials"}, "scope": scope, "audiences": auds})
		if _, err := st.UpdateClient(context.Background(), c.ID, func(old store.Client) (store.Client, error) {
			old.GrantTypes = grants
			return old, nil
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	front := mk("front", []string{"client_credentials"}, "orders:read", audFront)
	svcA := mk("service-a", []string{grantTokenExchange}, "orders:read", audFront, audMid)
	svcX := mk("service-x", []string{grantTokenExchange}, "orders:read", audFront, audMid)
	agent := mk("agent", []string{grantTokenExchange, "client_credentials"}, "orders:read", audMid, audTools)

	dir := t.TempDir()
	file := strings.NewReplacer("{{writ}}", w.Issuer, "{{upstream}}", up.URL, "{{agent}}", agent.ID, "{{service}}", svcA.ID).Replace(exchangeRoutes)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	gw := startGateway(t, path, gatewayDeps(clock.Now, &countingTransport{base: http.DefaultTransport}), logs)
	e := &env{clock: clock, writ: w, up: up, gw: gw, logs: logs, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(e.http.CloseIdleConnections)

	subject := w.accessToken(front, "orders:read")
	hop := func(by client, tok, target string) string {
		return w.exchange(by, url.Values{"subject_token": {tok}, "subject_token_type": {tokenTypeAccess}, "audience": {target}})
	}
	viaA := hop(agent, hop(svcA, subject, audMid), audTools)
	viaX := hop(agent, hop(svcX, subject, audMid), audTools)
	// The agent's own token for the tools: no act at all.
	resp := w.do(http.MethodPost, w.Discovery.Token, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "resource": {audTools}}.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(agent.ID), url.QueryEscape(agent.Secret))
	})
	var ownTok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &ownTok) != nil {
		t.Fatalf("agent token: %s", resp)
	}
	own := ownTok.AccessToken

	saw := upstreamSaw(t, e.request(t, "GET", "/tools/list", "Bearer "+viaA, "", nil))
	if got := saw.Header["X-User"]; len(got) != 1 || got[0] != front.ID {
		t.Errorf("X-User = %q, want the front end %q (the chain's subject)", got, front.ID)
	}
	wantStatus(t, e.request(t, "GET", "/tools/list", "Bearer "+viaX, "", nil), http.StatusForbidden)
	wantStatus(t, e.request(t, "GET", "/tools/list", "Bearer "+own, "", nil), http.StatusForbidden)
}
