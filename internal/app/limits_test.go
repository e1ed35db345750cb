package app_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/ratelimit"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// limitNode starts a node with env over development defaults on a clock.
func limitNode(t *testing.T, clock *clocktest.Clock, env map[string]string, hooks ratelimit.Hooks) *app.App {
	t.Helper()
	base := map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": filepath.Join(t.TempDir(), "node"),
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "error",
	}
	maps.Copy(base, env)
	return apptest.Start(t, base, app.Options{Announce: io.Discard, Now: clock.Now, RateLimitHooks: hooks})
}

type machineClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func createClient(t *testing.T, a *app.App) machineClient {
	t.Helper()
	var c machineClient
	apptest.Admin(t, a, http.MethodPost, "/admin/clients",
		map[string]any{"client_name": "svc", "grant_types": []string{"client_credentials"}, "scope": "orders:read"}, &c, http.StatusCreated)
	return c
}

// tokenReply is one token request's answer.
type tokenReply struct {
	status     int
	retryAfter string
	errCode    string
	desc       string
}

func requestToken(t *testing.T, a *app.App, c machineClient, header http.Header) tokenReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.PublicAddr().String()+"/oauth2/token",
		strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return tokenReply{resp.StatusCode, resp.Header.Get("Retry-After"), out.Error, out.Desc}
}

// wantLimited checks a 429 with Retry-After (seconds) and the JSON error.
func wantLimited(t *testing.T, r tokenReply, retry int) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.errCode != "temporarily_unavailable" || r.retryAfter != strconv.Itoa(retry) {
		t.Fatalf("got %d %q Retry-After %q (%s), want 429 temporarily_unavailable Retry-After %d", r.status, r.errCode, r.retryAfter, r.desc, retry)
	}
}

// TestTokenRateLimits: the per-address and per-client limits of the token
// endpoint refuse with 429, Retry-After and a JSON error, and allow again
// once the time has come; the refusal hook hears of each.
func TestTokenRateLimits(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		env   map[string]string
		retry int
	}{
		{"token", map[string]string{"WRIT_RATE_LIMIT_TOKEN": "2/h:2"}, 1800},
		{"token_client", map[string]string{"WRIT_RATE_LIMIT_TOKEN_CLIENT": "1/m:2"}, 60},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			clock := clocktest.New(time.Now().Truncate(time.Second))
			var refused atomic.Int32
			a := limitNode(t, clock, tc.env, ratelimit.Hooks{Refused: func(rule string) {
				if rule == tc.rule {
					refused.Add(1)
				}
			}})
			c := createClient(t, a)
			for i := range 2 {
				if r := requestToken(t, a, c, nil); r.status != http.StatusOK {
					t.Fatalf("request %d: %+v", i, r)
				}
			}
			wantLimited(t, requestToken(t, a, c, nil), tc.retry)
			if refused.Load() != 1 {
				t.Fatalf("Refused hook heard %d refusals of %s, want 1", refused.Load(), tc.rule)
			}
			clock.Advance(time.Duration(tc.retry) * time.Second)
			if r := requestToken(t, a, c, nil); r.status != http.StatusOK {
				t.Fatalf("after Retry-After: %+v", r)
			}
		})
	}
}

// TestTrustedProxies: behind a trusted proxy the limit counts per client
// address from X-Forwarded-For; without one the header is ignored and
// every request counts against the peer.
func TestTrustedProxies(t *testing.T) {
	xff := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	t.Run("trusted", func(t *testing.T) {
		a := limitNode(t, clocktest.New(time.Now()), map[string]string{"WRIT_RATE_LIMIT_TOKEN": "1/h:1", "WRIT_TRUSTED_PROXIES": "127.0.0.0/8, ::1"}, ratelimit.Hooks{})
		c := createClient(t, a)
		if r := requestToken(t, a, c, xff("203.0.113.1")); r.status != 200 {
			t.Fatalf("first client: %+v", r)
		}
		wantLimited(t, requestToken(t, a, c, xff("6.6.6.6, 203.0.113.1")), 3600)
		if r := requestToken(t, a, c, xff("203.0.113.2")); r.status != 200 {
			t.Fatalf("second client: %+v", r)
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		a := limitNode(t, clocktest.New(time.Now()), map[string]string{"WRIT_RATE_LIMIT_TOKEN": "1/h:1"}, ratelimit.Hooks{})
		c := createClient(t, a)
		if r := requestToken(t, a, c, xff("203.0.113.1")); r.status != 200 {
			t.Fatalf("first request: %+v", r)
		}
		wantLimited(t, requestToken(t, a, c, xff("203.0.113.2")), 3600)
	})
}

// TestRateLimitSharedByNodes: two nodes on one PostgreSQL database count
// against one limit (rate_limit_backend auto: the database).
func TestRateLimitSharedByNodes(t *testing.T) {
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	mk := make([]byte, 32)
	rand.Read(mk)
	clock := clocktest.New(time.Now().Truncate(time.Second))
	env := map[string]string{
		"WRIT_DATABASE": dsn, "WRIT_ISSUER": "http://writ.example.test",
		"WRIT_MASTER_KEY": base64.StdEncoding.EncodeToString(mk), "WRIT_RATE_LIMIT_TOKEN_CLIENT": "3/h:3",
	}
	a := limitNode(t, clock, env, ratelimit.Hooks{})
	b := limitNode(t, clock, env, ratelimit.Hooks{})
	c := createClient(t, a)
	for i, n := range []*app.App{a, b, a} {
		if r := requestToken(t, n, c, nil); r.status != 200 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	wantLimited(t, requestToken(t, b, c, nil), 1200)
	wantLimited(t, requestToken(t, a, c, nil), 1200)
}

// TestRateLimitPage: a rate-limited sign-in page is a friendly HTML page
// with 429 and Retry-After.
func TestRateLimitPage(t *testing.T) {
	a := limitNode(t, clocktest.New(time.Now()), map[string]string{"WRIT_RATE_LIMIT_LOGIN": "1/m:1"}, ratelimit.Hooks{})
	get := func() *http.Response {
		resp, err := http.Get("http://" + a.PublicAddr().String() + "/login")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := get()
	first.Body.Close()
	if first.StatusCode == http.StatusTooManyRequests {
		t.Fatal("first request limited")
	}
	resp := get()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("Too many requests")) {
		t.Fatalf("got %d Retry-After %q %s:\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
}
