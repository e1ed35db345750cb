// Package jwt signs and verifies JSON Web Tokens (RFC 7519) with the strict
// defaults of the JWT best current practice (RFC 8725) and the JWT profile
// for OAuth 2.0 access tokens (RFC 9068).
//
// A Verifier binds a trusted key set to a validation policy: the issuer and
// audience a token must carry, the "typ" it must declare, the algorithms it
// may use, and how much clock skew to tolerate. Verify either returns a
// Token whose signature and registered claims have all been checked, or an
// error that errors.Is matches against one of the exported sentinels.
//
//	keys, _ := jose.ParseKeySet(jwksJSON)
//	v, _ := jwt.NewVerifier(jwt.StaticKeys(keys), jwt.Config{
//		Issuer:   "https://id.example.com",
//		Audience: "https://api.example.com",
//		Type:     jwt.TypeAccessToken,
//	})
//	tok, err := v.Verify(ctx, raw)
//	if errors.Is(err, jwt.ErrExpired) { ... }
//
// A Token is read-only: Token.Claims returns a copy of the registered
// claims Verify checked. Custom claims are decoded into the caller's type
// only when asked, with Token.DecodeClaims; single members can be read
// without decoding the whole payload with Token.Claim.
package jwt
