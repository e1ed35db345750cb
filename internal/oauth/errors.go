// Package oauth holds what every OAuth 2.0 endpoint of writ shares: the
// error type and its JSON rendering (RFC 6749 §5.2), bounded decoding of
// form requests, scope handling, client secrets and client authentication.
package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

// Error codes of RFC 6749, RFC 7009, RFC 8707 and RFC 8628.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeInvalidScope            = "invalid_scope"
	CodeInvalidTarget           = "invalid_target"
	CodeUnsupportedTokenType    = "unsupported_token_type"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeAccessDenied            = "access_denied"
	CodeUnsupportedResponseType = "unsupported_response_type"
)

// Error is an OAuth error response. Description is shown to the client and
// must never hold secrets nor echo request input; it is rendered through
// SafeDescription. Cause is logged, never sent.
type Error struct {
	Code        string
	Description string
	Status      int
	// Challenge, when set, is sent as WWW-Authenticate (for invalid_client).
	Challenge string
	Cause     error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func newError(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// InvalidRequest reports a malformed request (400).
func InvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, format, args...)
}

// InvalidClient reports failed client authentication (401 with a Basic
// challenge). The description is the same for an unknown client and a wrong
// secret.
func InvalidClient(format string, args ...any) *Error {
	e := newError(CodeInvalidClient, http.StatusUnauthorized, format, args...)
	e.Challenge = `Basic realm="writ", charset="UTF-8"`
	return e
}

// InvalidGrant reports an invalid, expired or revoked grant (400).
func InvalidGrant(format string, args ...any) *Error {
	return newError(CodeInvalidGrant, http.StatusBadRequest, format, args...)
}

// UnauthorizedClient reports a client that may not use this grant (400).
func UnauthorizedClient(format string, args ...any) *Error {
	return newError(CodeUnauthorizedClient, http.StatusBadRequest, format, args...)
}

// UnsupportedGrantType reports an unknown grant_type (400).
func UnsupportedGrantType(format string, args ...any) *Error {
	return newError(CodeUnsupportedGrantType, http.StatusBadRequest, format, args...)
}

// InvalidScope reports a scope outside what the client may ask for (400).
func InvalidScope(format string, args ...any) *Error {
	return newError(CodeInvalidScope, http.StatusBadRequest, format, args...)
}

// InvalidTarget reports a resource indicator that is not allowed (400).
func InvalidTarget(format string, args ...any) *Error {
	return newError(CodeInvalidTarget, http.StatusBadRequest, format, args...)
}

// ServerError wraps an internal failure (500). The cause is logged by the
// caller; the client sees only a generic description. A cause that is
// store.ErrUnavailable (the database unreachable) is a 503
// temporarily_unavailable instead: nothing was acknowledged.
func ServerError(cause error) *Error {
	if errors.Is(cause, store.ErrUnavailable) {
		// Nothing was acknowledged: the client may retry, elsewhere.
		return TemporarilyUnavailable(cause, "the server cannot reach its database; retry in a moment")
	}
	return &Error{Code: CodeServerError, Status: http.StatusInternalServerError, Description: "the server could not complete the request", Cause: cause}
}

// TemporarilyUnavailable reports a passing server condition (503) with a
// Retry-After hint; the cause is logged, not sent.
func TemporarilyUnavailable(cause error, description string) *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable, Description: description, Cause: cause}
}

// AsError returns err as an *Error: itself when it is one, otherwise a
// server_error wrapping it.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ServerError(err)
}

// maxDescription bounds a rendered error_description.
const maxDescription = 300

// SafeDescription returns s as it may appear in error_description: only the
// characters RFC 6749 §5.2 allows (%x20-21 / %x23-5B / %x5D-7E), at most
// 300 of them. A double quote becomes an apostrophe, a backslash a slash and
// any other character (a control, anything beyond ASCII) a question mark, so
// that a description that slipped through with an unexpected character is
// still readable and can never break a header or a query it is put into.
func SafeDescription(s string) string {
	ok := len(s) <= maxDescription
	for i := 0; ok && i < len(s); i++ {
		ok = descriptionChar(s[i])
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxDescription {
			break
		}
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r == '\\':
			b.WriteByte('/')
		case r < 0x80 && descriptionChar(byte(r)):
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// descriptionChar reports whether c may appear in error_description.
func descriptionChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// NoStore sets the cache headers every token response carries.
func NoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// WriteJSON writes v as a JSON response with no-store caching.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	NoStore(h)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError renders err as an RFC 6749 §5.2 error response.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	if e.Challenge != "" {
		w.Header().Set("WWW-Authenticate", e.Challenge)
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, SafeDescription(e.Description)}
	WriteJSON(w, e.Status, body)
}
