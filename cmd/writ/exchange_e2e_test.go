package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
)

// TestTokenExchangeEndToEnd drives "writ token exchange" against a real
// writ node: on behalf of (service A exchanges a user's token addressed to
// it for one to B), two hops (an agent presents A's token and its own as the
// actor token: act nests), and a refusal by the default policy. It skips
// while the node does not serve the token exchange grant.
func TestTokenExchangeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   dir,
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
	}, app.Options{Announce: io.Discard})
	hc := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)

	resp, err := hc.Get(a.Issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Grants []string `json:"grant_types_supported"`
	}
	err = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(md.Grants, grantTokenExchange) {
		t.Skip("the node does not serve the token exchange grant (grant_types_supported)")
	}

	const aud, bud, cud = "https://a.example.test", "https://b.example.test", "https://c.example.test"
	type client struct{ id, secret string }
	create := func(name string, grants []string, audiences ...string) client {
		t.Helper()
		meta := map[string]any{"client_name": name, "grant_types": grants, "scope": "orders:read orders:write", "audiences": audiences}
		if slices.Contains(grants, "authorization_code") {
			meta["redirect_uris"] = []string{"http://127.0.0.1/cb"}
		}
		var c struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		apptest.Admin(t, a, http.MethodPost, "/admin/clients", meta, &c, http.StatusCreated)
		return client{c.ID, c.Secret}
	}
	token := func(c client, form url.Values) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
			t.Fatalf("client_credentials: %d %v", resp.StatusCode, err)
		}
		return out.AccessToken
	}
	write := func(name, tok string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The subject is a user's token for A, issued to the front end by the
	// authorization code grant (the code is put in the store as the
	// sign-in pages would).
	front := create("front", []string{"authorization_code"}, aud)
	svcA := create("service-a", []string{grantTokenExchange}, aud, bud)
	agent := create("agent", []string{grantTokenExchange, "client_credentials"}, bud, cud)
	ctx := t.Context()
	now := time.Now().UTC()
	user := store.User{ID: "u-" + opaque.Random(8), Username: "ada", CreatedAt: now, UpdatedAt: now}
	if err := a.Store.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	code, hash := opaque.New(opaque.CodePrefix)
	if err := a.Store.CreateAuthCode(ctx, store.AuthCode{Hash: hash, ClientID: front.id, UserID: user.ID, RedirectURI: "http://127.0.0.1/cb",
		Scopes: []string{"orders:read", "orders:write"}, Audience: []string{aud}, AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	subject := write("subject.jwt", token(front, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1/cb"}}))

	// On behalf of: A exchanges the front end's token for one to B.
	r := writ(t, "", "token", "exchange", "--url", a.Issuer, "--client-id", svcA.id, "--client-secret", svcA.secret,
		"--subject-token-file", subject, "--audience", bud, "--scope", "orders:read").mustSucceed(t)
	forB := strings.TrimSpace(r.stdout)
	for _, w := range []string{
		"issued_token_type: urn:ietf:params:oauth:token-type:access_token",
		"scope: orders:read",
		"sub: " + user.ID + "  aud: " + bud,
		"  act (current actor first):\n    sub: " + svcA.id,
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not hold %q:\n%s", w, r.stderr)
		}
	}

	// Two hops: the agent acts on A's token, with its own as the actor
	// token; the chain nests, the current actor first.
	actor := write("actor.jwt", token(agent, url.Values{"grant_type": {"client_credentials"}, "resource": {bud}}))
	r = writCtx(t, t.Context(), strings.NewReader(forB), "token", "exchange", "--url", a.Issuer, "--client-id", agent.id,
		"--client-secret", agent.secret, "--subject-token-file", "-", "--actor-token-file", actor, "--resource", cud, "--json").mustSucceed(t)
	var out struct {
		IssuedTokenType string           `json:"issued_token_type"`
		Claims          map[string]any   `json:"claims"`
		ActChain        []map[string]any `json:"act_chain"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(out.ActChain) != 2 || out.ActChain[0]["sub"] != agent.id || out.ActChain[1]["sub"] != svcA.id {
		t.Errorf("act_chain = %v, want [%s %s]", out.ActChain, agent.id, svcA.id)
	}
	if out.Claims["sub"] != user.ID || out.Claims["aud"] != cud {
		t.Errorf("claims = %v", out.Claims)
	}

	// Refused by the default policy: A is not registered for C.
	r = writ(t, "", "token", "exchange", "--url", a.Issuer, "--client-id", svcA.id, "--client-secret", svcA.secret,
		"--subject-token-file", subject, "--audience", cud)
	r.mustFail(t, exitRejected, "writ: exchange refused: invalid_target")
}
