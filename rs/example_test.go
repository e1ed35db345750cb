package rs_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// A resource server verifies RFC 9068 access tokens against the keys its
// issuer publishes. The issuer here is a test server; in production the URL
// is the jwks_uri of the issuer's metadata.
func ExampleNewRemoteKeySet() {
	issuerKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		log.Fatal(err)
	}
	jwks, err := jose.NewKeySet(issuerKey.Public()).MarshalJSON()
	if err != nil {
		log.Fatal(err)
	}
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(jwks)
	}))
	defer issuer.Close()

	// Once, at start-up: one RemoteKeySet per issuer, shared by every
	// request. Refresh is optional; it loads the keys now and tells whether
	// the URL works.
	ctx := context.Background()
	keys := rs.NewRemoteKeySet(ctx, issuer.URL+"/.well-known/jwks.json")
	if err := keys.Refresh(ctx); err != nil {
		log.Fatal(err)
	}
	verifier, err := jwt.NewVerifier(keys, jwt.Config{
		Issuer:         "https://id.example.com",
		Audience:       "https://api.example.com",
		Type:           jwt.TypeAccessToken,
		RequiredClaims: []string{"sub", "client_id", "iat", "jti"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The issuer signs an access token...
	signer, err := jwt.NewSigner(issuerKey, jwt.TypeAccessToken)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	accessToken, err := signer.Sign(map[string]any{
		"iss":       "https://id.example.com",
		"aud":       "https://api.example.com",
		"sub":       "service-a",
		"client_id": "service-a",
		"iat":       now.Unix(),
		"exp":       now.Add(5 * time.Minute).Unix(),
		"jti":       "7f3c9b1e",
	})
	if err != nil {
		log.Fatal(err)
	}

	// ...and, per request, the resource server verifies it.
	tok, err := verifier.Verify(ctx, accessToken)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println("subject:", tok.Claims().Subject)
	// Output: subject: service-a
}
