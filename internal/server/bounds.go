package server

import (
	"context"
	"net/http"
	"time"
)

// HandlerTimeout is the deadline of every request's context: the store
// calls and outgoing fetches of a request give up by then, below the
// listener's WriteTimeout, so that a slow database fails requests with a
// clear error instead of piling them up.
const HandlerTimeout = 25 * time.Second

// Bounded caps every request at once, whatever its handler does: the body
// at maxBody bytes (a handler that reads more gets an error and answers
// 400 or 413, never 500), and the context at HandlerTimeout. Handlers keep
// their own, tighter, bounds.
func Bounded(maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		ctx, cancel := context.WithTimeout(r.Context(), HandlerTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
