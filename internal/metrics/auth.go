package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// bearerMatches compares the credentials of an Authorization header with
// token in constant time (of the SHA-256 digests, so that the lengths do
// not leak either).
func bearerMatches(header, token string) bool {
	if token == "" {
		return false
	}
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(cred))), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
