package rs

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestRequire(t *testing.T) {
	alice := &Token{
		Subject: "alice",
		Scopes:  []string{"orders:read", "profile"},
		Claims: map[string]any{
			"sub":            "alice",
			"realm_access":   map[string]any{"roles": []any{"admin", "user"}},
			"roles":          "reader writer",
			"groups":         []any{"eng", "ops"},
			"department":     "Research and Development",
			"email_verified": true,
			"clearance":      3.0,
			"tags":           []any{"a", "b"},
			"nothing":        nil,
		},
	}
	const insufficient = `Bearer error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope=`
	tests := []struct {
		name      string
		mw        func(http.Handler) http.Handler
		tok       *Token // nil: no token in the context
		status    int
		challenge string
	}{
		{"scopes all present", RequireScopes("orders:read", "profile"), alice, 200, ""},
		{"scopes none required", RequireScopes(), alice, 200, ""},
		{"scopes one missing names all", RequireScopes("orders:read", "orders:write", "orders:read"), alice, 403, insufficient + `"orders:read orders:write"`},
		{"scopes no token names the scopes", RequireScopes("orders:read"), nil, 401, `Bearer scope="orders:read"`},
		{"any scope one present", RequireAnyScope("orders:write", "profile"), alice, 200, ""},
		{"any scope none present", RequireAnyScope("orders:write", "admin"), alice, 403, insufficient + `"orders:write admin"`},
		{"any scope empty list refuses", RequireAnyScope(), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a scope this resource requires"`},
		{"roles keycloak path", RequireRoles("realm_access.roles", "admin"), alice, 200, ""},
		{"roles all of", RequireRoles("realm_access.roles", "admin", "user"), alice, 200, ""},
		{"roles all of, one missing", RequireRoles("realm_access.roles", "admin", "root"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a role this resource requires"`},
		{"roles default claim, space-separated", RequireRoles("", "writer"), alice, 200, ""},
		{"roles substring is not a role", RequireRoles("", "write"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a role this resource requires"`},
		{"any role", RequireAnyRole("realm_access.roles", "root", "user"), alice, 200, ""},
		{"any role none", RequireAnyRole("realm_access.roles", "root"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a role this resource requires"`},
		{"roles missing claim", RequireRoles("resource_access.api.roles", "x"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a role this resource requires"`},
		{"groups", RequireGroups("", "eng", "ops"), alice, 200, ""},
		{"groups missing", RequireGroups("", "eng", "hr"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a group this resource requires"`},
		{"any group", RequireAnyGroup("", "hr", "ops"), alice, 200, ""},
		{"groups no token", RequireGroups("", "eng"), nil, 401, `Bearer`},
		{"claim string equals", RequireClaim("department", "Research and Development"), alice, 200, ""},
		{"claim string is not split", RequireClaim("department", "Research"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token's department claim does not have a value this resource requires"`},
		{"claim in", RequireClaim("sub", "bob", "alice"), alice, 200, ""},
		{"claim bool", RequireClaim("email_verified", "true"), alice, 200, ""},
		{"claim number", RequireClaim("clearance", "3"), alice, 200, ""},
		{"claim array member", RequireClaim("tags", "b"), alice, 200, ""},
		{"claim nested", RequireClaim("realm_access.roles", "admin"), alice, 200, ""},
		{"claim exists", RequireClaim("department"), alice, 200, ""},
		{"claim null is absent", RequireClaim("nothing"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks the nothing claim this resource requires"`},
		{"claim missing", RequireClaim("tenant", "x"), alice, 403, `Bearer error="insufficient_scope", error_description="the access token lacks the tenant claim this resource requires"`},
		{"claim no token", RequireClaim("sub"), nil, 401, `Bearer`},
		{"claim on token without claims", RequireClaim("sub"), &Token{}, 403, `Bearer error="insufficient_scope", error_description="the access token lacks the sub claim this resource requires"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			h := tt.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
			r := httptest.NewRequest("GET", "/r", nil)
			if tt.tok != nil {
				r = r.WithContext(WithToken(r.Context(), tt.tok))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.status || reached != (tt.status == 200) {
				t.Fatalf("status %d (next reached: %v), want %d", rec.Code, reached, tt.status)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tt.challenge)
			}
		})
	}
}

// TestRequireBehindMiddleware checks that a Require helper answers with the
// middleware's challenges: realm, resource_metadata, the request's scheme,
// the error handler.
func TestRequireBehindMiddleware(t *testing.T) {
	const meta = "https://api.example.com/.well-known/oauth-protected-resource"
	v := newFakeVerifier()
	var handled []error
	m := NewMiddleware(v,
		WithDPoP(&fakeDPoP{}), WithDPoPAlgorithms("ES256"), WithRealm("api"), WithResourceMetadataURL(meta),
		WithLogger(slog.New(slog.DiscardHandler)), WithOptionalToken(),
		WithErrorHandler(func(w http.ResponseWriter, r *http.Request, status int, err error) {
			handled = append(handled, err)
			w.WriteHeader(status)
		}))
	tests := []struct {
		name      string
		auth      string
		status    int
		challenge []string
		err       error
	}{
		{"bearer token lacks scope", "Bearer " + goodTok, 403, []string{
			`Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope="read write", resource_metadata="` + meta + `"`,
			`DPoP realm="api", resource_metadata="` + meta + `", algs="ES256"`,
		}, ErrInsufficientScope},
		{"dpop token lacks scope", "DPoP " + boundTok, 403, []string{
			`Bearer realm="api", resource_metadata="` + meta + `"`,
			`DPoP realm="api", error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope="read write", resource_metadata="` + meta + `", algs="ES256"`,
		}, ErrInsufficientScope},
		{"optional, no token", "", 401, []string{
			`Bearer realm="api", scope="read write", resource_metadata="` + meta + `"`,
			`DPoP realm="api", resource_metadata="` + meta + `", algs="ES256"`,
		}, ErrNoToken},
	}
	h := m.Handler(RequireScopes("read", "write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("next reached")
	})))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handled = nil
			r := httptest.NewRequest("GET", "/r", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Values("WWW-Authenticate"); !slices.Equal(got, tt.challenge) {
				t.Errorf("WWW-Authenticate\n got %q\nwant %q", got, tt.challenge)
			}
			if len(handled) != 1 || !errors.Is(handled[0], tt.err) {
				t.Errorf("error handler got %v, want %v", handled, tt.err)
			}
		})
	}
}
