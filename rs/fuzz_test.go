package rs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

func FuzzUnverifiedIssuer(f *testing.F) {
	for _, payload := range []string{
		`{"iss":"https://a.example"}`, `{"iss":"a","iss":"b"}`, `{"iss":1}`, `{}`, `[]`,
		`{"iss":"\u0061\ud83d\ude00"}`, `{"a":{"iss":"x"}}`, `{"iss":"a"} `, `{"ISS":"a"}`,
	} {
		f.Add("e30." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig")
	}
	f.Add("a.b.c")
	f.Add("..")
	f.Add("e30.e30")
	f.Fuzz(func(t *testing.T, raw string) {
		iss, err := UnverifiedIssuer(raw)
		if err != nil {
			if iss != "" {
				t.Fatalf("iss %q with error %v", iss, err)
			}
			if !errors.Is(err, jwt.ErrMalformed) && !errors.Is(err, jwt.ErrTooLarge) && !errors.Is(err, jwt.ErrIssuer) && !errors.Is(err, jwt.ErrClaim) {
				t.Fatalf("error %v wraps no jwt sentinel", err)
			}
			return
		}
		// What was read is what encoding/json reads from the payload.
		seg := strings.Split(raw, ".")[1]
		payload, derr := base64.RawURLEncoding.Strict().DecodeString(seg)
		if derr != nil {
			t.Fatalf("iss %q from a payload that does not decode: %v", iss, derr)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatalf("iss %q from a payload encoding/json refuses: %v", iss, err)
		}
		if claims["iss"] != iss {
			t.Fatalf("iss %q, encoding/json reads %v", iss, claims["iss"])
		}
	})
}

func FuzzParseIssuerMetadata(f *testing.F) {
	const iss = "https://a.example"
	for _, body := range []string{
		`{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks"}`,
		`{"issuer":"https://a.example","jwks_uri":"http://a.example/jwks"}`,
		`{"issuer":"https:\/\/a.example","jwks_uri":"https://k.example/j?x=1","other":[{"a":null}]}`,
		`{"issuer":"https://a.example","issuer":"https://a.example","jwks_uri":"https://a/j"}`,
		`{"issuer":"https://b.example","jwks_uri":"https://a.example/jwks"}`,
		`{}`, `null`, `{"jwks_uri":1}`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		jwksURI, err := ParseIssuerMetadata(body, iss)
		if err != nil {
			if jwksURI != "" {
				t.Fatalf("jwks_uri %q with error %v", jwksURI, err)
			}
			return
		}
		// Schemes are case-insensitive (RFC 3986 §3.1): "HTTPS:" is https.
		if u, err := url.Parse(jwksURI); err != nil || checkHTTPURL(jwksURI) != nil || u.Scheme != "https" || u.Host == "" {
			t.Fatalf("jwks_uri %q accepted for an https issuer", jwksURI)
		}
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("accepted a document encoding/json refuses: %v", err)
		}
		if doc.Issuer != iss || doc.JWKSURI != jwksURI {
			t.Fatalf("read issuer %q jwks_uri %q; encoding/json reads %q %q", iss, jwksURI, doc.Issuer, doc.JWKSURI)
		}
	})
}

// fuzzES256Key is a fixed ES256 key, so that seed tokens signed by the fuzzing
// coordinator verify in its workers.
func fuzzES256Key(tb testing.TB) *jose.Key {
	tb.Helper()
	s := sha256.Sum256([]byte("writ rs fuzz es256"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), s[:])
	if err != nil {
		tb.Fatal(err)
	}
	k, err := jose.NewKey(jose.ES256, priv, jose.WithKeyID("fz"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func FuzzVerifier(f *testing.F) {
	key := fuzzES256Key(f)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	base := withClaims(validClaims(now), "realm_access", map[string]any{"roles": []string{"a"}})
	for _, c := range []map[string]any{
		base,
		withClaims(base, "iss", "https://b.example"),
		withClaims(base, "iss", "https://unknown.example"),
		withClaims(base, "scope", nil, "scp", []string{"x", "y"}),
		withClaims(base, "cnf", map[string]any{"jkt": "t"}),
		withClaims(base, "exp", now.Add(-time.Hour).Unix()),
	} {
		f.Add(signJWT(f, key, jwt.TypeAccessToken, c))
	}
	f.Add(signJWT(f, key, jwt.TypeJWT, base))
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := NewVerifier(context.Background(), []IssuerConfig{
			{Issuer: vIssuer, Keys: jose.NewKeySet(key.Public()), Audiences: []string{vAudience}, ClaimMapping: map[string]string{"roles": "realm_access.roles"}},
			{Issuer: "https://b.example", Keys: jose.NewKeySet(key.Public()), AnyAudience: true, AllowUntypedTokens: true},
		}, WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := v.Verify(context.Background(), raw)
		if err != nil {
			n := 0
			for _, s := range []error{ErrInvalidToken, ErrUnavailable, ErrKeySetUnavailable} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 || tok != nil {
				t.Fatalf("Verify = %v, %v; want exactly one rs sentinel", tok, err)
			}
			return
		}
		if tok.Raw != raw || (tok.Issuer != vIssuer && tok.Issuer != "https://b.example") || tok.Claims == nil || tok.JWT == nil {
			t.Fatalf("token %+v", tok)
		}
		if again, err := v.Verify(context.Background(), raw); err != nil || again != tok {
			t.Fatalf("second Verify = %p, %v; want the cached %p", again, err, tok)
		}
	})
}
