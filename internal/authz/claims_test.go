package authz

import (
	"context"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

type oneClient store.Client

func (c oneClient) GetClient(context.Context, string) (store.Client, error) {
	return store.Client(c), nil
}

// TestClaimsCarriedTyped: the claims parameter is parsed once, by Parse,
// and travels parsed through the sealed request.
func TestClaimsCarriedTyped(t *testing.T) {
	client := oneClient{ID: "rp", RedirectURIs: []string{"https://rp.example/cb"}, Scopes: []string{"openid", "email"},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}}
	now := time.Unix(1_800_000_000, 0)
	params := url.Values{
		"client_id": {"rp"}, "response_type": {"code"}, "scope": {"openid email"}, "redirect_uri": {"https://rp.example/cb"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"claims": {`{"userinfo":{"email":{"essential":true}},"id_token":{"nickname":{"value":"<x>"}}}`},
	}
	req, _, err := Parse(context.Background(), params, client, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if req.Claims == nil || !req.Claims.Userinfo["email"].Essential || req.Claims.IDToken["nickname"].Value != "<x>" {
		t.Fatalf("Claims = %+v", req.Claims)
	}
	s, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(req)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := s.Open(sealed, now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(opened.Claims, req.Claims) {
		t.Fatalf("after sealing: %+v, want %+v", opened.Claims, req.Claims)
	}

	params.Set("claims", `{"id_token":{"email":{"value":1,"values":[1]}}}`)
	if _, _, err := Parse(context.Background(), params, client, now, time.Minute); err == nil {
		t.Fatal("an invalid claims request was accepted")
	}
	params.Del("claims")
	if req, _, err := Parse(context.Background(), params, client, now, time.Minute); err != nil || req.Claims != nil {
		t.Fatalf("no claims: %+v, %v", req, err)
	}
}
