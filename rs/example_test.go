package rs_test

import (
	"context"
	"errors"
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

// exampleIssuer is an issuer on a loopback test server publishing OpenID
// Connect discovery metadata and its JWK Set, and a signer for its tokens.
func exampleIssuer() (*httptest.Server, *jwt.Signer) {
	key, err := jose.GenerateKey(jose.ES256, jose.WithKeyID("2026-12"))
	if err != nil {
		log.Fatal(err)
	}
	jwks, err := jose.NewKeySet(key.Public()).MarshalJSON()
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+"/jwks")
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(jwks)
	})
	signer, err := jwt.NewSigner(key, jwt.TypeAccessToken)
	if err != nil {
		log.Fatal(err)
	}
	return srv, signer
}

// A resource server that accepts the tokens of two issuers: its own
// authorization server, found by discovery, and a partner whose keys are
// configured. Each token is checked against the issuer its iss names.
func ExampleNewVerifier() {
	issuer, signer := exampleIssuer()
	defer issuer.Close()
	partnerKey, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		log.Fatal(err)
	}

	// Once, at start-up, shared by every request.
	ctx := context.Background()
	verifier, err := rs.NewVerifier(ctx, []rs.IssuerConfig{
		{
			Issuer:    issuer.URL, // discovery gives the jwks_uri
			Audiences: []string{"https://api.example.com"},
		},
		{
			Issuer:             "https://partner.example",
			Keys:               jose.NewKeySet(partnerKey.Public()),
			Audiences:          []string{"https://api.example.com"},
			AllowUntypedTokens: true, // its tokens say typ "JWT"
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	now := time.Now()
	accessToken, err := signer.Sign(map[string]any{
		"iss":       issuer.URL,
		"aud":       "https://api.example.com",
		"sub":       "alice",
		"client_id": "web",
		"scope":     "orders:read orders:write",
		"iat":       now.Unix(),
		"exp":       now.Add(5 * time.Minute).Unix(),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Per request.
	tok, err := verifier.Verify(ctx, accessToken)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(tok.Subject, tok.ClientID, tok.Scopes, tok.HasScope("orders:read"))

	// The same token presented again is answered from the cache.
	again, _ := verifier.Verify(ctx, accessToken)
	fmt.Println("cached:", again == tok)

	// A token of an issuer that is not configured is refused without any
	// request to anyone.
	forged, _ := signer.Sign(map[string]any{"iss": "https://evil.example", "aud": "https://api.example.com", "exp": now.Add(time.Minute).Unix()})
	_, err = verifier.Verify(ctx, forged)
	fmt.Println(errors.Is(err, rs.ErrInvalidToken), errors.Is(err, rs.ErrUnknownIssuer))
	// Output:
	// alice web [orders:read orders:write] true
	// cached: true
	// true true
}

// Claim mapping puts an issuer's claims where the service looks for them,
// here Keycloak's realm roles under "roles".
func ExampleIssuerConfig_claimMapping() {
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := rs.NewVerifier(context.Background(), []rs.IssuerConfig{{
		Issuer:             "https://sso.example/realms/main",
		Keys:               jose.NewKeySet(key.Public()),
		Audiences:          []string{"orders-api"},
		AllowUntypedTokens: true,
		ClaimMapping:       map[string]string{"roles": "realm_access.roles"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	signer, err := jwt.NewSigner(key, jwt.TypeJWT)
	if err != nil {
		log.Fatal(err)
	}
	raw, err := signer.Sign(map[string]any{
		"iss":          "https://sso.example/realms/main",
		"aud":          []string{"orders-api", "account"},
		"sub":          "bob",
		"azp":          "orders-ui",
		"scp":          []string{"profile", "orders:read"},
		"realm_access": map[string]any{"roles": []string{"clerk"}},
		"exp":          time.Now().Add(time.Minute).Unix(),
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := verifier.Verify(context.Background(), raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.ClientID, tok.Scopes, tok.Claims["roles"])
	// Output: orders-ui [profile orders:read] [clerk]
}

// Status tells, per issuer, whether its keys are available, how old they
// are and what the last fetch failed with: the figures for metrics and
// readiness checks.
func ExampleVerifier_Status() {
	issuer, _ := exampleIssuer()
	defer issuer.Close()
	ctx := context.Background()
	verifier, err := rs.NewVerifier(ctx, []rs.IssuerConfig{{
		Issuer:    issuer.URL,
		Audiences: []string{"https://api.example.com"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	// Refresh discovers and loads the keys at start-up; without it they
	// load with the first token.
	if err := verifier.Refresh(ctx); err != nil {
		log.Fatal(err)
	}
	for _, st := range verifier.Status() {
		fmt.Println(st.Source, st.JWKSURI == issuer.URL+"/jwks", st.Keys, st.Available, st.Stale, st.LastError == "")
	}
	// Output: discovery true 1 true false true
}
