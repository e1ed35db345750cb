package clientip

import (
	"context"
	"net/http"
)

type ctxKey struct{}

// Middleware puts the client address of each request (Addr) into its
// context, where Of finds it. A request that has one already keeps it, so
// wrapping twice (access log outside, server inside) resolves once.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, ok := req.Context().Value(ctxKey{}).(string); ok {
			next.ServeHTTP(w, req)
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, r.Addr(req))))
	})
}

// Of returns the client address of req: the one Middleware resolved, or,
// outside it, the peer address without its port (no proxy trusted). Rate
// limits, the sign-in throttle, logs and audit records all take it from
// here.
func Of(req *http.Request) string {
	if a, ok := req.Context().Value(ctxKey{}).(string); ok {
		return a
	}
	var none *Resolver
	return none.Addr(req)
}
