package server_test

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/server"
)

// TestTokenExchangeDiscovery: the metadata lists the token types token
// exchange accepts: the requested types in
// identity_chaining_requested_token_types_supported (id-jag only where
// ID-JAGs are issued), the subject and actor types in writ's own members.
func TestTokenExchangeDiscovery(t *testing.T) {
	base := newEnv(t, envOptions{})
	withJAG := func() *testEnv {
		ts := httptest.NewUnstartedServer(nil)
		issuer := "http://" + ts.Listener.Addr().String()
		srv, err := server.New(server.Options{
			Issuer: issuer, Store: base.Store, Ring: base.Ring, Hasher: base.Hasher, Now: base.Clock.Now,
			IDJAG: stubIDJAG{got: make(chan grant.IDJAGRequest, 1)},
		})
		if err != nil {
			t.Fatal(err)
		}
		ts.Config.Handler = srv.Handler()
		ts.Start()
		t.Cleanup(ts.Close)
		e := *base
		e.Issuer, e.Server, e.HTTP, e.Client = issuer, srv, ts, ts.Client()
		return &e
	}()
	presented := []string{grant.TokenTypeAccessToken, grant.TokenTypeIDToken, grant.TokenTypeJWT}
	for _, tc := range []struct {
		name      string
		e         *testEnv
		requested []string
	}{
		{"without ID-JAG", base, []string{grant.TokenTypeAccessToken, grant.TokenTypeJWT}},
		{"with ID-JAG", withJAG, []string{grant.TokenTypeAccessToken, grant.TokenTypeJWT, grant.TokenTypeIDJAG}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var md struct {
				GrantTypes []string `json:"grant_types_supported"`
				Requested  []string `json:"identity_chaining_requested_token_types_supported"`
				Subject    []string `json:"writ_subject_token_types_supported"`
				Actor      []string `json:"writ_actor_token_types_supported"`
				Profiles   []string `json:"authorization_grant_profiles_supported"`
			}
			decodeJSON(t, tc.e.get(t, server.PathASMetadata).Body, &md)
			if !slices.Contains(md.GrantTypes, grant.TypeTokenExchange) {
				t.Fatalf("grant_types_supported = %q", md.GrantTypes)
			}
			if !slices.Equal(md.Requested, tc.requested) {
				t.Errorf("identity_chaining_requested_token_types_supported = %q, want %q", md.Requested, tc.requested)
			}
			// No ExternalTokens: no jwt-bearer grant, so no ID-JAG profile
			// (internal/trust/e2e checks a node that has both).
			if slices.Contains(md.GrantTypes, grant.TypeJWTBearer) || len(md.Profiles) != 0 {
				t.Errorf("jwt-bearer advertised without trusted issuers: %q %q", md.GrantTypes, md.Profiles)
			}
			if !slices.Equal(md.Subject, presented) || !slices.Equal(md.Actor, presented) {
				t.Errorf("writ_subject_token_types_supported = %q, writ_actor_token_types_supported = %q, want %q", md.Subject, md.Actor, presented)
			}
		})
	}
}
