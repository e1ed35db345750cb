package jwt_test

import (
	"context"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

func mint(tb testing.TB, alg jose.Algorithm) (string, *jwt.Verifier) {
	k, err := jose.GenerateKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	s, _ := jwt.NewSigner(k, jwt.TypeAccessToken)
	now := time.Now()
	tok, err := s.Sign(map[string]any{"iss": "https://issuer.example", "aud": "https://api.example", "sub": "user-123", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "abc", "scope": "orders:read orders:write", "client_id": "billing"})
	if err != nil {
		tb.Fatal(err)
	}
	ks := jose.NewKeySet(k)
	if !k.IsSymmetric() {
		ks = jose.NewKeySet(k.Public())
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{Issuer: "https://issuer.example", Audience: "https://api.example", Type: jwt.TypeAccessToken})
	if err != nil {
		tb.Fatal(err)
	}
	return tok, v
}

func TestSmoke(t *testing.T) {
	for _, alg := range jose.SignatureAlgorithms() {
		tok, v := mint(t, alg)
		got, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if got.Claims().Subject != "user-123" {
			t.Fatalf("sub %q", got.Claims().Subject)
		}
	}
}

func BenchmarkSmoke(b *testing.B) {
	for _, alg := range []jose.Algorithm{jose.HS256, jose.ES256, jose.RS256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			tok, v := mint(b, alg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
