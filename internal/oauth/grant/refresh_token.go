package grant

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
)

// RefreshStores are the stores the refresh token grant needs.
type RefreshStores interface {
	store.RefreshRotator
}

// RefreshToken is the refresh token grant (RFC 6749 §6) with rotation: each
// use returns a new refresh token; presenting a rotated one again revokes
// the whole family with its access tokens (RFC 9700 §4.14.2). A refresh
// stays inside the authority that exists now: the user must be active,
// consent (for third-party clients) must still cover the scope, and the
// scope is narrowed to what the client is registered for today.
type RefreshToken struct {
	*Tokens
	// Store reads and rotates refresh tokens and what they need.
	Store RefreshStores
	// NoRotation, when set and true for a client, refreshes without
	// rotation: the presented refresh token stays valid (its sliding
	// lifetime renewed) and the response carries none, so that a client
	// that lost a response simply retries with the token it holds. The
	// FAPI 2.0 Security Profile asks this (§5.3.2.1, see fapi.go); nil
	// rotates for every client.
	NoRotation func(c *store.Client) bool
}

// Handle implements Handler.
func (g *RefreshToken) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeRefreshToken); err != nil {
		return nil, err
	}
	if !AgentMayRefresh(c) {
		return nil, oauth.UnauthorizedClient("this agent may not use refresh tokens")
	}
	value := req.Form.Get("refresh_token")
	if value == "" || len(value) > opaque.MaxLength {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	if err := g.ready(ctx, c); err != nil {
		return nil, err
	}
	now := g.now()
	hash := opaque.Hash(value)
	var p planned
	old, err := g.Store.RotateRefreshTokenWith(ctx, hash, now, func(old *store.RefreshToken, u *store.User, consent func() (store.Consent, error)) (store.Issue, error) {
		var issue store.Issue
		var err error
		p, issue, err = g.plan(ctx, req, old, u, consent, now)
		return issue, err
	})
	var oe *oauth.Error
	var rf *refusal
	switch {
	case err == nil:
	case errors.As(err, &oe):
		return nil, oe
	case errors.As(err, &rf):
		return nil, g.refuse(ctx, req, &old, rf)
	case errors.Is(err, store.ErrReused):
		// A concurrent rotation won; the store revoked the family.
		g.securityEvent(ctx, req, "refresh token reused; its family is revoked", old.UserID)
		g.reuseDetected(TypeRefreshToken)
		g.auditReuse(ctx, req, store.AuditRefreshReused, TypeRefreshToken, old.UserID, old.FamilyID)
		return nil, oauth.InvalidGrant("the refresh token was already used; its whole family is revoked")
	case errors.Is(err, store.ErrNotFound) && old.Hash == nil:
		return nil, oauth.InvalidGrant("the refresh token is invalid")
	case errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the refresh token has expired or was revoked")
	default:
		return nil, oauth.ServerError(fmt.Errorf("rotate refresh token: %w", err))
	}
	resp, err := g.sign(ctx, p)
	if err != nil {
		if g.NoRotation != nil && g.NoRotation(c) {
			// The presented token is still the family's: the client
			// retries with it, and the access token recorded for this
			// refresh was never signed.
			return nil, err
		}
		// Nothing signed reaches the client, and the token it presented
		// is rotated: its family is revoked, as after a failed rotation.
		if rerr := g.Store.RevokeRefreshFamily(ctx, old.FamilyID); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
			return nil, g.revocationFailed(ctx, req, "refresh token family", rerr)
		}
		return nil, err
	}
	return resp, nil
}

// refusal ends a refresh plan that refuses the request with more than an
// error: a reuse (the family is revoked, the reuse logged) or a token that
// may not be refreshed any more (the family is revoked with why).
type refusal struct {
	reused bool
	why    string
}

func (r *refusal) Error() string { return "grant: refresh refused: " + r.why }

// refuse carries out a refusal once the plan's transaction ended.
func (g *RefreshToken) refuse(ctx context.Context, req *Request, old *store.RefreshToken, r *refusal) error {
	if r.reused {
		return g.reused(ctx, req, old)
	}
	return g.revokeFamily(ctx, req, old, r.why)
}

// plan judges the refresh request against the presented token, its user
// and the user's consent, in the order of the rules, and plans the
// rotation (Tokens.plan).
func (g *RefreshToken) plan(ctx context.Context, req *Request, old *store.RefreshToken, u *store.User, consent func() (store.Consent, error), now time.Time) (planned, store.Issue, error) {
	c := &req.Client.Client
	if old.ClientID != c.ID {
		return planned{}, store.Issue{}, oauth.InvalidGrant("the refresh token was issued to another client")
	}
	// A request without the bound key's proof has no effect: whoever
	// holds a stolen bound token but not the key cannot even revoke it.
	if err := checkRefreshBinding(old, req.DPoPKey); err != nil {
		g.securityEvent(ctx, req, "DPoP-bound refresh token presented without a proof by its key", old.UserID)
		return planned{}, store.Issue{}, err
	}
	famX5T, err := familyX5T(old.Extra)
	if err != nil {
		return planned{}, store.Issue{}, oauth.ServerError(err)
	}
	if err := checkRefreshCert(famX5T, req); err != nil {
		g.securityEvent(ctx, req, "certificate-bound refresh token presented without its certificate", old.UserID)
		return planned{}, store.Issue{}, err
	}
	if !old.RotatedAt.IsZero() {
		return planned{}, store.Issue{}, &refusal{reused: true, why: "reused"}
	}
	if old.Revoked || !now.Before(old.ExpiresAt) || !now.Before(old.FamilyExpiresAt) {
		return planned{}, store.Issue{}, oauth.InvalidGrant("the refresh token has expired or was revoked")
	}
	scopes, refreshScopes, err := refreshScopes(req.Form.Get("scope"), old.Scopes, c.Scopes)
	if err != nil {
		return planned{}, store.Issue{}, err
	}
	if u.ID == "" || u.Disabled {
		return planned{}, store.Issue{}, &refusal{why: "the user is no longer active"}
	}
	// A family issued by token exchange rests on its delegation (revoking
	// the delegation revokes the family), not on the user's consent.
	if !c.FirstParty && old.DelegationID == "" {
		cs, err := consent()
		if errors.Is(err, store.ErrNotFound) || (err == nil && !cs.Covers(scopes)) {
			return planned{}, store.Issue{}, &refusal{why: "the user has withdrawn consent"}
		} else if err != nil {
			return planned{}, store.Issue{}, oauth.ServerError(err)
		}
	}
	st := grantState{client: c, user: u, scopes: scopes, audience: old.Audience, sessionID: old.SessionID,
		authTime: old.AuthTime, amr: old.AMR, acr: old.ACR, familyID: old.FamilyID, familyExp: old.FamilyExpiresAt,
		rotate: true, refreshScopes: refreshScopes, extra: old.Extra, delegationID: old.DelegationID,
		// The family keeps its bindings; a family bound to a certificate
		// (RFC 8705 §4) binds its access tokens to it whatever the client
		// registered.
		binding: binding{jkt: req.DPoPKey, refreshJKT: old.JKT, x5t: cmp.Or(famX5T, certBinding(req)), refreshX5T: famX5T}}
	// RFC 8707 §2.2: resource narrows this access token to audiences the
	// refresh token was granted for; the refresh token keeps them all.
	if st.accessAudience, err = TokenResources(req.Form, old.Audience); err != nil {
		return planned{}, store.Issue{}, err
	}
	p, issue, err := g.Tokens.plan(st, now)
	if err != nil {
		return planned{}, store.Issue{}, err
	}
	if g.NoRotation != nil && g.NoRotation(c) {
		keepPresented(p.resp, &issue)
	}
	g.auditIssue(&issue, req, TypeRefreshToken, st, now)
	return p, issue, nil
}

// refreshScopes returns the scope of the new access token and of the new
// refresh token. The request may narrow the presented token's scope (RFC
// 6749 §6); both are then narrowed to the scopes the client is registered
// for now, so that a scope removed from the client is not refreshed. An
// empty result is invalid_scope.
func refreshScopes(requested string, granted, registered []string) (access, refresh []string, err error) {
	access = granted
	if requested != "" {
		r, err := oauth.ParseScope(requested)
		if err != nil {
			return nil, nil, err
		}
		if !oauth.Subset(r, granted) {
			return nil, nil, oauth.InvalidScope("a refresh may only narrow the original scope")
		}
		access = r
	}
	keep := func(s string) bool { return !slices.Contains(registered, s) }
	access = slices.DeleteFunc(slices.Clone(access), keep)
	refresh = slices.DeleteFunc(slices.Clone(granted), keep)
	if len(access) == 0 {
		return nil, nil, oauth.InvalidScope("none of the granted scope is registered for this client any more")
	}
	return access, refresh, nil
}

// reused handles a refresh token presented again after its rotation: the
// sign of theft of RFC 9700 §4.14.2. The family is revoked with its access
// tokens; a failed revocation fails the request.
func (g *RefreshToken) reused(ctx context.Context, req *Request, old *store.RefreshToken) error {
	g.securityEvent(ctx, req, "refresh token reused; revoking its family", old.UserID)
	g.reuseDetected(TypeRefreshToken)
	// The refresh_reused event is committed with the revocation (or on its
	// own when the family was gone already).
	err := g.auditedReuse(ctx, req, store.AuditRefreshReused, TypeRefreshToken, old.UserID, old.FamilyID,
		func(ctx context.Context) error {
			if err := g.Store.RevokeRefreshFamily(ctx, old.FamilyID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		})
	if err != nil {
		return g.revocationFailed(ctx, req, "refresh token family", err)
	}
	return oauth.InvalidGrant("the refresh token was already used; its whole family is revoked")
}

// revokeFamily revokes the family of a token that may no longer be
// refreshed and answers invalid_grant with why; a failed revocation fails
// the request.
func (g *RefreshToken) revokeFamily(ctx context.Context, req *Request, old *store.RefreshToken, why string) error {
	if err := g.Store.RevokeRefreshFamily(ctx, old.FamilyID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return g.revocationFailed(ctx, req, "refresh token family", err)
	}
	return oauth.InvalidGrant("%s", why)
}
