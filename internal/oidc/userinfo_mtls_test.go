package oidc

import (
	"net/http"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// TestUserInfoCertificateBound: a token bound to a certificate (RFC 8705
// §3) is served only to a request with that certificate.
func TestUserInfoCertificateBound(t *testing.T) {
	const certA, certB = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2", "LqXP1dRmsE3pNQ1Mz8c4H0ZMb8Q-bZ0sZmc0dmD9vLE"
	e := newUserinfoEnv(t)
	// The test stands in for the server: the certificate's thumbprint
	// comes in a header.
	e.h.CertThumbprint = func(r *http.Request) string { return r.Header.Get("X-Test-Cert") }
	scopes := []string{"openid"}
	bound := map[string]any{"cnf": map[string]string{"x5t#S256": certA}}
	jwtTok := e.access(t, store.AccessTokenJWT, "user-1", scopes, bound).Value
	opaqueTok := e.access(t, store.AccessTokenOpaque, "user-1", scopes, bound).Value
	odd := e.access(t, store.AccessTokenJWT, "user-1", scopes, map[string]any{"cnf": map[string]string{"x5t#S256": certA, "other": "x"}}).Value
	with := func(tok, cert string) http.Header {
		h := bearer(tok)
		if cert != "" {
			h.Set("X-Test-Cert", cert)
		}
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"JWT with its certificate", with(jwtTok, certA), 200},
		{"opaque token with its certificate", with(opaqueTok, certA), 200},
		{"JWT without a certificate", with(jwtTok, ""), 401},
		{"opaque token without a certificate", with(opaqueTok, ""), 401},
		{"JWT with another certificate", with(jwtTok, certB), 401},
		{"an unknown confirmation method beside it", with(odd, certA), 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.call("GET", "/userinfo", tc.header, "")
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	e.h.CertThumbprint = nil
	if w := e.call("GET", "/userinfo", with(jwtTok, certA), ""); w.Code != 401 {
		t.Fatalf("without a certificate source: %d", w.Code)
	}
}
