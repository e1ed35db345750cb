// Package jose implements the JSON Object Signing and Encryption pieces that
// writ needs: compact JWS signing and verification on a fast, strict path
// built on the standard library's crypto, JSON Web Keys and key sets (RFC
// 7517) with RFC 7638 thumbprints, PEM import and export, and JWE (RFC 7516)
// through go-jose.
//
// Verification follows the JWT best current practice (RFC 8725): every key
// is bound to exactly one algorithm, the algorithm named in a token must be
// the one its key is bound to, "none" never verifies, and keys are only ever
// taken from a key set the caller trusts. Header members that carry or point
// to keys ("jwk", "jku", "x5u", "x5c") are never used to find a key.
package jose
