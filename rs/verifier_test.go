package rs

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const (
	vIssuer   = "https://id.example.com"
	vAudience = "https://api.example.com"
)

// jwksIssuer is an issuer's signing key and its JWKS server.
type jwksIssuer struct {
	key *jose.Key
	srv *jwksServer
}

func newJWKSIssuer(t testing.TB) *jwksIssuer {
	t.Helper()
	key := genKey(t)
	tt, ok := t.(*testing.T)
	if !ok {
		return &jwksIssuer{key: key}
	}
	return &jwksIssuer{key: key, srv: newJWKSServer(tt, key)}
}

// validClaims returns a valid claim set for vIssuer at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       vIssuer,
		"aud":       vAudience,
		"sub":       "alice",
		"client_id": "app",
		"iat":       now.Unix(),
		"exp":       now.Add(10 * time.Minute).Unix(),
		"jti":       "j1",
		"scope":     "orders:read orders:write",
	}
}

// signJWT signs claims with key under typ.
func signJWT(t testing.TB, key *jose.Key, typ string, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewSigner(key, typ)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withClaims returns a copy of claims with the given changes; a nil value
// removes the claim.
func withClaims(claims map[string]any, kv ...any) map[string]any {
	c := maps.Clone(claims)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func newClockedVerifier(t *testing.T, clk *clocktest.Clock, issuers []IssuerConfig, opts ...VerifierOption) *Verifier {
	t.Helper()
	opts = append([]VerifierOption{WithClock(clk.Now)}, opts...)
	v, err := NewVerifier(context.Background(), issuers, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifierFillsTheToken(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{
		Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{"other", vAudience},
		ClaimMapping: map[string]string{
			"roles":  "realm_access.roles",
			"tenant": `https://example\.com/claims.tenant`,
			"gone":   "no.such.path",
		},
	}})
	now := clk.Now()
	claims := withClaims(validClaims(now),
		"aud", []string{vAudience, "x"},
		"cnf", map[string]any{"jkt": "thumb", "x5t#S256": "certhash"},
		"realm_access", map[string]any{"roles": []string{"admin", "ops"}},
		"https://example.com/claims", map[string]any{"tenant": "acme"},
		"gone", "set by the token",
	)
	raw := signJWT(t, is.key, jwt.TypeAccessToken, claims)
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Token{
		Raw: raw, Issuer: vIssuer, Subject: "alice", ClientID: "app", ID: "j1",
		Audience: []string{vAudience, "x"}, Scopes: []string{"orders:read", "orders:write"},
		Expiry: time.Unix(now.Add(10*time.Minute).Unix(), 0), IssuedAt: time.Unix(now.Unix(), 0),
		JKT: "thumb", X5TS256: "certhash",
	}
	if tok.Raw != want.Raw || tok.Issuer != want.Issuer || tok.Subject != want.Subject ||
		tok.ClientID != want.ClientID || tok.ID != want.ID || !slices.Equal(tok.Audience, want.Audience) ||
		!slices.Equal(tok.Scopes, want.Scopes) || !tok.Expiry.Equal(want.Expiry) ||
		!tok.IssuedAt.Equal(want.IssuedAt) || tok.JKT != want.JKT || tok.X5TS256 != want.X5TS256 {
		t.Fatalf("token = %+v\nwant    %+v", *tok, want)
	}
	if tok.JWT == nil || tok.JWT.Raw() != raw {
		t.Error("Token.JWT is not the verified JWT")
	}
	if roles, _ := tok.Claims["roles"].([]any); len(roles) != 2 || roles[0] != "admin" {
		t.Errorf("mapped roles = %v", tok.Claims["roles"])
	}
	if tok.Claims["tenant"] != "acme" {
		t.Errorf("mapped tenant = %v", tok.Claims["tenant"])
	}
	if _, ok := tok.Claims["gone"]; ok {
		t.Error("a mapping whose path is absent left the token's own claim")
	}
	if tok.Claims["sub"] != "alice" || tok.Claims["exp"] != float64(now.Add(10*time.Minute).Unix()) {
		t.Errorf("Claims = %v", tok.Claims)
	}
}

func TestVerifierScopesAndClientID(t *testing.T) {
	clk := newClock()
	keys := genKey(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, Keys: jose.NewKeySet(keys.Public()), Audiences: []string{vAudience}}})
	base := validClaims(clk.Now())
	tests := []struct {
		name   string
		claims map[string]any
		scopes []string
		client string
	}{
		{"scope string", base, []string{"orders:read", "orders:write"}, "app"},
		{"scp array", withClaims(base, "scope", nil, "scp", []string{"a", "b"}), []string{"a", "b"}, "app"},
		{"scp string", withClaims(base, "scope", nil, "scp", "a b"), []string{"a", "b"}, "app"},
		{"scope wins over scp", withClaims(base, "scp", []string{"x"}), []string{"orders:read", "orders:write"}, "app"},
		{"no scopes", withClaims(base, "scope", nil), nil, "app"},
		{"azp when no client_id", withClaims(base, "client_id", nil, "azp", "spa"), []string{"orders:read", "orders:write"}, "spa"},
		{"client_id wins over azp", withClaims(base, "azp", "spa"), []string{"orders:read", "orders:write"}, "app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := v.Verify(context.Background(), signJWT(t, keys, jwt.TypeAccessToken, tc.claims))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tok.Scopes, tc.scopes) || tok.ClientID != tc.client {
				t.Fatalf("Scopes %q ClientID %q; want %q %q", tok.Scopes, tok.ClientID, tc.scopes, tc.client)
			}
		})
	}
}

func TestVerifierRejects(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	other := genKey(t)
	rsaKey, err := jose.GenerateKey(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	is.srv.serve(t, is.key, rsaKey)
	v := newClockedVerifier(t, clk, []IssuerConfig{
		{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}, Algorithms: []jose.Algorithm{jose.ES256}, RequiredClaims: []string{"jti"}},
		{Issuer: "https://untyped.example", Keys: jose.NewKeySet(is.key.Public()), AnyAudience: true, AllowUntypedTokens: true},
	})
	now := clk.Now()
	base := validClaims(now)
	valid := signJWT(t, is.key, jwt.TypeAccessToken, base)
	tamper := func(raw string) string {
		parts := strings.Split(raw, ".")
		payload := []byte(parts[1])
		if payload[5] == 'A' {
			payload[5] = 'B'
		} else {
			payload[5] = 'A'
		}
		return parts[0] + "." + string(payload) + "." + parts[2]
	}
	tests := []struct {
		name  string
		raw   string
		want  error // besides ErrInvalidToken
		valid bool
	}{
		{"valid", valid, nil, true},
		{"expired", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "exp", now.Add(-time.Hour).Unix())), jwt.ErrExpired, false},
		{"no exp", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "exp", nil)), jwt.ErrClaim, false},
		{"not yet valid", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "nbf", now.Add(time.Hour).Unix())), jwt.ErrNotYetValid, false},
		{"wrong audience", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "aud", "https://other.example")), jwt.ErrAudience, false},
		{"no audience", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "aud", nil)), jwt.ErrAudience, false},
		{"unknown issuer", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "iss", "https://evil.example")), ErrUnknownIssuer, false},
		{"issuer differs in case", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "iss", "https://ID.example.com")), ErrUnknownIssuer, false},
		{"issuer with trailing slash", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "iss", vIssuer+"/")), ErrUnknownIssuer, false},
		{"no issuer", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "iss", nil)), jwt.ErrIssuer, false},
		{"issuer not a string", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "iss", 7)), jwt.ErrClaim, false},
		{"ID token type", signJWT(t, is.key, jwt.TypeJWT, base), jwt.ErrType, false},
		{"no type", signJWT(t, is.key, "", base), jwt.ErrType, false},
		{"alg not allowed", signJWT(t, rsaKey, jwt.TypeAccessToken, base), jwt.ErrAlgorithm, false},
		{"unknown key", signJWT(t, other, jwt.TypeAccessToken, base), jwt.ErrKeyNotFound, false},
		{"tampered payload", tamper(valid), nil, false},
		{"missing required claim", signJWT(t, is.key, jwt.TypeAccessToken, withClaims(base, "jti", nil)), jwt.ErrClaim, false},
		{"malformed", "not-a-jwt", jwt.ErrMalformed, false},
		{"empty", "", jwt.ErrMalformed, false},
		{"two segments", "a.b", jwt.ErrMalformed, false},
		{"payload not base64", "eyJhbGciOiJFUzI1NiJ9.!!!.sig", jwt.ErrMalformed, false},
		{"too large", strings.Repeat("a", jose.DefaultMaxSize+1), jwt.ErrTooLarge, false},
		{"untyped issuer takes JWT", signJWT(t, is.key, jwt.TypeJWT, withClaims(base, "iss", "https://untyped.example")), nil, true},
		{"untyped issuer takes no typ", signJWT(t, is.key, "", withClaims(base, "iss", "https://untyped.example", "aud", nil)), nil, true},
		{"untyped issuer takes application/at+jwt", signJWT(t, is.key, "application/at+jwt", withClaims(base, "iss", "https://untyped.example")), nil, true},
		{"untyped issuer refuses dpop+jwt", signJWT(t, is.key, "dpop+jwt", withClaims(base, "iss", "https://untyped.example")), jwt.ErrType, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := v.Verify(context.Background(), tc.raw)
			if tc.valid {
				if err != nil || tok == nil {
					t.Fatalf("Verify = %v, %v; want a token", tok, err)
				}
				return
			}
			if tok != nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, %v; want ErrInvalidToken", tok, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v; want it to wrap %v", err, tc.want)
			}
			if errors.Is(err, ErrKeySetUnavailable) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("Verify: %v also wraps an availability error", err)
			}
			if strings.Contains(err.Error(), "evil") || (len(tc.raw) > 10 && strings.Contains(err.Error(), tc.raw[:10])) {
				t.Fatalf("error %q repeats the token", err)
			}
		})
	}
}

func TestVerifierUnknownIssuerNeverFetches(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	md := newIssuerMetadataServer(t)
	md.set(OIDCDiscoveryPath, metadataDoc(md.URL, md.URL+"/jwks"))
	v := newClockedVerifier(t, clk, []IssuerConfig{
		{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}},
		{Issuer: md.URL, Audiences: []string{vAudience}},
	})
	base := validClaims(clk.Now())
	for i := range 50 {
		// Unknown kids and issuers from anyone: nothing is fetched.
		raw := signJWT(t, genKey(t), jwt.TypeAccessToken, withClaims(base, "iss", "https://evil.example/"+string(rune('a'+i%26))))
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrUnknownIssuer) {
			t.Fatalf("Verify: %v; want ErrUnknownIssuer", err)
		}
	}
	is.srv.wantHits(t, 0)
	if n := md.totalHits(); n != 0 {
		t.Fatalf("%d requests to a discovered issuer", n)
	}
	// The configured issuer's first token fetches once.
	if _, err := v.Verify(context.Background(), signJWT(t, is.key, jwt.TypeAccessToken, base)); err != nil {
		t.Fatal(err)
	}
	is.srv.wantHits(t, 1)
}

func TestVerifierPicksTheIssuerByIss(t *testing.T) {
	clk := newClock()
	a, b := newJWKSIssuer(t), newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{
		{Issuer: "https://a.example", JWKSURI: a.srv.URL, Audiences: []string{"api-a"}},
		{Issuer: "https://b.example", JWKSURI: b.srv.URL, Audiences: []string{"api-b"}},
	}, WithoutCache())
	base := validClaims(clk.Now())
	ctx := context.Background()
	tokA := signJWT(t, a.key, jwt.TypeAccessToken, withClaims(base, "iss", "https://a.example", "aud", "api-a"))
	if tok, err := v.Verify(ctx, tokA); err != nil || tok.Issuer != "https://a.example" {
		t.Fatalf("issuer a: %v", err)
	}
	a.srv.wantHits(t, 1)
	b.srv.wantHits(t, 0)
	// b's token with a's audience: b's policy applies.
	if _, err := v.Verify(ctx, signJWT(t, b.key, jwt.TypeAccessToken, withClaims(base, "iss", "https://b.example", "aud", "api-a"))); !errors.Is(err, jwt.ErrAudience) {
		t.Fatalf("b's token for a's audience: %v", err)
	}
	// Signed by a's key but claiming to be b: b's keys do not verify it.
	clk.Advance(DefaultMinRefreshInterval)
	_, err := v.Verify(ctx, signJWT(t, a.key, jwt.TypeAccessToken, withClaims(base, "iss", "https://b.example", "aud", "api-b")))
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Fatalf("a's key claiming b: %v", err)
	}
}

func TestVerifierJWKSOutage(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}}},
		WithMaxStale(30*time.Minute), WithoutCache())
	ctx := context.Background()
	verify := func() error {
		// Tokens stay valid: each is signed at the clock's time.
		_, err := v.Verify(ctx, signJWT(t, is.key, jwt.TypeAccessToken, validClaims(clk.Now())))
		return err
	}
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	is.srv.respond(http.StatusInternalServerError, []byte("down"))
	// Past the lifetime (5 min), within MaxStale: the last good keys serve,
	// and the outage shows in Status.
	clk.Advance(DefaultCacheAge + time.Minute)
	if err := verify(); err != nil {
		t.Fatalf("within MaxStale: %v", err)
	}
	is.srv.waitHits(t, 2)
	waitFetchesDone(t, v)
	// A token of a key the last good set lacks (the issuer may have
	// rotated during the outage): 503, not 401.
	clk.Advance(DefaultMinRefreshInterval)
	_, err := v.Verify(ctx, signJWT(t, genKey(t), jwt.TypeAccessToken, validClaims(clk.Now())))
	if !errors.Is(err, ErrKeySetUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown kid during the outage: %v; want ErrKeySetUnavailable only", err)
	}
	is.srv.wantHits(t, 3)
	st := v.Status()[0]
	if st.LastError == "" || !strings.Contains(st.LastError, "500") || !st.Stale || !st.Available || st.Keys != 1 ||
		st.Fetches != 3 || st.FetchErrors != 2 {
		t.Fatalf("Status during the outage = %+v", st)
	}
	// Past MaxStale: 503, not 401.
	clk.Advance(30 * time.Minute)
	err = verify()
	if !errors.Is(err, ErrKeySetUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("past MaxStale: %v; want ErrKeySetUnavailable only", err)
	}
	if st := v.Status()[0]; st.Available {
		t.Fatalf("Status past MaxStale = %+v", st)
	}
	// Recovery.
	is.srv.serve(t, is.key)
	clk.Advance(DefaultMinRefreshInterval)
	if err := verify(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if st := v.Status()[0]; st.LastError != "" || st.Stale || !st.Available || st.KeyAge != 0 {
		t.Fatalf("Status after recovery = %+v", st)
	}
}

// waitFetchesDone waits until no fetch of v's key sets is under way.
func waitFetchesDone(t *testing.T, v *Verifier) {
	t.Helper()
	for _, iv := range v.order {
		ks := iv.remote
		if iv.discover != nil {
			ks, _ = iv.discover.current()
		}
		if ks == nil {
			continue
		}
		if call := inflight(ks); call != nil {
			<-call.done
		}
	}
}

func TestVerifierRotation(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, signJWT(t, is.key, jwt.TypeAccessToken, validClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	is.srv.wantHits(t, 1)
	// The issuer rotates; tokens of the new key arrive at once.
	newKey := genKey(t)
	is.srv.serve(t, is.key, newKey)
	clk.Advance(DefaultMinRefreshInterval)
	for i := range 20 {
		raw := signJWT(t, newKey, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "jti", string(rune('a'+i))))
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Fatalf("token %d of the new key: %v", i, err)
		}
	}
	is.srv.wantHits(t, 1+1) // fetched once for the new kid
}

func TestVerifierContextEndsWait(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}}})
	release := is.srv.hold()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, signJWT(t, is.key, jwt.TypeAccessToken, validClaims(clk.Now())))
		errc <- err
	}()
	is.srv.waitArrival(t)
	cancel()
	err := <-errc
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify with an ended context: %v", err)
	}
}

func TestNewVerifierRefusesBadConfigs(t *testing.T) {
	ks := jose.NewKeySet(genKey(t).Public())
	aud := []string{vAudience}
	tests := []struct {
		name    string
		issuers []IssuerConfig
	}{
		{"none", nil},
		{"empty issuer", []IssuerConfig{{Keys: ks, Audiences: aud}}},
		{"duplicate issuer", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud}, {Issuer: "a", Keys: ks, Audiences: aud}}},
		{"no audience", []IssuerConfig{{Issuer: "a", Keys: ks}}},
		{"empty audience", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: []string{""}}}},
		{"audiences and AnyAudience", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud, AnyAudience: true}}},
		{"keys and jwks_uri", []IssuerConfig{{Issuer: "a", Keys: ks, JWKSURI: "https://a/jwks", Audiences: aud}}},
		{"relative jwks_uri", []IssuerConfig{{Issuer: "a", JWKSURI: "/jwks", Audiences: aud}}},
		{"ftp jwks_uri", []IssuerConfig{{Issuer: "a", JWKSURI: "ftp://a/jwks", Audiences: aud}}},
		{"discovery of a non-URL issuer", []IssuerConfig{{Issuer: "urn:example:issuer", Audiences: aud}}},
		{"discovery of an issuer with a query", []IssuerConfig{{Issuer: "https://a.example/?x=1", Audiences: aud}}},
		{"discovery of an issuer with a fragment", []IssuerConfig{{Issuer: "https://a.example/#x", Audiences: aud}}},
		{"unsupported alg", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud, Algorithms: []jose.Algorithm{"none"}}}},
		{"encryption alg", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud, Algorithms: []jose.Algorithm{jose.RSAOAEP256}}}},
		{"HMAC with remote keys", []IssuerConfig{{Issuer: "a", JWKSURI: "https://a/jwks", Audiences: aud, Algorithms: []jose.Algorithm{jose.HS256}}}},
		{"mapping to sub", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud, ClaimMapping: map[string]string{"sub": "email"}}}},
		{"mapping to cnf", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud, ClaimMapping: map[string]string{"cnf": "x"}}}},
		{"mapping with empty path", []IssuerConfig{{Issuer: "a", Keys: ks, Audiences: aud, ClaimMapping: map[string]string{"roles": ""}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := NewVerifier(context.Background(), tc.issuers); err == nil {
				t.Fatalf("NewVerifier = %v, nil; want an error", v)
			}
		})
	}
	// HMAC with static keys is fine.
	hk, err := jose.GenerateKey(jose.HS256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(context.Background(), []IssuerConfig{{Issuer: "a", Keys: jose.NewKeySet(hk), Audiences: aud, Algorithms: []jose.Algorithm{jose.HS256}}}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifierStaticKeysHMAC(t *testing.T) {
	clk := newClock()
	hk, err := jose.GenerateKey(jose.HS256)
	if err != nil {
		t.Fatal(err)
	}
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, Keys: jose.NewKeySet(hk), Audiences: []string{vAudience}, Algorithms: []jose.Algorithm{jose.HS256}}})
	if _, err := v.Verify(context.Background(), signJWT(t, hk, jwt.TypeAccessToken, validClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	// The default allow-list has no HMAC: a static HMAC key alone is not
	// enough.
	v = newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, Keys: jose.NewKeySet(hk), Audiences: []string{vAudience}}})
	if _, err := v.Verify(context.Background(), signJWT(t, hk, jwt.TypeAccessToken, validClaims(clk.Now()))); !errors.Is(err, jwt.ErrAlgorithm) {
		t.Fatalf("HMAC under the default allow-list: %v", err)
	}
	st := v.Status()
	if len(st) != 1 || st[0].Source != KeysStatic || st[0].Keys != 1 || !st[0].Available {
		t.Fatalf("Status = %+v", st)
	}
}

func TestUnverifiedIssuer(t *testing.T) {
	key := genKey(t)
	tests := []struct {
		name string
		raw  string
		iss  string
		err  error
	}{
		{"plain", signJWT(t, key, "", map[string]any{"iss": "https://a.example"}), "https://a.example", nil},
		{"escaped", "e30." + b64urlString(`{"iss":"https:\/\/a.example\u002f"}`) + ".x", "https://a.example/", nil},
		{"missing", "e30." + b64urlString(`{"sub":"x"}`) + ".x", "", jwt.ErrIssuer},
		{"number", "e30." + b64urlString(`{"iss":1}`) + ".x", "", jwt.ErrClaim},
		{"duplicate iss", "e30." + b64urlString(`{"iss":"a","iss":"b"}`) + ".x", "", jwt.ErrMalformed},
		{"not an object", "e30." + b64urlString(`["iss"]`) + ".x", "", jwt.ErrMalformed},
		{"trailing data", "e30." + b64urlString(`{"iss":"a"} x`) + ".x", "", jwt.ErrMalformed},
		{"padded", "e30." + b64urlString(`{"iss":"a"}`) + "=.x", "", jwt.ErrMalformed},
		{"newline", "e30." + b64urlString(`{"iss":"abc"}`)[:4] + "\n" + b64urlString(`{"iss":"abc"}`)[4:] + ".x", "", jwt.ErrMalformed},
		{"one dot", "e30." + b64urlString(`{"iss":"a"}`), "", jwt.ErrMalformed},
		{"deep", "e30." + b64urlString(`{"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`,"iss":"a"}`) + ".x", "", jwt.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := UnverifiedIssuer(tc.raw)
			if tc.err == nil {
				if err != nil || iss != tc.iss {
					t.Fatalf("UnverifiedIssuer = %q, %v; want %q", iss, err, tc.iss)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("UnverifiedIssuer = %q, %v; want %v", iss, err, tc.err)
			}
		})
	}
}

func b64urlString(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// A token bound by a confirmation method this package cannot check (a cnf
// without jkt nor x5t#S256, such as RFC 7800's jwk), or whose binding is
// malformed, is refused: taken as a bearer token, it would be accepted
// without its proof of possession.
func TestVerifierRefusesUncheckableBinding(t *testing.T) {
	clk := newClock()
	key := genKey(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, Keys: jose.NewKeySet(key.Public()), Audiences: []string{vAudience}}}, WithoutCache())
	for name, cnf := range map[string]any{
		"jwk":           map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}},
		"kid":           map[string]any{"kid": "k1"},
		"empty":         map[string]any{},
		"jkt number":    map[string]any{"jkt": 5},
		"jkt empty":     map[string]any{"jkt": ""},
		"x5t number":    map[string]any{"x5t#S256": 5},
		"not an object": "thumb",
	} {
		raw := signJWT(t, key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "cnf", cnf))
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("cnf %s: Verify = %v; want ErrInvalidToken", name, err)
		}
	}
	// Still fine: jkt, x5t#S256, both.
	for _, cnf := range []map[string]any{{"jkt": "thumb"}, {"x5t#S256": "hash"}, {"jkt": "thumb", "x5t#S256": "hash"}} {
		raw := signJWT(t, key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "cnf", cnf))
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Errorf("cnf %v: %v", cnf, err)
		}
	}
}
