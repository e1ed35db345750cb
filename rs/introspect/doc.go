// Package introspect verifies opaque access tokens by asking the
// authorization server that issued them: an OAuth 2.0 Token Introspection
// client (RFC 7662), which can also ask for the answer as a signed JWT
// (RFC 9701) and hand that JWT on as a phantom token.
//
// A Client is an rs.TokenVerifier, so the middleware of package rs and the
// gateway take it wherever they take a JWT verifier:
//
//	c, err := introspect.New(introspect.Config{
//		Endpoint:     "https://id.example.com/oauth2/introspect",
//		ClientID:     "orders-api",
//		ClientSecret: secret,
//		Issuer:       "https://id.example.com",
//		Audience:     "https://api.example.com/orders",
//	})
//	if err != nil {
//		return err
//	}
//	tok, err := c.Verify(r.Context(), bearerToken)
//
// # Outcomes
//
// Verify's errors wrap one of the rs sentinels, so that the caller answers
// with the right status:
//
//   - rs.ErrInvalidToken: the server said the token is not active, or it
//     is active but expired by this client's clock, not yet valid, a
//     refresh token (token_use other than access_token, or token_type
//     refresh_token), bound by a cnf method other than jkt and x5t#S256,
//     of another issuer or not for the configured audience. Answer 401.
//   - rs.ErrUnavailable: the endpoint could not be reached, did not answer
//     within the timeout, answered with a status other than 200 (5xx, but
//     also 401 when this client's own credentials are wrong), with a body
//     larger than MaxResponseSize, with a media type other than the one
//     asked for, or with anything that is not a well-formed introspection
//     response (strict JSON, "active" a JSON boolean, registered members of
//     the right JSON types); in JWT mode also a response JWT that does not
//     verify. Answer 503: the token may well be good.
//   - rs.ErrKeySetUnavailable: in JWT mode, the key set that verifies
//     response JWTs could not be had. Answer 503.
//
// Neither the token nor the client secret appears in any error.
//
// # Cache
//
// Active results are cached in memory, keyed by the SHA-256 hash of the
// token (the token itself is never a key, a log field or a metric label).
// An entry lives until the token's exp (in JWT mode also the response
// JWT's exp, if it has one) or for Config.CacheTTL from the moment the
// endpoint was asked, whichever comes first, so a revoked token
// stops working at most CacheTTL after its revocation; the cache holds at
// most Config.CacheSize entries and drops the least recently used one
// beyond that. Concurrent misses for the same token share one request, and
// at most Config.MaxConcurrent requests (for distinct tokens) are under way
// at once: a flood of made-up tokens gets 503s, not a flooded server.
// Client.Stats reports hits, misses, requests and entries for metrics.
//
// Inactive results are not cached. An inactive token is usually a revoked,
// expired or made-up one: caching it would spare the endpoint only when the
// same bad token is presented again and again, while an attacker who sends
// distinct made-up tokens would fill the bounded cache and push the entries
// of good tokens out. Requests for the same inactive token that arrive
// while one is under way still share that one request. Failures of the
// endpoint are never cached either: the next request asks again.
//
// The cache answers only "who is this token": it returns the same
// *rs.Token for the same token, with the token's own scopes and claims, and
// knows nothing of the route or handler that asks. Every authorization
// check (scopes, roles, claims, audience of a route) must run on the Token
// Verify returns, on a cache hit exactly as on a miss:
//
//	tok, err := c.Verify(ctx, raw)
//	if err != nil {
//		return err
//	}
//	if !tok.HasScope("orders:write") {
//		return errForbidden // even when tok came from the cache
//	}
//
// # Phantom tokens
//
// With Config.JWTResponse the client asks for RFC 9701 responses (Accept:
// application/token-introspection+jwt) and verifies them: typ
// token-introspection+jwt, a signature by a key of Config.ResponseKeys
// (typically an rs.RemoteKeySet on the server's jwks_uri), iss equal to
// Config.Issuer, aud equal to Config.ClientID. Phantom then returns that
// signed JWT together with the Token: a gateway takes an opaque token from
// outside and forwards the JWT, which the upstream can verify on its own,
// in its place. The JWT is cached with the Token.
package introspect
