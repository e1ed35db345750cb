package grant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jwt"
)

// RefreshPrefix starts every refresh token.
const RefreshPrefix = "writ_rt_"

// opaqueRefPrefix starts the AuthCode.IssuedAccessJTI of an opaque access
// token, which has no jti: the prefix, then the base64url hash of the token
// (its storage key, mint.HashOpaque).
const opaqueRefPrefix = "opaque:"

// IDTokenParams is what an ID token says about a sign-in.
type IDTokenParams struct {
	Scopes      []string
	Nonce       string
	AuthTime    time.Time
	AMR         []string
	ACR         string
	SessionID   string
	AccessToken string
	// Claims is the OIDC claims request, or nil.
	Claims *oidc.ClaimsRequest
}

// IDTokenIssuer mints ID tokens (package oidc, adapted by the server).
type IDTokenIssuer interface {
	IssueIDToken(ctx context.Context, u *store.User, c *store.Client, p IDTokenParams) (string, error)
}

// SignInStores are the stores the user-facing grants need.
type SignInStores interface {
	store.AuthCodeStore
	store.RefreshStore
	store.UserStore
	store.ConsentStore
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	RevokeToken(ctx context.Context, hash []byte) error
}

// Tokens mints what the user-facing grants return. It is shared by the
// authorization code and refresh token grants.
type Tokens struct {
	Minter          *mint.Minter
	IDTokens        IDTokenIssuer
	Store           SignInStores
	DefaultAudience string
	AccessTTL       time.Duration
	// RefreshTTL is the sliding lifetime of a refresh token; RefreshMaxTTL
	// the absolute lifetime of its family.
	RefreshTTL    time.Duration
	RefreshMaxTTL time.Duration
	// AccessExtra, when set, returns extra access token claims for an OIDC
	// claims request (what UserInfo must release).
	AccessExtra func(claims *oidc.ClaimsRequest) map[string]any
	Now         func() time.Time
}

// grantState is one grant's input to issue.
type grantState struct {
	client    *store.Client
	user      *store.User
	scopes    []string
	audience  []string
	sessionID string
	authTime  time.Time
	amr       []string
	acr       string
	nonce     string
	claims    *oidc.ClaimsRequest
	familyID  string    // continue this family (refresh), or start one
	familyExp time.Time // absolute expiry when continuing
	// rotate forces a new refresh token (the refresh grant always rotates,
	// even when the request narrowed the scope below offline_access).
	rotate bool
	// refreshScopes are the scopes of the new refresh token when not nil:
	// a refresh keeps the presented token's scope however it narrowed the
	// access token (RFC 6749 §6).
	refreshScopes []string
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// issue mints the access token, the ID token (openid scope) and a refresh
// token (offline_access scope and the refresh_token grant registered).
func (t *Tokens) issue(ctx context.Context, g grantState, refreshHash func(next store.RefreshToken) error) (*Response, mint.Issued, string, error) {
	ttl := g.client.AccessTokenTTL
	if ttl <= 0 {
		ttl = t.AccessTTL
	}
	var extra map[string]any
	if g.claims != nil && t.AccessExtra != nil {
		extra = t.AccessExtra(g.claims)
	}
	at, err := t.Minter.Access(ctx, mint.AccessToken{
		ClientID: g.client.ID,
		Subject:  g.user.ID,
		Scopes:   g.scopes,
		Audience: g.audience,
		TTL:      ttl,
		Format:   g.client.AccessTokenFormat,
		Extra:    extra,
	})
	if err != nil {
		return nil, mint.Issued{}, "", mintFailed(err)
	}
	resp := &Response{AccessToken: at.Value, TokenType: "Bearer", ExpiresIn: at.ExpiresIn(), Scope: oauth.JoinScope(g.scopes)}
	if slices.Contains(g.scopes, "openid") && t.IDTokens != nil {
		idt, err := t.IDTokens.IssueIDToken(ctx, g.user, g.client, IDTokenParams{
			Scopes: g.scopes, Nonce: g.nonce, AuthTime: g.authTime, AMR: g.amr, ACR: g.acr,
			SessionID: g.sessionID, AccessToken: at.Value, Claims: g.claims,
		})
		if err != nil {
			return nil, mint.Issued{}, "", oauth.ServerError(err)
		}
		resp.IDToken = idt
	}
	family := ""
	if g.rotate || (slices.Contains(g.scopes, "offline_access") && slices.Contains(g.client.GrantTypes, TypeRefreshToken)) {
		value, hash, err := newOpaque(RefreshPrefix)
		if err != nil {
			return nil, mint.Issued{}, "", oauth.ServerError(err)
		}
		now := t.now()
		family = g.familyID
		famExp := g.familyExp
		if family == "" {
			if family, err = randomString(16); err != nil {
				return nil, mint.Issued{}, "", oauth.ServerError(err)
			}
			famExp = now.Add(t.RefreshMaxTTL)
		}
		sliding := g.client.RefreshTokenTTL
		if sliding <= 0 {
			sliding = t.RefreshTTL
		}
		exp := now.Add(sliding)
		if exp.After(famExp) {
			exp = famExp
		}
		rtScopes := g.scopes
		if g.refreshScopes != nil {
			rtScopes = g.refreshScopes
		}
		next := store.RefreshToken{
			Hash: hash, FamilyID: family, ClientID: g.client.ID, UserID: g.user.ID, SessionID: g.sessionID,
			Scopes: rtScopes, Audience: g.audience, AuthTime: g.authTime, AMR: g.amr, ACR: g.acr,
			CreatedAt: now, ExpiresAt: exp, FamilyExpiresAt: famExp,
		}
		if err := refreshHash(next); err != nil {
			return nil, mint.Issued{}, "", err
		}
		resp.RefreshToken = value
	}
	return resp, at, family, nil
}

// AuthorizationCode is the authorization code grant (RFC 6749 §4.1.3) with
// PKCE (RFC 7636): the code is single-use, short-lived, and bound to the
// client, the redirect URI and the code verifier. A second use revokes what
// the first issued (RFC 6749 §4.1.2).
type AuthorizationCode struct {
	*Tokens
}

// Handle implements Handler.
func (g *AuthorizationCode) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeAuthorizationCode); err != nil {
		return nil, err
	}
	code, redirect, verifier := req.Form.Get("code"), req.Form.Get("redirect_uri"), req.Form.Get("code_verifier")
	if code == "" || len(code) > 512 {
		return nil, oauth.InvalidRequest("code is required")
	}
	now := g.now()
	hash := HashToken(code)
	ac, err := g.Store.ConsumeAuthCode(ctx, hash, now)
	switch {
	case errors.Is(err, store.ErrReused):
		g.revokeIssued(ctx, &ac, now)
		return nil, oauth.InvalidGrant("the authorization code was already used; the tokens it issued are revoked")
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the authorization code is invalid")
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("consume code: %w", err))
	}
	switch {
	case ac.ClientID != c.ID:
		return nil, oauth.InvalidGrant("the authorization code was issued to another client")
	case !now.Before(ac.ExpiresAt):
		return nil, oauth.InvalidGrant("the authorization code has expired")
	case redirect != ac.RedirectURI:
		return nil, oauth.InvalidGrant("redirect_uri does not match the authorization request")
	case ac.CodeChallenge != "" && verifier == "":
		return nil, oauth.InvalidGrant("code_verifier is required")
	case ac.CodeChallenge != "" && !authz.VerifyPKCE(ac.CodeChallenge, ac.CodeChallengeMethod, verifier):
		return nil, oauth.InvalidGrant("code_verifier does not match the code_challenge")
	case ac.CodeChallenge == "" && verifier != "":
		return nil, oauth.InvalidGrant("code_verifier sent for a request without code_challenge")
	}
	u, err := g.Store.GetUser(ctx, ac.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, oauth.InvalidGrant("the user is no longer active")
	} else if err != nil {
		return nil, oauth.ServerError(err)
	}
	claims, err := oidc.DecodeClaimsRequest(ac.Claims)
	if err != nil {
		return nil, oauth.ServerError(fmt.Errorf("stored claims request: %w", err))
	}
	st := grantState{client: c, user: &u, scopes: ac.Scopes, audience: ac.Audience, sessionID: ac.SessionID,
		authTime: ac.AuthTime, amr: ac.AMR, acr: ac.ACR, nonce: ac.Nonce, claims: claims}
	if len(st.audience) == 0 {
		st.audience = []string{g.DefaultAudience}
	}
	resp, at, family, err := g.issue(ctx, st, func(next store.RefreshToken) error {
		if err := g.Store.CreateRefreshToken(ctx, next); err != nil {
			return oauth.ServerError(fmt.Errorf("store refresh token: %w", err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	accessRef := at.ID
	if at.Format == store.AccessTokenOpaque {
		accessRef = opaqueRefPrefix + base64.RawURLEncoding.EncodeToString(mint.HashOpaque(at.Value))
	}
	if err := g.Store.SetAuthCodeIssued(ctx, hash, family, accessRef); err != nil {
		return nil, oauth.ServerError(fmt.Errorf("record code redemption: %w", err))
	}
	return resp, nil
}

// revokeIssued revokes the refresh family and the access token the first
// redemption of a code issued.
func (g *AuthorizationCode) revokeIssued(ctx context.Context, ac *store.AuthCode, now time.Time) {
	switch {
	case ac.IssuedFamilyID != "":
		_ = g.Store.RevokeRefreshFamily(ctx, ac.IssuedFamilyID)
	case ac.IssuedAccessJTI == "":
		// The second use raced the first redemption before it recorded what
		// it issued: revoke every refresh token of this client and user.
		_ = g.Store.RevokeClientUserRefreshTokens(ctx, ac.ClientID, ac.UserID)
	}
	if ref, ok := strings.CutPrefix(ac.IssuedAccessJTI, opaqueRefPrefix); ok {
		if h, err := base64.RawURLEncoding.DecodeString(ref); err == nil {
			_ = g.Store.RevokeToken(ctx, h)
		}
	} else if ac.IssuedAccessJTI != "" {
		ttl := g.AccessTTL
		_ = g.Store.RevokeJTI(ctx, ac.IssuedAccessJTI, now.Add(24*time.Hour+ttl+jwt.DefaultLeeway))
	}
}

// RefreshToken is the refresh token grant (RFC 6749 §6) with rotation: each
// use returns a new refresh token; presenting a rotated one again revokes
// the whole family (RFC 9700 §4.14.2).
type RefreshToken struct {
	*Tokens
}

// Handle implements Handler.
func (g *RefreshToken) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeRefreshToken); err != nil {
		return nil, err
	}
	value := req.Form.Get("refresh_token")
	if value == "" || len(value) > 512 {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	hash := HashToken(value)
	old, err := g.Store.GetRefreshToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the refresh token is invalid")
	case err != nil:
		return nil, oauth.ServerError(err)
	}
	if old.ClientID != c.ID {
		return nil, oauth.InvalidGrant("the refresh token was issued to another client")
	}
	scopes := old.Scopes
	if s := req.Form.Get("scope"); s != "" {
		requested, err := oauth.ParseScope(s)
		if err != nil {
			return nil, err
		}
		if !oauth.Subset(requested, old.Scopes) {
			return nil, oauth.InvalidScope("a refresh may only narrow the original scope")
		}
		scopes = requested
	}
	u, err := g.Store.GetUser(ctx, old.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		_ = g.Store.RevokeRefreshFamily(ctx, old.FamilyID)
		return nil, oauth.InvalidGrant("the user is no longer active")
	} else if err != nil {
		return nil, oauth.ServerError(err)
	}
	if !c.FirstParty {
		consent, err := g.Store.GetConsent(ctx, u.ID, c.ID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !oauth.Subset(withoutOpenID(scopes), consent.Scopes)) {
			_ = g.Store.RevokeRefreshFamily(ctx, old.FamilyID)
			return nil, oauth.InvalidGrant("the user has withdrawn consent")
		} else if err != nil {
			return nil, oauth.ServerError(err)
		}
	}
	st := grantState{client: c, user: &u, scopes: scopes, audience: old.Audience, sessionID: old.SessionID,
		authTime: old.AuthTime, amr: old.AMR, acr: old.ACR, familyID: old.FamilyID, familyExp: old.FamilyExpiresAt, rotate: true,
		refreshScopes: old.Scopes}
	now := g.now()
	resp, _, _, err := g.issue(ctx, st, func(next store.RefreshToken) error {
		_, err := g.Store.RotateRefreshToken(ctx, hash, next, now)
		switch {
		case errors.Is(err, store.ErrReused):
			return oauth.InvalidGrant("the refresh token was already used; its whole family is revoked")
		case errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrNotFound):
			return oauth.InvalidGrant("the refresh token has expired or was revoked")
		case err != nil:
			return oauth.ServerError(fmt.Errorf("rotate refresh token: %w", err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func withoutOpenID(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if v != "openid" && v != "offline_access" {
			out = append(out, v)
		}
	}
	return out
}

// HashToken is the storage key of an opaque code or token.
func HashToken(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

func newOpaque(prefix string) (value string, hash []byte, err error) {
	r, err := randomString(32)
	if err != nil {
		return "", nil, err
	}
	value = prefix + r
	return value, HashToken(value), nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("grant: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
