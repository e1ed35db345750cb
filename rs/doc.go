// Package rs is the relying-party side of writ: what a resource server, or
// any program that accepts tokens an authorization server issued, needs in
// order to trust them. It does not depend on writ's server and works with
// any issuer that publishes a JWK Set (RFC 7517 §5) at a jwks_uri.
//
// RemoteKeySet keeps an issuer's published key set in memory and implements
// jwt.KeySource, so that a jwt.Verifier checks each token against keys that
// follow the issuer's rotations:
//
//	keys := rs.NewRemoteKeySet(ctx, "https://id.example.com/.well-known/jwks.json")
//	v, err := jwt.NewVerifier(keys, jwt.Config{
//		Issuer:   "https://id.example.com",
//		Audience: "https://api.example.com",
//		Type:     jwt.TypeAccessToken,
//	})
//	if err != nil {
//		return err
//	}
//	tok, err := v.Verify(r.Context(), bearerToken)
//
// The set is fetched on first use (or at start-up with Refresh) and kept for
// the lifetime its response's Cache-Control max-age gives, bounded below by
// the minimum refresh interval and above by MaxCacheAge. A token whose kid
// the cached set does not hold is the usual sign that the issuer has rotated
// its keys, so it makes the set refresh early. Fetches are rate-limited and
// shared: a flood of tokens with made-up kids costs at most one fetch per
// minimum refresh interval, and all requests that miss while a fetch is
// under way wait for that one fetch. A fetch that fails, whether on the
// network, with a status other than 200, with a body over MaxResponseSize,
// or with anything that is not a strictly valid public JWK Set, changes
// nothing: the last good set keeps being served until it has been stale for
// longer than the configured limit (see WithMaxStale).
package rs
