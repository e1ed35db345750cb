package authz

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
)

// TestParseDPoPJKT: dpop_jkt (RFC 9449 §10) is a base64url SHA-256
// thumbprint; anything else is invalid_request at the redirect URI, and a
// valid one travels in the sealed request.
func TestParseDPoPJKT(t *testing.T) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	client := oneClient{ID: "web", RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid"}, TokenEndpointAuthMethod: oauth.AuthSecretBasic}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	parse := func(jkt *string) (*Request, error) {
		q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s1"},
			"redirect_uri": {"https://app.example/cb"}}
		if jkt != nil {
			q.Set("dpop_jkt", *jkt)
		}
		req, _, err := Parse(t.Context(), q, client, now, time.Minute)
		return req, err
	}
	for _, tc := range []struct {
		name string
		jkt  *string
		want string
	}{
		{"absent", nil, ""},
		{"thumbprint", ptr(jkt), jkt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parse(tc.jkt)
			if err != nil || req.DPoPJKT != tc.want {
				t.Fatalf("DPoPJKT %v, %v; want %q", req, err, tc.want)
			}
		})
	}
	for _, bad := range []string{
		"",
		jkt[:42],
		jkt + "A",
		strings.Replace(jkt, "-", "+", 1), // base64, not base64url
		jkt[:42] + "J",                    // non-zero padding bits
		strings.Replace(jkt, "0", "=", 1), // padding
		strings.Replace(jkt, "0", "%", 1), // not base64 at all
		strings.Replace(jkt, "0", " ", 1), // space
	} {
		t.Run("refused "+bad, func(t *testing.T) {
			_, err := parse(&bad)
			var re *RedirectError
			if !errors.As(err, &re) || re.Code != oauth.CodeInvalidRequest || re.State != "s1" {
				t.Fatalf("err = %v, want invalid_request at the redirect URI", err)
			}
			if !strings.Contains(re.Location("https://as.example"), "error=invalid_request") {
				t.Fatalf("location %q", re.Location("https://as.example"))
			}
		})
	}
	t.Run("sealed", func(t *testing.T) {
		req, err := parse(ptr(jkt))
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSealer(make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := s.Seal(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Open(sealed, now)
		if err != nil || got.DPoPJKT != jkt {
			t.Fatalf("opened %+v, %v", got, err)
		}
	})
}

func ptr(s string) *string { return &s }

// FuzzParseDPoPJKT: whatever dpop_jkt holds, Parse either refuses it with
// a RedirectError (a PageError when too long) or keeps exactly a 43-character base64url value.
func FuzzParseDPoPJKT(f *testing.F) {
	f.Add("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
	f.Add("")
	f.Add(strings.Repeat("A", maxParam+1))
	f.Add("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J")
	client := oneClient{ID: "web", RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid"}, TokenEndpointAuthMethod: oauth.AuthSecretBasic}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, jkt string) {
		q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "scope": {"openid"}, "dpop_jkt": {jkt}}
		req, _, err := Parse(context.Background(), q, client, now, time.Minute)
		if err != nil {
			var re *RedirectError
			var pe *PageError // too long: refused before anything else
			if !errors.As(err, &re) && !(errors.As(err, &pe) && len(jkt) > maxParam) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		if req.DPoPJKT != jkt || len(jkt) != 43 || strings.ContainsAny(jkt, "+/= ") {
			t.Fatalf("accepted %q as %q", jkt, req.DPoPJKT)
		}
	})
}
