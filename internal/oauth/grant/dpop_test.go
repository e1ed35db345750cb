package grant_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const (
	jktA = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	jktB = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// dpopFixture is the user-facing grants on store s, with a confidential
// client "web" and a public client "spa".
func dpopFixture(t *testing.T, s store.Store, format string) *fixture {
	t.Helper()
	f := newFixture(t, s, format)
	spa := f.client
	spa.ID, spa.TokenEndpointAuthMethod, spa.FirstParty = "spa", oauth.AuthNone, true
	if err := s.CreateClient(t.Context(), spa); err != nil {
		t.Fatal(err)
	}
	return f
}

// codeFor stores a PKCE-bound code of alice for clientID.
func (f *fixture) codeFor(t *testing.T, clientID string) string {
	t.Helper()
	code := f.newCode(t)
	ac, err := f.s.GetAuthCode(t.Context(), opaque.Hash(code))
	if err != nil {
		t.Fatal(err)
	}
	if clientID == ac.ClientID {
		return code
	}
	code, ac.Hash = opaque.New(opaque.CodePrefix)
	ac.ClientID = clientID
	if err := f.s.CreateAuthCode(t.Context(), ac); err != nil {
		t.Fatal(err)
	}
	return code
}

func authed(c store.Client) *oauth.Authenticated {
	m := c.TokenEndpointAuthMethod
	return &oauth.Authenticated{Client: c, Method: m}
}

// cnfJKT returns the cnf.jkt of an access token, JWT (its signature is
// not checked here) or opaque.
func cnfJKT(t *testing.T, s store.Store, access string) string {
	t.Helper()
	return cnfOf(t, s, access)["jkt"]
}

func TestDPoPBindsCodeAndRefresh(t *testing.T) {
	for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
		t.Run(format, func(t *testing.T) {
			backends(t, func(t *testing.T, js store.Store) {
				testDPoPBindsCodeAndRefresh(t, js, format)
			})
		})
	}
}

func testDPoPBindsCodeAndRefresh(t *testing.T, js store.Store, format string) {
	f := dpopFixture(t, js, format)
	var logBuf syncBuffer
	f.code.Logger = slog.New(slog.NewJSONHandler(&logBuf, nil))
	ctx := t.Context()
	spa, err := js.GetClient(ctx, "spa")
	if err != nil {
		t.Fatal(err)
	}
	redeem := func(c store.Client, jkt string) *grant.Response {
		t.Helper()
		fm := form("code", f.codeFor(t, c.ID), "redirect_uri", "https://app.test/cb", "code_verifier", verifier)
		resp, err := f.code.Handle(ctx, &grant.Request{Form: fm, Client: authed(c), DPoPKey: jkt})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refresh := func(c store.Client, rt, jkt string) (*grant.Response, error) {
		return f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt), Client: authed(c), DPoPKey: jkt})
	}

	t.Run("without a proof: Bearer, not bound", func(t *testing.T) {
		resp := redeem(spa, "")
		if resp.TokenType != "Bearer" || cnfJKT(t, js, resp.AccessToken) != "" {
			t.Fatalf("token_type %q, cnf %q", resp.TokenType, cnfJKT(t, js, resp.AccessToken))
		}
		if _, err := refresh(spa, resp.RefreshToken, ""); err != nil {
			t.Fatalf("unbound refresh: %v", err)
		}
	})

	t.Run("public client: access and refresh bound", func(t *testing.T) {
		resp := redeem(spa, jktA)
		if resp.TokenType != "DPoP" || cnfJKT(t, js, resp.AccessToken) != jktA {
			t.Fatalf("token_type %q, cnf %q", resp.TokenType, cnfJKT(t, js, resp.AccessToken))
		}
		// Refusals have no effect: the token still rotates after them.
		for _, tc := range []struct{ name, jkt string }{{"no proof", ""}, {"another key", jktB}} {
			_, err := refresh(spa, resp.RefreshToken, tc.jkt)
			wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		}
		next, err := refresh(spa, resp.RefreshToken, jktA)
		if err != nil {
			t.Fatal(err)
		}
		if next.TokenType != "DPoP" || cnfJKT(t, js, next.AccessToken) != jktA {
			t.Fatalf("refreshed: token_type %q, cnf %q", next.TokenType, cnfJKT(t, js, next.AccessToken))
		}
		// The family stays bound.
		_, err = refresh(spa, next.RefreshToken, jktB)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		// A reuse of the rotated token without the key revokes nothing.
		_, err = refresh(spa, resp.RefreshToken, "")
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		if f.refreshRevoked(t, next.RefreshToken) {
			t.Fatal("a keyless reuse revoked the family")
		}
		logs := logBuf.String()
		if !strings.Contains(logs, `"msg":"DPoP-bound refresh token presented without a proof by its key"`) ||
			strings.Contains(logs, resp.RefreshToken) {
			t.Errorf("security log:\n%s", logs)
		}
	})

	t.Run("confidential client: access bound, refresh not", func(t *testing.T) {
		resp := redeem(f.client, jktA)
		if resp.TokenType != "DPoP" || cnfJKT(t, js, resp.AccessToken) != jktA {
			t.Fatalf("token_type %q, cnf %q", resp.TokenType, cnfJKT(t, js, resp.AccessToken))
		}
		next, err := refresh(f.client, resp.RefreshToken, jktB)
		if err != nil {
			t.Fatal(err)
		}
		if next.TokenType != "DPoP" || cnfJKT(t, js, next.AccessToken) != jktB {
			t.Fatalf("refreshed with key B: token_type %q, cnf %q", next.TokenType, cnfJKT(t, js, next.AccessToken))
		}
		last, err := refresh(f.client, next.RefreshToken, "")
		if err != nil {
			t.Fatal(err)
		}
		if last.TokenType != "Bearer" || cnfJKT(t, js, last.AccessToken) != "" {
			t.Fatalf("refreshed without proof: token_type %q", last.TokenType)
		}
	})
}

func TestDPoPBoundCode(t *testing.T) {
	backends(t, func(t *testing.T, js store.Store) {
		f := dpopFixture(t, js, store.AccessTokenJWT)
		ctx := t.Context()
		spa, err := js.GetClient(ctx, "spa")
		if err != nil {
			t.Fatal(err)
		}
		// A code bound with dpop_jkt (RFC 9449 §10).
		ac, err := js.GetAuthCode(ctx, opaque.Hash(f.codeFor(t, spa.ID)))
		if err != nil {
			t.Fatal(err)
		}
		var code string
		code, ac.Hash = opaque.New(opaque.CodePrefix)
		ac.DPoPJKT = jktA
		if err := js.CreateAuthCode(ctx, ac); err != nil {
			t.Fatal(err)
		}
		redeem := func(jkt string) (*grant.Response, error) {
			fm := form("code", code, "redirect_uri", "https://app.test/cb", "code_verifier", verifier)
			return f.code.Handle(ctx, &grant.Request{Form: fm, Client: authed(spa), DPoPKey: jkt})
		}
		for _, jkt := range []string{"", jktB} {
			_, err := redeem(jkt)
			wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		}
		// The refusals consumed nothing.
		resp, err := redeem(jktA)
		if err != nil {
			t.Fatalf("with the bound key: %v", err)
		}
		if resp.TokenType != "DPoP" || cnfJKT(t, js, resp.AccessToken) != jktA {
			t.Fatalf("token_type %q, cnf %q", resp.TokenType, cnfJKT(t, js, resp.AccessToken))
		}
		// A replay with another key revokes nothing either.
		_, err = redeem(jktB)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		if f.refreshRevoked(t, resp.RefreshToken) {
			t.Fatal("a replay without the key revoked what the code issued")
		}
	})
}

// TestDPoPBoundAccessTokensRefresh: a confidential client registered with
// dpop_bound_access_tokens has its refresh tokens bound too (RFC 9449 §5),
// and the binding survives rotation.
func TestDPoPBoundAccessTokensRefresh(t *testing.T) {
	backends(t, func(t *testing.T, js store.Store) {
		f := dpopFixture(t, js, store.AccessTokenOpaque)
		ctx := t.Context()
		web, err := js.UpdateClient(ctx, f.client.ID, func(c store.Client) (store.Client, error) {
			c.DPoPBoundAccessTokens = true
			return c, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		fm := form("code", f.codeFor(t, web.ID), "redirect_uri", "https://app.test/cb", "code_verifier", verifier)
		resp, err := f.code.Handle(ctx, &grant.Request{Form: fm, Client: authed(web), DPoPKey: jktA})
		if err != nil {
			t.Fatal(err)
		}
		rt := resp.RefreshToken
		for i := range 2 {
			for _, jkt := range []string{"", jktB} {
				_, err := f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt), Client: authed(web), DPoPKey: jkt})
				wantOAuthCode(t, err, oauth.CodeInvalidGrant)
			}
			next, err := f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt), Client: authed(web), DPoPKey: jktA})
			if err != nil {
				t.Fatalf("rotation %d: %v", i, err)
			}
			if next.TokenType != "DPoP" || cnfJKT(t, js, next.AccessToken) != jktA {
				t.Fatalf("rotation %d: token_type %q, cnf %q", i, next.TokenType, cnfJKT(t, js, next.AccessToken))
			}
			rt = next.RefreshToken
		}
	})
}

func TestDPoPClientCredentials(t *testing.T) {
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens := &memTokens{}
	g := &grant.ClientCredentials{
		Minter:          mint.New("https://as.test", staticSigner{key}, tokens, func() time.Time { return now }),
		DefaultAudience: "https://api.test", DefaultTTL: time.Minute,
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer: "https://as.test", SkipAudienceCheck: true, Type: jwt.TypeAccessToken, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := store.Client{ID: "svc", GrantTypes: []string{grant.TypeClientCredentials}, Scopes: []string{"read"},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic}
	for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
		c.AccessTokenFormat = format
		resp, err := g.Handle(t.Context(), &grant.Request{Form: form(), Client: authed(c), DPoPKey: jktA})
		if err != nil {
			t.Fatal(err)
		}
		if resp.TokenType != "DPoP" {
			t.Errorf("%s: token_type %q", format, resp.TokenType)
		}
		var got string
		if format == store.AccessTokenOpaque {
			rec := tokens.recs[len(tokens.recs)-1]
			var extra struct {
				Cnf struct {
					JKT string `json:"jkt"`
				} `json:"cnf"`
			}
			if err := json.Unmarshal(rec.Extra, &extra); err != nil {
				t.Fatal(err)
			}
			got = extra.Cnf.JKT
		} else {
			tok, err := v.Verify(t.Context(), resp.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := tok.Claim("cnf")
			var cnf struct {
				JKT string `json:"jkt"`
			}
			if err := json.Unmarshal([]byte(raw), &cnf); err != nil {
				t.Fatal(err)
			}
			got = cnf.JKT
		}
		if got != jktA {
			t.Errorf("%s: cnf.jkt %q", format, got)
		}
	}
}

func TestRequireDPoP(t *testing.T) {
	agent := store.Client{ID: "agent", Agent: &store.AgentPolicy{RequireDPoP: true}}
	tests := []struct {
		name   string
		client store.Client
		jkt    string
		code   string
	}{
		{"agent without proof", agent, "", oauth.CodeInvalidDPoPProof},
		{"agent with proof", agent, jktA, ""},
		{"agent not requiring DPoP", store.Client{ID: "a", Agent: &store.AgentPolicy{}}, "", ""},
		{"dpop_bound_access_tokens without proof", store.Client{ID: "d", DPoPBoundAccessTokens: true}, "", oauth.CodeInvalidDPoPProof},
		{"dpop_bound_access_tokens with proof", store.Client{ID: "d", DPoPBoundAccessTokens: true}, jktA, ""},
		{"plain client", store.Client{ID: "c"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := grant.RequireDPoP(&grant.Request{Client: &oauth.Authenticated{Client: tc.client}, DPoPKey: tc.jkt})
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantOAuthCode(t, err, tc.code)
		})
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
