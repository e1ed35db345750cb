package grant_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// A writ JWT access token without a scope claim was issued no scope: an
// exchange of it gets none, never the exchanging client's whole scope.
func TestTokenExchangeScopelessSubjectDoesNotWiden(t *testing.T) {
	f := newXFixture(t)
	noScope := f.userToken(t, "https://a.test", nil, 10*time.Minute, nil)
	_, err := f.exchange(xClientA(), "", "subject_token", noScope, "subject_token_type", grant.TokenTypeAccessToken,
		"audience", "https://b.test", "scope", "write")
	wantOAuthCode(t, err, oauth.CodeInvalidScope)
	resp, err := f.exchange(xClientA(), "", "subject_token", noScope, "subject_token_type", grant.TokenTypeAccessToken,
		"audience", "https://b.test")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Scope != "" {
		t.Fatalf("scope = %q, want none", resp.Scope)
	}
}

// A token issued to an agent whose owner is gone (introspection: inactive)
// cannot be laundered through an exchange by another client, as subject or
// as actor.
func TestTokenExchangeAgentWithoutOwner(t *testing.T) {
	f := newXFixture(t)
	orphan := store.Client{ID: "agent-9", GrantTypes: []string{grant.TypeClientCredentials}, Scopes: []string{"read"},
		Audiences: []string{"https://a.test"}, Agent: &store.AgentPolicy{Owner: store.OwnerUser + "mallory"}}
	f.s.clients[orphan.ID] = orphan
	tok, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: orphan.ID, Subject: orphan.ID, Scopes: []string{"read"},
		Audience: []string{"https://a.test"}, TTL: time.Minute, Format: store.AccessTokenJWT})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.exchange(xClientA(), "", "subject_token", tok.Value, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test")
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)

	// The same agent as the actor of its own exchange.
	orphan.GrantTypes = append(orphan.GrantTypes, grant.TypeTokenExchange)
	orphan.Audiences = append(orphan.Audiences, "https://b.test")
	user := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, nil)
	_, err = f.exchange(orphan, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"actor_token", tok.Value, "actor_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test")
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)

	// With a live owner both go through.
	orphan.Agent.Owner = store.OwnerUser + "alice"
	f.s.clients[orphan.ID] = orphan
	if _, err := f.exchange(orphan, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"actor_token", tok.Value, "actor_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test"); err != nil {
		t.Fatal(err)
	}
}

// An actor token names the party that acts: one issued to another client
// (say, the bearer token an agent sent to this service) cannot make the
// exchanging client pass for that actor, whatever may_act says.
func TestTokenExchangeActorTokenOfAnotherClient(t *testing.T) {
	f := newXFixture(t)
	// alice lets only agent-7 act with her token for A.
	user := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute,
		map[string]any{"may_act": map[string]any{"sub": "agent-7"}})
	// agent-7 called service A with its own token: A holds it.
	agentTok, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "agent-7", Subject: "agent-7", Scopes: []string{"read"},
		Audience: []string{"https://a.test"}, TTL: time.Minute, Format: store.AccessTokenJWT})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.exchange(xClientA(), "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"actor_token", agentTok.Value, "actor_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test")
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)
	if len(f.s.audit) != 0 {
		t.Fatalf("audit = %+v", f.s.audit)
	}

	// agent-7 itself, with its own token as actor token, may.
	agent := xAgent()
	agent.Audiences = append(agent.Audiences, "https://a.test")
	if _, err := f.exchange(agent, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"actor_token", agentTok.Value, "actor_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test"); err != nil {
		t.Fatal(err)
	}
}

// An ID-JAG asserts a writ user to another authorization server: never
// another issuer's principal of the same name, a service, or a subject
// token acted on by someone (the act chain would be dropped).
func TestTokenExchangeIDJAGSubjects(t *testing.T) {
	f := newXFixture(t)
	jag := &fakeIDJAG{}
	g := *f.g
	g.IDJAG = jag
	c := xClientA()
	c.Exchange = &store.ExchangePolicy{IDJAGAudiences: []string{"https://as.partner.test"}, SubjectIssuers: []string{xExternal}}
	do := func(subject string) (*grant.Response, error) {
		return g.Handle(t.Context(), &grant.Request{
			Form: form("grant_type", grant.TypeTokenExchange, "subject_token", subject, "subject_token_type", grant.TokenTypeAccessToken,
				"requested_token_type", grant.TokenTypeIDJAG, "audience", "https://as.partner.test"),
			Client: &oauth.Authenticated{Client: c, Method: oauth.AuthSecretBasic},
		})
	}
	partnerAlice := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "alice", "aud": "https://a.test", "exp": f.now.Add(time.Hour).Unix()})
	acted := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"act": map[string]any{"sub": "agent-7"}})
	svc, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "web", Subject: "web", Audience: []string{"https://a.test"},
		TTL: time.Hour, Format: store.AccessTokenJWT})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"another issuer's alice": partnerAlice, "acted on": acted, "a service": svc.Value} {
		t.Run(name, func(t *testing.T) {
			jag.got = nil
			_, err := do(tok)
			wantOAuthCode(t, err, oauth.CodeInvalidRequest)
			if jag.got != nil {
				t.Fatalf("an ID-JAG was issued for %+v", jag.got)
			}
		})
	}
	if _, err := do(f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, nil)); err != nil || jag.got.Subject != "alice" {
		t.Fatalf("writ's alice: %v %+v", err, jag.got)
	}
}

// A token another client got to act for an agent (the agent is its
// subject) goes with the agent's revocation and its owner.
func TestTokenExchangeForARevokedAgent(t *testing.T) {
	f := newXFixture(t)
	ag := store.Client{ID: "agent-9", GrantTypes: []string{grant.TypeClientCredentials}, Scopes: []string{"read"},
		Audiences: []string{"https://a.test"}, Agent: &store.AgentPolicy{Owner: store.OwnerUser + "alice"}}
	f.s.clients[ag.ID] = ag
	own, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: ag.ID, Subject: ag.ID, Scopes: []string{"read"},
		Audience: []string{"https://a.test"}, TTL: 10 * time.Minute, Format: store.AccessTokenJWT})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.exchange(xClientA(), "", "subject_token", own.Value, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test")
	if err != nil {
		t.Fatal(err)
	}
	next := func() error {
		_, err := f.exchange(xAgent(), "", "subject_token", resp.AccessToken, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://c.test")
		return err
	}
	if err := next(); err != nil {
		t.Fatal(err)
	}
	ag.Agent.Owner = store.OwnerUser + "mallory" // disabled
	f.s.clients[ag.ID] = ag
	wantOAuthCode(t, next(), oauth.CodeInvalidRequest)
	ag.Agent.Owner = store.OwnerUser + "alice"
	ag.TokensRevokedBefore = f.now
	f.s.clients[ag.ID] = ag
	wantOAuthCode(t, next(), oauth.CodeInvalidRequest)
}

// FuzzTokenExchangeClaims: whatever a signed subject token carries as
// act, may_act, cnf, scope or delegation_id (any JSON, of any type or
// depth), the exchange answers with a 400 OAuth error or a token, never
// a panic or a server error.
func FuzzTokenExchangeClaims(f *testing.F) {
	for _, s := range []string{`{"sub":"svc-0"}`, `{"sub":"a","act":{"sub":"b","act":{"sub":"c"}}}`, `null`, `[1,2]`, `"x"`, `{"sub":1}`,
		`{"jkt":"abc"}`, `{"x5t#S256":"a"}`, `{}`, `{"sub":"a","act":{"act":{"act":{"act":{"act":{"sub":"z"}}}}}}`, `1e999`, `{"sub":"\u0000"}`} {
		for claim := range 5 {
			f.Add(uint8(claim), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		if !json.Valid([]byte(value)) {
			return
		}
		x := newXFixture(t)
		name := []string{"act", "may_act", "cnf", "scope", "delegation_id"}[int(which)%5]
		payload := fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":"https://a.test","exp":%d,"iat":%d,"jti":"j1","client_id":"web",%q:%s}`,
			xIssuer, x.now.Add(time.Hour).Unix(), x.now.Unix(), name, value)
		if name != "scope" {
			payload = payload[:len(payload)-1] + `,"scope":"read"}`
		}
		tok, err := jose.Sign(x.key, []byte(payload), &jose.SignOptions{Type: "at+jwt"})
		if err != nil {
			t.Skip()
		}
		_, err = x.exchange(xClientA(), "", "subject_token", tok, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test")
		if err == nil {
			return
		}
		var e *oauth.Error
		if !errors.As(err, &e) || e.Status != 400 {
			t.Fatalf("%s=%s: %v", name, value, err)
		}
	})
}

// may_act names its actor in the subject token's issuer's namespace unless
// it says iss: another issuer's principal of the same sub is not that
// actor.
func TestTokenExchangeMayActAcrossIssuers(t *testing.T) {
	f := newXFixture(t)
	c := xClientA()
	c.Exchange = &store.ExchangePolicy{SubjectIssuers: []string{xExternal}}
	user := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"may_act": map[string]any{"sub": "bot"}})
	partnerBot := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "bot", "aud": "svc-a", "exp": f.now.Add(time.Hour).Unix()})
	_, err := f.exchange(c, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"actor_token", partnerBot, "actor_token_type", grant.TokenTypeJWT, "audience", "https://b.test")
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)

	// Named with its issuer, it may act.
	user = f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"may_act": map[string]any{"sub": "bot", "iss": xExternal}})
	if _, err := f.exchange(c, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"actor_token", partnerBot, "actor_token_type", grant.TokenTypeJWT, "audience", "https://b.test"); err != nil {
		t.Fatal(err)
	}
	// A partner's subject token naming a partner actor by sub alone.
	subj := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "bob", "aud": "https://a.test", "exp": f.now.Add(time.Hour).Unix(),
		"may_act": map[string]any{"sub": "bot"}})
	if _, err := f.exchange(c, "", "subject_token", subj, "subject_token_type", grant.TokenTypeJWT,
		"actor_token", partnerBot, "actor_token_type", grant.TokenTypeJWT, "audience", "https://b.test"); err != nil {
		t.Fatal(err)
	}
}

// A DPoP-bound opaque subject token stays bound: no proof, no exchange;
// with the proof, a bound token.
func TestTokenExchangeBoundOpaqueSubject(t *testing.T) {
	f := newXFixture(t)
	jkt := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	tok, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "web", Subject: "alice", Scopes: []string{"read"},
		Audience: []string{"https://a.test"}, TTL: 10 * time.Minute, Format: store.AccessTokenOpaque,
		Extra: map[string]any{"cnf": map[string]string{"jkt": jkt}}})
	if err != nil {
		t.Fatal(err)
	}
	kv := []string{"subject_token", tok.Value, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test"}
	_, err = f.exchange(xClientA(), "", kv...)
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)
	resp, err := f.exchange(xClientA(), jkt, kv...)
	if err != nil || resp.TokenType != "DPoP" {
		t.Fatalf("%+v %v", resp, err)
	}
}
