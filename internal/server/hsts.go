package server

import (
	"net/http"
	"strings"
)

// hstsValue is the Strict-Transport-Security of an https issuer: a year,
// without includeSubDomains (other hosts of the domain are not writ's to
// decide) or preload.
const hstsValue = "max-age=31536000"

// withHSTS sets Strict-Transport-Security on every response of an https
// issuer (RFC 6797), so that a browser that saw one never again sends the
// issuer's cookies or forms over plain HTTP. Behind a proxy that terminates
// TLS the header still reaches the browser over https.
func withHSTS(issuer string, next http.Handler) http.Handler {
	if !strings.HasPrefix(strings.ToLower(issuer), "https://") {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsValue)
		next.ServeHTTP(w, r)
	})
}
