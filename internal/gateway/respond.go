package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/writ-dev/writ/rs"
)

// challenge is one WWW-Authenticate challenge (RFC 6750 §3, RFC 9449 §7.1,
// RFC 9728 §5.1).
type challenge struct {
	scheme           string // Bearer or DPoP
	err, description string
	scopes           []string
	resourceMetadata string
	algs             string
}

func (c challenge) String() string {
	var b strings.Builder
	b.WriteString(c.scheme)
	sep := " "
	param := func(name, value string) {
		if value == "" {
			return
		}
		b.WriteString(sep)
		sep = ", "
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(quoteSafe(value))
		b.WriteByte('"')
	}
	param("realm", "writ-gateway")
	param("error", c.err)
	param("error_description", c.description)
	param("scope", strings.Join(c.scopes, " "))
	param("resource_metadata", c.resourceMetadata)
	if c.scheme == "DPoP" {
		param("algs", c.algs)
	}
	return b.String()
}

// quoteSafe drops the characters a quoted-string cannot hold as they are.
func quoteSafe(s string) string {
	if !strings.ContainsAny(s, "\"\\\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// outcome is how a request ended before (or instead of) the proxy.
type outcome struct {
	status      int
	err         string // OAuth error code or short error
	description string
	challenges  []challenge
	nonce       string // DPoP-Nonce
	reason      string // for the log only
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
func tokenFailure(err error, challenges func(code, desc string) []challenge) outcome {
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
