package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
	"github.com/writ-dev/writ/jose"
)

// SignInOptions turn on browser sign-in: the authorization endpoint, the
// login and consent pages, UserInfo and logout. Keys are 32 bytes each,
// derived from the master key so that every node shares them.
type SignInOptions struct {
	CSRFKey []byte
	SealKey []byte
	// UI themes the pages (ui.Options.Dir replaces templates and CSS).
	UI ui.Options
	// Passwords are the argon2id parameters; zero fields take defaults.
	Passwords authn.Params
	// RefreshTTL is the sliding lifetime of refresh tokens, RefreshMaxTTL
	// the absolute lifetime of a family; IDTokenTTL the ID token lifetime.
	RefreshTTL    time.Duration
	RefreshMaxTTL time.Duration
	IDTokenTTL    time.Duration
	// SessionTTL is the absolute lifetime of a browser session.
	SessionTTL time.Duration
}

// Defaults for SignInOptions.
const (
	defaultRefreshTTL    = 30 * 24 * time.Hour
	defaultRefreshMaxTTL = 90 * 24 * time.Hour
	defaultIDTokenTTL    = time.Hour
)

func (s *Server) setupSignIn(o *SignInOptions) error {
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = defaultRefreshTTL
	}
	if o.RefreshMaxTTL <= 0 {
		o.RefreshMaxTTL = defaultRefreshMaxTTL
	}
	if o.IDTokenTTL <= 0 {
		o.IDTokenTTL = defaultIDTokenTTL
	}
	pages, err := ui.New(o.UI)
	if err != nil {
		return fmt.Errorf("server: sign-in pages: %w", err)
	}
	sealer, err := authz.NewSealer(o.SealKey)
	if err != nil {
		return err
	}
	origin, err := authn.OriginOf(s.opts.Issuer)
	if err != nil {
		return fmt.Errorf("server: issuer origin: %w", err)
	}
	secure := origin[:6] == "https:"
	st := s.opts.Store
	s.signin = &signIn{
		ui: pages,
		login: &authn.Login{
			Users:      st,
			Hasher:     authn.Hasher{Params: o.Passwords},
			Throttle:   &authn.Throttle{Now: s.now},
			UpdateUser: st.UpdateUser,
			Logger:     s.log,
			Now:        s.now,
		},
		sessions: &authn.Sessions{Store: st, Secure: secure, TTL: o.SessionTTL, Now: s.now, CookieName: cookieName(secure, authn.DefaultSessionCookie)},
		csrf:     &authn.CSRF{Key: o.CSRFKey, Secure: secure, Origin: origin, CookieName: cookieName(secure, authn.DefaultCSRFCookie)},
		sealer:   sealer,
	}
	s.idTokens = &idTokenIssuer{tokens: oidc.IDTokens{Issuer: s.opts.Issuer, Keys: s.opts.Ring, Now: s.now}, ttl: o.IDTokenTTL}
	tokens := &grant.Tokens{
		Minter:          s.minter,
		IDTokens:        s.idTokens,
		Store:           st,
		DefaultAudience: s.opts.DefaultAudience,
		AccessTTL:       s.opts.AccessTokenTTL,
		RefreshTTL:      o.RefreshTTL,
		RefreshMaxTTL:   o.RefreshMaxTTL,
		AccessExtra:     oidc.AccessTokenClaims,
		Now:             s.now,
	}
	s.grants[grant.TypeAuthorizationCode] = &grant.AuthorizationCode{Tokens: tokens}
	s.grants[grant.TypeRefreshToken] = &grant.RefreshToken{Tokens: tokens}
	s.userinfo = &oidc.UserInfo{
		Verifier: s.ownTokens,
		Revoked:  st.IsJTIRevoked,
		Opaque:   s.opaqueGrant,
		Users:    st,
		Logger:   s.log,
	}
	s.logoutNotifier = &oidc.Notifier{Tokens: oidc.LogoutTokens{Issuer: s.opts.Issuer, Keys: s.opts.Ring, Now: s.now}, Logger: s.log}
	if s.idTokenHints, err = s.idTokenHintVerifier(); err != nil {
		return err
	}
	return nil
}

// opaqueGrant looks up an opaque access token for UserInfo.
func (s *Server) opaqueGrant(ctx context.Context, token string) (oidc.AccessGrant, bool, error) {
	rec, err := s.opts.Store.GetToken(ctx, mint.HashOpaque(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oidc.AccessGrant{}, false, nil
	case err != nil:
		return oidc.AccessGrant{}, false, err
	}
	if rec.Revoked || rec.Kind != store.KindAccessToken || !s.now().Before(rec.ExpiresAt) {
		return oidc.AccessGrant{}, false, nil
	}
	return oidc.AccessGrant{Subject: rec.Subject, ClientID: rec.ClientID, Scopes: rec.Scopes, Extra: rec.Extra}, true, nil
}

// idTokenIssuer adapts oidc.IDTokens to the grants: it releases the
// user's claims for the ID token and mints it.
type idTokenIssuer struct {
	tokens oidc.IDTokens
	ttl    time.Duration
}

// IssueIDToken implements grant.IDTokenIssuer.
func (i *idTokenIssuer) IssueIDToken(_ context.Context, u *store.User, c *store.Client, p grant.IDTokenParams) (string, error) {
	ttl := c.IDTokenTTL
	if ttl <= 0 {
		ttl = i.ttl
	}
	return i.tokens.Mint(oidc.IDToken{
		Algorithm: jose.Algorithm(c.IDTokenSignedResponseAlg),
		Subject:   u.ID, ClientID: c.ID, AuthTime: p.AuthTime, Nonce: p.Nonce, ACR: p.ACR, AMR: p.AMR,
		SessionID: p.SessionID, AccessToken: p.AccessToken, TTL: ttl,
		Claims: oidc.Release(*u, p.Scopes, p.Claims, oidc.TargetIDToken),
	})
}

// cookieName adds the __Host- prefix on https issuers: browsers then accept
// the cookie only with Secure, Path=/ and no Domain, so a sibling subdomain
// cannot plant one (cookie tossing).
func cookieName(secure bool, name string) string {
	if secure {
		return "__Host-" + name
	}
	return name
}
