package grant

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jwt"
)

// IDTokenParams is what an ID token says about a sign-in.
type IDTokenParams struct {
	// Scopes are the granted scopes, which decide the released claims.
	Scopes []string
	// Nonce is the authorization request's nonce, or empty.
	Nonce string
	// AuthTime is when the user authenticated.
	AuthTime time.Time
	// AMR and ACR describe how.
	AMR []string
	ACR string
	// SessionID is the sid, or empty.
	SessionID string
	// AccessToken is the access token issued with the ID token (at_hash).
	AccessToken string
	// Claims is the OIDC claims request, or nil.
	Claims *oidc.ClaimsRequest
}

// IDTokenIssuer mints ID tokens (package oidc, adapted by the server).
type IDTokenIssuer interface {
	// ReadyIDToken fails when no ID token could be issued to c now (an
	// encryption key of c's that cannot be had), before a grant consumes
	// anything: IssueIDToken runs once the redemption committed.
	ReadyIDToken(ctx context.Context, c *store.Client) error
	IssueIDToken(ctx context.Context, u *store.User, c *store.Client, p IDTokenParams) (string, error)
}

// UserGetter reads a user account.
type UserGetter interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Tokens mints what the user-facing grants return, in memory: the access
// token, the ID token and the next refresh token. It is shared by the
// authorization code and refresh token grants and writes nothing: the
// grant commits the result in one store call.
type Tokens struct {
	// Minter mints access tokens.
	Minter *mint.Minter
	// IDTokens mints ID tokens; nil means none are issued.
	IDTokens IDTokenIssuer
	// AccessTTL is the access token lifetime when the client sets none.
	AccessTTL time.Duration
	// PublicMaxTTL, when positive, caps the access token lifetime of a
	// public client (token_endpoint_auth_method none), whatever AccessTTL
	// or the client's own lifetime say.
	PublicMaxTTL time.Duration
	// RefreshTTL is the sliding lifetime of a refresh token (when the
	// client sets none); RefreshMaxTTL the absolute lifetime of its family.
	RefreshTTL    time.Duration
	RefreshMaxTTL time.Duration
	// AccessExtra, when set, returns extra access token claims for an OIDC
	// claims request (what UserInfo must release).
	AccessExtra func(claims *oidc.ClaimsRequest) map[string]any
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the security events of the grants (code replay,
	// refresh token reuse); nil discards them.
	Logger *slog.Logger
	// Reused, when set, is told of each reuse detected: a rotated refresh
	// token (TypeRefreshToken) or a redeemed code (TypeAuthorizationCode)
	// presented again (the metrics).
	Reused func(grantType string)
	// Audit adds to each store.Issue the audit event that records it, so
	// that the store appends it in the redemption's or rotation's
	// transaction.
	Audit bool
	// Recorder records the events that have no transaction of their own
	// (code replay, refresh token reuse); nil records none.
	Recorder Recorder
}

// reuseDetected reports a reuse to Reused.
func (t *Tokens) reuseDetected(grantType string) {
	if t.Reused != nil {
		t.Reused(grantType)
	}
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) log() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// grantState is one grant's input to issue.
type grantState struct {
	client   *store.Client
	user     *store.User
	scopes   []string
	audience []string
	// accessAudience, when not nil, is the access token's aud: a subset of
	// audience that the token request named with resource (RFC 8707
	// §2.2); the refresh token keeps audience.
	accessAudience []string
	sessionID      string
	authTime       time.Time
	amr            []string
	acr            string
	nonce          string
	claims         *oidc.ClaimsRequest
	familyID       string    // continue this family (refresh), or start one
	familyExp      time.Time // absolute expiry when continuing
	// rotate forces a new refresh token (the refresh grant always rotates,
	// even when the request narrowed the scope below offline_access).
	rotate bool
	// extra are further claims of every access token of the family (act,
	// delegation_id: RefreshToken.Extra), and delegationID the delegation
	// that issued it; both are carried to the new refresh token.
	extra        json.RawMessage
	delegationID string
	// refreshScopes are the scopes of the new refresh token when not nil:
	// a refresh keeps the presented token's scope however it narrowed the
	// access token (RFC 6749 §6).
	refreshScopes []string
	binding
}

// binding is the sender constraint of what a grant issues: the DPoP key
// and the TLS client certificate its access token and refresh token
// family are bound to, each empty when not bound so.
type binding struct {
	// jkt binds the access token to a DPoP key (cnf.jkt), or is empty;
	// refreshJKT binds a new refresh token family (dpop.go).
	jkt, refreshJKT string
	// x5t binds the access token to a TLS client certificate
	// (cnf.x5t#S256), or is empty; refreshX5T binds the refresh token
	// family (mtls.go), recorded in its Extra.
	x5t, refreshX5T string
}

// requestBinding is the binding of a grant that starts a refresh token
// family (a code or device code redeemed): the request's DPoP key and
// certificate, as req's client registered (refreshBinding, certBinding,
// refreshCertBinding).
func requestBinding(req *Request) binding {
	c := &req.Client.Client
	x5t := certBinding(req)
	return binding{jkt: req.DPoPKey, refreshJKT: refreshBinding(c, req.DPoPKey), x5t: x5t, refreshX5T: refreshCertBinding(c, x5t)}
}

// issue mints, in memory, the access token, the ID token (openid scope)
// and a refresh token (offline_access scope and the refresh_token grant
// registered, or a rotation), and returns the response with the
// store.Issue to commit. Nothing is stored. It is plan, then sign.
func (t *Tokens) issue(ctx context.Context, g grantState, now time.Time) (*Response, store.Issue, error) {
	p, issue, err := t.plan(g, now)
	if err != nil {
		return nil, store.Issue{}, err
	}
	resp, err := t.sign(ctx, p)
	if err != nil {
		return nil, store.Issue{}, err
	}
	return resp, issue, nil
}

// planned is what plan fixed and sign completes: the response with every
// token but the signed ones, the access token to sign, and the ID token's
// inputs when one is due.
type planned struct {
	resp   *Response
	access mint.Issued
	// user and client are set when an ID token is due, with its params
	// (AccessToken is filled in by sign).
	user   *store.User
	client *store.Client
	id     IDTokenParams
}

// ready fails, before anything is planned or stored, when no token could
// be signed for c (no active key, an ID token encryption key of c's that
// cannot be had): a redemption that could not sign must not consume its
// code, so that the client may retry it.
func (t *Tokens) ready(ctx context.Context, c *store.Client) error {
	if err := t.Minter.CanSign(); err != nil {
		return mintFailed(err)
	}
	if t.IDTokens != nil {
		if err := t.IDTokens.ReadyIDToken(ctx, c); err != nil {
			return oauth.AsError(err)
		}
	}
	return nil
}

// plan fixes, in memory and without signing, what issue returns: the IDs,
// lifetimes and records of the access token and the refresh token, and
// the store.Issue to commit. sign then signs. A grant that plans inside
// its store transaction keeps the signatures out of it.
func (t *Tokens) plan(g grantState, now time.Time) (planned, store.Issue, error) {
	ttl := g.client.AccessTokenTTL
	if ttl <= 0 {
		ttl = t.AccessTTL
	}
	ttl = AgentTTL(g.client, ttl)
	if t.PublicMaxTTL > 0 && g.client.TokenEndpointAuthMethod == oauth.AuthNone {
		ttl = min(ttl, t.PublicMaxTTL)
	}
	accessAud := g.audience
	if g.accessAudience != nil {
		accessAud = g.accessAudience
	}
	var extra map[string]any
	if g.claims != nil && t.AccessExtra != nil {
		extra = t.AccessExtra(g.claims)
	}
	if len(g.extra) > 0 {
		members, err := strictjson.ParseObject(string(g.extra), 0, nil)
		if err != nil {
			return planned{}, store.Issue{}, oauth.ServerError(fmt.Errorf("refresh token family claims: %w", err))
		}
		if extra == nil {
			extra = make(map[string]any, len(members))
		}
		for _, m := range members {
			if m.Name == "cnf" {
				// The family's binding record; the access token's cnf is
				// built from the grant's bindings.
				continue
			}
			extra[m.Name] = json.RawMessage(m.Value)
		}
	}
	at, err := t.Minter.Plan(mint.AccessToken{
		ClientID: g.client.ID,
		Subject:  g.user.ID,
		Scopes:   g.scopes,
		Audience: accessAud,
		TTL:      ttl,
		Format:   g.client.AccessTokenFormat,
		Extra:    withCnf(extra, g.jkt, g.x5t),
	})
	if err != nil {
		return planned{}, store.Issue{}, mintFailed(err)
	}
	issue := store.Issue{Access: store.IssuedAccess{
		JTI: at.ID, Opaque: at.Record,
		// A revocation must outlast every verifier's clock-skew leeway.
		ExpiresAt: at.ExpiresAt.Add(jwt.DefaultLeeway),
	}}
	p := planned{access: at, resp: &Response{TokenType: tokenType(g.jkt), ExpiresIn: at.ExpiresIn(), Scope: oauth.JoinScope(g.scopes)}}
	if slices.Contains(g.scopes, "openid") && t.IDTokens != nil {
		p.user, p.client = g.user, g.client
		p.id = IDTokenParams{
			Scopes: g.scopes, Nonce: g.nonce, AuthTime: g.authTime, AMR: g.amr, ACR: g.acr,
			SessionID: g.sessionID, Claims: g.claims,
		}
	}
	if (g.rotate || (slices.Contains(g.scopes, "offline_access") && slices.Contains(g.client.GrantTypes, TypeRefreshToken))) && AgentMayRefresh(g.client) {
		value, hash := opaque.New(opaque.RefreshTokenPrefix)
		family, famExp := g.familyID, g.familyExp
		if family == "" {
			family, famExp = opaque.TimeOrderedID(now), now.Add(t.RefreshMaxTTL)
		}
		sliding := g.client.RefreshTokenTTL
		if sliding <= 0 {
			sliding = t.RefreshTTL
		}
		exp := now.Add(sliding)
		if famExp.Before(exp) {
			exp = famExp
		}
		rtScopes := g.scopes
		if g.refreshScopes != nil {
			rtScopes = g.refreshScopes
		}
		rtExtra := g.extra
		if g.refreshX5T != "" {
			if rtExtra, err = withFamilyX5T(g.extra, g.refreshX5T); err != nil {
				return planned{}, store.Issue{}, oauth.ServerError(err)
			}
		}
		issue.Refresh = &store.RefreshToken{
			Hash: hash, FamilyID: family, ClientID: g.client.ID, UserID: g.user.ID, SessionID: g.sessionID,
			Scopes: rtScopes, Audience: g.audience, AuthTime: g.authTime, AMR: g.amr, ACR: g.acr,
			CreatedAt: now, ExpiresAt: exp, FamilyExpiresAt: famExp, JKT: g.refreshJKT,
			DelegationID: g.delegationID, Extra: rtExtra,
		}
		p.resp.RefreshToken = value
	}
	return p, issue, nil
}

// sign signs what plan fixed: the access token, then the ID token (whose
// at_hash is of the access token), and returns the response.
func (t *Tokens) sign(ctx context.Context, p planned) (*Response, error) {
	if err := t.Minter.Sign(ctx, &p.access); err != nil {
		return nil, mintFailed(err)
	}
	p.resp.AccessToken = p.access.Value
	if p.user != nil {
		p.id.AccessToken = p.access.Value
		idt, err := t.IDTokens.IssueIDToken(ctx, p.user, p.client, p.id)
		if err != nil {
			// An *oauth.Error (an ID token that cannot be encrypted to the
			// client's key) is kept; anything else is a server error.
			return nil, oauth.AsError(err)
		}
		p.resp.IDToken = idt
	}
	return p.resp, nil
}

// securityEvent logs a sign of credential theft at warn, with who and
// where, never a secret.
func (t *Tokens) securityEvent(ctx context.Context, req *Request, msg, userID string) {
	t.log().LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("client_id", req.Client.Client.ID),
		slog.String("user_id", userID),
		slog.String("source", req.SourceAddr),
		slog.String("request_id", req.RequestID))
}

// revocationFailed logs a revocation that did not happen and turns it into
// the request's failure: a revocation is never dropped.
func (t *Tokens) revocationFailed(ctx context.Context, req *Request, what string, err error) error {
	t.log().LogAttrs(ctx, slog.LevelError, "revocation failed",
		slog.String("what", what),
		slog.String("client_id", req.Client.Client.ID),
		slog.String("request_id", req.RequestID),
		slog.Any("error", err))
	return oauth.ServerError(err)
}
