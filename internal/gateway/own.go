package gateway

import (
	"net/http"
	"strings"
)

// serveOwn answers the gateway's own paths: the metrics (when served on
// the main listener), the identity assertion's JWKS and the RFC 9728
// metadata of MCP routes.
func (st *state) serveOwn(w http.ResponseWriter, r *http.Request, p string, d *decision) bool {
	var body []byte
	switch {
	case st.metrics != nil && p == st.file.Metrics.Path:
		d.route, d.result = "metrics", "own"
		st.metrics.ServeHTTP(w, r)
		return true
	case st.jwks != nil && p == st.file.Assertion.JWKSPath:
		d.route, body = "assertion-jwks", st.jwks
	case strings.HasPrefix(p, "/.well-known/oauth-protected-resource"):
		body = st.metadata[p]
		if body == nil {
			return false
		}
		d.route = "resource-metadata"
	default:
		return false
	}
	d.result = "own"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		st.end(w, d, "error", outcome{status: http.StatusMethodNotAllowed, err: "method_not_allowed"})
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(body)
	return true
}
