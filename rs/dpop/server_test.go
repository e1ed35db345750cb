package dpop_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// TestOverHTTP runs the check in a real TLS server on loopback, with the
// URL taken from the connection and the request line as they arrive.
func TestOverHTTP(t *testing.T) {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	k := genKey(t, jose.ES256)
	jkt := k.ThumbprintSHA256()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
		err := v.CheckDPoP(r.Context(), r, token, jkt)
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, rs.ErrInvalidDPoPProof):
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	client := srv.Client()
	send := func(method, url, proof string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "DPoP "+testToken)
		if proof != "" {
			req.Header.Set(dpop.Header, proof)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	url := srv.URL + "/orders/%7e7?page=2"
	good := newProof(t, k, http.MethodGet, srv.URL+"/orders/~7", testToken, "", time.Now())
	for _, tc := range []struct {
		name   string
		method string
		url    string
		proof  string
		want   int
	}{
		{"valid", http.MethodGet, url, good, http.StatusNoContent},
		{"replayed", http.MethodGet, url, good, http.StatusUnauthorized},
		{"no proof", http.MethodGet, url, "", http.StatusUnauthorized},
		{"proof for http", http.MethodGet, url, newProof(t, k, http.MethodGet, strings.Replace(srv.URL, "https:", "http:", 1)+"/orders/~7", testToken, "", time.Now()), http.StatusUnauthorized},
		{"proof for another path", http.MethodGet, url, newProof(t, k, http.MethodGet, srv.URL+"/orders/8", testToken, "", time.Now()), http.StatusUnauthorized},
		{"proof for another method", http.MethodDelete, url, newProof(t, k, http.MethodGet, srv.URL+"/orders/~7", testToken, "", time.Now()), http.StatusUnauthorized},
		{"proof for another token", http.MethodGet, url, newProof(t, k, http.MethodGet, srv.URL+"/orders/~7", "other", "", time.Now()), http.StatusUnauthorized},
		{"proof by another key", http.MethodGet, url, newProof(t, genKey(t, jose.ES256), http.MethodGet, srv.URL+"/orders/~7", testToken, "", time.Now()), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := send(tc.method, tc.url, tc.proof); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
}
