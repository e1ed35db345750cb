package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/writ-dev/writ/rs"
)

// outcome is how a request ended before (or instead of) the proxy.
type outcome struct {
	status      int
	err         string // OAuth error code or short error
	description string
	challenges  []rs.Challenge // WWW-Authenticate, one per accepted scheme
	nonce       string         // DPoP-Nonce
	reason      string         // for the log only
}

func (o outcome) write(w http.ResponseWriter) {
	h := w.Header()
	for _, c := range o.challenges {
		h.Add("WWW-Authenticate", c.String())
	}
	if o.nonce != "" {
		h.Set("DPoP-Nonce", o.nonce)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(o.status)
	var b strings.Builder
	b.WriteString(`{"error":"`)
	b.WriteString(jsonSafe(o.err))
	b.WriteByte('"')
	if o.description != "" {
		b.WriteString(`,"error_description":"`)
		b.WriteString(jsonSafe(o.description))
		b.WriteByte('"')
	}
	b.WriteString("}\n")
	_, _ = w.Write([]byte(b.String()))
}

// jsonSafe keeps the printable ASCII characters a JSON string can hold
// without escaping; our messages are fixed texts.
func jsonSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// tokenFailure maps a verification error to its answer: 503 when a
// dependency is down (the token may be good), 401 invalid_token when the
// token is bad.
func tokenFailure(err error, challenges func(code, desc string) []rs.Challenge) outcome {
	switch {
	case errors.Is(err, rs.ErrKeySetUnavailable), errors.Is(err, rs.ErrUnavailable):
		return outcome{status: http.StatusServiceUnavailable, err: "temporarily_unavailable", description: "the token cannot be verified right now", reason: err.Error()}
	case errors.Is(err, rs.ErrInvalidToken):
		return outcome{status: http.StatusUnauthorized, err: "invalid_token", description: "the access token is invalid", challenges: challenges("invalid_token", "the access token is invalid"), reason: err.Error()}
	}
	// Anything else (a cancelled request, an unexpected failure) is not
	// the token's fault.
	return outcome{status: http.StatusServiceUnavailable, err: "temporarily_unavailable", description: "the token cannot be verified right now", reason: err.Error()}
}
