package rs

import (
	"net/http"
	"strings"
)

// Authentication schemes of the Authorization header that carry an access
// token.
const (
	// SchemeBearer is the Bearer scheme of RFC 6750 §2.1.
	SchemeBearer = "Bearer"
	// SchemeDPoP is the DPoP scheme of RFC 9449 §7.1, for a token bound to
	// the key of the DPoP proof sent with it.
	SchemeDPoP = "DPoP"
)

// Error codes of a WWW-Authenticate challenge (RFC 6750 §3.1, RFC 9449
// §7.1 and §9).
const (
	// CodeInvalidRequest: the request is malformed (answered with 400).
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidToken: the token is expired, revoked, malformed or
	// otherwise invalid for this resource (answered with 401).
	CodeInvalidToken = "invalid_token"
	// CodeInsufficientScope: the token is valid but does not grant what the
	// request needs (answered with 403).
	CodeInsufficientScope = "insufficient_scope"
	// CodeInvalidDPoPProof: the DPoP proof is missing or invalid (401).
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	// CodeUseDPoPNonce: the DPoP proof must carry the nonce sent in the
	// DPoP-Nonce header (401).
	CodeUseDPoPNonce = "use_dpop_nonce"
)

// maxDescription bounds the error_description of a challenge, in bytes.
const maxDescription = 256

// Challenge is one challenge of a WWW-Authenticate response header field:
// RFC 6750 §3 for the Bearer scheme, RFC 9449 §7.1 for the DPoP scheme,
// with the resource_metadata parameter of RFC 9728 §5.1. Empty fields are
// left out of the header.
type Challenge struct {
	// Scheme is SchemeBearer or SchemeDPoP; empty means SchemeBearer.
	Scheme string
	// Realm is the protection space (RFC 9110 §11.5).
	Realm string
	// Error is the error code, one of the Code constants; empty when the
	// request carried no credentials (RFC 6750 §3.1).
	Error string
	// Description is a human-readable explanation for the developer of the
	// client. Characters RFC 6750 §3 does not allow in it (controls, '"',
	// '\', non-ASCII) are replaced, and it is cut at 256 bytes.
	Description string
	// Scopes are the scopes the request needs, all of them, for
	// insufficient_scope. A value that is not a valid scope token
	// (RFC 6749 §3.3) is left out.
	Scopes []string
	// ResourceMetadata is the URL of the protected resource's metadata
	// (RFC 9728 §5.1).
	ResourceMetadata string
	// Algs are the JWS algorithms accepted for DPoP proofs, for the DPoP
	// scheme (RFC 9449 §7.1).
	Algs []string
	// Nonce, when not empty, is sent in the DPoP-Nonce response header
	// (RFC 9449 §9) by WriteChallenge. It is not part of the challenge
	// itself. A value that is not a valid nonce (1*NQCHAR) is not sent.
	Nonce string
}

// String returns the challenge as one WWW-Authenticate field value, such
// as `Bearer realm="api", error="invalid_token", error_description="..."`.
// Every parameter value is a quoted-string whose characters are checked
// (or escaped) so that no input can break the header apart.
func (c Challenge) String() string {
	var b strings.Builder
	b.Grow(64 + len(c.Realm) + len(c.Description) + len(c.ResourceMetadata))
	if c.Scheme == SchemeDPoP {
		b.WriteString(SchemeDPoP)
	} else {
		b.WriteString(SchemeBearer)
	}
	first := true
	param := func(name string) {
		if first {
			b.WriteByte(' ')
			first = false
		} else {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteString(`="`)
	}
	if c.Realm != "" {
		param("realm")
		writeQuotedPairs(&b, c.Realm)
		b.WriteByte('"')
	}
	if c.Error != "" {
		param("error")
		writeErrorChars(&b, c.Error, maxDescription)
		b.WriteByte('"')
	}
	if c.Description != "" {
		param("error_description")
		writeErrorChars(&b, c.Description, maxDescription)
		b.WriteByte('"')
	}
	if hasToken(c.Scopes) {
		param("scope")
		writeTokens(&b, c.Scopes)
		b.WriteByte('"')
	}
	if c.ResourceMetadata != "" {
		param("resource_metadata")
		writeQuotedPairs(&b, c.ResourceMetadata)
		b.WriteByte('"')
	}
	if c.Scheme == SchemeDPoP && hasToken(c.Algs) {
		param("algs")
		writeTokens(&b, c.Algs)
		b.WriteByte('"')
	}
	return b.String()
}

// WriteChallenge adds c to the WWW-Authenticate header of w, and sets the
// DPoP-Nonce header when c.Nonce is a valid nonce. It writes neither the
// status nor the body: call it once per accepted scheme (two challenges
// when both Bearer and DPoP are accepted), then w.WriteHeader.
func WriteChallenge(w http.ResponseWriter, c Challenge) {
	h := w.Header()
	h.Add("WWW-Authenticate", c.String())
	if c.Nonce != "" && isToken(c.Nonce) {
		h.Set("DPoP-Nonce", c.Nonce)
	}
}

// writeQuotedPairs writes s as the content of a quoted-string (RFC 9110
// §5.6.4): '"' and '\' become quoted-pairs, and a byte that is neither
// visible ASCII nor a space becomes '?', so that CR, LF and NUL never reach
// the header.
func writeQuotedPairs(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
}

// writeErrorChars writes at most limit bytes of s restricted to the
// characters RFC 6750 §3 allows in error and error_description:
// %x20-21 / %x23-5B / %x5D-7E. A double quote becomes an apostrophe, a
// backslash a slash, and anything else outside the set a question mark.
func writeErrorChars(b *strings.Builder, s string, limit int) {
	if len(s) > limit {
		s = s[:limit]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			b.WriteByte('\'')
		case c == '\\':
			b.WriteByte('/')
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
}

// writeTokens writes the valid tokens of v separated by single spaces.
func writeTokens(b *strings.Builder, v []string) {
	sep := false
	for _, s := range v {
		if !isToken(s) {
			continue
		}
		if sep {
			b.WriteByte(' ')
		}
		b.WriteString(s)
		sep = true
	}
}

// hasToken reports whether v holds at least one valid token.
func hasToken(v []string) bool {
	for _, s := range v {
		if isToken(s) {
			return true
		}
	}
	return false
}

// isToken reports whether s is 1*NQCHAR, the syntax of a scope token
// (RFC 6749 §3.3), of a DPoP nonce (RFC 9449 §8.1) and, in practice, of a
// JWS algorithm name: %x21 / %x23-5B / %x5D-7E.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
