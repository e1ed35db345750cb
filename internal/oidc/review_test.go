package oidc

import (
	"slices"
	"testing"
)

// TestClaimsBeyondScopes: the claims a claims request adds to what the
// scopes release, which the consent page must show. Every claim it names
// must be one Release would release without the scope, and every claim
// Release adds beyond the scopes must be named.
func TestClaimsBeyondScopes(t *testing.T) {
	u := fullUser()
	for _, tc := range []struct {
		name   string
		claims string
		scopes []string
		want   []string
	}{
		{"none", ``, []string{"openid"}, nil},
		{"standard claims of no scope", `{"id_token":{"phone_number":null},"userinfo":{"email":null}}`, []string{"openid"}, []string{"email", "phone_number"}},
		{"covered by a scope", `{"id_token":{"email":null,"email_verified":null}}`, []string{"openid", "email"}, nil},
		{"attribute", `{"userinfo":{"department":null}}`, []string{"openid"}, []string{"department"}},
		{"attribute named like a scope", `{"id_token":{"department":null}}`, []string{"openid", "department"}, nil},
		{"protocol claims", `{"id_token":{"auth_time":{"essential":true},"acr":null,"sub":null,"nonce":null}}`, []string{"openid"}, nil},
		{"folded standard name", `{"userinfo":{"Email":null}}`, []string{"openid"}, nil},
		{"both targets, once", `{"id_token":{"address":null},"userinfo":{"address":null}}`, []string{"openid"}, []string{"address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseClaimsRequest(tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			got := ClaimsBeyondScopes(req, tc.scopes)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ClaimsBeyondScopes = %v, want %v", got, tc.want)
			}
			// What Release adds to the scopes' release is named.
			for _, target := range []Target{TargetIDToken, TargetUserInfo} {
				base := Release(u, tc.scopes, nil, TargetUserInfo)
				for name := range Release(u, tc.scopes, req, target) {
					if _, ok := base[name]; !ok && !slices.Contains(got, name) && !covered(name, tc.scopes) {
						t.Errorf("%s: %q released beyond the scopes but not named", target, name)
					}
				}
			}
		})
	}
}
