package oauth

import "net/http"

// Error codes of DPoP at the token endpoint (RFC 9449 §5, §8).
const (
	// CodeInvalidDPoPProof: the DPoP proof is missing, malformed or
	// invalid.
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	// CodeUseDPoPNonce: the proof must carry the server's nonce, sent in
	// the DPoP-Nonce header of the response.
	CodeUseDPoPNonce = "use_dpop_nonce"
)

// InvalidDPoPProof reports a DPoP proof that is missing where required, or
// invalid (400, RFC 9449 §5).
func InvalidDPoPProof(format string, args ...any) *Error {
	return newError(CodeInvalidDPoPProof, http.StatusBadRequest, format, args...)
}

// UseDPoPNonce asks the client to retry with the server's nonce (400, RFC
// 9449 §8); the caller sends the nonce in the DPoP-Nonce header.
func UseDPoPNonce() *Error {
	return newError(CodeUseDPoPNonce, http.StatusBadRequest, "the DPoP proof must carry the nonce of the DPoP-Nonce header")
}
