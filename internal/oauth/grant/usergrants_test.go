package grant_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/jose"
)

var testNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// backends runs fn on a migrated SQLite file store and, when reachable, on
// a PostgreSQL database of its own.
func backends(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "writ.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		pgtest.Require(t)
		s, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
}

// fixture is a client, a user with consent, and the two user-facing grants
// on store s.
type fixture struct {
	s       store.Store
	client  store.Client
	code    *grant.AuthorizationCode
	refresh *grant.RefreshToken
}

func newFixture(t testing.TB, s store.Store, format string) *fixture {
	t.Helper()
	ctx := t.Context()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	c := store.Client{
		ID: "web", RedirectURIs: []string{"https://app.test/cb"}, Scopes: []string{"openid", "read", "write", "offline_access"},
		GrantTypes:              []string{grant.TypeAuthorizationCode, grant.TypeRefreshToken},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic, AccessTokenFormat: format, CreatedAt: testNow, UpdatedAt: testNow,
	}
	for _, err := range []error{
		s.CreateClient(ctx, c),
		s.CreateUser(ctx, store.User{ID: "alice", Username: "alice", CreatedAt: testNow, UpdatedAt: testNow}),
		s.PutConsent(ctx, store.Consent{UserID: "alice", ClientID: "web", Scopes: []string{"read", "write", "offline_access"}, GrantedAt: testNow, UpdatedAt: testNow}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return testNow }
	tokens := &grant.Tokens{
		Minter: mint.New("https://as.test", staticSigner{key}, s, now), AccessTTL: 10 * time.Minute,
		RefreshTTL: time.Hour, RefreshMaxTTL: 24 * time.Hour, Now: now,
	}
	return &fixture{
		s: s, client: c,
		code:    &grant.AuthorizationCode{Tokens: tokens, Store: s, DefaultAudience: "https://as.test"},
		refresh: &grant.RefreshToken{Tokens: tokens, Store: s},
	}
}

const verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"

// newCode stores a PKCE-bound code for alice at web and returns it.
func (f *fixture) newCode(t testing.TB) string {
	t.Helper()
	code, hash := opaque.New(opaque.CodePrefix)
	sum := sha256.Sum256([]byte(verifier))
	err := f.s.CreateAuthCode(t.Context(), store.AuthCode{
		Hash: hash, ClientID: "web", UserID: "alice", RedirectURI: "https://app.test/cb",
		Scopes: []string{"openid", "read", "offline_access"}, CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]),
		CodeChallengeMethod: "S256", AuthTime: testNow, CreatedAt: testNow, ExpiresAt: testNow.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// rotate presents refresh token rt as web.
func (f *fixture) rotate(ctx context.Context, rt string) (*grant.Response, error) {
	return f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt),
		Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
}

func (f *fixture) redeem(ctx context.Context, client store.Client, code string, kv ...string) (*grant.Response, error) {
	params := map[string]string{"code": code, "redirect_uri": "https://app.test/cb", "code_verifier": verifier}
	for i := 0; i < len(kv); i += 2 {
		params[kv[i]] = kv[i+1]
	}
	var pairs []string
	for k, v := range params {
		pairs = append(pairs, k, v)
	}
	fm := form(pairs...)
	return f.code.Handle(ctx, &grant.Request{Form: fm, Client: &oauth.Authenticated{Client: client, Method: oauth.AuthSecretBasic}})
}

// accessRevoked reports whether the access token of resp is revoked (by
// jti for a JWT, by its record for an opaque one).
func (f *fixture) accessRevoked(t *testing.T, access string) bool {
	t.Helper()
	if opaque.IsAccessToken(access) {
		rec, err := f.s.GetToken(t.Context(), opaque.Hash(access))
		if err != nil {
			t.Fatal(err)
		}
		return rec.Revoked
	}
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is neither opaque nor a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.JTI == "" {
		t.Fatalf("no jti in the access token: %v", err)
	}
	revoked, err := f.s.IsJTIRevoked(t.Context(), claims.JTI)
	if err != nil {
		t.Fatal(err)
	}
	return revoked
}

func (f *fixture) refreshRevoked(t *testing.T, rt string) bool {
	t.Helper()
	r, err := f.s.GetRefreshToken(t.Context(), opaque.Hash(rt))
	if err != nil {
		t.Fatal(err)
	}
	return r.Revoked
}

// TestCodeValidatedBeforeConsumed: a request that fails validation
// neither consumes the code nor revokes anything; the legitimate
// redemption afterwards succeeds, and a later replay revokes exactly what
// it issued.
func TestCodeValidatedBeforeConsumed(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		other := store.Client{ID: "other", Scopes: f.client.Scopes, GrantTypes: f.client.GrantTypes}
		if err := s.CreateClient(ctx, other); err != nil {
			t.Fatal(err)
		}
		// An earlier grant of alice at web, which no replay may touch.
		earlier, err := f.redeem(ctx, f.client, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		code := f.newCode(t)
		bad := map[string]func() (*grant.Response, error){
			"another client": func() (*grant.Response, error) { return f.redeem(ctx, other, code) },
			"wrong verifier": func() (*grant.Response, error) {
				return f.redeem(ctx, f.client, code, "code_verifier", "x"+verifier[1:])
			},
			"wrong redirect": func() (*grant.Response, error) {
				return f.redeem(ctx, f.client, code, "redirect_uri", "https://app.test/cb2")
			},
		}
		for name, try := range bad {
			_, err := try()
			wantOAuthCode(t, err, oauth.CodeInvalidGrant)
			ac, err := s.GetAuthCode(ctx, opaque.Hash(code))
			if err != nil {
				t.Fatal(err)
			}
			if !ac.UsedAt.IsZero() {
				t.Fatalf("%s consumed the code", name)
			}
		}
		resp, err := f.redeem(ctx, f.client, code)
		if err != nil {
			t.Fatalf("the legitimate redemption after failed ones: %v", err)
		}
		if resp.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		// A failed replay (another client) revokes nothing either.
		_, err = f.redeem(ctx, other, code)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		if f.accessRevoked(t, resp.AccessToken) || f.refreshRevoked(t, resp.RefreshToken) {
			t.Fatal("a replay by another client revoked the tokens")
		}
		// A valid replay revokes exactly what the code issued.
		_, err = f.redeem(ctx, f.client, code)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		if !f.accessRevoked(t, resp.AccessToken) || !f.refreshRevoked(t, resp.RefreshToken) {
			t.Error("the replay left the code's tokens active")
		}
		if f.accessRevoked(t, earlier.AccessToken) || f.refreshRevoked(t, earlier.RefreshToken) {
			t.Error("the replay revoked another grant of the same user and client")
		}
	})
}

// TestCodeReplayRace races many redemptions of one code: exactly one wins,
// and the winner's access token and refresh family end up revoked, since
// replays happened.
func TestCodeReplayRace(t *testing.T) {
	for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
		t.Run(format, func(t *testing.T) {
			backends(t, func(t *testing.T, s store.Store) {
				f := newFixture(t, s, format)
				const workers = 32
				for round := range 3 {
					code := f.newCode(t)
					var wg sync.WaitGroup
					start := make(chan struct{})
					resps := make(chan *grant.Response, workers)
					errs := make(chan error, workers)
					for range workers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							resp, err := f.redeem(t.Context(), f.client, code)
							if err != nil {
								errs <- err
								return
							}
							resps <- resp
						}()
					}
					close(start)
					wg.Wait()
					close(resps)
					close(errs)
					var won []*grant.Response
					for r := range resps {
						won = append(won, r)
					}
					for err := range errs {
						var e *oauth.Error
						if !errors.As(err, &e) || e.Code != oauth.CodeInvalidGrant {
							t.Errorf("round %d: a losing redemption: %v", round, err)
						}
					}
					if len(won) != 1 {
						t.Fatalf("round %d: %d redemptions won, want 1", round, len(won))
					}
					if !f.accessRevoked(t, won[0].AccessToken) || !f.refreshRevoked(t, won[0].RefreshToken) {
						t.Errorf("round %d: the winner's tokens survived %d replays", round, workers-1)
					}
				}
			})
		})
	}
}

// TestRefreshRevocationRevokesAccess: revoking a refresh family (RFC 7009
// §2.1) revokes the access tokens issued under it, by the code and by
// each rotation.
func TestRefreshRevocationRevokesAccess(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
			f := newFixture(t, s, format)
			ctx := t.Context()
			first, err := f.redeem(ctx, f.client, f.newCode(t))
			if err != nil {
				t.Fatal(err)
			}
			second, err := f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", first.RefreshToken),
				Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
			if err != nil {
				t.Fatal(err)
			}
			rt, err := s.GetRefreshToken(ctx, opaque.Hash(second.RefreshToken))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
				t.Fatal(err)
			}
			for i, at := range []string{first.AccessToken, second.AccessToken} {
				if !f.accessRevoked(t, at) {
					t.Errorf("%s: access token %d of the revoked family is active", format, i)
				}
			}
			// Clean up for the next format on the same store.
			for _, err := range []error{s.DeleteClient(ctx, "web")} {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.DeleteUser(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestRefreshNarrowsToRegisteredScopes: a refresh never grants a scope the
// client is no longer registered for; with none left it is invalid_scope.
func TestRefreshNarrowsToRegisteredScopes(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		first, err := f.redeem(ctx, f.client, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		narrowed := f.client
		narrowed.Scopes = []string{"openid", "offline_access", "write"}
		refresh := func(c store.Client, rt string) (*grant.Response, error) {
			return f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt),
				Client: &oauth.Authenticated{Client: c, Method: oauth.AuthSecretBasic}})
		}
		resp, err := refresh(narrowed, first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(resp.Scope); got != "openid offline_access" {
			t.Errorf("scope after the client lost read = %q, want %q", got, "openid offline_access")
		}
		rt, err := s.GetRefreshToken(ctx, opaque.Hash(resp.RefreshToken))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(rt.Scopes, "read") {
			t.Errorf("the new refresh token keeps read: %q", rt.Scopes)
		}
		none := f.client
		none.Scopes = []string{"write"}
		_, err = refresh(none, resp.RefreshToken)
		wantOAuthCode(t, err, oauth.CodeInvalidScope)
	})
}

// TestSecurityEventsLogged: a code replay and a refresh token reuse are
// logged at warn with the client and the user, and never with the secret.
func TestSecurityEventsLogged(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		var buf bytes.Buffer
		f.code.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		ctx := t.Context()
		code := f.newCode(t)
		resp, err := f.redeem(ctx, f.client, code)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.redeem(ctx, f.client, code)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		next, err := f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", resp.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}, RequestID: "req-42"})
		if err == nil {
			t.Fatalf("a refresh token of a replayed code was accepted: %+v", next)
		}
		code2 := f.newCode(t)
		resp2, err := f.redeem(ctx, f.client, code2)
		if err != nil {
			t.Fatal(err)
		}
		req := &grant.Request{Form: form("refresh_token", resp2.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}, RequestID: "req-43"}
		if _, err := f.refresh.Handle(ctx, req); err != nil {
			t.Fatal(err)
		}
		_, err = f.refresh.Handle(ctx, req)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)

		logs := buf.String()
		for _, want := range []string{`"level":"WARN"`, `"msg":"authorization code replayed`, `"msg":"refresh token reused`,
			`"client_id":"web"`, `"user_id":"alice"`, `"request_id":"req-43"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %s:\n%s", want, logs)
			}
		}
		for _, secret := range []string{code, code2, resp.RefreshToken, resp2.RefreshToken, resp.AccessToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("a secret is in the log:\n%s", logs)
			}
		}
	})
}

// TestAgentLimitsInUserGrants: an agent's tokens live at most its
// MaxTokenTTL, and it gets and uses refresh tokens only when AllowRefresh.
func TestAgentLimitsInUserGrants(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		agent := f.client
		agent.Agent = &store.AgentPolicy{Owner: store.OwnerUser + "alice", MaxTokenTTL: time.Minute}
		resp, err := f.redeem(ctx, agent, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ExpiresIn != 60 || resp.RefreshToken != "" {
			t.Fatalf("agent without AllowRefresh: expires_in %d, refresh token %q", resp.ExpiresIn, resp.RefreshToken)
		}
		agent.Agent.AllowRefresh = true
		resp, err = f.redeem(ctx, agent, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ExpiresIn != 60 || resp.RefreshToken == "" {
			t.Fatalf("agent with AllowRefresh: expires_in %d, refresh token %q", resp.ExpiresIn, resp.RefreshToken)
		}
		refresh := func(c store.Client, rt string) (*grant.Response, error) {
			return f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt),
				Client: &oauth.Authenticated{Client: c, Method: oauth.AuthSecretBasic}})
		}
		next, err := refresh(agent, resp.RefreshToken)
		if err != nil || next.ExpiresIn != 60 {
			t.Fatalf("refresh: %v %+v", err, next)
		}
		agent.Agent.AllowRefresh = false
		_, err = refresh(agent, next.RefreshToken)
		wantOAuthCode(t, err, oauth.CodeUnauthorizedClient)
	})
}

// TestRefreshKeepsFamilyClaims: a family issued by token exchange carries
// its act chain and delegation_id (RefreshToken.Extra) into every access
// token and refresh token it rotates to; it rests on its delegation, not
// on the user's consent to the client.
func TestRefreshKeepsFamilyClaims(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenOpaque)
		ctx := t.Context()
		if err := s.DeleteConsent(ctx, "alice", "web"); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		d := store.Delegation{ID: "dlg-1", RootID: "dlg-1", ClientID: "web", Subject: "alice", SubjectIssuer: "https://as.test",
			Actors: []string{"web"}, Scopes: []string{"read"}, CreatedAt: testNow, ExpiresAt: testNow.Add(24 * time.Hour)}
		if err := s.CreateDelegation(ctx, d); err != nil {
			t.Fatal(err)
		}
		extra := json.RawMessage(`{"act":{"sub":"web","client_id":"web"},"delegation_id":"dlg-1"}`)
		value, hash := opaque.New(opaque.RefreshTokenPrefix)
		if err := s.CreateRefreshToken(ctx, store.RefreshToken{
			Hash: hash, FamilyID: "fam-x", ClientID: "web", UserID: "alice", Scopes: []string{"read"},
			Audience: []string{"https://b.test"}, DelegationID: "dlg-1", Extra: extra,
			CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour), FamilyExpiresAt: testNow.Add(24 * time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		resp, err := f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", value),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := s.GetToken(ctx, opaque.Hash(resp.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(rec.Extra, &got); err != nil || string(got["act"]) != `{"sub":"web","client_id":"web"}` || string(got["delegation_id"]) != `"dlg-1"` {
			t.Fatalf("access token claims %s (%v)", rec.Extra, err)
		}
		next, err := s.GetRefreshToken(ctx, opaque.Hash(resp.RefreshToken))
		if err != nil {
			t.Fatal(err)
		}
		if next.DelegationID != "dlg-1" || !bytes.Equal(next.Extra, extra) {
			t.Fatalf("rotated refresh token: delegation %q extra %s", next.DelegationID, next.Extra)
		}
		// Revoking the delegation revokes the family.
		if _, err := s.RevokeDelegation(ctx, "dlg-1", testNow); err != nil {
			t.Fatal(err)
		}
		_, err = f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", resp.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
	})
}

// TestInactiveUser: a code or refresh token of a user disabled since is
// refused (the code stays unused; the refresh token's family is revoked),
// with the user read together with the credential.
func TestInactiveUser(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		resp, err := f.redeem(ctx, f.client, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		code := f.newCode(t)
		if _, err := s.UpdateUser(ctx, "alice", func(u store.User) (store.User, error) {
			u.Disabled = true
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		_, err = f.redeem(ctx, f.client, code)
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !strings.Contains(oe.Description, "no longer active") {
			t.Fatalf("redemption of a disabled user's code: %v", err)
		}
		if ac, err := s.GetAuthCode(ctx, opaque.Hash(code)); err != nil || !ac.UsedAt.IsZero() {
			t.Errorf("the refused code: used at %v, %v", ac.UsedAt, err)
		}
		_, err = f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", resp.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" {
			t.Fatalf("refresh of a disabled user's token: %v", err)
		}
		if !f.refreshRevoked(t, resp.RefreshToken) {
			t.Error("the disabled user's refresh token family is not revoked")
		}
	})
}
