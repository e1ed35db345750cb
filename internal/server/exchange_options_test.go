package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const partnerIssuer = "https://partner.example.test"

// partnerTokens is a grant.ExternalTokens trusting one partner key for
// token exchange.
type partnerTokens struct{ v *jwt.Verifier }

func (p partnerTokens) Verify(ctx context.Context, raw, use string, _ []string) (*jwt.Token, *store.TrustedIssuer, error) {
	if use != store.TrustSubjectToken {
		return nil, nil, grant.ErrUntrustedIssuer
	}
	tok, err := p.v.Verify(ctx, raw)
	if errors.Is(err, jwt.ErrIssuer) {
		return nil, nil, grant.ErrUntrustedIssuer
	}
	if err != nil {
		return nil, nil, err
	}
	return tok, &store.TrustedIssuer{Issuer: partnerIssuer, Uses: []string{store.TrustSubjectToken}}, nil
}

// stubIDJAG records what it was asked and answers a fixed token.
type stubIDJAG struct{ got chan grant.IDJAGRequest }

func (s stubIDJAG) IssueIDJAG(_ context.Context, req grant.IDJAGRequest) (string, int64, error) {
	s.got <- req
	return "id-jag-token", 300, nil
}

// TestTokenExchangeOptions: Options.ExternalTokens admits a trusted
// partner's subject tokens for the clients whose policy names the
// partner; Options.IDJAG answers requested_token_type id-jag.
func TestTokenExchangeOptions(t *testing.T) {
	base := newEnv(t, envOptions{})
	base.HTTP.Close()
	partner, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(partner.Public())), jwt.Config{Issuer: partnerIssuer, SkipAudienceCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	jag := stubIDJAG{got: make(chan grant.IDJAGRequest, 1)}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := server.New(server.Options{
		Issuer: issuer, Store: base.Store, Ring: base.Ring, Hasher: base.Hasher, Now: base.Clock.Now,
		ExternalTokens: partnerTokens{pv}, IDJAG: jag,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	e := *base
	e.Issuer, e.Server, e.HTTP, e.Client = issuer, srv, ts, ts.Client()

	trusting := e.addConfidential(t, "svc-trusting", withGrants(grant.TypeTokenExchange), withScopes(scopeRead),
		withAudiences(audServiceA, audServiceB), withExchange(&store.ExchangePolicy{
			SubjectIssuers: []string{partnerIssuer}, IDJAGAudiences: []string{"https://as.partner.example.test"},
		}))
	plain := e.addConfidential(t, "svc-plain", withGrants(grant.TypeTokenExchange), withScopes(scopeRead),
		withAudiences(audServiceA, audServiceB))

	claims, _ := json.Marshal(map[string]any{"iss": partnerIssuer, "sub": "bob", "aud": audServiceA, "scope": scopeRead,
		"exp": e.Clock.Now().Add(time.Hour).Unix()})
	subject, err := jose.Sign(partner, claims, &jose.SignOptions{Type: "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {grant.TypeTokenExchange}, "subject_token": {subject}, "subject_token_type": {grant.TokenTypeJWT}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	resp := e.post(t, server.PathToken, form("audience", audServiceB), basic("svc-trusting", trusting))
	if resp.Status != http.StatusOK {
		t.Fatalf("partner subject: %s", resp)
	}
	var xr exchangeResponse
	decodeJSON(t, resp.Body, &xr)
	c, _ := verifyAccessToken(t, &e, xr.AccessToken, audServiceB)
	if c.Sub != "bob" || c.Scope != scopeRead {
		t.Fatalf("claims %+v", c)
	}
	d, err := e.Store.GetDelegation(context.Background(), jsonString(t, payloadOf(t, xr.AccessToken)["delegation_id"]))
	if err != nil || d.SubjectIssuer != partnerIssuer || d.Subject != "bob" {
		t.Fatalf("delegation %+v (%v)", d, err)
	}
	wantOAuthError(t, e.post(t, server.PathToken, form("audience", audServiceB), basic("svc-plain", plain)), http.StatusBadRequest, oauth.CodeInvalidRequest)

	// An ID-JAG asserts a user of this issuer by sub: never the partner's
	// bob, who is not writ's.
	wantOAuthError(t, e.post(t, server.PathToken, form("requested_token_type", grant.TokenTypeIDJAG, "audience", "https://as.partner.example.test"),
		basic("svc-trusting", trusting)), http.StatusBadRequest, oauth.CodeInvalidRequest)
	e.addStoreUser(t, "bob")
	subject = signAccessToken(t, &e, "svc-plain", "bob", map[string]any{"aud": audServiceA})
	form = func(kv ...string) url.Values {
		v := url.Values{"grant_type": {grant.TypeTokenExchange}, "subject_token": {subject}, "subject_token_type": {grant.TokenTypeAccessToken}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	resp = e.post(t, server.PathToken, form("requested_token_type", grant.TokenTypeIDJAG, "audience", "https://as.partner.example.test"),
		basic("svc-trusting", trusting))
	if resp.Status != http.StatusOK {
		t.Fatalf("id-jag: %s", resp)
	}
	decodeJSON(t, resp.Body, &xr)
	got := <-jag.got
	if xr.IssuedTokenType != grant.TokenTypeIDJAG || xr.TokenType != "N_A" || xr.AccessToken != "id-jag-token" ||
		got.Subject != "bob" || got.Audience != "https://as.partner.example.test" || got.Client.ID != "svc-trusting" {
		t.Fatalf("response %+v, request %+v", xr, got)
	}
	wantOAuthError(t, e.post(t, server.PathToken, form("requested_token_type", grant.TokenTypeIDJAG, "audience", "https://elsewhere.example.test"),
		basic("svc-trusting", trusting)), http.StatusBadRequest, oauth.CodeInvalidTarget)
}

func jsonString(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a string: %v", raw, err)
	}
	return s
}
