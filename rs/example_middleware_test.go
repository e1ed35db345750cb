package rs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// localVerifier adapts a jwt.Verifier to rs.TokenVerifier. A real service
// uses a verifier of this package, which does this and more (several
// issuers, key refresh, a cache); the adapter keeps the examples
// self-contained.
func localVerifier(v *jwt.Verifier) rs.TokenVerifier {
	return rs.TokenVerifierFunc(func(ctx context.Context, raw string) (*rs.Token, error) {
		t, err := v.Verify(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", rs.ErrInvalidToken, err)
		}
		var claims map[string]any
		if err := json.Unmarshal([]byte(t.Payload()), &claims); err != nil {
			return nil, fmt.Errorf("%w: %w", rs.ErrInvalidToken, err)
		}
		c := t.Claims()
		scope, _ := claims["scope"].(string)
		return &rs.Token{Raw: raw, JWT: t, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
			Scopes: strings.Fields(scope), Expiry: c.ExpiresAt.Time(), Claims: claims}, nil
	})
}

// issue returns an issuer key, a verifier trusting it, and a function that
// signs access tokens with the given extra claims.
func issue() (rs.TokenVerifier, func(map[string]any) string) {
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		log.Fatal(err)
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer: "https://id.example.com", Audience: "https://api.example.com", Type: jwt.TypeAccessToken,
	})
	if err != nil {
		log.Fatal(err)
	}
	signer, err := jwt.NewSigner(key, jwt.TypeAccessToken)
	if err != nil {
		log.Fatal(err)
	}
	return localVerifier(v), func(extra map[string]any) string {
		claims := map[string]any{
			"iss": "https://id.example.com", "aud": "https://api.example.com", "sub": "alice",
			"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
		}
		for k, v := range extra {
			claims[k] = v
		}
		tok, err := signer.Sign(claims)
		if err != nil {
			log.Fatal(err)
		}
		return tok
	}
}

// call sends one GET with the Authorization header auth (none if empty)
// to h and prints the answer.
func call(h http.Handler, auth string) {
	r := httptest.NewRequest("GET", "https://api.example.com/orders", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	for _, c := range w.Header().Values("WWW-Authenticate") {
		fmt.Println("  WWW-Authenticate:", c)
	}
}

// The middleware takes the token from the Authorization header, verifies
// it and hands the claims to the application through the request context.
// A request without a token is answered 401 with a challenge that names
// the resource's metadata (RFC 9728), where clients learn which
// authorization server to ask.
func ExampleMiddleware_Handler() {
	verifier, sign := issue()
	metadata, err := rs.MetadataURL("https://api.example.com")
	if err != nil {
		log.Fatal(err)
	}
	mw := rs.NewMiddleware(verifier,
		rs.WithResourceMetadataURL(metadata),
		rs.WithLogger(slog.New(slog.DiscardHandler)))

	api := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := rs.TokenFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", tok.Subject)
	}))

	call(api, "Bearer "+sign(nil))
	call(api, "")
	call(api, "Bearer not-a-token")
	// Output:
	// 200 hello alice
	// 401 Unauthorized
	//   WWW-Authenticate: Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
	// 401 Unauthorized
	//   WWW-Authenticate: Bearer error="invalid_token", error_description="the access token is invalid, expired or not meant for this resource", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
}

// RequireScopes stacks behind the middleware. A token without every scope
// is answered 403 insufficient_scope, naming all the scopes the route
// needs so that the client asks for them at once.
func ExampleRequireScopes() {
	verifier, sign := issue()
	mw := rs.NewMiddleware(verifier, rs.WithRealm("orders"), rs.WithLogger(slog.New(slog.DiscardHandler)))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "order created") })

	mux := http.NewServeMux()
	mux.Handle("/orders", mw.Handler(rs.RequireScopes("orders:read", "orders:write")(ok)))

	call(mux, "Bearer "+sign(map[string]any{"scope": "orders:read orders:write"}))
	call(mux, "Bearer "+sign(map[string]any{"scope": "orders:read"}))
	// Output:
	// 200 order created
	// 403 Forbidden
	//   WWW-Authenticate: Bearer realm="orders", error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope="orders:read orders:write"
}

// Roles and groups come from a configurable claim path; here Keycloak's
// realm roles. RequireClaim checks any claim's value.
func ExampleRequireRoles() {
	verifier, sign := issue()
	mw := rs.NewMiddleware(verifier, rs.WithLogger(slog.New(slog.DiscardHandler)))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "welcome, admin") })
	admin := mw.Handler(
		rs.RequireRoles("realm_access.roles", "admin")(
			rs.RequireClaim("email_verified", "true")(ok)))

	call(admin, "Bearer "+sign(map[string]any{"realm_access": map[string]any{"roles": []string{"admin"}}, "email_verified": true}))
	call(admin, "Bearer "+sign(map[string]any{"realm_access": map[string]any{"roles": []string{"user"}}, "email_verified": true}))
	// Output:
	// 200 welcome, admin
	// 403 Forbidden
	//   WWW-Authenticate: Bearer error="insufficient_scope", error_description="the access token lacks a role this resource requires"
}

// A protected resource publishes its metadata (RFC 9728) at the well-known
// URL derived from its resource identifier.
func ExampleResourceMetadata_Handler() {
	md := rs.ResourceMetadata{
		Resource:                      "https://api.example.com/mcp",
		AuthorizationServers:          []string{"https://id.example.com"},
		ScopesSupported:               []string{"tools:call"},
		BearerMethodsSupported:        []string{"header"},
		DPoPSigningAlgValuesSupported: []string{"ES256", "EdDSA"},
	}
	if err := md.Validate(); err != nil {
		log.Fatal(err)
	}
	where, err := rs.MetadataURL(md.Resource)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(where)

	mux := http.NewServeMux()
	mux.Handle("/.well-known/oauth-protected-resource/mcp", md.Handler())
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", where, nil))
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// https://api.example.com/.well-known/oauth-protected-resource/mcp
	// 200 {"resource":"https://api.example.com/mcp","authorization_servers":["https://id.example.com"],"scopes_supported":["tools:call"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"]}
}

// MetadataURL puts the well-known suffix between the host and the path of
// the resource identifier (RFC 9728 §3.1).
func ExampleMetadataURL() {
	for _, resource := range []string{"https://api.example.com", "https://api.example.com/v1/"} {
		u, err := rs.MetadataURL(resource)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u)
	}
	// Output:
	// https://api.example.com/.well-known/oauth-protected-resource
	// https://api.example.com/.well-known/oauth-protected-resource/v1
}

// WriteChallenge builds WWW-Authenticate answers for handlers and proxies
// that refuse requests themselves; one call per accepted scheme.
func ExampleWriteChallenge() {
	w := httptest.NewRecorder()
	rs.WriteChallenge(w, rs.Challenge{Scheme: rs.SchemeBearer, Realm: "api"})
	rs.WriteChallenge(w, rs.Challenge{
		Scheme:      rs.SchemeDPoP,
		Realm:       "api",
		Error:       rs.CodeUseDPoPNonce,
		Description: "Resource server requires nonce in DPoP proof",
		Algs:        []string{"ES256"},
		Nonce:       "eyJ7S_zG.eyJH0-Z.HX4w-7v",
	})
	w.WriteHeader(http.StatusUnauthorized)
	for _, c := range w.Header().Values("WWW-Authenticate") {
		fmt.Println("WWW-Authenticate:", c)
	}
	fmt.Println("DPoP-Nonce:", w.Header().Get("DPoP-Nonce"))
	// Output:
	// WWW-Authenticate: Bearer realm="api"
	// WWW-Authenticate: DPoP realm="api", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256"
	// DPoP-Nonce: eyJ7S_zG.eyJH0-Z.HX4w-7v
}

// ClaimPath finds nested claims by a dotted path.
func ExampleClaimPath() {
	var claims map[string]any
	_ = json.Unmarshal([]byte(`{"resource_access":{"orders":{"roles":["clerk","auditor"]}}}`), &claims)
	roles, _ := rs.ClaimPath(claims, "resource_access.orders.roles")
	for role := range rs.ClaimStrings(roles) {
		fmt.Println(role)
	}
	// Output:
	// clerk
	// auditor
}
