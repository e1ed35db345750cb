// Package rs is the relying-party side of writ: what a resource server, or
// any program that accepts tokens an authorization server issued, needs in
// order to trust them. It does not depend on writ's server and works with
// any issuer that publishes a JWK Set (RFC 7517 §5) at a jwks_uri.
//
// # Verifier
//
// A Verifier checks JWT access tokens (RFC 9068) of one or several
// issuers. Each issuer has its own configuration (IssuerConfig): where its
// keys come from (discovery, an explicit jwks_uri, or static keys), the
// audiences the service answers to, the allowed signature algorithms and
// token types, the clock leeway and a claim mapping:
//
//	v, err := rs.NewVerifier(ctx, []rs.IssuerConfig{
//		{Issuer: "https://id.example.com", Audiences: []string{"https://api.example.com"}},
//		{Issuer: "https://partner.example", JWKSURI: "https://partner.example/jwks.json",
//			Audiences: []string{"https://api.example.com"}, AllowUntypedTokens: true},
//	})
//	if err != nil {
//		return err
//	}
//	tok, err := v.Verify(r.Context(), bearerToken) // *rs.Token
//
// The issuer is chosen by the token's iss claim, compared exactly; the
// claim is read from the unverified payload only to pick the issuer, and
// trusted once that issuer's keys have verified the signature. A token
// whose iss is not configured is refused (ErrInvalidToken and
// ErrUnknownIssuer) without any fetch, so that tokens made up by anyone
// cannot make the service call out.
//
// An issuer without JWKSURI or Keys is discovered on its first token: the
// jwks_uri of its OpenID Connect metadata
// (issuer + "/.well-known/openid-configuration"), else of its RFC 8414
// authorization server metadata. The document's issuer must equal the
// configured one exactly; otherwise discovery fails and nothing it names is
// fetched. Verifier.Refresh does this, and loads every key set, at
// start-up.
//
// Verify returns a Token with the registered claims, the client (client_id
// or azp), the scopes (the scope string or the scp array), the DPoP key
// thumbprint (cnf.jkt), the certificate thumbprint (cnf.x5t#S256) and every
// claim as a map, after the issuer's claim mapping.
//
// # Errors
//
// Every error of Verify wraps exactly one of ErrInvalidToken (the token is
// bad: answer 401), ErrKeySetUnavailable or ErrUnavailable (the issuer's
// keys or metadata are out of reach, or the request's context ended: answer
// 503, since the token may be good). A rejection also wraps the jwt
// package's reason (jwt.ErrExpired, jwt.ErrAudience, jwt.ErrSignature...).
// No error message holds the token or its claims.
//
// # Verified-token cache
//
// A Verifier remembers the tokens it verified (WithCache, on by default),
// keyed by a hash of the raw token; a hit compares the whole raw token, so
// a collision can never return another token. An entry is never served
// past the token's exp nor past the cache's maximum age (WithCacheMaxAge),
// failures are never cached, and the cache is bounded in size and sharded,
// so that a hit costs about a hundred nanoseconds without a global lock.
//
// # Keys
//
// RemoteKeySet keeps an issuer's published key set in memory and
// implements jwt.KeySource; a Verifier uses one per remote issuer, and it
// can be used on its own with a jwt.Verifier:
//
//	keys := rs.NewRemoteKeySet(ctx, "https://id.example.com/.well-known/jwks.json")
//	v, err := jwt.NewVerifier(keys, jwt.Config{
//		Issuer:   "https://id.example.com",
//		Audience: "https://api.example.com",
//		Type:     jwt.TypeAccessToken,
//	})
//
// The set is fetched on first use (or at start-up with Refresh) and kept for
// the lifetime its response's Cache-Control max-age gives, bounded below by
// the minimum refresh interval and above by MaxCacheAge. Once three quarters
// of that lifetime have passed, the next use refreshes the set in the
// background while the cached set keeps serving: no request waits for a
// routine refresh. A token whose kid the cached set does not hold is the
// usual sign that the issuer has rotated its keys, so it makes the set
// refresh at once. Fetches are rate-limited and shared: a flood of tokens
// with made-up kids costs at most one fetch per minimum refresh interval,
// and all requests that miss while a fetch is under way wait for that one
// fetch. A fetch that fails, whether on the network, with a status other
// than 200, with a body over MaxResponseSize, or with anything that is not a
// strictly valid public JWK Set, changes nothing: the last good set keeps
// being served until it has been stale for longer than the configured limit
// (see WithMaxStale), and then tokens fail with ErrKeySetUnavailable. So
// does, meanwhile, a token whose key the last good set lacks: the issuer
// may have published it during the outage, so the answer is 503, not 401.
// Status (of a RemoteKeySet, or per issuer of a Verifier) reports the
// outage: the last error, the age of the keys, whether they are stale.
package rs
