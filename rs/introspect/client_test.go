package introspect

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

func TestNewConfig(t *testing.T) {
	keys := jwt.StaticKeys(nil)
	ok := Config{Endpoint: "https://as.example.test/introspect", ClientID: "a", ClientSecret: "s3cr3t-value", Audience: "https://api.example.test"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"https", func(*Config) {}, ""},
		{"http loopback v4", func(c *Config) { c.Endpoint = "http://127.0.0.1:8080/i" }, ""},
		{"http loopback v6", func(c *Config) { c.Endpoint = "http://[::1]:8080/i" }, ""},
		{"http localhost", func(c *Config) { c.Endpoint = "http://localhost/i" }, ""},
		{"http remote allowed", func(c *Config) { c.Endpoint, c.AllowHTTP = "http://writ:8080/i", true }, ""},
		{"post", func(c *Config) { c.AuthMethod = AuthClientSecretPost }, ""},
		{"basic", func(c *Config) { c.AuthMethod = AuthClientSecretBasic }, ""},
		{"jwt mode", func(c *Config) { c.JWTResponse, c.ResponseKeys, c.Issuer = true, keys, "https://as" }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "absolute https URL"},
		{"relative", func(c *Config) { c.Endpoint = "/introspect" }, "absolute https URL"},
		{"ftp", func(c *Config) { c.Endpoint = "ftp://as.example.test/i" }, "absolute https URL"},
		{"bad URL", func(c *Config) { c.Endpoint = "https://as.example.test/%zz" }, "Endpoint"},
		{"user info", func(c *Config) { c.Endpoint = "https://id:pw@as.example.test/i" }, "user information"},
		{"fragment", func(c *Config) { c.Endpoint = "https://as.example.test/i#x" }, "fragment"},
		{"http remote", func(c *Config) { c.Endpoint = "http://writ:8080/i" }, "plain http"},
		{"http lookalike", func(c *Config) { c.Endpoint = "http://127.0.0.1.example.com/i" }, "plain http"},
		{"any audience", func(c *Config) { c.Audience, c.AnyAudience = "", true }, ""},
		{"no audience", func(c *Config) { c.Audience = "" }, "Audience"},
		{"audience and any audience", func(c *Config) { c.AnyAudience = true }, "Audience"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "required"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "required"},
		{"bad method", func(c *Config) { c.AuthMethod = "private_key_jwt" }, "not supported"},
		{"jwt without keys", func(c *Config) { c.JWTResponse, c.Issuer = true, "https://as" }, "ResponseKeys"},
		{"jwt without issuer", func(c *Config) { c.JWTResponse, c.ResponseKeys = true, keys }, "Issuer"},
		{"keys without jwt", func(c *Config) { c.ResponseKeys = keys }, "JWTResponse is not"},
		{"bad response alg", func(c *Config) {
			c.JWTResponse, c.ResponseKeys, c.Issuer, c.ResponseAlgorithms = true, keys, "https://as", []jose.Algorithm{"none"}
		}, "algorithm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			c, err := New(cfg)
			if tc.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), cfg.ClientSecret) && cfg.ClientSecret != "" {
				t.Errorf("error names the secret: %v", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{Endpoint: "https://as.example.test/i", ClientID: "a", ClientSecret: "b", AnyAudience: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != DefaultTimeout || c.ttl != DefaultCacheTTL || c.cache == nil || c.cache.max != DefaultCacheSize {
		t.Errorf("defaults: timeout %v, ttl %v, cache %v", c.timeout, c.ttl, c.cache)
	}
	for _, cfg := range []Config{{CacheSize: -1}, {CacheTTL: -1}} {
		cfg.Endpoint, cfg.ClientID, cfg.ClientSecret, cfg.AnyAudience = "https://as.example.test/i", "a", "b", true
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.cache != nil {
			t.Errorf("CacheSize %d, CacheTTL %v: cache is on", cfg.CacheSize, cfg.CacheTTL)
		}
	}
}

func TestNewCopiesHTTPClient(t *testing.T) {
	hc := &http.Client{Timeout: time.Second}
	if _, err := New(Config{Endpoint: "https://as.example.test/i", ClientID: "a", ClientSecret: "b", AnyAudience: true, HTTPClient: hc}); err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

// TestRequest checks what is sent: a POST of the token as a form, with the
// client authenticated by client_secret_basic (each part form-urlencoded,
// RFC 6749 §2.3.1) or client_secret_post, and the token_type_hint.
func TestRequest(t *testing.T) {
	const id, secret = "rs:1 é+/", "p@ss:w rd&=%"
	tests := []struct {
		name   string
		method string
		hint   string
		check  func(t *testing.T, r request)
	}{
		{"basic", "", "", func(t *testing.T, r request) {
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte("rs%3A1+%C3%A9%2B%2F:p%40ss%3Aw+rd%26%3D%25"))
			if got := r.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			for _, p := range []string{"client_id", "client_secret", "token_type_hint"} {
				if r.Form.Has(p) {
					t.Errorf("form has %s", p)
				}
			}
		}},
		{"post", AuthClientSecretPost, "access_token", func(t *testing.T, r request) {
			if r.Header.Get("Authorization") != "" {
				t.Error("Authorization header sent with client_secret_post")
			}
			if r.Form.Get("client_id") != id || r.Form.Get("client_secret") != secret {
				t.Errorf("form = %v", r.Form)
			}
			if r.Form.Get("token_type_hint") != "access_token" {
				t.Errorf("token_type_hint = %q", r.Form.Get("token_type_hint"))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			f.respond = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"active":false}`))
			}
			cfg := f.config()
			cfg.ClientID, cfg.ClientSecret, cfg.AuthMethod, cfg.TokenTypeHint = id, secret, tc.method, tc.hint
			c := f.client(cfg)
			if _, err := c.Verify(t.Context(), "opaque+token/="); !errors.Is(err, rs.ErrInvalidToken) {
				t.Fatalf("Verify: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost {
				t.Errorf("method %s", r.Method)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", ct)
			}
			if a := r.Header.Get("Accept"); a != "application/json" {
				t.Errorf("Accept %q", a)
			}
			if got := r.Form["token"]; len(got) != 1 || got[0] != "opaque+token/=" {
				t.Errorf("token = %q", got)
			}
			tc.check(t, r)
		})
	}
	t.Run("basic against the fake's decoder", func(t *testing.T) {
		f := newFakeAS(t)
		f.secret = secret
		f.set("tok", activeMembers())
		cfg := f.config()
		cfg.ClientSecret = secret
		if _, err := f.client(cfg).Verify(t.Context(), "tok"); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func TestVerifyActive(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	c := f.client(f.config())
	tok, err := c.Verify(t.Context(), "tok")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	check := []struct {
		name      string
		got, want any
	}{
		{"Raw", tok.Raw, "tok"},
		{"JWT", tok.JWT == nil, true},
		{"Issuer", tok.Issuer, testIssuer},
		{"Subject", tok.Subject, "alice"},
		{"ClientID", tok.ClientID, "billing"},
		{"ID", tok.ID, "tok-1"},
		{"Scopes", strings.Join(tok.Scopes, ","), "orders:read,orders:write"},
		{"Audience", strings.Join(tok.Audience, ","), testAudience + ",https://api.example.test/billing"},
		{"Expiry", tok.Expiry.Unix(), start.Add(time.Hour).Unix()},
		{"IssuedAt", tok.IssuedAt.Unix(), start.Add(-time.Minute).Unix()},
		{"JKT", tok.JKT, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
		{"Claims.department", tok.Claims["department"], "engineering"},
		{"Claims.clearance", tok.Claims["clearance"], 3.0},
		{"Claims.scope", tok.Claims["scope"], "orders:read  orders:write"},
		{"Claims.active", tok.Claims["active"], true},
	}
	for _, c := range check {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestResponseMembers covers the member rules one at a time.
func TestResponseMembers(t *testing.T) {
	tests := []struct {
		name  string
		mod   map[string]any
		check func(t *testing.T, tok *rs.Token)
	}{
		{"aud string", map[string]any{"aud": testAudience}, func(t *testing.T, tok *rs.Token) {
			if len(tok.Audience) != 1 || tok.Audience[0] != testAudience {
				t.Errorf("Audience = %q", tok.Audience)
			}
		}},
		{"azp when no client_id", map[string]any{"client_id": nil, "azp": "spa"}, func(t *testing.T, tok *rs.Token) {
			if tok.ClientID != "spa" {
				t.Errorf("ClientID = %q", tok.ClientID)
			}
		}},
		{"client_id wins over azp", map[string]any{"azp": "spa"}, func(t *testing.T, tok *rs.Token) {
			if tok.ClientID != "billing" {
				t.Errorf("ClientID = %q", tok.ClientID)
			}
		}},
		{"no iss: the configured issuer", map[string]any{"iss": nil}, func(t *testing.T, tok *rs.Token) {
			if tok.Issuer != testIssuer {
				t.Errorf("Issuer = %q", tok.Issuer)
			}
		}},
		{"no exp", map[string]any{"exp": nil}, func(t *testing.T, tok *rs.Token) {
			if !tok.Expiry.IsZero() {
				t.Errorf("Expiry = %v", tok.Expiry)
			}
		}},
		{"empty scope", map[string]any{"scope": ""}, func(t *testing.T, tok *rs.Token) {
			if len(tok.Scopes) != 0 {
				t.Errorf("Scopes = %q", tok.Scopes)
			}
		}},
		{"scp array when no scope, as rs.Token reads it", map[string]any{"scope": nil, "scp": []any{"orders:read", "orders:write"}}, func(t *testing.T, tok *rs.Token) {
			if !tok.HasScope("orders:read") || !tok.HasScope("orders:write") || len(tok.Scopes) != 2 {
				t.Errorf("Scopes = %q", tok.Scopes)
			}
		}},
		{"scope wins over scp", map[string]any{"scope": "a b", "scp": []any{"c"}}, func(t *testing.T, tok *rs.Token) {
			if len(tok.Scopes) != 2 || tok.HasScope("c") {
				t.Errorf("Scopes = %q", tok.Scopes)
			}
		}},
		{"x5t#S256", map[string]any{"cnf": map[string]any{"x5t#S256": "abc"}}, func(t *testing.T, tok *rs.Token) {
			if tok.X5TS256 != "abc" || tok.JKT != "" {
				t.Errorf("X5TS256 = %q, JKT = %q", tok.X5TS256, tok.JKT)
			}
		}},
		{"nbf past", map[string]any{"nbf": start.Add(-time.Second).Unix()}, func(*testing.T, *rs.Token) {}},
		{"fractional exp", map[string]any{"exp": float64(start.Add(time.Hour).Unix()) + 0.5}, func(t *testing.T, tok *rs.Token) {
			if tok.Expiry.Unix() != start.Add(time.Hour).Unix() {
				t.Errorf("Expiry = %v", tok.Expiry)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			m := activeMembers()
			for k, v := range tc.mod {
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			f.set("tok", m)
			tok, err := f.client(f.config()).Verify(t.Context(), "tok")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tc.check(t, tok)
		})
	}
}

// answer is a canned response of the fake endpoint.
func answer(status int, contentType, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// TestVerifyErrors checks that each way a token or a response can be bad
// gives the right sentinel: ErrInvalidToken for the token's fault (401),
// ErrUnavailable for the endpoint's (503), and that no error names the
// token or the secret.
func TestVerifyErrors(t *testing.T) {
	const token = "writ_at_SECRETTOKENVALUE"
	exp := start.Add(time.Hour).Unix()
	okJSON := func(body string) func(http.ResponseWriter, *http.Request) {
		return answer(http.StatusOK, "application/json", body)
	}
	tests := []struct {
		name    string
		members map[string]any                           // with the fake's table
		respond func(http.ResponseWriter, *http.Request) // or a canned answer
		mod     func(*Config)
		token   string
		want    error
	}{
		// The token's fault.
		{name: "inactive", respond: okJSON(`{"active":false}`), want: rs.ErrInvalidToken},
		{name: "inactive with members", respond: okJSON(`{"active":false,"sub":"x"}`), want: rs.ErrInvalidToken},
		{name: "unknown token", members: nil, want: rs.ErrInvalidToken},
		{name: "expired", members: map[string]any{"exp": start.Unix()}, want: rs.ErrInvalidToken},
		// A refresh token is not an access token, whatever the server says
		// of its activity (Ory Hydra's token_use, a token_type naming it).
		{name: "refresh token (token_use)", members: map[string]any{"token_use": "refresh_token"}, want: rs.ErrInvalidToken},
		{name: "refresh token (token_type)", members: map[string]any{"token_type": "refresh_token"}, want: rs.ErrInvalidToken},
		// A binding nothing here checks must not make a bearer token.
		{name: "cnf jwk only", members: map[string]any{"cnf": map[string]any{"jwk": map[string]any{"kty": "EC"}}}, want: rs.ErrInvalidToken},
		{name: "cnf empty", members: map[string]any{"cnf": map[string]any{}}, want: rs.ErrInvalidToken},
		{name: "cnf jkt empty", members: map[string]any{"cnf": map[string]any{"jkt": ""}}, want: rs.ErrInvalidToken},
		{name: "expired long ago", members: map[string]any{"exp": 1}, want: rs.ErrInvalidToken},
		{name: "not yet valid", members: map[string]any{"nbf": start.Add(time.Minute).Unix(), "exp": exp}, want: rs.ErrInvalidToken},
		{name: "other issuer", members: map[string]any{"iss": "https://evil.example", "aud": testAudience}, want: rs.ErrInvalidToken},
		{name: "other audience", members: map[string]any{"iss": testIssuer, "aud": "https://api.example.test/other"}, want: rs.ErrInvalidToken},
		{name: "no audience", members: map[string]any{"aud": nil}, want: rs.ErrInvalidToken},
		{name: "empty token", token: "-", want: rs.ErrInvalidToken},
		{name: "oversized token", token: strings.Repeat("A", MaxTokenSize+1), want: rs.ErrInvalidToken},

		// The endpoint's fault.
		{name: "active as a string", respond: okJSON(`{"active":"true","aud":"` + testAudience + `"}`), want: rs.ErrUnavailable},
		{name: "active as a number", respond: okJSON(`{"active":1}`), want: rs.ErrUnavailable},
		{name: "active null", respond: okJSON(`{"active":null}`), want: rs.ErrUnavailable},
		{name: "active missing", respond: okJSON(`{"sub":"alice"}`), want: rs.ErrUnavailable},
		{name: "active repeated", respond: okJSON(`{"active":false,"active":true}`), want: rs.ErrUnavailable},
		{name: "Active", respond: okJSON(`{"Active":true}`), want: rs.ErrUnavailable},
		{name: "nested duplicate", respond: okJSON(`{"active":true,"x":{"a":1,"a":2}}`), want: rs.ErrUnavailable},
		{name: "trailing data", respond: okJSON(`{"active":true}{}`), want: rs.ErrUnavailable},
		{name: "array", respond: okJSON(`[{"active":true}]`), want: rs.ErrUnavailable},
		{name: "not JSON", respond: okJSON(`active=true`), want: rs.ErrUnavailable},
		{name: "empty body", respond: okJSON(``), want: rs.ErrUnavailable},
		{name: "too deep", respond: okJSON(`{"active":true,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`), want: rs.ErrUnavailable},
		{name: "invalid UTF-8", respond: okJSON("{\"active\":true,\"sub\":\"\xff\"}"), want: rs.ErrUnavailable},
		{name: "scope not a string", respond: okJSON(`{"active":true,"scope":["a"]}`), want: rs.ErrUnavailable},
		{name: "exp a string", respond: okJSON(`{"active":true,"exp":"tomorrow"}`), want: rs.ErrUnavailable},
		{name: "exp negative", respond: okJSON(`{"active":true,"exp":-1}`), want: rs.ErrUnavailable},
		{name: "exp huge", respond: okJSON(`{"active":true,"exp":1e300}`), want: rs.ErrUnavailable},
		{name: "aud a number", respond: okJSON(`{"active":true,"aud":1}`), want: rs.ErrUnavailable},
		{name: "aud mixed array", respond: okJSON(`{"active":true,"aud":["a",1]}`), want: rs.ErrUnavailable},
		{name: "cnf a string", respond: okJSON(`{"active":true,"cnf":"x"}`), want: rs.ErrUnavailable},
		{name: "cnf.jkt a number", respond: okJSON(`{"active":true,"cnf":{"jkt":1}}`), want: rs.ErrUnavailable},
		{name: "sub null", respond: okJSON(`{"active":true,"sub":null}`), want: rs.ErrUnavailable},
		{name: "500", respond: answer(http.StatusInternalServerError, "application/json", `{"active":true}`), want: rs.ErrUnavailable},
		{name: "503", respond: answer(http.StatusServiceUnavailable, "", ``), want: rs.ErrUnavailable},
		{name: "wrong secret (401)", mod: func(c *Config) { c.ClientSecret = "wrong" }, members: map[string]any{}, want: rs.ErrUnavailable},
		{name: "400", respond: answer(http.StatusBadRequest, "application/json", `{"error":"invalid_request"}`), want: rs.ErrUnavailable},
		{name: "redirect not followed", respond: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, want: rs.ErrUnavailable},
		{name: "HTML", respond: answer(http.StatusOK, "text/html", `{"active":true}`), want: rs.ErrUnavailable},
		{name: "no content type", respond: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = w.Write([]byte(`{"active":true}`))
		}, want: rs.ErrUnavailable},
		{name: "a JWT when JSON was asked", respond: answer(http.StatusOK, MediaTypeJWT, `e30.e30.`), want: rs.ErrUnavailable},
		{name: "too large", respond: okJSON(`{"active":false,"x":"` + strings.Repeat("a", MaxResponseSize) + `"}`), want: rs.ErrUnavailable},
		{name: "timeout", respond: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			mod: func(c *Config) { c.Timeout = time.Millisecond }, want: rs.ErrUnavailable},
		{name: "unreachable", mod: func(c *Config) { c.Endpoint = closedEndpoint(t) }, want: rs.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			f.respond = tc.respond
			if tc.members != nil {
				m := map[string]any{"iss": testIssuer, "aud": testAudience, "exp": exp}
				for k, v := range tc.members {
					if v == nil {
						delete(m, k)
					} else {
						m[k] = v
					}
				}
				f.set(token, m)
			}
			cfg := f.config()
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			raw := token
			switch tc.token {
			case "-":
				raw = ""
			case "":
			default:
				raw = tc.token
			}
			c := f.client(cfg)
			tok, err := c.Verify(t.Context(), raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, %v; want an error wrapping %v", tok, err, tc.want)
			}
			if tok != nil {
				t.Errorf("Verify returned a token with error %v", err)
			}
			other := rs.ErrUnavailable
			if tc.want == rs.ErrUnavailable {
				other = rs.ErrInvalidToken
			}
			if errors.Is(err, other) || errors.Is(err, rs.ErrKeySetUnavailable) {
				t.Errorf("error %v wraps more than one outcome", err)
			}
			if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, testSecret) || strings.Contains(msg, "SECRETTOKEN") {
				t.Errorf("error names the token or the secret: %s", msg)
			}
			if tc.token != "" && len(f.requests()) != 0 {
				t.Errorf("a request was sent for a token refused locally")
			}
			if len(f.requests()) > 1 {
				t.Errorf("%d requests (a redirect followed?)", len(f.requests()))
			}
			if c.Stats().Entries != 0 {
				t.Errorf("a failure was cached")
			}
		})
	}
}

// closedEndpoint is the URL of a loopback port nothing listens on.
func closedEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr + "/introspect"
}

func TestCallerContext(t *testing.T) {
	f := newFakeAS(t)
	f.release = make(chan struct{}) // released only at the end: the request hangs
	t.Cleanup(func() { close(f.release) })
	c := f.client(f.config())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Verify(ctx, "tok")
	if !errors.Is(err, rs.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context = %v", err)
	}
}

// A Client not made by New fails closed (503) instead of crashing the
// process in the goroutine that would run the request.
func TestZeroClient(t *testing.T) {
	var c Client
	if _, err := c.Verify(t.Context(), "tok"); !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Verify = %v, want rs.ErrUnavailable", err)
	}
	if _, _, err := c.Phantom(t.Context(), "tok"); !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Phantom = %v, want rs.ErrUnavailable", err)
	}
}
