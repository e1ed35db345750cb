package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	gojose "github.com/go-jose/go-jose/v4"
	gojosejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// errFloor reports a failed raw signature check.
var errFloor = errors.New("floor: signature does not verify")

// verifyFunc verifies the token it was built for once.
type verifyFunc func() error

// newVerify returns impl's parse + verify + validate of token under the
// fixture's key, with the issuer and audience of the benchmarks required
// and exp checked. Everything that can be prepared once (parsers, option
// lists, key conversions, the []byte form of the token for jwx and the
// floor) is prepared here, outside the timed loop. With scope set, the
// verification also yields the scope and client_id claims as Go strings,
// the way an API reads them.
func newVerify(impl string, fx *fixture, token string, scope bool) (verifyFunc, error) {
	switch impl {
	case "writ":
		v, err := fx.writVerifier()
		if err != nil {
			return nil, err
		}
		ctx := context.Background()
		if !scope {
			return func() error {
				_, err := v.Verify(ctx, token)
				return err
			}, nil
		}
		return func() error {
			t, err := v.Verify(ctx, token)
			if err != nil {
				return err
			}
			s, ok1 := t.StringClaim("scope")
			c, ok2 := t.StringClaim("client_id")
			if !ok1 || !ok2 || s == "" || c == "" {
				return errors.New("writ: scope or client_id missing")
			}
			return nil
		}, nil

	case "golang-jwt":
		p := gjwt.NewParser(
			gjwt.WithValidMethods([]string{string(fx.alg)}),
			gjwt.WithIssuer(testIssuer),
			gjwt.WithAudience(testAudience),
			gjwt.WithExpirationRequired(),
		)
		key := fx.pub
		keyFunc := func(*gjwt.Token) (any, error) { return key, nil }
		if !scope {
			return func() error {
				_, err := p.ParseWithClaims(token, &gjwt.RegisteredClaims{}, keyFunc)
				return err
			}, nil
		}
		return func() error {
			var c gjwtClaims
			if _, err := p.ParseWithClaims(token, &c, keyFunc); err != nil {
				return err
			}
			if c.Scope == "" || c.ClientID == "" {
				return errors.New("golang-jwt: scope or client_id missing")
			}
			return nil
		}, nil

	case "go-jose":
		algs := []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(fx.alg)}
		want := gojosejwt.Expected{Issuer: testIssuer, AnyAudience: gojosejwt.Audience{testAudience}}
		key := fx.pub
		return func() error {
			t, err := gojosejwt.ParseSigned(token, algs)
			if err != nil {
				return err
			}
			var c gojosejwt.Claims
			if !scope {
				if err := t.Claims(key, &c); err != nil {
					return err
				}
				return c.Validate(want)
			}
			var custom customClaims
			if err := t.Claims(key, &c, &custom); err != nil {
				return err
			}
			if err := c.Validate(want); err != nil {
				return err
			}
			if custom.Scope == "" || custom.ClientID == "" {
				return errors.New("go-jose: scope or client_id missing")
			}
			return nil
		}, nil

	case "jwx":
		alg, ok := jwa.LookupSignatureAlgorithm(string(fx.alg))
		if !ok {
			return nil, fmt.Errorf("jwx: no algorithm %s", fx.alg)
		}
		opts := []jwxjwt.ParseOption{
			jwxjwt.WithKey(alg, fx.pub),
			jwxjwt.WithValidate(true),
			jwxjwt.WithIssuer(testIssuer),
			jwxjwt.WithAudience(testAudience),
		}
		raw := []byte(token)
		return func() error {
			t, err := jwxjwt.Parse(raw, opts...)
			if err != nil {
				return err
			}
			if scope {
				var s, c string
				if err := t.Get("scope", &s); err != nil {
					return err
				}
				if err := t.Get("client_id", &c); err != nil {
					return err
				}
			}
			return nil
		}, nil

	case "floor":
		if scope {
			return nil, errors.New("floor: decodes no claims")
		}
		return newFloorVerify(fx, []byte(token))
	}
	return nil, fmt.Errorf("unknown implementation %q", impl)
}

// newFloorVerify is the raw standard-library signature check: split off the
// signature, decode it, hash the signing input and check the signature.
// No header or claims are looked at.
func newFloorVerify(fx *fixture, token []byte) (verifyFunc, error) {
	switch pub := fx.pub.(type) {
	case []byte: // HS256
		return func() error {
			var buf [512]byte
			input, sig, err := splitSignature(token, &buf)
			if err != nil {
				return err
			}
			m := hmac.New(sha256.New, pub)
			m.Write(input)
			var sum [sha256.Size]byte
			if !hmac.Equal(m.Sum(sum[:0]), sig) {
				return errFloor
			}
			return nil
		}, nil
	case *ecdsa.PublicKey: // ES256
		return func() error {
			var buf [512]byte
			input, sig, err := splitSignature(token, &buf)
			if err != nil {
				return err
			}
			if len(sig) != 64 {
				return errFloor
			}
			d := sha256.Sum256(input)
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(pub, d[:], r, s) {
				return errFloor
			}
			return nil
		}, nil
	case *rsa.PublicKey: // RS256
		return func() error {
			var buf [512]byte
			input, sig, err := splitSignature(token, &buf)
			if err != nil {
				return err
			}
			d := sha256.Sum256(input)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
				return errFloor
			}
			return nil
		}, nil
	case ed25519.PublicKey: // EdDSA
		return func() error {
			var buf [512]byte
			input, sig, err := splitSignature(token, &buf)
			if err != nil {
				return err
			}
			if !ed25519.Verify(pub, input, sig) {
				return errFloor
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("floor: unsupported key %T", fx.pub)
}

// splitSignature splits a compact token into its signing input and its
// decoded signature, which it writes into buf.
func splitSignature(token []byte, buf *[512]byte) (input, sig []byte, err error) {
	dot := bytes.LastIndexByte(token, '.')
	if dot < 0 {
		return nil, nil, errFloor
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], token[dot+1:])
	if err != nil {
		return nil, nil, fmt.Errorf("floor: signature: %w", err)
	}
	return token[:dot], buf[:n], nil
}

// customClaims are the non-registered members of the benchmark token, for
// the libraries that decode them separately.
type customClaims struct {
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
	Tenant   string   `json:"tenant"`
	Roles    []string `json:"roles"`
}

// gjwtClaims is the golang-jwt claims type of the benchmark token.
type gjwtClaims struct {
	gjwt.RegisteredClaims
	customClaims
}

// signFunc signs the benchmark claims once; token returns the compact token
// made by the last call (for the floor, assembled from the raw signature).
type signFunc struct {
	run   func() error
	token func() (string, error)
}

// newSign returns impl's signing of the fixture's claims. Signers, keys and
// claim values are prepared once; each call encodes the claims, builds the
// header and signs. The floor only hashes a prepared signing input and
// makes the raw signature.
func newSign(impl string, fx *fixture) (signFunc, error) {
	c := fx.claims
	kid := fx.key.KeyID()
	switch impl {
	case "writ":
		claims := c.writ()
		var out string
		s, err := newWritSigner(fx)
		if err != nil {
			return signFunc{}, err
		}
		return signFunc{
			run: func() (err error) {
				out, err = s.Sign(claims)
				return err
			},
			token: func() (string, error) { return out, nil },
		}, nil

	case "golang-jwt":
		method := gjwt.GetSigningMethod(string(fx.alg))
		if method == nil {
			return signFunc{}, fmt.Errorf("golang-jwt: no method %s", fx.alg)
		}
		claims := &gjwtClaims{
			RegisteredClaims: gjwt.RegisteredClaims{
				Issuer:    c.Issuer,
				Subject:   c.Subject,
				Audience:  gjwt.ClaimStrings{c.Audience},
				ExpiresAt: gjwt.NewNumericDate(c.Expiry),
				NotBefore: gjwt.NewNumericDate(c.NotBef),
				IssuedAt:  gjwt.NewNumericDate(c.IssuedAt),
				ID:        c.ID,
			},
			customClaims: customClaims{Scope: c.Scope, ClientID: c.ClientID, Tenant: c.Tenant, Roles: c.Roles},
		}
		key := fx.priv
		var out string
		return signFunc{
			run: func() (err error) {
				t := gjwt.NewWithClaims(method, claims)
				t.Header["kid"] = kid
				t.Header["typ"] = "at+jwt"
				out, err = t.SignedString(key)
				return err
			},
			token: func() (string, error) { return out, nil },
		}, nil

	case "go-jose":
		signer, err := gojose.NewSigner(
			gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(fx.alg), Key: fx.priv},
			(&gojose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid),
		)
		if err != nil {
			return signFunc{}, fmt.Errorf("go-jose: %w", err)
		}
		std := &gojosejwt.Claims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  gojosejwt.Audience{c.Audience},
			Expiry:    gojosejwt.NewNumericDate(c.Expiry),
			NotBefore: gojosejwt.NewNumericDate(c.NotBef),
			IssuedAt:  gojosejwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		}
		custom := &customClaims{Scope: c.Scope, ClientID: c.ClientID, Tenant: c.Tenant, Roles: c.Roles}
		var out string
		return signFunc{
			run: func() (err error) {
				out, err = gojosejwt.Signed(signer).Claims(std).Claims(custom).Serialize()
				return err
			},
			token: func() (string, error) { return out, nil },
		}, nil

	case "jwx":
		alg, ok := jwa.LookupSignatureAlgorithm(string(fx.alg))
		if !ok {
			return signFunc{}, fmt.Errorf("jwx: no algorithm %s", fx.alg)
		}
		key, err := jwk.Import(fx.priv)
		if err != nil {
			return signFunc{}, fmt.Errorf("jwx: import key: %w", err)
		}
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			return signFunc{}, fmt.Errorf("jwx: set kid: %w", err)
		}
		t, err := jwxjwt.NewBuilder().
			Issuer(c.Issuer).
			Subject(c.Subject).
			Audience([]string{c.Audience}).
			Expiration(c.Expiry).
			NotBefore(c.NotBef).
			IssuedAt(c.IssuedAt).
			JwtID(c.ID).
			Claim("scope", c.Scope).
			Claim("client_id", c.ClientID).
			Claim("tenant", c.Tenant).
			Claim("roles", c.Roles).
			Build()
		if err != nil {
			return signFunc{}, fmt.Errorf("jwx: build token: %w", err)
		}
		var out []byte
		return signFunc{
			run: func() (err error) {
				out, err = jwxjwt.Sign(t, jwxjwt.WithKey(alg, key))
				return err
			},
			token: func() (string, error) { return string(out), nil },
		}, nil

	case "floor":
		return newFloorSign(fx)
	}
	return signFunc{}, fmt.Errorf("unknown implementation %q", impl)
}

// newFloorSign hashes the fixture token's signing input and signs it with
// the standard library, nothing more.
func newFloorSign(fx *fixture) (signFunc, error) {
	input := []byte(fx.token[:strings.LastIndexByte(fx.token, '.')])
	var sig []byte
	token := func() (string, error) {
		raw := sig
		if _, ok := fx.priv.(*ecdsa.PrivateKey); ok { // ASN.1 to r||s
			var rs struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(sig, &rs); err != nil {
				return "", fmt.Errorf("floor: ECDSA signature: %w", err)
			}
			raw = make([]byte, 64)
			rs.R.FillBytes(raw[:32])
			rs.S.FillBytes(raw[32:])
		}
		return string(input) + "." + base64.RawURLEncoding.EncodeToString(raw), nil
	}
	var run func() error
	switch priv := fx.priv.(type) {
	case []byte: // HS256
		run = func() error {
			m := hmac.New(sha256.New, priv)
			m.Write(input)
			sig = m.Sum(nil)
			return nil
		}
	case *ecdsa.PrivateKey: // ES256
		run = func() (err error) {
			d := sha256.Sum256(input)
			sig, err = ecdsa.SignASN1(rand.Reader, priv, d[:])
			return err
		}
	case *rsa.PrivateKey: // RS256
		run = func() (err error) {
			d := sha256.Sum256(input)
			sig, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
			return err
		}
	case ed25519.PrivateKey: // EdDSA
		run = func() error {
			sig = ed25519.Sign(priv, input)
			return nil
		}
	default:
		return signFunc{}, fmt.Errorf("floor: unsupported key %T", fx.priv)
	}
	return signFunc{run: run, token: token}, nil
}
