package grant_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
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

func form(kv ...string) oauth.Form {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return oauth.NewForm(v)
}

func wantOAuthCode(t *testing.T, err error, code string) {
	t.Helper()
	wantOAuthError(t, err, code, 400)
}

func wantOAuthError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var e *oauth.Error
	if !errors.As(err, &e) || e.Code != code || e.Status != status {
		t.Fatalf("err = %v, want %s (%d)", err, code, status)
	}
}

func TestScopes(t *testing.T) {
	allowed := []string{"read", "write", "admin"}
	tests := []struct {
		name    string
		f       oauth.Form
		allowed []string
		want    []string
		code    string
	}{
		{"absent means all", form(), allowed, allowed, ""},
		{"empty means all", form("scope", ""), allowed, allowed, ""},
		{"subset", form("scope", "write read"), allowed, []string{"write", "read"}, ""},
		{"all", form("scope", "read write admin"), allowed, []string{"read", "write", "admin"}, ""},
		{"client has none, asks none", form(), nil, nil, ""},
		{"outside", form("scope", "read delete"), allowed, nil, oauth.CodeInvalidScope},
		{"client has none, asks one", form("scope", "read"), nil, nil, oauth.CodeInvalidScope},
		{"prefix of an allowed scope", form("scope", "rea"), allowed, nil, oauth.CodeInvalidScope},
		{"case differs", form("scope", "READ"), allowed, nil, oauth.CodeInvalidScope},
		{"malformed", form("scope", "read  write"), allowed, nil, oauth.CodeInvalidScope},
		{"repeated", form("scope", "read read"), allowed, nil, oauth.CodeInvalidScope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := grant.Scopes(tc.f, tc.allowed)
			if tc.code != "" {
				wantOAuthCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Scopes = %q, want %q", got, tc.want)
			}
		})
	}
	// The result is the caller's: changing it leaves the client's list alone.
	got, _ := grant.Scopes(form(), allowed)
	got[0] = "changed"
	if allowed[0] != "read" {
		t.Error("Scopes returned the client's own slice")
	}
}

func TestAudience(t *testing.T) {
	const def = "https://as.example.test"
	a, b := "https://api.example.test/a", "urn:example:b"
	withAud := &store.Client{ID: "c", Audiences: []string{a, b}}
	noAud := &store.Client{ID: "c"}
	tests := []struct {
		name string
		f    oauth.Form
		c    *store.Client
		want []string
		code string
	}{
		{"client default", form(), withAud, []string{a}, ""},
		{"server default", form(), noAud, []string{def}, ""},
		{"one resource", form("resource", b), withAud, []string{b}, ""},
		{"two resources", form("resource", b, "resource", a), withAud, []string{b, a}, ""},
		{"duplicates collapse", form("resource", a, "resource", a), withAud, []string{a}, ""},
		{"not allowed", form("resource", "https://evil.test/"), withAud, nil, oauth.CodeInvalidTarget},
		{"default server audience is not requestable", form("resource", def), noAud, nil, oauth.CodeInvalidTarget},
		{"relative", form("resource", "/a"), withAud, nil, oauth.CodeInvalidTarget},
		{"no scheme", form("resource", "api.example.test/a"), withAud, nil, oauth.CodeInvalidTarget},
		{"fragment", form("resource", a+"#x"), withAud, nil, oauth.CodeInvalidTarget},
		{"empty fragment", form("resource", a+"#"), withAud, nil, oauth.CodeInvalidTarget},
		{"empty", form("resource", ""), withAud, nil, oauth.CodeInvalidTarget},
		{"unparsable", form("resource", "http://[::1"), withAud, nil, oauth.CodeInvalidTarget},
		{"too long", form("resource", "https://x.test/"+strings.Repeat("a", grant.MaxResourceLen)), withAud, nil, oauth.CodeInvalidTarget},
		{"case differs", form("resource", strings.ToUpper(a)), withAud, nil, oauth.CodeInvalidTarget},
		{"one bad of two", form("resource", a, "resource", "https://evil.test/"), withAud, nil, oauth.CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := grant.Audience(tc.f, tc.c, def)
			if tc.code != "" {
				wantOAuthCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Audience = %q, want %q", got, tc.want)
			}
		})
	}
}

// staticSigner is a mint.SigningKeys with one key.
type staticSigner struct{ k *jose.Key }

func (s staticSigner) Signer() (*jose.Key, error) {
	if s.k == nil {
		return nil, errors.New("no key")
	}
	return s.k, nil
}

// memTokens is a mint.TokenWriter in memory.
type memTokens struct{ recs []store.TokenRecord }

func (m *memTokens) CreateToken(_ context.Context, r store.TokenRecord) error {
	m.recs = append(m.recs, r)
	return nil
}

func TestClientCredentials(t *testing.T) {
	const issuer = "https://as.example.test"
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens := &memTokens{}
	g := &grant.ClientCredentials{
		Minter:          mint.New(issuer, staticSigner{key}, tokens, func() time.Time { return now }),
		DefaultAudience: issuer,
		DefaultTTL:      15 * time.Minute,
	}
	base := store.Client{
		ID: "svc", GrantTypes: []string{grant.TypeClientCredentials}, Scopes: []string{"read", "write"},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic, AccessTokenFormat: store.AccessTokenJWT,
	}
	with := func(mod func(*store.Client)) store.Client {
		c := base
		mod(&c)
		return c
	}
	verifier, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer: issuer, SkipAudienceCheck: true, Type: jwt.TypeAccessToken, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		client  store.Client
		method  string
		f       oauth.Form
		code    string
		wantTTL int64
		opaque  bool
	}{
		{name: "jwt", client: base, method: oauth.AuthSecretBasic, f: form("scope", "read"), wantTTL: 900},
		{name: "client TTL", client: with(func(c *store.Client) { c.AccessTokenTTL = time.Minute }), method: oauth.AuthSecretBasic, f: form(), wantTTL: 60},
		{name: "opaque", client: with(func(c *store.Client) { c.AccessTokenFormat = store.AccessTokenOpaque }), method: oauth.AuthSecretPost, f: form(), wantTTL: 900, opaque: true},
		{name: "agent TTL cap", client: with(func(c *store.Client) { c.Agent = &store.AgentPolicy{MaxTokenTTL: 2 * time.Minute} }), method: oauth.AuthSecretBasic, f: form(), wantTTL: 120},
		{name: "public client", client: with(func(c *store.Client) { c.TokenEndpointAuthMethod = oauth.AuthNone }), method: oauth.AuthNone, f: form(), code: oauth.CodeUnauthorizedClient},
		{name: "grant not registered", client: with(func(c *store.Client) { c.GrantTypes = []string{grant.TypeAuthorizationCode} }), method: oauth.AuthSecretBasic, f: form(), code: oauth.CodeUnauthorizedClient},
		{name: "no grants", client: with(func(c *store.Client) { c.GrantTypes = nil }), method: oauth.AuthSecretBasic, f: form(), code: oauth.CodeUnauthorizedClient},
		{name: "bad scope", client: base, method: oauth.AuthSecretBasic, f: form("scope", "admin"), code: oauth.CodeInvalidScope},
		{name: "bad resource", client: base, method: oauth.AuthSecretBasic, f: form("resource", "https://x.test/"), code: oauth.CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := g.Handle(context.Background(), &grant.Request{Form: tc.f, Client: &oauth.Authenticated{Client: tc.client, Method: tc.method}})
			if tc.code != "" {
				wantOAuthCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.TokenType != "Bearer" || resp.ExpiresIn != tc.wantTTL || resp.RefreshToken != "" || resp.IDToken != "" {
				t.Errorf("response %+v", resp)
			}
			if tc.opaque {
				if !opaque.IsAccessToken(resp.AccessToken) {
					t.Errorf("token %q is not opaque", resp.AccessToken)
				}
				return
			}
			tok, err := verifier.Verify(context.Background(), resp.AccessToken)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			scope, _ := tok.StringClaim("scope")
			if tok.Claims().Subject != "svc" || scope != resp.Scope || !slices.Equal(tok.Claims().Audience, []string{issuer}) {
				t.Errorf("claims sub %q scope %q (response %q) aud %q", tok.Claims().Subject, scope, resp.Scope, tok.Claims().Audience)
			}
		})
	}

	t.Run("no signing key is temporarily unavailable", func(t *testing.T) {
		g := *g
		g.Minter = mint.New(issuer, staticSigner{}, tokens, nil)
		_, err := g.Handle(context.Background(), &grant.Request{Form: form(), Client: &oauth.Authenticated{Client: base, Method: oauth.AuthSecretBasic}})
		var e *oauth.Error
		if !errors.As(err, &e) || e.Code != oauth.CodeTemporarilyUnavailable || e.Status != 503 {
			t.Fatalf("err = %v, want temporarily_unavailable (503)", err)
		}
	})
}

func TestHandlersNames(t *testing.T) {
	h := grant.Handlers{grant.TypeTokenExchange: nil, grant.TypeClientCredentials: nil, grant.TypeAuthorizationCode: nil}
	want := []string{grant.TypeAuthorizationCode, grant.TypeClientCredentials, grant.TypeTokenExchange}
	if got := h.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
}
