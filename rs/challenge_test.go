package rs

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestChallengeString(t *testing.T) {
	tests := []struct {
		name string
		c    Challenge
		want string
	}{
		{"bare bearer", Challenge{}, `Bearer`},
		{"bare dpop", Challenge{Scheme: SchemeDPoP}, `DPoP`},
		{"RFC 6750 3 realm", Challenge{Realm: "example"}, `Bearer realm="example"`},
		{
			"RFC 6750 3 expired",
			Challenge{Realm: "example", Error: CodeInvalidToken, Description: "The access token expired"},
			`Bearer realm="example", error="invalid_token", error_description="The access token expired"`,
		},
		{
			"insufficient scope names every scope",
			Challenge{Error: CodeInsufficientScope, Scopes: []string{"orders:read", "orders:write"}},
			`Bearer error="insufficient_scope", scope="orders:read orders:write"`,
		},
		{
			"invalid scope tokens are left out",
			Challenge{Error: CodeInsufficientScope, Scopes: []string{"a b", `q"`, "", `back\slash`, "ok", "é"}},
			`Bearer error="insufficient_scope", scope="ok"`,
		},
		{
			"no valid scope: no parameter",
			Challenge{Error: CodeInsufficientScope, Scopes: []string{"a b"}},
			`Bearer error="insufficient_scope"`,
		},
		{
			"RFC 9728 5.1 resource_metadata",
			Challenge{ResourceMetadata: "https://resource.example.com/.well-known/oauth-protected-resource"},
			`Bearer resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource"`,
		},
		{
			"RFC 9449 7.1 algs",
			Challenge{Scheme: SchemeDPoP, Algs: []string{"ES256", "PS256"}},
			`DPoP algs="ES256 PS256"`,
		},
		{
			"RFC 9449 7.1 invalid token",
			Challenge{Scheme: SchemeDPoP, Error: CodeInvalidToken, Description: "Invalid DPoP key binding", Algs: []string{"ES256"}},
			`DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"`,
		},
		{
			"algs only for DPoP",
			Challenge{Algs: []string{"ES256"}},
			`Bearer`,
		},
		{
			"nonce is not a parameter",
			Challenge{Scheme: SchemeDPoP, Error: CodeUseDPoPNonce, Nonce: "n-1"},
			`DPoP error="use_dpop_nonce"`,
		},
		{
			"realm quotes and backslashes are escaped",
			Challenge{Realm: `a "b" \c`},
			`Bearer realm="a \"b\" \\c"`,
		},
		{
			"CR LF cannot split the header",
			Challenge{Realm: "a\r\nX-Evil: 1", Description: "b\r\nSet-Cookie: x", ResourceMetadata: "https://x/\n"},
			`Bearer realm="a??X-Evil: 1", error_description="b??Set-Cookie: x", resource_metadata="https://x/?"`,
		},
		{
			"description charset of RFC 6750",
			Challenge{Error: CodeInvalidToken, Description: `say "hi" \ é` + "\x00\x7f"},
			`Bearer error="invalid_token", error_description="say 'hi' / ????"`,
		},
		{
			"description is bounded",
			Challenge{Description: strings.Repeat("x", 300)},
			`Bearer error_description="` + strings.Repeat("x", maxDescription) + `"`,
		},
		{
			"unknown scheme is Bearer",
			Challenge{Scheme: "Basic"},
			`Bearer`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestWriteChallenge(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteChallenge(rec, Challenge{Realm: "api"})
	WriteChallenge(rec, Challenge{Scheme: SchemeDPoP, Error: CodeUseDPoPNonce, Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v"})
	if got, want := rec.Header().Values("WWW-Authenticate"), []string{`Bearer realm="api"`, `DPoP error="use_dpop_nonce"`}; !slices.Equal(got, want) {
		t.Errorf("WWW-Authenticate %q, want %q", got, want)
	}
	if got := rec.Header().Get("DPoP-Nonce"); got != "eyJ7S_zG.eyJH0-Z.HX4w-7v" {
		t.Errorf("DPoP-Nonce %q", got)
	}
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("WriteChallenge wrote a status or body")
	}

	for _, bad := range []string{"a b", "a\r\nb", `a"b`, "é"} {
		rec := httptest.NewRecorder()
		WriteChallenge(rec, Challenge{Scheme: SchemeDPoP, Nonce: bad})
		if got := rec.Header().Get("DPoP-Nonce"); got != "" {
			t.Errorf("nonce %q was sent as %q", bad, got)
		}
	}
}

// parseChallenge is a strict parser of one challenge as RFC 9110 §11.6.1
// defines it, with quoted-string values only: the test's independent view
// of what String produces.
func parseChallenge(s string) (scheme string, params map[string]string, ok bool) {
	scheme, rest, _ := strings.Cut(s, " ")
	params = map[string]string{}
	for rest != "" {
		name, after, found := strings.Cut(rest, `="`)
		if !found || name == "" || strings.ContainsAny(name, " ,\"") {
			return "", nil, false
		}
		var v strings.Builder
		i := 0
		for ; i < len(after); i++ {
			c := after[i]
			if c == '\\' && i+1 < len(after) {
				i++
				v.WriteByte(after[i])
				continue
			}
			if c == '"' {
				break
			}
			if c < 0x20 || c > 0x7e {
				return "", nil, false
			}
			v.WriteByte(c)
		}
		if i == len(after) {
			return "", nil, false
		}
		if _, dup := params[name]; dup {
			return "", nil, false
		}
		params[name] = v.String()
		rest = after[i+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ", ") {
				return "", nil, false
			}
			rest = rest[2:]
		}
	}
	return scheme, params, true
}

// FuzzChallenge checks that no value can break a challenge apart: the
// output always parses back, and printable values come back unchanged.
func FuzzChallenge(f *testing.F) {
	f.Add("example", "invalid_token", "The access token expired", "read write", "https://x/.well-known/oauth-protected-resource", "ES256", true)
	f.Add(`a"b\`, "x\r\ny", "é\x00", `s"1 s2`, "\n", "", false)
	f.Fuzz(func(t *testing.T, realm, code, desc, scope, meta, alg string, dpop bool) {
		c := Challenge{Realm: realm, Error: code, Description: desc, Scopes: strings.Split(scope, " "), ResourceMetadata: meta, Algs: []string{alg}}
		if dpop {
			c.Scheme = SchemeDPoP
		}
		s := c.String()
		scheme, params, ok := parseChallenge(s)
		if !ok {
			t.Fatalf("%q does not parse", s)
		}
		if want := map[bool]string{true: SchemeDPoP, false: SchemeBearer}[dpop]; scheme != want {
			t.Fatalf("scheme %q, want %q", scheme, want)
		}
		if printableASCII(realm) && realm != "" && params["realm"] != realm {
			t.Fatalf("realm %q came back as %q", realm, params["realm"])
		}
		if printableASCII(meta) && meta != "" && params["resource_metadata"] != meta {
			t.Fatalf("resource_metadata %q came back as %q", meta, params["resource_metadata"])
		}
		for _, name := range []string{"error", "error_description", "scope", "algs"} {
			if strings.ContainsAny(params[name], "\"\\") {
				t.Fatalf("%s %q holds a character RFC 6750 forbids", name, params[name])
			}
		}
		for _, sc := range strings.Fields(params["scope"]) {
			if !slices.Contains(c.Scopes, sc) {
				t.Fatalf("scope %q was not asked for", sc)
			}
		}
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
