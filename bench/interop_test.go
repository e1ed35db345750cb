package bench

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	gojose "github.com/go-jose/go-jose/v4"
	gojosejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Interoperability with go-jose v4 for every signature algorithm writ
// supports: tokens in both directions, writ's public JWKS read by go-jose
// (with equal RFC 7638 thumbprints), and go-jose's JWKs read by writ.

func TestInterop(t *testing.T) {
	// Each case runs for every algorithm, as a subtest.
	cases := []struct {
		name string
		run  func(t *testing.T, fx *fixture)
	}{
		{"writ-signs/go-jose-verifies", testWritToGoJose},
		{"go-jose-signs/writ-verifies", testGoJoseToWrit},
		{"writ-jwks/go-jose-parses", testWritJWKSToGoJose},
		{"writ-private-jwk/go-jose-parses", testWritPrivateJWKToGoJose},
		{"go-jose-jwk/writ-parses", testGoJoseJWKToWrit},
		{"go-jose-private-jwk/writ-signs", testGoJosePrivateJWKToWrit},
	}
	for _, alg := range jose.SignatureAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			fx := mustFixture(t, alg)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, fx) })
			}
		})
	}
}

func goJoseAlgs(alg jose.Algorithm) []gojose.SignatureAlgorithm {
	return []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(alg)}
}

// goJoseClaims returns the fixture's claims in go-jose's types.
func goJoseClaims(c claimValues) (*gojosejwt.Claims, *customClaims) {
	return &gojosejwt.Claims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  gojosejwt.Audience{c.Audience},
			Expiry:    gojosejwt.NewNumericDate(c.Expiry),
			NotBefore: gojosejwt.NewNumericDate(c.NotBef),
			IssuedAt:  gojosejwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		}, &customClaims{
			Scope: c.Scope, ClientID: c.ClientID, Tenant: c.Tenant, Roles: c.Roles,
		}
}

// goJoseSign signs the fixture's claims with go-jose and the Go key priv,
// writing typ at+jwt and, when kid is not empty, kid.
func goJoseSign(t *testing.T, fx *fixture, priv any, kid string) string {
	t.Helper()
	opts := (&gojose.SignerOptions{}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(fx.alg), Key: priv}, opts)
	if err != nil {
		t.Fatalf("go-jose signer: %v", err)
	}
	std, custom := goJoseClaims(fx.claims)
	tok, err := gojosejwt.Signed(signer).Claims(std).Claims(custom).Serialize()
	if err != nil {
		t.Fatalf("go-jose sign: %v", err)
	}
	return tok
}

// goJoseVerify verifies token with go-jose under key (a Go key or a
// JSONWebKey), validates iss, aud and time, and checks that every claim
// decodes equal to the fixture's values.
func goJoseVerify(t *testing.T, fx *fixture, token string, key any) {
	t.Helper()
	parsed, err := gojosejwt.ParseSigned(token, goJoseAlgs(fx.alg))
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	var std gojosejwt.Claims
	var custom customClaims
	if err := parsed.Claims(key, &std, &custom); err != nil {
		t.Fatalf("go-jose verify: %v", err)
	}
	if err := std.ValidateWithLeeway(gojosejwt.Expected{Issuer: testIssuer, AnyAudience: gojosejwt.Audience{testAudience}}, 0); err != nil {
		t.Fatalf("go-jose validate: %v", err)
	}
	wantStd, wantCustom := goJoseClaims(fx.claims)
	if !reflect.DeepEqual(&std, wantStd) {
		t.Errorf("go-jose decoded registered claims\n got %+v\nwant %+v", std, *wantStd)
	}
	if !reflect.DeepEqual(&custom, wantCustom) {
		t.Errorf("go-jose decoded custom claims\n got %+v\nwant %+v", custom, *wantCustom)
	}
}

// writVerifyFull verifies token with writ (typ at+jwt required) under ks
// and checks the header, the key that verified, and every claim.
func writVerifyFull(t *testing.T, fx *fixture, token string, ks *jose.KeySet, wantKID string) {
	t.Helper()
	v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{
		Issuer:   testIssuer,
		Audience: testAudience,
		Type:     jwt.TypeAccessToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("writ verify: %v\n%s", err, token)
	}
	if tok.Header().Algorithm != fx.alg {
		t.Errorf("alg %q, want %q", tok.Header().Algorithm, fx.alg)
	}
	if tok.Key() == nil || tok.Key().KeyID() != wantKID {
		t.Errorf("verified by key %v, want kid %q", tok.Key(), wantKID)
	}
	want := fx.claims.writ()
	if !reflect.DeepEqual(tok.Claims(), want.Claims) {
		t.Errorf("writ registered claims\n got %+v\nwant %+v", tok.Claims(), want.Claims)
	}
	var got writClaims
	if err := tok.DecodeClaims(&got); err != nil {
		t.Fatalf("DecodeClaims: %v", err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("writ decoded claims\n got %+v\nwant %+v", got, *want)
	}
}

// tamper flips one character of the signature segment.
func tamper(token string) string {
	b := []byte(token)
	i := strings.LastIndexByte(token, '.') + 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func testWritToGoJose(t *testing.T, fx *fixture) {
	parsed, err := gojosejwt.ParseSigned(fx.token, goJoseAlgs(fx.alg))
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	if len(parsed.Headers) != 1 {
		t.Fatalf("%d headers", len(parsed.Headers))
	}
	h := parsed.Headers[0]
	if h.Algorithm != string(fx.alg) || h.KeyID != fx.key.KeyID() || h.ExtraHeaders[gojose.HeaderType] != jwt.TypeAccessToken {
		t.Errorf("go-jose header: alg %q kid %q typ %v", h.Algorithm, h.KeyID, h.ExtraHeaders[gojose.HeaderType])
	}
	goJoseVerify(t, fx, fx.token, fx.pub)

	// Every algorithm, including each hash size and PSS, with a fresh token.
	fresh, err := fx.mint(fx.claims.writ())
	if err != nil {
		t.Fatal(err)
	}
	goJoseVerify(t, fx, fresh, fx.pub)

	// go-jose really checks writ's signature.
	bad, err := gojosejwt.ParseSigned(tamper(fx.token), goJoseAlgs(fx.alg))
	if err != nil {
		t.Fatalf("go-jose parse tampered: %v", err)
	}
	var c gojosejwt.Claims
	if err := bad.Claims(fx.pub, &c); err == nil {
		t.Error("go-jose accepted a tampered writ token")
	}
}

func testGoJoseToWrit(t *testing.T, fx *fixture) {
	ks := jose.NewKeySet(fx.verify)
	kid := fx.key.KeyID()

	tok := goJoseSign(t, fx, fx.priv, kid)
	writVerifyFull(t, fx, tok, ks, kid)

	// Without kid, writ finds the key by the algorithm it is bound to.
	writVerifyFull(t, fx, goJoseSign(t, fx, fx.priv, ""), ks, kid)

	if err := fx.checkWrit(tamper(tok)); !errors.Is(err, jwt.ErrSignature) {
		t.Errorf("tampered go-jose token: writ returned %v, want ErrSignature", err)
	}
}

func testWritJWKSToGoJose(t *testing.T, fx *fixture) {
	data, err := json.Marshal(jose.NewKeySet(fx.key.Public()))
	if err != nil {
		t.Fatalf("marshal JWKS: %v", err)
	}
	var set gojose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatalf("go-jose parse JWKS: %v\n%s", err, data)
	}
	if fx.key.IsSymmetric() {
		// A public JWKS never carries a secret: writ leaves HMAC keys out.
		if fx.key.Public() != nil || len(set.Keys) != 0 || strings.Contains(string(data), `"k"`) {
			t.Errorf("public JWKS of an HMAC key: %s", data)
		}
		return
	}
	if len(set.Keys) != 1 {
		t.Fatalf("go-jose found %d keys in %s", len(set.Keys), data)
	}
	k := set.Keys[0]
	if !k.IsPublic() || !k.Valid() {
		t.Errorf("go-jose: key public=%v valid=%v", k.IsPublic(), k.Valid())
	}
	if k.KeyID != fx.key.KeyID() || k.Algorithm != string(fx.alg) || k.Use != jose.UseSignature {
		t.Errorf("go-jose: kid %q alg %q use %q", k.KeyID, k.Algorithm, k.Use)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatalf("go-jose thumbprint: %v", err)
	}
	if got := base64.RawURLEncoding.EncodeToString(tp); got != fx.key.KeyID() || got != fx.key.ThumbprintSHA256() {
		t.Errorf("go-jose thumbprint %s, writ kid %s", got, fx.key.KeyID())
	}
	if pub, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(fx.pub) {
		t.Errorf("go-jose key %T differs from writ's public key", k.Key)
	}
	// go-jose verifies writ's token with the key from writ's JWKS.
	goJoseVerify(t, fx, fx.token, &k)
}

func testWritPrivateJWKToGoJose(t *testing.T, fx *fixture) {
	data, err := json.Marshal(fx.key)
	if err != nil {
		t.Fatalf("marshal JWK: %v", err)
	}
	var k gojose.JSONWebKey
	if err := k.UnmarshalJSON(data); err != nil {
		t.Fatalf("go-jose parse private JWK: %v", err)
	}
	if k.KeyID != fx.key.KeyID() || k.Algorithm != string(fx.alg) {
		t.Errorf("go-jose: kid %q alg %q", k.KeyID, k.Algorithm)
	}
	if fx.key.IsSymmetric() {
		secret, ok := k.Key.([]byte)
		if !ok || string(secret) != string(fx.priv.([]byte)) {
			t.Fatalf("go-jose oct key %T differs from the secret", k.Key)
		}
		// go-jose has no oct thumbprint; compute RFC 7638 §3.2 directly.
		sum := sha256.Sum256([]byte(`{"k":"` + base64.RawURLEncoding.EncodeToString(secret) + `","kty":"oct"}`))
		if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != fx.key.KeyID() {
			t.Errorf("oct thumbprint %s, writ kid %s", got, fx.key.KeyID())
		}
	} else {
		if k.IsPublic() || !k.Valid() {
			t.Errorf("go-jose: private JWK public=%v valid=%v", k.IsPublic(), k.Valid())
		}
		priv, ok := k.Key.(interface{ Equal(crypto.PrivateKey) bool })
		if !ok || !priv.Equal(fx.priv) {
			t.Fatalf("go-jose private key %T differs from writ's", k.Key)
		}
	}
	// go-jose signs with the key it read; writ verifies.
	writVerifyFull(t, fx, goJoseSign(t, fx, k.Key, fx.key.KeyID()), jose.NewKeySet(fx.verify), fx.key.KeyID())
}

func testGoJoseJWKToWrit(t *testing.T, fx *fixture) {
	const kid = "go-jose-key-1"
	material := fx.pub // the public key, or the secret for HMAC
	jwk := gojose.JSONWebKey{Key: material, KeyID: kid, Algorithm: string(fx.alg), Use: "sig"}
	data, err := jwk.MarshalJSON()
	if err != nil {
		t.Fatalf("go-jose marshal JWK: %v", err)
	}
	k, err := jose.ParseKey(data)
	if err != nil {
		t.Fatalf("writ ParseKey: %v\n%s", err, data)
	}
	if k.Algorithm() != fx.alg || k.KeyID() != kid || k.Use() != jose.UseSignature {
		t.Errorf("writ key: alg %q kid %q use %q", k.Algorithm(), k.KeyID(), k.Use())
	}
	if k.IsSymmetric() != fx.key.IsSymmetric() || (!k.IsSymmetric() && k.IsPrivate()) {
		t.Errorf("writ key: symmetric=%v private=%v", k.IsSymmetric(), k.IsPrivate())
	}
	if !fx.key.IsSymmetric() {
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatalf("go-jose thumbprint: %v", err)
		}
		if got, want := k.ThumbprintSHA256(), base64.RawURLEncoding.EncodeToString(tp); got != want {
			t.Errorf("writ thumbprint %s, go-jose %s", got, want)
		}
		if pub, ok := k.PublicKey().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(fx.pub) {
			t.Errorf("writ parsed key %T differs", k.PublicKey())
		}
	}
	// A go-jose token naming that kid verifies with the parsed key.
	writVerifyFull(t, fx, goJoseSign(t, fx, fx.priv, kid), jose.NewKeySet(k), kid)

	// Without "alg": EC and OKP keys are bound to the one algorithm their
	// curve allows; RSA and oct keys must name it.
	jwk.Algorithm = ""
	data, err = jwk.MarshalJSON()
	if err != nil {
		t.Fatalf("go-jose marshal JWK: %v", err)
	}
	k, err = jose.ParseKey(data)
	switch fx.key.CryptoKey().(type) {
	case []byte:
		if !errors.Is(err, jose.ErrInvalidKey) {
			t.Errorf("oct JWK without alg: err %v, want ErrInvalidKey", err)
		}
	default:
		if strings.HasPrefix(string(fx.alg), "RS") || strings.HasPrefix(string(fx.alg), "PS") {
			if !errors.Is(err, jose.ErrInvalidKey) {
				t.Errorf("RSA JWK without alg: err %v, want ErrInvalidKey", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("writ ParseKey without alg: %v\n%s", err, data)
		}
		if k.Algorithm() != fx.alg {
			t.Errorf("inferred alg %q, want %q", k.Algorithm(), fx.alg)
		}
	}
}

func testGoJosePrivateJWKToWrit(t *testing.T, fx *fixture) {
	const kid = "go-jose-private-1"
	jwk := gojose.JSONWebKey{Key: fx.priv, KeyID: kid, Algorithm: string(fx.alg), Use: "sig"}
	data, err := jwk.MarshalJSON()
	if err != nil {
		t.Fatalf("go-jose marshal private JWK: %v", err)
	}
	k, err := jose.ParseKey(data)
	if err != nil {
		t.Fatalf("writ ParseKey of go-jose private JWK: %v", err)
	}
	if !k.IsPrivate() || k.Algorithm() != fx.alg || k.KeyID() != kid {
		t.Fatalf("writ key: private=%v alg %q kid %q", k.IsPrivate(), k.Algorithm(), k.KeyID())
	}
	// writ signs with the imported key; go-jose verifies with the original.
	s, err := jwt.NewSigner(k, jwt.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(fx.claims.writ())
	if err != nil {
		t.Fatalf("writ sign: %v", err)
	}
	goJoseVerify(t, fx, tok, fx.pub)
}
