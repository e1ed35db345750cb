package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/jose"
)

// handlerFor builds a server with sign-in for issuer over its own SQLite
// store and returns its public handler, called in-process.
func handlerFor(t *testing.T, issuer string) http.Handler {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, "sqlite:"+t.TempDir()+"/writ.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewRing(keys.Options{Algorithm: jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	hasher, err := oauth.NewSecretHasher(acctRandom(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{
		Issuer: issuer, Store: st, Ring: ring, Hasher: hasher,
		SignIn: &server.SignInOptions{CSRFKey: acctRandom(t, 32), SealKey: acctRandom(t, 32), Passwords: authn.Params{Memory: 64, Time: 1, Threads: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler()
}

// TestHSTS: every response of an https issuer carries
// Strict-Transport-Security, errors and not-found included; an http issuer
// sends none.
func TestHSTS(t *testing.T) {
	requests := []struct{ method, path, body string }{
		{http.MethodGet, server.PathJWKS, ""},
		{http.MethodGet, server.PathOIDCMetadata, ""},
		{http.MethodPost, server.PathToken, "grant_type=nope"},
		{http.MethodGet, server.PathToken, ""},
		{http.MethodGet, "/no-such-page", ""},
		{http.MethodGet, server.PathAuthorize + "?client_id=unknown", ""},
		{http.MethodGet, server.PathAccount, ""},
		{http.MethodGet, server.PathLogin, ""},
		{http.MethodGet, server.PathHealth, ""},
	}
	for _, tc := range []struct {
		issuer string
		want   string
	}{
		{"https://id.example.test", "max-age=31536000"},
		{"http://127.0.0.1:8080", ""},
	} {
		h := handlerFor(t, tc.issuer)
		for _, r := range requests {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			if r.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("%s: %s %s (%d): Strict-Transport-Security %q, want %q", tc.issuer, r.method, r.path, rec.Code, got, tc.want)
			}
		}
	}
}
