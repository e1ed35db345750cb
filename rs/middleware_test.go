package rs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// fakeVerifier answers Verify from a table of raw tokens; an unknown token
// is ErrInvalidToken. It counts its calls.
type fakeVerifier struct {
	mu     sync.Mutex
	tokens map[string]*Token
	errs   map[string]error
	calls  []string
}

func (f *fakeVerifier) Verify(_ context.Context, raw string) (*Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, raw)
	if err, ok := f.errs[raw]; ok {
		return nil, err
	}
	if t, ok := f.tokens[raw]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w: fake: unknown token %q", ErrInvalidToken, "[redacted]")
}

// fakeDPoP returns err and records what it was asked.
type fakeDPoP struct {
	mu    sync.Mutex
	err   error
	calls []dpopCall
}

type dpopCall struct{ method, url, token, jkt string }

func (f *fakeDPoP) CheckDPoP(_ context.Context, r *http.Request, accessToken, jkt string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, dpopCall{r.Method, r.URL.String(), accessToken, jkt})
	return f.err
}

const (
	goodTok     = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	boundTok    = "bound.token.value"
	nilTok      = "nil.token.value"
	expiredTok  = "expired.token.value"
	issuerTok   = "issuer.token.value"
	keysDownTok = "keys.down.value"
	introDown   = "intro.down.value"
	weirdTok    = "weird.error.value"
	secretWord  = "s3cr3t-internal-detail"
)

func newFakeVerifier() *fakeVerifier {
	return &fakeVerifier{
		tokens: map[string]*Token{
			goodTok:  {Raw: goodTok, Subject: "alice", Scopes: []string{"read"}},
			boundTok: {Raw: boundTok, Subject: "bob", JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
			nilTok:   nil,
		},
		errs: map[string]error{
			expiredTok:  fmt.Errorf("%w: jwt: token expired (%s)", ErrInvalidToken, secretWord),
			issuerTok:   fmt.Errorf("%w: %w: %q", ErrInvalidToken, ErrUnknownIssuer, "https://evil.example"),
			keysDownTok: fmt.Errorf("jwt: key source failed: %w: %s", ErrKeySetUnavailable, secretWord),
			introDown:   fmt.Errorf("%w: introspection: connection refused", ErrUnavailable),
			weirdTok:    errors.New("something odd: " + secretWord),
		},
	}
}

// serve runs one request through m.Handler and reports what reached next.
func serve(t *testing.T, m *Middleware, r *http.Request) (*httptest.ResponseRecorder, *Token, bool) {
	t.Helper()
	var got *Token
	reached := false
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		got, _ = TokenFromContext(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec, got, reached
}

func request(method, target string, auth ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestMiddleware(t *testing.T) {
	const meta = "https://api.example.com/.well-known/oauth-protected-resource"
	nonceErr := fmt.Errorf("dpop: %w", &NonceError{Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v"})
	long := strings.Repeat("a", DefaultMaxTokenLength+1)
	tests := []struct {
		name      string
		opts      []MiddlewareOption
		dpopErr   error
		req       *http.Request
		status    int
		challenge []string // exact WWW-Authenticate values, in order
		nonce     string
		subject   string // of the token next saw; "" = next not reached
		verified  bool   // the verifier was called
		dpopCalls int
	}{
		{
			name: "bearer ok", req: request("GET", "/r", "Bearer "+goodTok),
			status: 200, subject: "alice", verified: true,
		},
		{
			name: "scheme is case-insensitive", req: request("GET", "/r", "bEaReR "+goodTok),
			status: 200, subject: "alice", verified: true,
		},
		{
			name: "several spaces after the scheme", req: request("GET", "/r", "Bearer   "+goodTok),
			status: 200, subject: "alice", verified: true,
		},
		{
			name: "token68 padding", req: request("GET", "/r", "Bearer abc=="),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the access token is invalid, expired or not meant for this resource"`},
			verified: true,
		},
		{
			name: "no header", req: request("GET", "/r"),
			status: 401, challenge: []string{`Bearer`},
		},
		{
			name: "no header, realm and metadata", opts: []MiddlewareOption{WithRealm(`api "v1"`), WithResourceMetadataURL(meta)},
			req:    request("GET", "/r"),
			status: 401, challenge: []string{`Bearer realm="api \"v1\"", resource_metadata="` + meta + `"`},
		},
		{
			name: "query token is ignored", req: request("GET", "/r?access_token="+goodTok),
			status: 401, challenge: []string{`Bearer`},
		},
		{
			name: "form token is ignored", req: formRequest(goodTok),
			status: 401, challenge: []string{`Bearer`},
		},
		{
			name: "other scheme is no token", req: request("GET", "/r", "Basic dXNlcjpwYXNz"),
			status: 401, challenge: []string{`Bearer`},
		},
		{
			name: "scheme without separator", req: request("GET", "/r", "Bearer"+goodTok),
			status: 401, challenge: []string{`Bearer`},
		},
		{
			name: "two Authorization fields", req: request("GET", "/r", "Bearer "+goodTok, "Bearer "+goodTok),
			status: 400, challenge: []string{`Bearer error="invalid_request", error_description="more than one Authorization header field"`},
		},
		{
			name: "scheme alone", req: request("GET", "/r", "Bearer"),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="no token after the Bearer scheme"`},
		},
		{
			name: "not token68", req: request("GET", "/r", "Bearer a b"),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the token is not token68 (RFC 9110 section 11.2)"`},
		},
		{
			name: "padding in the middle", req: request("GET", "/r", "Bearer a=b"),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the token is not token68 (RFC 9110 section 11.2)"`},
		},
		{
			name: "auth-params are not a token", req: request("GET", "/r", `Bearer token="abc"`),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the token is not token68 (RFC 9110 section 11.2)"`},
		},
		{
			name: "too long", req: request("GET", "/r", "Bearer "+long),
			status: 401, challenge: []string{fmt.Sprintf(`Bearer error="invalid_token", error_description="the token is longer than %d bytes"`, DefaultMaxTokenLength)},
		},
		{
			name: "custom length bound", opts: []MiddlewareOption{WithMaxTokenLength(10)},
			req:    request("GET", "/r", "Bearer "+goodTok),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the token is longer than 10 bytes"`},
		},
		{
			name: "expired: description does not leak the verifier's message", req: request("GET", "/r", "Bearer "+expiredTok),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the access token is invalid, expired or not meant for this resource"`},
			verified: true,
		},
		{
			name: "unknown issuer", req: request("GET", "/r", "Bearer "+issuerTok),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the access token's issuer is not trusted here"`},
			verified: true,
		},
		{
			name: "key set unavailable is 503", req: request("GET", "/r", "Bearer "+keysDownTok),
			status: 503, verified: true,
		},
		{
			name: "introspection unavailable is 503", req: request("GET", "/r", "Bearer "+introDown),
			status: 503, verified: true,
		},
		{
			name: "unexpected error is 503", req: request("GET", "/r", "Bearer "+weirdTok),
			status: 503, verified: true,
		},
		{
			name: "nil token without error is 503", req: request("GET", "/r", "Bearer "+nilTok),
			status: 503, verified: true,
		},
		{
			name: "DPoP without checker is refused before verification", req: request("GET", "/r", "DPoP "+boundTok),
			status: 400, challenge: []string{`Bearer error="invalid_request", error_description="the DPoP scheme is not supported by this resource"`},
		},
		{
			name: "DPoP-bound token under Bearer without checker", req: request("GET", "/r", "Bearer "+boundTok),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the token is DPoP-bound; send it under the DPoP scheme with a proof"`},
			verified: true,
		},
		{
			name: "DPoP ok", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{})}, req: request("POST", "https://api.example.com/r?x=1", "DPoP "+boundTok),
			status: 200, subject: "bob", verified: true, dpopCalls: 1,
		},
		{
			name: "dpop scheme case-insensitive", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{})}, req: request("GET", "/r", "dpop "+boundTok),
			status: 200, subject: "bob", verified: true, dpopCalls: 1,
		},
		{
			name: "Bearer still accepted next to DPoP", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{})}, req: request("GET", "/r", "Bearer "+goodTok),
			status: 200, subject: "alice", verified: true,
		},
		{
			name: "downgrade: DPoP-bound token under Bearer", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithDPoPAlgorithms("ES256", "EdDSA")},
			req:    request("GET", "/r", "Bearer "+boundTok),
			status: 401, challenge: []string{
				`Bearer error="invalid_token", error_description="the token is DPoP-bound; send it under the DPoP scheme with a proof"`,
				`DPoP algs="ES256 EdDSA"`,
			},
			verified: true,
		},
		{
			name: "unbound token under DPoP", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithDPoPAlgorithms("ES256")},
			req:    request("GET", "/r", "DPoP "+goodTok),
			status: 401, challenge: []string{
				`Bearer`,
				`DPoP error="invalid_token", error_description="the token is not DPoP-bound", algs="ES256"`,
			},
			verified: true,
		},
		{
			name: "invalid proof", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithRealm("api")}, dpopErr: fmt.Errorf("%w: ath mismatch", ErrInvalidDPoPProof),
			req:    request("GET", "/r", "DPoP "+boundTok),
			status: 401, challenge: []string{
				`Bearer realm="api"`,
				`DPoP realm="api", error="invalid_dpop_proof", error_description="the DPoP proof is missing or invalid"`,
			},
			verified: true, dpopCalls: 1,
		},
		{
			name: "nonce required", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithDPoPRequired()}, dpopErr: nonceErr,
			req:    request("GET", "/r", "DPoP "+boundTok),
			status: 401, challenge: []string{
				`DPoP error="use_dpop_nonce", error_description="the DPoP proof must carry the nonce of the DPoP-Nonce header"`,
			},
			nonce:    "eyJ7S_zG.eyJH0-Z.HX4w-7v",
			verified: true, dpopCalls: 1,
		},
		{
			name: "replay store down is 503", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{})}, dpopErr: fmt.Errorf("dpop: replay cache: %w", ErrUnavailable),
			req:    request("GET", "/r", "DPoP "+boundTok),
			status: 503, verified: true, dpopCalls: 1,
		},
		{
			name: "DPoP required refuses Bearer before verification", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithDPoPRequired(), WithDPoPAlgorithms("ES256")},
			req:    request("GET", "/r", "Bearer "+goodTok),
			status: 401, challenge: []string{`DPoP error="invalid_token", error_description="this resource requires a DPoP-bound token under the DPoP scheme", algs="ES256"`},
		},
		{
			name: "DPoP required, no token", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithDPoPRequired(), WithResourceMetadataURL(meta)},
			req:    request("GET", "/r"),
			status: 401, challenge: []string{`DPoP resource_metadata="` + meta + `"`},
		},
		{
			name: "both schemes, no token", opts: []MiddlewareOption{WithDPoP(&fakeDPoP{}), WithDPoPAlgorithms("ES256", "PS256")},
			req:    request("GET", "/r"),
			status: 401, challenge: []string{`Bearer`, `DPoP algs="ES256 PS256"`},
		},
		{
			name: "optional: no token reaches next", opts: []MiddlewareOption{WithOptionalToken()},
			req:    request("GET", "/r"),
			status: 200,
		},
		{
			name: "optional: a bad token is still refused", opts: []MiddlewareOption{WithOptionalToken()},
			req:    request("GET", "/r", "Bearer "+expiredTok),
			status: 401, challenge: []string{`Bearer error="invalid_token", error_description="the access token is invalid, expired or not meant for this resource"`},
			verified: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newFakeVerifier()
			var logs bytes.Buffer
			opts := append([]MiddlewareOption{WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, tt.opts...)
			m := NewMiddleware(v, opts...)
			if m.dpop != nil {
				m.dpop.(*fakeDPoP).err = tt.dpopErr
			}
			rec, tok, reached := serve(t, m, tt.req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Values("WWW-Authenticate"); !slices.Equal(got, tt.challenge) {
				t.Errorf("WWW-Authenticate:\n got %q\nwant %q", got, tt.challenge)
			}
			if got := rec.Header().Get("DPoP-Nonce"); got != tt.nonce {
				t.Errorf("DPoP-Nonce %q, want %q", got, tt.nonce)
			}
			if tt.status == 200 {
				if !reached {
					t.Fatal("next was not called")
				}
				if tt.subject == "" && tok != nil {
					t.Errorf("token in context: %+v, want none", tok)
				}
				if tt.subject != "" && (tok == nil || tok.Subject != tt.subject) {
					t.Errorf("token in context: %+v, want subject %q", tok, tt.subject)
				}
			} else {
				if reached {
					t.Fatal("next was called on a refusal")
				}
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", rec.Header().Get("Cache-Control"))
				}
			}
			if got := len(v.calls) > 0; got != tt.verified {
				t.Errorf("verifier called: %v, want %v", got, tt.verified)
			}
			if m.dpop != nil {
				calls := m.dpop.(*fakeDPoP).calls
				if len(calls) != tt.dpopCalls {
					t.Fatalf("DPoP checks %d, want %d", len(calls), tt.dpopCalls)
				}
				for _, c := range calls {
					if c.token != boundTok || c.jkt != v.tokens[boundTok].JKT || c.method != tt.req.Method {
						t.Errorf("DPoP check got %+v", c)
					}
				}
			}
			for _, secret := range []string{goodTok, boundTok, expiredTok, long} {
				if strings.Contains(logs.String(), secret) || strings.Contains(rec.Body.String(), secret) ||
					strings.Contains(strings.Join(rec.Header().Values("WWW-Authenticate"), ""), secret) {
					t.Errorf("a token leaked into the log or the response:\n%s", logs.String())
				}
			}
			if strings.Contains(rec.Body.String(), secretWord) || strings.Contains(strings.Join(rec.Header().Values("WWW-Authenticate"), ""), secretWord) {
				t.Errorf("a verifier's internal message reached the client")
			}
			if tt.status != 200 && tt.status != 401 && !strings.Contains(logs.String(), "rs: request refused") {
				t.Errorf("refusal %d not logged: %q", tt.status, logs.String())
			}
		})
	}
}

func formRequest(tok string) *http.Request {
	r := httptest.NewRequest("POST", "/r", strings.NewReader(url.Values{"access_token": {tok}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestMiddlewareLogLevels(t *testing.T) {
	tests := []struct {
		auth  string
		level string
	}{
		{"", "DEBUG"},
		{"Bearer " + expiredTok, "INFO"},
		{"Bearer " + keysDownTok, "WARN"},
		{"Bearer " + weirdTok, "ERROR"},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		m := NewMiddleware(newFakeVerifier(), WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		r := request("GET", "/r")
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		serve(t, m, r)
		if !strings.Contains(logs.String(), "level="+tt.level) {
			t.Errorf("%q: log %q, want level %s", tt.auth, logs.String(), tt.level)
		}
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	var gotStatus int
	var gotErr error
	m := NewMiddleware(newFakeVerifier(), WithErrorHandler(func(w http.ResponseWriter, r *http.Request, status int, err error) {
		gotStatus, gotErr = status, err
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Error("the challenge is not set before the error handler runs")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"invalid_token"}`))
	}))
	rec, _, _ := serve(t, m, request("GET", "/r", "Bearer "+expiredTok))
	if gotStatus != 401 || !errors.Is(gotErr, ErrInvalidToken) || rec.Body.String() != `{"error":"invalid_token"}` {
		t.Fatalf("handler got %d %v, body %q", gotStatus, gotErr, rec.Body)
	}
}

// TestMiddlewareRealServer runs the middleware behind a real HTTP server on
// loopback, where the client, not httptest.NewRequest, builds the header.
func TestMiddlewareRealServer(t *testing.T) {
	m := NewMiddleware(newFakeVerifier(), WithLogger(slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := TokenFromContext(r.Context())
		_, _ = fmt.Fprint(w, tok.Subject)
	})))
	defer srv.Close()
	for _, tt := range []struct {
		auth   []string
		status int
	}{
		{[]string{"Bearer " + goodTok}, 200},
		{nil, 401},
		{[]string{"Bearer " + goodTok, "Bearer " + goodTok}, 400},
		{[]string{"Bearer " + expiredTok}, 401},
	} {
		req, err := http.NewRequest("GET", srv.URL+"/?access_token="+goodTok, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range tt.auth {
			req.Header.Add("Authorization", a)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%d Authorization fields: status %d, want %d", len(tt.auth), resp.StatusCode, tt.status)
		}
	}
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		values        []string
		scheme, token string
		err           error
	}{
		{nil, "", "", ErrNoToken},
		{[]string{"Bearer abc"}, SchemeBearer, "abc", nil},
		{[]string{"BEARER abc"}, SchemeBearer, "abc", nil},
		{[]string{"DPoP abc"}, SchemeDPoP, "abc", nil},
		{[]string{"DPOP a-._~+/9=="}, SchemeDPoP, "a-._~+/9==", nil},
		{[]string{"Bearer abc", "Bearer abc"}, "", "", ErrInvalidRequest},
		{[]string{"Basic abc"}, "", "", ErrNoToken},
		{[]string{"Bearerabc"}, "", "", ErrNoToken},
		{[]string{""}, "", "", ErrNoToken},
		{[]string{"Bearer\tabc"}, "", "", ErrNoToken},
		{[]string{"Bearer "}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer ="}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer abc def"}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer abc\tdef"}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer abc,def"}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer ab=c"}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer abcdefghijk"}, SchemeBearer, "", ErrInvalidToken},
		{[]string{"Bearer abcdefghij"}, SchemeBearer, "abcdefghij", nil},
		{[]string{"Bearer é"}, SchemeBearer, "", ErrInvalidToken},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.values {
			h.Add("Authorization", v)
		}
		scheme, token, err := ParseAuthorization(h, 10)
		if scheme != tt.scheme || token != tt.token || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%q: got %q %q %v, want %q %q %v", tt.values, scheme, token, err, tt.scheme, tt.token, tt.err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "DPoP a.b.c", "bearer  x==", "Basic dTpw", "Bearer", "Bearer a b", "DPoP =", ""} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, v string, max int) {
		if max <= 0 || max > 1<<16 {
			max = 64
		}
		scheme, token, err := ParseAuthorization(http.Header{"Authorization": {v}}, max)
		if err != nil {
			if token != "" {
				t.Fatalf("%q: error %v with token %q", v, err, token)
			}
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%q: unexpected error %v", v, err)
			}
			return
		}
		if scheme != SchemeBearer && scheme != SchemeDPoP {
			t.Fatalf("%q: scheme %q", v, scheme)
		}
		if !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
			t.Fatalf("%q: does not start with %s and a space", v, scheme)
		}
		if !strings.HasSuffix(v, token) || strings.TrimLeft(v[len(scheme):], " ") != token {
			t.Fatalf("%q: token %q is not all the rest", v, token)
		}
		if len(token) == 0 || len(token) > max || !isToken68(token) || strings.ContainsAny(token, " \t\r\n,\"") {
			t.Fatalf("%q: token %q of %d bytes is not a bounded token68", v, token, len(token))
		}
	})
}

// jwtVerifier is a TokenVerifier backed by a real jwt.Verifier, with the
// cnf.jkt of DPoP-bound tokens, for tests with signed tokens.
type jwtVerifier struct{ v *jwt.Verifier }

func (j jwtVerifier) Verify(ctx context.Context, raw string) (*Token, error) {
	t, err := j.v.Verify(ctx, raw)
	if err != nil {
		if errors.Is(err, jwt.ErrKeySource) {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(t.Payload()), &claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	tok := &Token{Raw: raw, JWT: t, Subject: t.Claims().Subject, Claims: claims}
	if s, ok := claims["scope"].(string); ok {
		tok.Scopes = strings.Fields(s)
	}
	if v, ok := ClaimPath(claims, "cnf.jkt"); ok {
		tok.JKT, _ = v.(string)
	}
	return tok, nil
}

// TestMiddlewareSignedTokens runs signed tokens through a real server on
// loopback: the middleware, a jwt.Verifier with a fixed clock, RequireScopes.
func TestMiddlewareSignedTokens(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer: "https://id.example.com", Audience: "https://api.example.com", Type: jwt.TypeAccessToken,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *jose.Key, edit func(map[string]any)) string {
		c := map[string]any{
			"iss": "https://id.example.com", "aud": "https://api.example.com", "sub": "alice",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "scope": "read",
		}
		if edit != nil {
			edit(c)
		}
		s, err := jwt.NewSigner(k, jwt.TypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	checker := &fakeDPoP{}
	m := NewMiddleware(jwtVerifier{v}, WithDPoP(checker), WithLogger(slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(m.Handler(RequireScopes("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := TokenFromContext(r.Context())
		_, _ = fmt.Fprint(w, tok.Subject)
	}))))
	defer srv.Close()
	jkt := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	bound := func(c map[string]any) { c["cnf"] = map[string]any{"jkt": jkt} }
	tests := []struct {
		name   string
		auth   string
		status int
		errTok string // the error code of the challenge
	}{
		{"good", "Bearer " + sign(key, nil), 200, ""},
		{"expired", "Bearer " + sign(key, func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), 401, CodeInvalidToken},
		{"wrong audience", "Bearer " + sign(key, func(c map[string]any) { c["aud"] = "https://other.example.com" }), 401, CodeInvalidToken},
		{"wrong issuer", "Bearer " + sign(key, func(c map[string]any) { c["iss"] = "https://evil.example.com" }), 401, CodeInvalidToken},
		{"unknown key", "Bearer " + sign(other, nil), 401, CodeInvalidToken},
		{"scope missing", "Bearer " + sign(key, func(c map[string]any) { c["scope"] = "write" }), 403, CodeInsufficientScope},
		{"bound under DPoP", "DPoP " + sign(key, bound), 200, ""},
		{"bound under Bearer", "Bearer " + sign(key, bound), 401, CodeInvalidToken},
		{"unbound under DPoP", "DPoP " + sign(key, nil), 401, CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+"/r", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", tt.auth)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			challenges := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
			if tt.errTok != "" && !strings.Contains(challenges, `error="`+tt.errTok+`"`) {
				t.Errorf("challenges %q lack error %q", challenges, tt.errTok)
			}
		})
	}
	if len(checker.calls) != 1 || checker.calls[0].jkt != jkt {
		t.Errorf("DPoP checks %+v, want one with jkt %s", checker.calls, jkt)
	}
}

// BenchmarkMiddleware measures the middleware's own cost per request: the
// header parse, the context, the Require check; the verifier is a fake
// that returns a prepared token.
func BenchmarkMiddleware(b *testing.B) {
	v := newFakeVerifier()
	v.calls = nil
	tok := v.tokens[goodTok]
	fast := TokenVerifierFunc(func(context.Context, string) (*Token, error) { return tok, nil })
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, bc := range []struct {
		name string
		h    http.Handler
		auth string
	}{
		{"bearer", NewMiddleware(fast).Handler(ok), "Bearer " + goodTok},
		{"bearer+RequireScopes", NewMiddleware(fast).Handler(RequireScopes("read")(ok)), "Bearer " + goodTok},
		{"refused/no-token", NewMiddleware(fast, WithLogger(slog.New(slog.DiscardHandler))).Handler(ok), ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/r", nil)
			if bc.auth != "" {
				r.Header.Set("Authorization", bc.auth)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing but its header map.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func TestRefusalFor(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{ErrNoToken, 401, ""},
		{refusalf(ErrInvalidRequest, "x"), 400, CodeInvalidRequest},
		{fmt.Errorf("v: %w", ErrInvalidToken), 401, CodeInvalidToken},
		{fmt.Errorf("%w: %w", ErrInvalidToken, ErrUnknownIssuer), 401, CodeInvalidToken},
		{fmt.Errorf("p: %w", ErrInvalidDPoPProof), 401, CodeInvalidDPoPProof},
		{&NonceError{Nonce: "n"}, 401, CodeUseDPoPNonce},
		{ErrInsufficientScope, 403, CodeInsufficientScope},
		{refusalf(ErrForbidden, "no role"), 403, CodeInsufficientScope},
		{fmt.Errorf("k: %w", ErrKeySetUnavailable), 503, ""},
		{fmt.Errorf("i: %w", ErrUnavailable), 503, ""},
		{context.Canceled, 503, ""},
		{errors.New("odd"), 503, ""},
	}
	for _, tt := range tests {
		rf := RefusalFor(tt.err)
		if rf.Status != tt.status || rf.Code != tt.code {
			t.Errorf("RefusalFor(%v) = %d %q, want %d %q", tt.err, rf.Status, rf.Code, tt.status, tt.code)
		}
		if rf.Status >= 400 && rf.Status < 500 && tt.code != "" && rf.Description == "" {
			t.Errorf("RefusalFor(%v): no description", tt.err)
		}
	}
	if got := RefusalFor(refusalf(ErrForbidden, "no role")).Description; got != "no role" {
		t.Errorf("own reason %q", got)
	}
}

func TestMiddlewareWithoutVerifier(t *testing.T) {
	m := NewMiddleware(nil, WithLogger(slog.New(slog.DiscardHandler)))
	rec, _, reached := serve(t, m, request("GET", "/r", "Bearer "+goodTok))
	if rec.Code != 503 || reached {
		t.Fatalf("status %d, reached %v", rec.Code, reached)
	}
	if _, tok, err := ParseAuthorization(http.Header{"Authorization": {"Bearer " + strings.Repeat("a", DefaultMaxTokenLength)}}, 0); err != nil || tok == "" {
		t.Errorf("max 0 does not mean the default: %v", err)
	}
}

func TestMiddlewareCertificateBound(t *testing.T) {
	cert := &x509.Certificate{Raw: []byte("client certificate DER")}
	sum := sha256.Sum256(cert.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(sum[:])
	v := newFakeVerifier()
	v.tokens["mtls.bound.token"] = &Token{Subject: "svc", X5TS256: x5t}
	m := NewMiddleware(v, WithLogger(slog.New(slog.DiscardHandler)))
	other := &x509.Certificate{Raw: []byte("another certificate")}
	for _, tt := range []struct {
		name   string
		tls    *tls.ConnectionState
		status int
	}{
		{"matching certificate", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}, 200},
		{"other certificate", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{other}}, 401},
		{"TLS without client certificate", &tls.ConnectionState{}, 401},
		{"no TLS", nil, 401},
	} {
		r := request("GET", "/r", "Bearer mtls.bound.token")
		r.TLS = tt.tls
		rec, _, _ := serve(t, m, r)
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, rec.Code, tt.status)
		}
	}
}

// TestIsToken68Char checks the table against the grammar's alphabet,
// spelled out, for every byte.
func TestIsToken68Char(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
	for c := 0; c < 256; c++ {
		want := strings.IndexByte(alphabet, byte(c)) >= 0
		if got := isToken68Char(byte(c)); got != want {
			t.Errorf("isToken68Char(%q) = %v, want %v", byte(c), got, want)
		}
	}
}

// BenchmarkParseAuthorization is the parse of a typical ES256 access
// token's Authorization header.
func BenchmarkParseAuthorization(b *testing.B) {
	h := http.Header{"Authorization": {"Bearer " + strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 30) + ".a-b_c"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseAuthorization(h, 0); err != nil {
			b.Fatal(err)
		}
	}
}
