// Package dpop checks DPoP proofs (RFC 9449): the signed JWT a client sends
// in the DPoP header of each request to show that it holds the private key
// its access token is bound to.
//
// A Verifier checks every rule of RFC 9449 §4.3 and §7.1, each failure with
// its own error (all wrapping rs.ErrInvalidDPoPProof): one DPoP header; a
// bounded compact JWS; typ dpop+jwt; an allow-listed asymmetric alg (never
// none, never HS*); a public, asymmetric jwk fit for that alg; the
// signature by that jwk; jti, htm and htu matching the request (htu
// normalised as RFC 3986 §6 says, query and fragment ignored), and iat in a
// window; ath, the hash of the access token; the token's cnf.jkt equal to
// the thumbprint of the proof's key; the server nonce when nonces are on
// (an *rs.NonceError carries the nonce to send); and that the proof was
// not used before.
//
// Used proofs are remembered in a ReplayCache: in memory by default
// (MemoryReplayCache, bounded, refusing rather than forgetting when full),
// or in Redis (RedisReplayCache) so that several nodes refuse a proof
// replayed at any of them. A replay cache that cannot answer makes the
// check fail with rs.ErrUnavailable (a 503), never pass.
//
// Server nonces (Nonces) are stateless: an HMAC of a time window's number,
// rotating every period, the previous window's nonce still accepted.
//
// Verifier implements rs.DPoPChecker for the rs middleware and the
// gateway; Verify takes the request's parts directly, for a token
// endpoint. NewProof builds proofs as a client does.
package dpop
