package websession

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
)

// BenchmarkDecode measures validating a session cookie: the verification a
// request pays (signature, claims, idle and key checks).
func BenchmarkDecode(b *testing.B) {
	for _, alg := range []jose.Algorithm{jose.HS256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			clock := clocktest.Default()
			key := hmacKey(b)
			if alg == jose.EdDSA {
				key = edKey(b)
			}
			m := newManager(b, clock, func(c *Config) { c.Keys = []Key{{Key: key}} })
			s, _ := m.NewSession("alice", map[string]string{"name": "Alice Liddell"})
			tok, err := m.Encode(s)
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Decode(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandler measures the middleware on a GET with a valid session
// (no re-issue) and a POST with its CSRF header.
func BenchmarkHandler(b *testing.B) {
	clock := clocktest.Default()
	m := newManager(b, clock)
	s, _ := m.NewSession("alice", nil)
	tok, _ := m.Encode(s)
	csrf := s.CSRFToken()
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		b.Run(method, func(b *testing.B) {
			r := httptest.NewRequest(method, appURL+"/", nil)
			r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: tok})
			r.Header.Set("X-CSRF-Token", csrf)
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
