package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/opaque"
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
	// DeviceKey MACs the device cookies (authn.DeviceCookies); empty
	// derives one from CSRFKey.
	DeviceKey []byte
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
	// RequirePushedAuthorizationRequests makes the authorization endpoint
	// accept only request_uri values from the pushed authorization request
	// endpoint (RFC 9126 §5), for every client.
	RequirePushedAuthorizationRequests bool
	// Sleep waits out the delay of a sign-in on an account with recent
	// failures (authn.Login.Sleep); nil means a timer. Tests pass a fake
	// clock's Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Defaults for SignInOptions.
const (
	defaultRefreshTTL    = 30 * 24 * time.Hour
	defaultRefreshMaxTTL = 90 * 24 * time.Hour
	defaultIDTokenTTL    = time.Hour
)

// signInSetupStore is what setupSignIn hands to the pieces of browser
// sign-in beyond the handlers' own interfaces: the password check (with
// its rehash), the sessions, the two grants and UserInfo.
type signInSetupStore interface {
	authn.Users
	// UpdateUser stores a rehashed password (authn.Login.UpdateUser).
	UpdateUser(ctx context.Context, id string, fn func(old store.User) (store.User, error)) (store.User, error)
	store.SessionStore
	grant.CodeStores
	grant.RefreshStores
	grant.DeviceStores
	grant.DeviceCreator
	deviceStore
	userInfoStore
}

// userInfoStore is what UserInfo reads: the token's user, the JWT
// revocation list, and opaque access token records.
type userInfoStore interface {
	oidc.UserGetter
	// IsJTIRevoked reports whether a JWT access token is revoked.
	IsJTIRevoked(ctx context.Context, jti string) (bool, error)
	// GetToken returns an opaque access token's record.
	GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error)
}

func (s *Server) setupSignIn(o *SignInOptions, st signInSetupStore) error {
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
	deviceKey := o.DeviceKey
	if len(deviceKey) == 0 {
		deviceKey = deriveDeviceKey(o.CSRFKey)
	}
	s.signin = &signIn{
		login: &authn.Login{
			Users:      st,
			Hasher:     authn.Hasher{Params: o.Passwords},
			Throttle:   &authn.Throttle{Now: s.now, Shared: s.sharedThrottle("login")},
			UpdateUser: st.UpdateUser,
			Logger:     s.log,
			Now:        s.now,
			Sleep:      o.Sleep,
		},
		sessions: &authn.Sessions{Store: st, Secure: secure, TTL: o.SessionTTL, Now: s.now, CookieName: cookieName(secure, authn.DefaultSessionCookie)},
		devices:  &authn.DeviceCookies{Key: deviceKey, Secure: secure, Now: s.now, CookieName: cookieName(secure, authn.DefaultDeviceCookie)},
		csrf:     &authn.CSRF{Key: o.CSRFKey, Secure: secure, Origin: origin, CookieName: cookieName(secure, authn.DefaultCSRFCookie)},
		sealer:   sealer,
	}
	encrypter := &oidc.ResponseEncrypter{Keys: s.opts.ClientKeys}
	s.signin.ui.Store(pages)
	s.uiOptions = o.UI
	s.idTokens = &idTokenIssuer{tokens: oidc.IDTokens{Issuer: s.opts.Issuer, Keys: s.opts.Ring, Now: s.now, Encrypter: encrypter}, ttl: o.IDTokenTTL}
	tokens := &grant.Tokens{
		Minter:        s.minter,
		IDTokens:      s.idTokens,
		AccessTTL:     s.opts.AccessTokenTTL,
		PublicMaxTTL:  s.opts.PublicAccessTokenTTL,
		RefreshTTL:    o.RefreshTTL,
		RefreshMaxTTL: o.RefreshMaxTTL,
		Logger:        s.log,
		AccessExtra:   oidc.AccessTokenClaims,
		Now:           s.now,
		Reused:        s.opts.Metrics.ReuseDetected,
		Audit:         s.opts.AuditRecorder != nil,
		Recorder:      s.opts.AuditRecorder,
	}
	s.grants[grant.TypeAuthorizationCode] = &grant.AuthorizationCode{Tokens: tokens, Store: st, DefaultAudience: s.opts.DefaultAudience}
	s.grants[grant.TypeRefreshToken] = &grant.RefreshToken{Tokens: tokens, Store: st, NoRotation: s.fapi2}
	s.grants[grant.TypeDeviceCode] = &grant.DeviceCode{Tokens: tokens, Store: st}
	s.deviceAuthz = &grant.DeviceAuthorization{Store: st, VerificationURI: s.opts.Issuer + PathDevice,
		DefaultAudience: s.opts.DefaultAudience, MCPResources: s.mcpResources, Now: s.now}
	s.deviceThrottle = newDeviceThrottle(s.now)
	s.deviceThrottle.Shared = s.sharedThrottle("device")
	s.stores.device = st
	s.stores.userinfo = st
	s.userinfo = &oidc.UserInfo{
		Verifier: s.ownTokens,
		Revoked:  st.IsJTIRevoked,
		Opaque:   s.opaqueGrant,
		Users:    st,
		Logger:   s.log,
		Responses: &oidc.UserInfoResponses{
			Issuer: s.opts.Issuer, Keys: s.opts.Ring, Encrypter: encrypter, Clients: s.clients, Now: s.now,
		},
		// Certificate-bound tokens (RFC 8705 §3) with their certificate.
		CertThumbprint: certThumbprint,
	}
	if s.dpop != nil {
		s.userinfo.DPoP = endpointDPoP{v: s.dpop, url: s.opts.Issuer + PathUserInfo}
	}
	s.logoutNotifier = &oidc.Notifier{Tokens: oidc.LogoutTokens{Issuer: s.opts.Issuer, Keys: s.opts.Ring, Now: s.now}, Logger: s.log}
	if s.idTokenHints, err = s.idTokenHintVerifier(); err != nil {
		return err
	}
	return nil
}

// opaqueGrant looks up an opaque access token for UserInfo.
func (s *Server) opaqueGrant(ctx context.Context, token string) (oidc.AccessGrant, bool, error) {
	rec, err := s.stores.userinfo.GetToken(ctx, opaque.Hash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oidc.AccessGrant{}, false, nil
	case err != nil:
		return oidc.AccessGrant{}, false, err
	}
	if !rec.ActiveAccessToken(s.now()) {
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

// ReadyIDToken implements grant.IDTokenIssuer.
func (i *idTokenIssuer) ReadyIDToken(ctx context.Context, c *store.Client) error {
	return i.tokens.Ready(ctx, c)
}

// IssueIDToken implements grant.IDTokenIssuer.
func (i *idTokenIssuer) IssueIDToken(ctx context.Context, u *store.User, c *store.Client, p grant.IDTokenParams) (string, error) {
	ttl := c.IDTokenTTL
	if ttl <= 0 {
		ttl = i.ttl
	}
	return i.tokens.Issue(ctx, c, oidc.IDToken{
		Algorithm: jose.Algorithm(c.IDTokenSignedResponseAlg),
		Subject:   u.ID, ClientID: c.ID, AuthTime: p.AuthTime, Nonce: p.Nonce, ACR: p.ACR, AMR: p.AMR,
		SessionID: p.SessionID, AccessToken: p.AccessToken, TTL: ttl,
		Claims: oidc.Release(*u, p.Scopes, p.Claims, oidc.TargetIDToken),
	})
}

// deriveDeviceKey derives the device cookie key from the CSRF key, for
// callers that set no DeviceKey: a keyed hash under its own label, so that
// the two keys are independent.
func deriveDeviceKey(csrfKey []byte) []byte {
	m := hmac.New(sha256.New, csrfKey)
	m.Write([]byte("writ/" + authn.DevicePurpose))
	return m.Sum(nil)
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
