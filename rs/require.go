package rs

import (
	"net/http"
	"slices"
)

// Default claim paths of RequireRoles and RequireGroups.
const (
	// DefaultRolesClaim is the claim RequireRoles reads when given "".
	DefaultRolesClaim = "roles"
	// DefaultGroupsClaim is the claim RequireGroups reads when given "".
	DefaultGroupsClaim = "groups"
)

// RequireScopes returns middleware that lets a request through only when
// its token (stored by Middleware.Handler) carries every one of scopes. It
// answers 401 when the request has no token (its challenge's scope
// parameter names scopes, for the client to ask for), and otherwise 403 with
// error="insufficient_scope" and a scope parameter naming every scope of
// the call, not only the missing ones, so that the client can ask for all
// it needs at once (RFC 6750 §3.1). Name all the scopes a route needs in one
// RequireScopes: a challenge names only the scopes of the helper that
// refused. Token.Scopes holds the scope string's words or the scp array.
// With no scopes, any token passes.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	need := compact(scopes)
	return require(func(t *Token) error {
		for _, s := range need {
			if !t.HasScope(s) {
				return ErrInsufficientScope
			}
		}
		return nil
	}, need)
}

// RequireAnyScope returns middleware that lets a request through when its
// token carries at least one of scopes. It answers like RequireScopes; the
// challenge's scope parameter names all of scopes. With no scopes, every
// token is refused.
func RequireAnyScope(scopes ...string) func(http.Handler) http.Handler {
	alts := compact(scopes)
	return require(func(t *Token) error {
		if slices.ContainsFunc(alts, t.HasScope) {
			return nil
		}
		return ErrInsufficientScope
	}, alts)
}

// RequireRoles returns middleware that lets a request through when the
// claim at claimPath (see ClaimPath; "" means DefaultRolesClaim) holds
// every one of roles, as a JSON array of strings or a space-separated
// string ("realm_access.roles" for Keycloak's realm roles). It answers 401
// without a token and 403 insufficient_scope otherwise. With no roles, any
// token passes; the Any variants with no values refuse every token.
func RequireRoles(claimPath string, roles ...string) func(http.Handler) http.Handler {
	return requireValues(orDefault(claimPath, DefaultRolesClaim), "role", roles, true)
}

// RequireAnyRole is RequireRoles that needs only one of roles.
func RequireAnyRole(claimPath string, roles ...string) func(http.Handler) http.Handler {
	return requireValues(orDefault(claimPath, DefaultRolesClaim), "role", roles, false)
}

// RequireGroups returns middleware that lets a request through when the
// claim at claimPath ("" means DefaultGroupsClaim) holds every one of
// groups. It reads and answers like RequireRoles.
func RequireGroups(claimPath string, groups ...string) func(http.Handler) http.Handler {
	return requireValues(orDefault(claimPath, DefaultGroupsClaim), "group", groups, true)
}

// RequireAnyGroup is RequireGroups that needs only one of groups.
func RequireAnyGroup(claimPath string, groups ...string) func(http.Handler) http.Handler {
	return requireValues(orDefault(claimPath, DefaultGroupsClaim), "group", groups, false)
}

// RequireClaim returns middleware that lets a request through when the
// claim at path (see ClaimPath) equals one of values: a string claim
// equal to one, an array with a member equal to one, or a boolean or
// number whose text ("true", "42", "1.5") is one. With no values it only
// needs the claim to exist and not be null. It answers 401 without a token
// and 403 insufficient_scope otherwise.
func RequireClaim(path string, values ...string) func(http.Handler) http.Handler {
	want := slices.Clone(values)
	return require(func(t *Token) error {
		v, ok := ClaimPath(t.Claims, path)
		if !ok || v == nil {
			return refusalf(ErrForbidden, "the access token lacks the %s claim this resource requires", printable(path))
		}
		if len(want) == 0 || claimMatches(v, want) {
			return nil
		}
		return refusalf(ErrForbidden, "the access token's %s claim does not have a value this resource requires", printable(path))
	}, nil)
}

// requireValues checks the string values of a claim: all of want, or any.
func requireValues(path, what string, want []string, all bool) func(http.Handler) http.Handler {
	want = compact(want)
	return require(func(t *Token) error {
		v, _ := ClaimPath(t.Claims, path)
		n := 0
		for _, w := range want {
			if hasString(v, w) {
				if !all {
					return nil
				}
				n++
			}
		}
		if all && n == len(want) {
			return nil
		}
		return refusalf(ErrForbidden, "the access token lacks a %s this resource requires", what)
	}, nil)
}

// require builds a Require helper from check. scopes go to the challenge
// of an ErrInsufficientScope refusal.
func require(check func(*Token) error, scopes []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			st, _ := ctx.Value(authStateKey{}).(*authState)
			tok, ok := TokenFromContext(ctx)
			var err error
			if !ok {
				err = ErrNoToken
			} else if err = check(tok); err == nil {
				next.ServeHTTP(w, r)
				return
			}
			m, scheme := defaultMiddleware(), SchemeBearer
			if st != nil {
				m, scheme = st.m, st.scheme
			}
			m.deny(w, r, scheme, err, scopes)
		})
	}
}

// defaultMiddleware answers for the Require helpers when no Middleware ran
// before them: Bearer challenges, slog.Default, the default error handler.
func defaultMiddleware() *Middleware { return NewMiddleware(nil) }

// hasString reports whether the claim value v holds s (see ClaimStrings).
func hasString(v any, s string) bool {
	for c := range ClaimStrings(v) {
		if c == s {
			return true
		}
	}
	return false
}

// claimMatches reports whether v is, or is an array holding, one of want.
// A string claim is compared whole, not split into words.
func claimMatches(v any, want []string) bool {
	switch t := v.(type) {
	case []any, []string:
		for c := range ClaimStrings(t) {
			if slices.Contains(want, c) {
				return true
			}
		}
		return false
	}
	s, ok := scalarString(v)
	return ok && slices.Contains(want, s)
}

// compact returns the distinct non-empty values of v, in order.
func compact(v []string) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printable cuts a claim path for a description.
func printable(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
