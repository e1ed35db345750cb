package websession

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const appURL = "https://app.example.com"

func secret(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func hmacKey(t testing.TB) *jose.Key {
	t.Helper()
	k, err := NewHMACKey(secret(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) *jose.Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewEd25519Key(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newManager returns a Manager on clock with a fresh HS256 signing key and
// Lifetime 1h, IdleTimeout 30m; mod adjusts the Config.
func newManager(t testing.TB, clock *clocktest.Clock, mod ...func(*Config)) *Manager {
	t.Helper()
	cfg := Config{
		AppURL:      appURL,
		Keys:        []Key{{Key: hmacKey(t)}},
		Lifetime:    time.Hour,
		IdleTimeout: 30 * time.Minute,
		Now:         clock.Now,
	}
	for _, f := range mod {
		f(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// validClaims returns the claims of a fresh, valid session at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": appURL, "aud": appURL, "sub": "alice", "sid": "sid-1",
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"idle_exp": now.Add(30 * time.Minute).Unix(),
		"csrf":     base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
	}
}

func signWith(t testing.TB, k *jose.Key, typ string, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewSigner(k, typ)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDecode(t *testing.T) {
	clock := clocktest.Default()
	t0 := clock.Now()
	current, old, retired, stranger := hmacKey(t), hmacKey(t), hmacKey(t), hmacKey(t)
	m := newManager(t, clock, func(c *Config) {
		c.Keys = []Key{
			{Key: current},
			{Key: old, RetireAt: t0.Add(time.Hour)},
			{Key: retired, RetireAt: t0},
		}
	})
	edSigner := edKey(t)
	edm := newManager(t, clock, func(c *Config) { c.Keys = []Key{{Key: edSigner}} })

	with := func(f func(map[string]any)) map[string]any {
		c := validClaims(t0)
		f(c)
		return c
	}
	sign := func(c map[string]any) string { return signWith(t, current, TokenType, c) }
	valid := sign(validClaims(t0))
	parts := strings.Split(valid, ".")

	// The EdDSA public key's bytes used as an HMAC secret: the classic
	// algorithm-confusion forgery.
	pubBytes := []byte(edSigner.PublicKey().(ed25519.PublicKey))
	swapKey, err := jose.NewKey(jose.HS256, append(pubBytes, pubBytes...), jose.WithKeyID(edSigner.KeyID()))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		m     *Manager
		token string
		want  []error // every one must match; nil: valid
	}{
		{name: "valid", token: valid},
		{name: "valid EdDSA", m: edm, token: signWith(t, edSigner, TokenType, validClaims(t0))},
		{name: "older key before its retire time", token: signWith(t, old, TokenType, validClaims(t0))},
		{name: "retired key", token: signWith(t, retired, TokenType, validClaims(t0)), want: []error{ErrKeyRetired}},
		{name: "unknown key", token: signWith(t, stranger, TokenType, validClaims(t0)), want: []error{ErrInvalidSession, jwt.ErrKeyNotFound}},
		{name: "expired", token: sign(with(func(c map[string]any) {
			c["iat"], c["auth_time"] = t0.Add(-2*time.Hour).Unix(), t0.Add(-2*time.Hour).Unix()
			c["exp"], c["idle_exp"] = t0.Add(-time.Hour).Unix(), t0.Add(-time.Hour).Unix()
		})), want: []error{ErrExpired, jwt.ErrExpired}},
		{name: "expires this second", token: sign(with(func(c map[string]any) {
			c["auth_time"], c["iat"] = t0.Add(-time.Hour).Unix(), t0.Add(-30*time.Minute).Unix()
			c["exp"], c["idle_exp"] = t0.Unix(), t0.Unix()
		})), want: []error{ErrExpired}},
		{name: "idle", token: sign(with(func(c map[string]any) {
			c["iat"], c["auth_time"] = t0.Add(-30*time.Minute).Unix(), t0.Add(-30*time.Minute).Unix()
			c["exp"], c["idle_exp"] = t0.Add(30*time.Minute).Unix(), t0.Unix()
		})), want: []error{ErrIdle}},
		{name: "idle by the configured timeout though idle_exp is later", token: sign(with(func(c map[string]any) {
			c["iat"], c["auth_time"] = t0.Add(-31*time.Minute).Unix(), t0.Add(-31*time.Minute).Unix()
			c["exp"], c["idle_exp"] = t0.Add(29*time.Minute).Unix(), t0.Add(29*time.Minute).Unix()
		})), want: []error{ErrIdle}},
		{name: "lifetime longer than configured", token: sign(with(func(c map[string]any) {
			c["exp"] = t0.Add(2 * time.Hour).Unix()
		})), want: []error{ErrExpired}},
		{name: "tampered payload", token: parts[0] + "." + b64(strings.Replace(mustDecode(t, parts[1]), "alice", "admin", 1)) + "." + parts[2],
			want: []error{ErrInvalidSession, jwt.ErrSignature}},
		{name: "tampered signature", token: parts[0] + "." + parts[1] + "." + flip(parts[2]), want: []error{ErrInvalidSession}},
		{name: "alg none", token: b64(`{"alg":"none","typ":"session+jwt"}`) + "." + parts[1] + ".", want: []error{ErrInvalidSession}},
		{name: "alg swap HS256 with the EdDSA public key", m: edm, token: signWith(t, swapKey, TokenType, validClaims(t0)),
			want: []error{ErrInvalidSession, jwt.ErrAlgorithm}},
		{name: "alg not in the ring", token: signWith(t, mustGenerate(t, jose.HS512), TokenType, validClaims(t0)),
			want: []error{ErrInvalidSession, jwt.ErrAlgorithm}},
		{name: "wrong audience", token: sign(with(func(c map[string]any) { c["aud"] = "https://other.example.com" })),
			want: []error{ErrInvalidSession, jwt.ErrAudience}},
		{name: "wrong issuer", token: sign(with(func(c map[string]any) { c["iss"] = "https://other.example.com" })),
			want: []error{ErrInvalidSession, jwt.ErrIssuer}},
		{name: "wrong typ", token: signWith(t, current, "JWT", validClaims(t0)), want: []error{ErrInvalidSession, jwt.ErrType}},
		{name: "transient token as session", token: signWith(t, current, transientType, validClaims(t0)), want: []error{ErrInvalidSession, jwt.ErrType}},
		{name: "missing sid", token: sign(with(func(c map[string]any) { delete(c, "sid") })), want: []error{ErrInvalidSession, jwt.ErrClaim}},
		{name: "missing idle_exp", token: sign(with(func(c map[string]any) { delete(c, "idle_exp") })), want: []error{ErrInvalidSession, jwt.ErrClaim}},
		{name: "empty sub", token: sign(with(func(c map[string]any) { c["sub"] = "" })), want: []error{ErrInvalidSession}},
		{name: "short csrf secret", token: sign(with(func(c map[string]any) { c["csrf"] = "AAAA" })), want: []error{ErrInvalidSession}},
		{name: "csrf not a string", token: sign(with(func(c map[string]any) { c["csrf"] = 7 })), want: []error{ErrInvalidSession}},
		{name: "idle_exp past exp", token: sign(with(func(c map[string]any) { c["idle_exp"] = t0.Add(2 * time.Hour).Unix() })),
			want: []error{ErrInvalidSession}},
		{name: "data over the limit", token: sign(with(func(c map[string]any) {
			c["data"] = map[string]string{"x": strings.Repeat("a", DefaultMaxDataSize)}
		})), want: []error{ErrInvalidSession, ErrTooLarge}},
		{name: "cookie over 4 KB", token: valid + strings.Repeat("A", MaxCookieSize), want: []error{ErrInvalidSession, ErrTooLarge}},
		{name: "not a JWT", token: "hello", want: []error{ErrInvalidSession, jwt.ErrMalformed}},
		{name: "empty", token: "", want: []error{ErrInvalidSession}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mm := tc.m
			if mm == nil {
				mm = m
			}
			s, err := mm.Decode(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if s.Subject != "alice" || s.ID != "sid-1" || !s.IssuedAt.Equal(t0) {
					t.Fatalf("session = %+v", s)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted it: %+v", s)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not match %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tc.token[min(len(tc.token), 20):]) && len(tc.token) > 40 {
				t.Errorf("the error contains the token: %v", err)
			}
		})
	}
}

func mustDecode(t testing.TB, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustGenerate(t testing.TB, alg jose.Algorithm) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestRoundTrip(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock)
	s, err := m.NewSession("alice", map[string]string{"name": "Alice", "role": "admin"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Decode(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || got.ID != s.ID || got.Data["name"] != "Alice" || got.Data["role"] != "admin" ||
		!got.AuthTime.Equal(clock.Now()) || !got.ExpiresAt.Equal(clock.Now().Add(time.Hour)) ||
		!got.IdleExpiresAt.Equal(clock.Now().Add(30*time.Minute)) {
		t.Fatalf("round trip: got %+v, want %+v", got, s)
	}
	if !got.ValidCSRFToken(s.CSRFToken()) {
		t.Error("the CSRF token of the issued session does not verify on the decoded one")
	}
	other, _ := m.NewSession("alice", nil)
	if other.ID == s.ID {
		t.Error("two sessions share an ID")
	}
	if other.ValidCSRFToken(s.CSRFToken()) {
		t.Error("a CSRF token of one session verifies for another")
	}
}

func TestConfig(t *testing.T) {
	k, ed := hmacKey(t), edKey(t)
	t0 := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{AppURL: appURL, Keys: []Key{{Key: k}}}, true},
		{"EdDSA with an older HS256 key", Config{AppURL: appURL, Keys: []Key{{Key: ed}, {Key: k, RetireAt: t0}}}, true},
		{"http localhost", Config{AppURL: "http://127.0.0.1:9999", Keys: []Key{{Key: k}}}, true},
		{"no keys", Config{AppURL: appURL}, false},
		{"public signing key", Config{AppURL: appURL, Keys: []Key{{Key: ed.Public()}}}, false},
		{"ES256 key", Config{AppURL: appURL, Keys: []Key{{Key: mustGenerate(t, jose.ES256)}}}, false},
		{"HS512 key", Config{AppURL: appURL, Keys: []Key{{Key: mustGenerate(t, jose.HS512)}}}, false},
		{"signing key with RetireAt", Config{AppURL: appURL, Keys: []Key{{Key: k, RetireAt: t0}}}, false},
		{"older key without RetireAt", Config{AppURL: appURL, Keys: []Key{{Key: ed}, {Key: k}}}, false},
		{"same key twice", Config{AppURL: appURL, Keys: []Key{{Key: k}, {Key: k, RetireAt: t0}}}, false},
		{"AppURL with a path", Config{AppURL: appURL + "/app", Keys: []Key{{Key: k}}}, false},
		{"AppURL not http", Config{AppURL: "ftp://app.example.com", Keys: []Key{{Key: k}}}, false},
		{"AppURL empty", Config{Keys: []Key{{Key: k}}}, false},
		{"cookie name without __Host-", Config{AppURL: appURL, Keys: []Key{{Key: k}}, CookieName: "session"}, false},
		{"cookie name __Secure-", Config{AppURL: appURL, Keys: []Key{{Key: k}}, CookieName: "__Secure-s"}, false},
		{"cookie name with a space", Config{AppURL: appURL, Keys: []Key{{Key: k}}, CookieName: "__Host-a b"}, false},
		{"SameSite None", Config{AppURL: appURL, Keys: []Key{{Key: k}}, SameSite: http.SameSiteNoneMode}, false},
		{"SameSite Strict", Config{AppURL: appURL, Keys: []Key{{Key: k}}, SameSite: http.SameSiteStrictMode}, true},
		{"idle longer than lifetime", Config{AppURL: appURL, Keys: []Key{{Key: k}}, Lifetime: time.Hour, IdleTimeout: 2 * time.Hour}, false},
		{"RefreshAfter 1", Config{AppURL: appURL, Keys: []Key{{Key: k}}, RefreshAfter: 1}, false},
		{"MaxDataSize over a cookie", Config{AppURL: appURL, Keys: []Key{{Key: k}}, MaxDataSize: MaxCookieSize + 1}, false},
		{"trusted origin with a path", Config{AppURL: appURL, Keys: []Key{{Key: k}}, TrustedOrigins: []string{"https://x.example/p"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: err = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}

func TestNewHMACKey(t *testing.T) {
	if _, err := NewHMACKey(make([]byte, 31)); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	s := secret(t)
	a, err := NewHMACKey(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewHMACKey(s)
	if a.KeyID() != b.KeyID() || a.Algorithm() != jose.HS256 {
		t.Errorf("kid %q and %q for one secret, alg %s", a.KeyID(), b.KeyID(), a.Algorithm())
	}
	if strings.Contains(a.KeyID(), base64.RawURLEncoding.EncodeToString(s)[:8]) {
		t.Error("the kid shows the secret")
	}
	if c := hmacKey(t); c.KeyID() == a.KeyID() {
		t.Error("two secrets share a kid")
	}
}

// The rotation of the issue: a new key signs, the old one verifies what it
// signed until it retires, and sliding moves live sessions to the new key.
func TestKeyRotation(t *testing.T) {
	clock := clocktest.Default()
	t0 := clock.Now()
	k1, k2 := hmacKey(t), edKey(t)
	m1 := newManager(t, clock, func(c *Config) { c.Keys = []Key{{Key: k1}} })
	s, err := m1.NewSession("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	oldTok, err := m1.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	m2 := newManager(t, clock, func(c *Config) { c.Keys = []Key{{Key: k2}, {Key: k1, RetireAt: t0.Add(20 * time.Minute)}} })

	clock.Advance(10 * time.Minute)
	if _, err := m2.Decode(context.Background(), oldTok); err != nil {
		t.Fatalf("a session of the older key before it retires: %v", err)
	}
	// A request slides the session, and the new cookie is signed by k2.
	rec := serve(t, m2, httptest.NewRequest(http.MethodGet, "/", nil), oldTok)
	newTok := sessionCookie(t, rec).Value
	if h := mustHeader(t, newTok); h.KeyID != k2.KeyID() || h.Algorithm != jose.EdDSA {
		t.Errorf("re-issued with kid %q alg %s, want the new key", h.KeyID, h.Algorithm)
	}
	clock.Set(t0.Add(20 * time.Minute))
	if _, err := m2.Decode(context.Background(), oldTok); !errors.Is(err, ErrKeyRetired) {
		t.Fatalf("a session of a retired key: %v, want ErrKeyRetired", err)
	}
	if _, err := m2.Decode(context.Background(), newTok); err != nil {
		t.Fatalf("the re-issued session: %v", err)
	}
	// m1 does not know k2.
	if _, err := m1.Decode(context.Background(), newTok); !errors.Is(err, jwt.ErrAlgorithm) && !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Errorf("a manager without the new key: %v", err)
	}
}

func mustHeader(t testing.TB, tok string) jose.Header {
	t.Helper()
	j, err := jose.ParseCompact(tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	return j.Header
}

func TestEncodeLimits(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock, func(c *Config) { c.MaxDataSize = MaxCookieSize })
	if _, err := m.NewSession("", nil); err == nil {
		t.Error("an empty subject was accepted")
	}
	s, err := m.NewSession("alice", map[string]string{"blob": strings.Repeat("x", 3500)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Encode(s); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode of a cookie over 4 KB: %v, want ErrTooLarge", err)
	}
	rec := httptest.NewRecorder()
	if err := m.Issue(rec, s); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Issue of a cookie over 4 KB: %v, want ErrTooLarge", err)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Error("a cookie was written anyway")
	}
	small := newManager(t, clock)
	if _, err := small.NewSession("alice", map[string]string{"blob": strings.Repeat("x", DefaultMaxDataSize)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("data over MaxDataSize: %v, want ErrTooLarge", err)
	}
	if _, err := (&Manager{}).Encode(&Session{Subject: "x"}); err == nil {
		t.Error("Encode of a session not made by NewSession succeeded")
	}
}

func TestDecodeClaimTypes(t *testing.T) {
	clock := clocktest.Default()
	t0 := clock.Now()
	m := newManager(t, clock)
	for _, tc := range []struct {
		name string
		set  func(map[string]any)
		ok   bool
	}{
		{"data of strings", func(c map[string]any) { c["data"] = map[string]any{"a": "1", "b\u00e9": "2"} }, true},
		{"empty data", func(c map[string]any) { c["data"] = map[string]any{} }, true},
		{"data a string", func(c map[string]any) { c["data"] = "x" }, false},
		{"data with a number", func(c map[string]any) { c["data"] = map[string]any{"a": 1} }, false},
		{"data nested", func(c map[string]any) { c["data"] = map[string]any{"a": map[string]any{"b": "c"}} }, false},
		{"data with too many members", func(c map[string]any) {
			d := map[string]any{}
			for i := range maxDataEntries + 1 {
				d[string(rune('A'+i))] = ""
			}
			c["data"] = d
		}, false},
		{"auth_time fractional", func(c map[string]any) { c["auth_time"] = float64(t0.Unix()) - 0.5 }, false},
		{"auth_time a string", func(c map[string]any) { c["auth_time"] = "1" }, false},
		{"idle_exp negative", func(c map[string]any) { c["idle_exp"] = -1 }, false},
		{"sid a number", func(c map[string]any) { c["sid"] = 1 }, false},
		{"sub a number", func(c map[string]any) { c["sub"] = 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validClaims(t0)
			tc.set(c)
			s, err := m.Decode(t.Context(), signWith(t, m.ring.signer, TokenType, c))
			if (err == nil) != tc.ok {
				t.Fatalf("Decode: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidSession) {
				t.Errorf("error %v is not ErrInvalidSession", err)
			}
			if err == nil && tc.name == "data of strings" && (s.Data["a"] != "1" || s.Data["b\u00e9"] != "2") {
				t.Errorf("data = %v", s.Data)
			}
		})
	}
}
