package reqinfo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/internal/reqinfo"
)

// TestPatterns: the route recorded is the matched pattern without its
// method, empty when nothing matched, and recorded when the handler
// panics.
func TestPatterns(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/oauth2/register/", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /items/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	for _, tc := range []struct{ method, path, want string }{
		{http.MethodGet, "/.well-known/jwks.json", "/.well-known/jwks.json"},
		{http.MethodGet, "/oauth2/register/some-client-id", "/oauth2/register/"},
		{http.MethodPost, "/items/123", "/items/{id}"},
		{http.MethodGet, "/nowhere", ""},
		{http.MethodGet, "/panic", "/panic"},
	} {
		var got *reqinfo.Info
		h := reqinfo.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = reqinfo.From(r.Context())
			defer func() { _ = recover() }()
			reqinfo.Patterns(mux).ServeHTTP(w, r)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
		if got == nil || got.Route != tc.want {
			t.Errorf("%s %s: route %+v, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestSetError(t *testing.T) {
	for code, want := range map[string]string{
		"invalid_grant": "invalid_grant",
		"":              "other",
		"Invalid":       "other",
		"x y":           "other",
		"a_very_long_error_code_that_goes_on_and_on_and_on_and_on": "other",
	} {
		var seen *reqinfo.Info
		reqinfo.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = reqinfo.From(r.Context())
			reqinfo.SetError(r.Context(), code)
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		if seen.Error != want {
			t.Errorf("SetError(%q) recorded %q, want %q", code, seen.Error, want)
		}
	}
	reqinfo.SetError(context.Background(), "invalid_grant") // outside a request: no effect, no panic
}

// TestStatus: the status recorded is the first one written, 200 for a
// body written without one, 0 when nothing was written; a request that
// has an Info already keeps it.
func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(http.ResponseWriter)
		want  int
	}{
		{"header", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTooManyRequests); w.WriteHeader(http.StatusOK) }, http.StatusTooManyRequests},
		{"body", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")); w.WriteHeader(http.StatusTeapot) }, http.StatusOK},
		{"nothing", func(http.ResponseWriter) {}, 0},
	} {
		var outer, inner *reqinfo.Info
		reqinfo.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			outer = reqinfo.From(r.Context())
			reqinfo.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = reqinfo.From(r.Context())
				tc.serve(w)
			})).ServeHTTP(w, r)
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		if outer != inner {
			t.Errorf("%s: the inner Middleware replaced the Info", tc.name)
		}
		if outer.Status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, outer.Status, tc.want)
		}
	}
}
