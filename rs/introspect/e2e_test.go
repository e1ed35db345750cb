package introspect_test

// End-to-end tests against a real writ node, started in-process as `writ
// serve` starts it (development mode, SQLite in a temporary directory,
// plain HTTP on a loopback port), with clients registered through its
// admin API. The node and the introspection client share one clock, so
// that moving it moves both: the cache entry ends and the server sees the
// same time.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/introspect"
)

const e2eAudience = "https://api.example.test/orders"

// writNode is a running writ.
type writNode struct {
	t         *testing.T
	Issuer    string
	Admin     string
	token     string
	Clock     *clocktest.Clock
	Discovery struct {
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
		Token         string `json:"token_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	http *http.Client
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
	w := &writNode{
		t: t, Issuer: a.Issuer, Admin: "http://" + a.AdminAddr().String(), token: a.AdminToken, Clock: clock,
		http: &http.Client{Timeout: 30 * time.Second},
	}
	t.Cleanup(w.http.CloseIdleConnections)
	if !strings.HasPrefix(w.Issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer %q is not on loopback", w.Issuer)
	}
	status, body := w.do(http.MethodGet, w.Issuer+"/.well-known/openid-configuration", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("discovery: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &w.Discovery); err != nil || w.Discovery.Introspection == "" {
		t.Fatalf("discovery: %v %s", err, body)
	}
	return w
}

// do sends a request and reads the answer.
func (w *writNode) do(method, u string, body io.Reader, mod func(*http.Request)) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// client is a registered client.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client through the admin API.
func (w *writNode) createClient(metadata map[string]any) client {
	w.t.Helper()
	b, err := json.Marshal(metadata)
	if err != nil {
		w.t.Fatal(err)
	}
	status, body := w.do(http.MethodPost, w.Admin+"/admin/clients", bytes.NewReader(b), func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+w.token)
		r.Header.Set("Content-Type", "application/json")
	})
	var c client
	if status != http.StatusCreated || json.Unmarshal(body, &c) != nil || c.ID == "" || c.Secret == "" {
		w.t.Fatalf("create client: %d %s", status, body)
	}
	return c
}

// form posts form to u as client c (client_secret_basic).
func (w *writNode) form(u string, c client, form url.Values) (int, []byte) {
	w.t.Helper()
	return w.do(http.MethodPost, u, strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	})
}

// accessToken gets an opaque access token for c by client_credentials.
func (w *writNode) accessToken(c client, scope string) string {
	w.t.Helper()
	status, body := w.form(w.Discovery.Token, c, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		w.t.Fatalf("token: %d %s", status, body)
	}
	if strings.Count(out.AccessToken, ".") == 2 {
		w.t.Fatalf("got a JWT, want an opaque token")
	}
	return out.AccessToken
}

// revoke revokes tok as its client c (RFC 7009).
func (w *writNode) revoke(c client, tok string) {
	w.t.Helper()
	if status, body := w.form(w.Discovery.Revocation, c, url.Values{"token": {tok}}); status != http.StatusOK {
		w.t.Fatalf("revoke: %d %s", status, body)
	}
}

// setup starts writ with a resource server (the introspecting client,
// registered for e2eAudience) and an opaque-token client.
func setup(t *testing.T) (w *writNode, resourceServer, billing client) {
	w = startWrit(t)
	resourceServer = w.createClient(map[string]any{
		"client_name": "orders api", "grant_types": []string{"client_credentials"},
		"scope": "orders:read", "audiences": []string{e2eAudience},
	})
	billing = w.createClient(map[string]any{
		"client_name": "billing", "grant_types": []string{"client_credentials"},
		"scope": "orders:read orders:write", "audiences": []string{e2eAudience},
		"access_token_format": "opaque",
	})
	return w, resourceServer, billing
}

func TestWritIntrospection(t *testing.T) {
	w, rsClient, billing := setup(t)
	c, err := introspect.New(introspect.Config{
		Endpoint: w.Discovery.Introspection, ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		Issuer: w.Issuer, Audience: e2eAudience, CacheTTL: 30 * time.Second, Now: w.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("active", func(t *testing.T) {
		raw := w.accessToken(billing, "orders:read")
		tok, err := c.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if tok.Issuer != w.Issuer || tok.ClientID != billing.ID || tok.Raw != raw {
			t.Errorf("Token = %+v", tok)
		}
		if !tok.HasScope("orders:read") || tok.HasScope("orders:write") {
			t.Errorf("Scopes = %q", tok.Scopes)
		}
		if len(tok.Audience) != 1 || tok.Audience[0] != e2eAudience {
			t.Errorf("Audience = %q", tok.Audience)
		}
		if !tok.Expiry.After(w.Clock.Now()) || tok.IssuedAt.After(w.Clock.Now()) {
			t.Errorf("Expiry %v, IssuedAt %v", tok.Expiry, tok.IssuedAt)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		raw := w.accessToken(billing, "orders:read")
		if _, err := c.Verify(ctx, raw); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		before := c.Stats().Requests
		w.revoke(billing, raw)
		// Within the cache entry's life the revocation is not seen...
		w.Clock.Advance(29 * time.Second)
		if _, err := c.Verify(ctx, raw); err != nil {
			t.Fatalf("Verify within the cache lifetime: %v", err)
		}
		if n := c.Stats().Requests; n != before {
			t.Fatalf("%d requests, want %d (a hit)", n, before)
		}
		// ...and once the entry has ended, the server says inactive.
		w.Clock.Advance(time.Second)
		if _, err := c.Verify(ctx, raw); !errors.Is(err, rs.ErrInvalidToken) {
			t.Fatalf("Verify after revocation: %v", err)
		}
		if n := c.Stats().Requests; n != before+1 {
			t.Fatalf("%d requests, want %d", n, before+1)
		}
	})

	t.Run("expired", func(t *testing.T) {
		raw := w.accessToken(billing, "orders:read")
		tok, err := c.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		w.Clock.Set(tok.Expiry)
		if _, err := c.Verify(ctx, raw); !errors.Is(err, rs.ErrInvalidToken) {
			t.Fatalf("Verify at exp: %v", err)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		if _, err := c.Verify(ctx, "writ_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, rs.ErrInvalidToken) {
			t.Fatalf("Verify: %v", err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		bad, err := introspect.New(introspect.Config{
			Endpoint: w.Discovery.Introspection, ClientID: rsClient.ID, ClientSecret: "wrong", Audience: e2eAudience, Now: w.Clock.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		raw := w.accessToken(billing, "orders:read")
		if _, err := bad.Verify(ctx, raw); !errors.Is(err, rs.ErrUnavailable) {
			t.Fatalf("Verify with a wrong client secret: %v (want 503, the token is fine)", err)
		}
	})

	t.Run("client_secret_post", func(t *testing.T) {
		post := w.createClient(map[string]any{
			"client_name": "orders api (post)", "grant_types": []string{"client_credentials"},
			"scope": "orders:read", "audiences": []string{e2eAudience},
			"token_endpoint_auth_method": "client_secret_post",
		})
		pc, err := introspect.New(introspect.Config{
			Endpoint: w.Discovery.Introspection, ClientID: post.ID, ClientSecret: post.Secret,
			AuthMethod: introspect.AuthClientSecretPost, Issuer: w.Issuer, Audience: e2eAudience, Now: w.Clock.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.Verify(ctx, w.accessToken(billing, "orders:read")); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func TestWritPhantom(t *testing.T) {
	w, rsClient, billing := setup(t)
	ctx := t.Context()
	keys := rs.NewRemoteKeySet(ctx, w.Discovery.JWKS, rs.WithClock(w.Clock.Now))
	c, err := introspect.New(introspect.Config{
		Endpoint: w.Discovery.Introspection, ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		JWTResponse: true, ResponseKeys: keys,
		Issuer: w.Issuer, Audience: e2eAudience, CacheTTL: 30 * time.Second, Now: w.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := w.accessToken(billing, "orders:read orders:write")
	phantom, tok, err := c.Phantom(ctx, raw)
	if err != nil {
		t.Fatalf("Phantom: %v", err)
	}
	if tok.ClientID != billing.ID || !tok.HasScope("orders:write") || tok.Issuer != w.Issuer {
		t.Errorf("Token = %+v", tok)
	}

	// The upstream verifies the phantom JWT on its own, with the issuer's
	// published keys.
	v, err := jwt.NewVerifier(rs.NewRemoteKeySet(ctx, w.Discovery.JWKS), jwt.Config{
		Issuer: w.Issuer, Audience: rsClient.ID, Type: introspect.TypeJWT, AllowMissingExpiry: true,
		RequiredClaims: []string{"iat", "token_introspection"}, Now: w.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	vt, err := v.Verify(ctx, phantom)
	if err != nil {
		t.Fatalf("phantom JWT: %v", err)
	}
	var claims struct {
		TI struct {
			Active   bool   `json:"active"`
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
		} `json:"token_introspection"`
	}
	if err := vt.DecodeClaims(&claims); err != nil || !claims.TI.Active || claims.TI.ClientID != billing.ID || claims.TI.Scope != "orders:read orders:write" {
		t.Errorf("token_introspection = %+v, %v", claims.TI, err)
	}
	if strings.Contains(phantom, raw) {
		t.Error("the phantom JWT carries the opaque token")
	}

	// Cached: the same JWT again, no request.
	before := c.Stats().Requests
	again, _, err := c.Phantom(ctx, raw)
	if err != nil || again != phantom || c.Stats().Requests != before {
		t.Fatalf("second Phantom: %v, same JWT %v, requests %d → %d", err, again == phantom, before, c.Stats().Requests)
	}

	// Revoked: refused once the entry has ended.
	w.revoke(billing, raw)
	w.Clock.Advance(30 * time.Second)
	if _, _, err := c.Phantom(ctx, raw); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("Phantom after revocation: %v", err)
	}
}
