package trust_test

import (
	"context"
	"errors"
	"testing"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/trust"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// FuzzVerify: whatever the input, Verify never panics, and it accepts
// only a token signed by the trusted key.
func FuzzVerify(f *testing.F) {
	clock := clocktest.Default()
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		f.Fatal(err)
	}
	st := newMemTrust()
	ks, err := jose.NewKeySet(k.Public()).MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	st.put(store.TrustedIssuer{Issuer: iss, JWKS: ks, Uses: []string{store.TrustJWTBearer}})
	reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
	s, err := jwt.NewSigner(k, "JWT")
	if err != nil {
		f.Fatal(err)
	}
	good, err := s.Sign(claimsAt(clock.Now(), nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0.")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, rec, err := reg.Verify(context.Background(), raw, store.TrustJWTBearer, []string{"https://writ.example"})
		if err != nil {
			if tok != nil || rec != nil {
				t.Fatal("a failed Verify returned a token")
			}
			if errors.Is(err, grant.ErrUntrustedIssuer) {
				return
			}
			return
		}
		if tok.Key().KeyID() != k.KeyID() || rec.Issuer != iss {
			t.Fatalf("accepted a token not signed by the trusted key")
		}
	})
}
