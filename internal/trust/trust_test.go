package trust_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/trust"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// memTrust is an in-memory store.TrustStore for the tests.
type memTrust struct {
	mu    sync.Mutex
	m     map[string]store.TrustedIssuer
	reads atomic.Int64
}

func newMemTrust() *memTrust { return &memTrust{m: map[string]store.TrustedIssuer{}} }

func (s *memTrust) put(t store.TrustedIssuer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[t.Issuer] = t
}

func (s *memTrust) GetTrustedIssuer(_ context.Context, iss string) (store.TrustedIssuer, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[iss]
	if !ok {
		return store.TrustedIssuer{}, store.ErrNotFound
	}
	return t, nil
}

func mustKey(t *testing.T, alg jose.Algorithm) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwksOf(t *testing.T, keys ...*jose.Key) []byte {
	t.Helper()
	pub := make([]*jose.Key, len(keys))
	for i, k := range keys {
		pub[i] = k.Public()
	}
	b, err := json.Marshal(jose.NewKeySet(pub...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t *testing.T, k *jose.Key, typ string, claims map[string]any) string {
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

const iss = "https://idp.example"

func claimsAt(now time.Time, over map[string]any) map[string]any {
	c := map[string]any{
		"iss": iss, "sub": "alice", "aud": "https://writ.example",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "j1",
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerifyStatic(t *testing.T) {
	clock := clocktest.Default()
	key := mustKey(t, jose.ES256)
	other := mustKey(t, jose.ES256)
	hs := mustKey(t, jose.HS256)
	st := newMemTrust()
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, key), Uses: []string{store.TrustJWTBearer}})
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
	now := clock.Now()
	auds := []string{"https://writ.example", "https://writ.example/oauth2/token"}

	tests := []struct {
		name  string
		token string
		use   string
		auds  []string
		want  error
	}{
		{"valid", sign(t, key, "JWT", claimsAt(now, nil)), store.TrustJWTBearer, auds, nil},
		{"valid, no audience check", sign(t, key, "JWT", claimsAt(now, map[string]any{"aud": "x"})), store.TrustJWTBearer, nil, nil},
		{"exp within leeway", sign(t, key, "JWT", claimsAt(now, map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), store.TrustJWTBearer, auds, nil},
		{"expired", sign(t, key, "JWT", claimsAt(now, map[string]any{"exp": now.Add(-time.Minute).Unix()})), store.TrustJWTBearer, auds, jwt.ErrExpired},
		{"nbf in the future", sign(t, key, "JWT", claimsAt(now, map[string]any{"nbf": now.Add(time.Minute).Unix()})), store.TrustJWTBearer, auds, jwt.ErrNotYetValid},
		{"iat in the future", sign(t, key, "JWT", claimsAt(now, map[string]any{"iat": now.Add(time.Minute).Unix()})), store.TrustJWTBearer, auds, jwt.ErrNotYetValid},
		{"no exp", sign(t, key, "JWT", claimsAt(now, map[string]any{"exp": nil})), store.TrustJWTBearer, auds, jwt.ErrClaim},
		{"no sub", sign(t, key, "JWT", claimsAt(now, map[string]any{"sub": nil})), store.TrustJWTBearer, auds, jwt.ErrClaim},
		{"wrong audience", sign(t, key, "JWT", claimsAt(now, map[string]any{"aud": "https://other.example"})), store.TrustJWTBearer, auds, jwt.ErrAudience},
		{"audience in a list", sign(t, key, "JWT", claimsAt(now, map[string]any{"aud": []string{"x", "https://writ.example/oauth2/token"}})), store.TrustJWTBearer, auds, nil},
		{"unknown issuer", sign(t, key, "JWT", claimsAt(now, map[string]any{"iss": "https://evil.example"})), store.TrustJWTBearer, auds, grant.ErrUntrustedIssuer},
		{"issuer differs in case", sign(t, key, "JWT", claimsAt(now, map[string]any{"iss": "https://IDP.example"})), store.TrustJWTBearer, auds, grant.ErrUntrustedIssuer},
		{"empty issuer", sign(t, key, "JWT", claimsAt(now, map[string]any{"iss": ""})), store.TrustJWTBearer, auds, grant.ErrUntrustedIssuer},
		{"no issuer", sign(t, key, "JWT", claimsAt(now, map[string]any{"iss": nil})), store.TrustJWTBearer, auds, jwt.ErrIssuer},
		{"use not trusted", sign(t, key, "JWT", claimsAt(now, nil)), store.TrustIDJAG, auds, grant.ErrUntrustedIssuer},
		{"other key", sign(t, other, "JWT", claimsAt(now, nil)), store.TrustJWTBearer, auds, jwt.ErrKeyNotFound},
		{"symmetric algorithm", sign(t, hs, "JWT", claimsAt(now, nil)), store.TrustJWTBearer, auds, jwt.ErrAlgorithm},
		{"too large", sign(t, key, "JWT", claimsAt(now, map[string]any{"pad": strings.Repeat("a", trust.MaxTokenSize)})), store.TrustJWTBearer, auds, jwt.ErrTooLarge},
		{"garbage", "not.a.jwt", store.TrustJWTBearer, auds, jwt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, rec, err := reg.Verify(context.Background(), tt.token, tt.use, tt.auds)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tok.Claims().Subject != "alice" || rec.Issuer != iss {
					t.Fatalf("got sub %q issuer %q", tok.Claims().Subject, rec.Issuer)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestUnknownIssuerNeverFetches: a token naming an unknown issuer, or one
// whose use is not trusted, causes no request to any JWKS URI.
func TestRemoteKeys(t *testing.T) {
	clock := clocktest.Default()
	key := mustKey(t, jose.RS256)
	var fetches atomic.Int64
	jwks := jwksOf(t, key)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	st := newMemTrust()
	st.put(store.TrustedIssuer{Issuer: iss, JWKSURI: srv.URL + "/jwks", Uses: []string{store.TrustIDJAG}})
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
	ctx := context.Background()
	now := clock.Now()

	unknown := sign(t, key, "JWT", claimsAt(now, map[string]any{"iss": "https://unknown.example"}))
	if _, _, err := reg.Verify(ctx, unknown, store.TrustIDJAG, nil); !errors.Is(err, grant.ErrUntrustedIssuer) {
		t.Fatalf("unknown issuer: %v", err)
	}
	good := sign(t, key, "oauth-id-jag+jwt", claimsAt(now, nil))
	if _, _, err := reg.Verify(ctx, good, store.TrustJWTBearer, nil); !errors.Is(err, grant.ErrUntrustedIssuer) {
		t.Fatalf("use not trusted: %v", err)
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("%d fetches before any trusted token", n)
	}
	for range 3 {
		if _, _, err := reg.Verify(ctx, good, store.TrustIDJAG, nil); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", n)
	}
	// A re-read record with the same URI keeps the key set and its cache.
	clock.Advance(trust.DefaultTTL + time.Second)
	now = clock.Now()
	st.put(store.TrustedIssuer{Issuer: iss, JWKSURI: srv.URL + "/jwks", Uses: []string{store.TrustIDJAG}, UpdatedAt: now})
	good = sign(t, key, "oauth-id-jag+jwt", claimsAt(now, nil))
	if _, _, err := reg.Verify(ctx, good, store.TrustIDJAG, nil); err != nil {
		t.Fatalf("Verify after update: %v", err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after an update with the same URI, want 1", n)
	}
}

func TestJWKSURIRefused(t *testing.T) {
	key := mustKey(t, jose.ES256)
	st := newMemTrust()
	st.put(store.TrustedIssuer{Issuer: iss, JWKSURI: "http://idp.example/jwks", Uses: []string{store.TrustJWTBearer}})
	clock := clocktest.Default()
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
	_, _, err := reg.Verify(context.Background(), sign(t, key, "JWT", claimsAt(clock.Now(), nil)), store.TrustJWTBearer, nil)
	if !errors.Is(err, jwt.ErrKeySource) {
		t.Fatalf("http JWKS URI on a public host: %v", err)
	}
	for _, tt := range []struct {
		uri string
		ok  bool
	}{
		{"https://idp.example/jwks", true},
		{"http://127.0.0.1:8080/jwks", true},
		{"http://localhost/jwks", true},
		{"http://idp.example/jwks", false},
		{"https://user:pw@idp.example/jwks", false},
		{"ftp://idp.example/jwks", false},
		{"/jwks", false},
		{"https://idp.example/jwks#f", false},
	} {
		if err := trust.CheckJWKSURI(tt.uri, false); (err == nil) != tt.ok {
			t.Errorf("CheckJWKSURI(%q) = %v", tt.uri, err)
		}
	}
}

// TestUpdate: a changed record (new keys, uses removed, issuer deleted)
// takes effect after the TTL, or at once after Invalidate.
func TestUpdate(t *testing.T) {
	clock := clocktest.Default()
	k1, k2 := mustKey(t, jose.ES256), mustKey(t, jose.EdDSA)
	st := newMemTrust()
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, k1), Uses: []string{store.TrustJWTBearer}, UpdatedAt: clock.Now()})
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
	ctx := context.Background()
	verify := func(k *jose.Key) error {
		_, _, err := reg.Verify(ctx, sign(t, k, "JWT", claimsAt(clock.Now(), nil)), store.TrustJWTBearer, nil)
		return err
	}
	if err := verify(k1); err != nil {
		t.Fatal(err)
	}
	reads := st.reads.Load()
	if err := verify(k1); err != nil || st.reads.Load() != reads {
		t.Fatalf("second verify: %v, %d reads (want cached)", err, st.reads.Load()-reads)
	}
	clock.Advance(time.Second)
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, k2), Uses: []string{store.TrustJWTBearer}, UpdatedAt: clock.Now()})
	if err := verify(k2); !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Fatalf("new key before the TTL: %v", err)
	}
	clock.Advance(trust.DefaultTTL)
	if err := verify(k2); err != nil {
		t.Fatalf("new key after the TTL: %v", err)
	}
	if err := verify(k1); !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Fatalf("old key after the change: %v", err)
	}
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, k2), Uses: []string{store.TrustIDJAG}, UpdatedAt: clock.Now().Add(time.Second)})
	reg.Invalidate(iss)
	if err := verify(k2); !errors.Is(err, grant.ErrUntrustedIssuer) {
		t.Fatalf("use removed, after Invalidate: %v", err)
	}
	st.mu.Lock()
	delete(st.m, iss)
	st.mu.Unlock()
	clock.Advance(trust.DefaultTTL)
	if _, _, err := reg.Verify(ctx, sign(t, k2, "JWT", claimsAt(clock.Now(), nil)), store.TrustIDJAG, nil); !errors.Is(err, grant.ErrUntrustedIssuer) {
		t.Fatalf("deleted issuer: %v", err)
	}
}

func TestBadRecord(t *testing.T) {
	clock := clocktest.Default()
	k := mustKey(t, jose.ES256)
	st := newMemTrust()
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: []byte(`{"keys":[{"kty":"nope"}]`), Uses: []string{store.TrustJWTBearer}})
	st.put(store.TrustedIssuer{Issuer: "https://nokeys.example", Uses: []string{store.TrustJWTBearer}})
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
	for _, i := range []string{iss, "https://nokeys.example"} {
		_, _, err := reg.Verify(context.Background(), sign(t, k, "JWT", claimsAt(clock.Now(), map[string]any{"iss": i})), store.TrustJWTBearer, nil)
		if !errors.Is(err, jwt.ErrKeySource) {
			t.Errorf("%s: %v", i, err)
		}
	}
}

// TestStoreFailure: a store that fails is not an untrusted issuer.
func TestStoreFailure(t *testing.T) {
	clock := clocktest.Default()
	k := mustKey(t, jose.ES256)
	reg := trust.New(context.Background(), failing{}, trust.Options{Now: clock.Now})
	_, _, err := reg.Verify(context.Background(), sign(t, k, "JWT", claimsAt(clock.Now(), nil)), store.TrustJWTBearer, nil)
	if err == nil || errors.Is(err, grant.ErrUntrustedIssuer) || !errors.Is(err, errDown) {
		t.Fatalf("Verify: %v", err)
	}
}

var errDown = errors.New("database down")

type failing struct{}

func (failing) GetTrustedIssuer(context.Context, string) (store.TrustedIssuer, error) {
	return store.TrustedIssuer{}, errDown
}

// TestBounded: more issuers than MaxIssuers all verify; the registry keeps
// working as it evicts.
func TestBounded(t *testing.T) {
	clock := clocktest.Default()
	k := mustKey(t, jose.ES256)
	st := newMemTrust()
	names := []string{"https://a.example", "https://b.example", "https://c.example"}
	for _, n := range names {
		st.put(store.TrustedIssuer{Issuer: n, JWKS: jwksOf(t, k), Uses: []string{store.TrustJWTBearer}})
	}
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now, MaxIssuers: 2})
	for range 2 {
		for _, n := range names {
			if _, _, err := reg.Verify(context.Background(), sign(t, k, "JWT", claimsAt(clock.Now(), map[string]any{"iss": n})), store.TrustJWTBearer, nil); err != nil {
				t.Fatalf("%s: %v", n, err)
			}
		}
	}
	if got := st.reads.Load(); got != 6 {
		t.Fatalf("%d store reads, want 6 (LRU of 2 over 3 issuers in turn)", got)
	}
}

// TestConcurrent runs verifications and invalidations at once (-race).
func TestConcurrent(t *testing.T) {
	clock := clocktest.Default()
	k := mustKey(t, jose.ES256)
	st := newMemTrust()
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, k), Uses: []string{store.TrustJWTBearer}})
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now, TTL: -1})
	tok := sign(t, k, "JWT", claimsAt(clock.Now(), nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if i%4 == 0 {
					reg.Invalidate(iss)
				}
				if _, _, err := reg.Verify(context.Background(), tok, store.TrustJWTBearer, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
