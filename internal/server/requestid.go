package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
)

// RequestIDHeader is the response header that carries a request's ID.
const RequestIDHeader = "X-Request-Id"

// requestIDKey is the context key of the request ID.
type requestIDKey struct{}

// WithRequestID gives every request an ID for the logs: it puts the ID in
// the request's context (read it with RequestID) and sets it as the
// X-Request-Id response header, so that a user's report and an access log
// line can be matched to the server's log. The ID is 16 random characters
// from the URL-safe base64 alphabet, generated here: an X-Request-Id the
// client sent is ignored, so that no client input reaches the logs as an
// ID. A request whose context already has an ID (an outer WithRequestID,
// such as one wrapping an access log) keeps it.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) == "" {
			id := newRequestID()
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
			w.Header().Set(RequestIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}

// RequestID returns the ID WithRequestID gave the request of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID returns 96 random bits as 16 base64url characters.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
