package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// The policy every implementation enforces in the benchmarks and tests.
const (
	testIssuer   = "https://issuer.writ.example"
	testAudience = "https://api.writ.example"
)

// benchAlgs returns the algorithms of BenchmarkVerify and BenchmarkSign.
func benchAlgs() []jose.Algorithm {
	return []jose.Algorithm{jose.HS256, jose.ES256, jose.RS256, jose.EdDSA}
}

// benchImpls returns the implementations compared, in run order. The floor
// runs right after writ so that the two, run seconds apart, meet the same
// load on a shared machine (see cmd/floorratio).
func benchImpls() []string {
	return []string{"writ", "floor", "golang-jwt", "go-jose", "jwx"}
}

// claimImpls returns the implementations that decode claims.
func claimImpls() []string {
	return []string{"writ", "golang-jwt", "go-jose", "jwx"}
}

// claimValues are the values of the benchmark token: every registered claim
// plus the RFC 9068 scope and client_id and two custom claims, about 300
// bytes of JSON.
type claimValues struct {
	Issuer   string
	Subject  string
	Audience string
	Expiry   time.Time
	IssuedAt time.Time
	NotBef   time.Time
	ID       string
	Scope    string
	ClientID string
	Tenant   string
	Roles    []string
}

func newClaimValues(now time.Time) claimValues {
	now = now.Truncate(time.Second)
	return claimValues{
		Issuer:   testIssuer,
		Subject:  "user-7f3a9c2e",
		Audience: testAudience,
		Expiry:   now.Add(24 * time.Hour),
		IssuedAt: now,
		NotBef:   now.Add(-time.Minute),
		ID:       "0f8c2e4a-7b1d-4c9e-a3f5-6d2b8e1c9a70",
		Scope:    "orders:read orders:write",
		ClientID: "billing-svc",
		Tenant:   "acme",
		Roles:    []string{"admin", "auditor"},
	}
}

// writClaims is the claims type writ signs: its registered Claims plus the
// custom members.
type writClaims struct {
	jwt.Claims
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
	Tenant   string   `json:"tenant"`
	Roles    []string `json:"roles"`
}

func (c claimValues) writ() *writClaims {
	return &writClaims{
		Claims: jwt.Claims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.Audience{c.Audience},
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
			NotBefore: jwt.NewNumericDate(c.NotBef),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		Scope:    c.Scope,
		ClientID: c.ClientID,
		Tenant:   c.Tenant,
		Roles:    c.Roles,
	}
}

// fixture is one algorithm's key pair and the token every implementation
// verifies.
type fixture struct {
	alg    jose.Algorithm
	key    *jose.Key // private key or HMAC secret
	verify *jose.Key // public half, or the secret for HMAC
	priv   any       // Go private key ([]byte for HMAC)
	pub    any       // Go public key ([]byte for HMAC)
	claims claimValues
	token  string // signed by writ, typ at+jwt, with kid
}

// mustFixture creates the fixture for alg or stops the test.
func mustFixture(tb testing.TB, alg jose.Algorithm) *fixture {
	tb.Helper()
	fx, err := newFixture(alg)
	if err != nil {
		tb.Fatalf("fixture %s: %v", alg, err)
	}
	return fx
}

func newFixture(alg jose.Algorithm) (*fixture, error) {
	k, err := jose.GenerateKey(alg)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	fx := &fixture{alg: alg, key: k, verify: k, claims: newClaimValues(time.Now())}
	switch p := k.CryptoKey().(type) {
	case []byte:
		fx.priv, fx.pub = p, p
	case *ecdsa.PrivateKey:
		fx.priv, fx.pub = p, &p.PublicKey
	case *rsa.PrivateKey:
		fx.priv, fx.pub = p, &p.PublicKey
	case ed25519.PrivateKey:
		fx.priv, fx.pub = p, p.Public()
	default:
		return nil, fmt.Errorf("unexpected key type %T", p)
	}
	if !k.IsSymmetric() {
		fx.verify = k.Public()
	}
	fx.token, err = fx.mint(fx.claims.writ())
	if err != nil {
		return nil, err
	}
	return fx, nil
}

// mint signs claims with writ's Signer as an RFC 9068 access token.
func (fx *fixture) mint(claims any) (string, error) {
	s, err := newWritSigner(fx)
	if err != nil {
		return "", err
	}
	tok, err := s.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return tok, nil
}

// newWritSigner returns writ's Signer for the fixture's key, writing typ
// at+jwt.
func newWritSigner(fx *fixture) (*jwt.Signer, error) {
	s, err := jwt.NewSigner(fx.key, jwt.TypeAccessToken)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return s, nil
}

// writVerifier is the writ Verifier of the benchmarks: the fixture's key,
// issuer and audience required (exp is required by default).
func (fx *fixture) writVerifier() (*jwt.Verifier, error) {
	return jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(fx.verify)), jwt.Config{
		Issuer:   testIssuer,
		Audience: testAudience,
	})
}

// checkWrit verifies token with writ, for tests of tokens made elsewhere.
func (fx *fixture) checkWrit(token string) error {
	v, err := fx.writVerifier()
	if err != nil {
		return err
	}
	_, err = v.Verify(context.Background(), token)
	return err
}
