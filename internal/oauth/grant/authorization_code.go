package grant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
)

// CodeStores are the stores the authorization code grant needs.
type CodeStores interface {
	store.AuthCodeRedeemer
}

// AuthorizationCode is the authorization code grant (RFC 6749 §4.1.3) with
// PKCE (RFC 7636): the code is single-use, short-lived, and bound to the
// client, the redirect URI and the code verifier. A second use revokes
// exactly what the first issued (RFC 6749 §4.1.2).
type AuthorizationCode struct {
	*Tokens
	// Store looks codes up, redeems them and revokes what they issued.
	Store CodeStores
	// DefaultAudience is the aud of a code that names none.
	DefaultAudience string
}

// errCodeRedeemed ends a plan for a code redeemed before: the request
// is a replay, handled once the plan's transaction ended.
var errCodeRedeemed = errors.New("grant: the authorization code was redeemed before")

// Handle implements Handler. It validates the request against the stored
// code before anything is written: a request that fails (another client,
// a wrong redirect URI or verifier, an expired code) neither consumes the
// code nor revokes anything. The code is read, judged and redeemed with
// what it issues in one store call (RedeemAuthCodeWith); the tokens are
// signed once that committed.
func (g *AuthorizationCode) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeAuthorizationCode); err != nil {
		return nil, err
	}
	code := req.Form.Get("code")
	if code == "" || len(code) > opaque.MaxLength {
		return nil, oauth.InvalidRequest("code is required")
	}
	if err := g.ready(ctx, c); err != nil {
		return nil, err
	}
	now := g.now()
	hash := opaque.Hash(code)
	var p planned
	ac, err := g.Store.RedeemAuthCodeWith(ctx, hash, now, func(ac *store.AuthCode, u *store.User) (store.Issue, error) {
		var issue store.Issue
		var err error
		p, issue, err = g.plan(req, ac, u, now)
		return issue, err
	})
	var oe *oauth.Error
	switch {
	case err == nil:
	case errors.As(err, &oe):
		return nil, oe
	case errors.Is(err, errCodeRedeemed), errors.Is(err, store.ErrReused):
		// Redeemed before, or by a concurrent redemption that won: what
		// it issued is committed with it.
		return nil, g.replayed(ctx, req, &ac, hash)
	case errors.Is(err, store.ErrExpired):
		return nil, oauth.InvalidGrant("the authorization code has expired")
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the authorization code is invalid")
	default:
		return nil, oauth.ServerError(fmt.Errorf("redeem code: %w", err))
	}
	resp, err := g.sign(ctx, p)
	if err != nil {
		// Nothing signed reaches the client: what the redemption
		// recorded is revoked, so that the tokens it names never work.
		if rerr := g.Store.RevokeAuthCodeIssue(ctx, hash); rerr != nil {
			return nil, g.revocationFailed(ctx, req, "authorization code issue", rerr)
		}
		return nil, err
	}
	return resp, nil
}

// plan judges the token request against the code and its user, in the
// order of the rules, and plans what the redemption issues (Tokens.plan):
// the code's client, redirect URI and verifier, then its DPoP binding,
// then a replay, then its expiry and the user.
func (g *AuthorizationCode) plan(req *Request, ac *store.AuthCode, u *store.User, now time.Time) (planned, store.Issue, error) {
	c := &req.Client.Client
	if err := checkCode(ac, c.ID, req.Form.Get("redirect_uri"), req.Form.Get("code_verifier")); err != nil {
		return planned{}, store.Issue{}, err
	}
	// Before the replay check: without the key the code is bound to, a
	// stolen code is worth nothing, not even a revocation.
	if err := checkCodeBinding(ac, req.DPoPKey); err != nil {
		return planned{}, store.Issue{}, err
	}
	if !ac.UsedAt.IsZero() {
		return planned{}, store.Issue{}, errCodeRedeemed
	}
	if !now.Before(ac.ExpiresAt) {
		return planned{}, store.Issue{}, oauth.InvalidGrant("the authorization code has expired")
	}
	if u.ID == "" || u.Disabled {
		return planned{}, store.Issue{}, oauth.InvalidGrant("the user is no longer active")
	}
	claims, err := oidc.DecodeClaimsRequest(ac.Claims)
	if err != nil {
		return planned{}, store.Issue{}, oauth.ServerError(fmt.Errorf("stored claims request: %w", err))
	}
	st := grantState{client: c, user: u, scopes: ac.Scopes, audience: ac.Audience, sessionID: ac.SessionID,
		authTime: ac.AuthTime, amr: ac.AMR, acr: ac.ACR, nonce: ac.Nonce, claims: claims,
		binding: requestBinding(req)}
	if len(st.audience) == 0 {
		st.audience = DefaultAudience(c, g.DefaultAudience)
	}
	// The code's grant is for its audience; resource in the token
	// request (which MCP clients always send) may only name it again.
	if st.accessAudience, err = TokenResources(req.Form, st.audience); err != nil {
		return planned{}, store.Issue{}, err
	}
	p, issue, err := g.Tokens.plan(st, now)
	if err != nil {
		return planned{}, store.Issue{}, err
	}
	g.auditIssue(&issue, req, TypeAuthorizationCode, st, now)
	return p, issue, nil
}

// checkCode validates a token request against its code: the client it was
// issued to, the redirect URI of the authorization request, the PKCE
// verifier.
func checkCode(ac *store.AuthCode, clientID, redirect, verifier string) error {
	switch {
	case ac.ClientID != clientID:
		return oauth.InvalidGrant("the authorization code was issued to another client")
	case redirect != ac.RedirectURI:
		return oauth.InvalidGrant("redirect_uri does not match the authorization request")
	case ac.CodeChallenge != "" && verifier == "":
		return oauth.InvalidGrant("code_verifier is required")
	case ac.CodeChallenge != "" && !authz.VerifyPKCE(ac.CodeChallenge, ac.CodeChallengeMethod, verifier):
		return oauth.InvalidGrant("code_verifier does not match the code_challenge")
	case ac.CodeChallenge == "" && verifier != "":
		return oauth.InvalidGrant("code_verifier sent for a request without code_challenge")
	}
	return nil
}

// checkCodeBinding refuses a token request for a code bound to a DPoP key
// (dpop_jkt at the authorization endpoint, RFC 9449 §10) unless its proof
// is made with that key. The tokens are then bound to it.
func checkCodeBinding(ac *store.AuthCode, jkt string) error {
	switch {
	case ac.DPoPJKT == "":
		return nil
	case jkt == "":
		return oauth.InvalidGrant("the authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof made with it")
	case jkt != ac.DPoPJKT:
		return oauth.InvalidGrant("the DPoP proof is not made with the key the authorization code is bound to (dpop_jkt)")
	}
	return nil
}

// replayed handles a valid request for a code redeemed before: it logs the
// replay and revokes exactly what the first redemption issued, in one
// store transaction. A failed revocation fails the request.
func (g *AuthorizationCode) replayed(ctx context.Context, req *Request, ac *store.AuthCode, hash []byte) error {
	g.securityEvent(ctx, req, "authorization code replayed; revoking what it issued", ac.UserID)
	g.reuseDetected(TypeAuthorizationCode)
	// The code_replayed event is committed with the revocation.
	err := g.auditedReuse(ctx, req, store.AuditCodeReplayed, TypeAuthorizationCode, ac.UserID, ac.IssuedFamilyID,
		func(ctx context.Context) error { return g.Store.RevokeAuthCodeIssue(ctx, hash) })
	if err != nil {
		return g.revocationFailed(ctx, req, "authorization code issue", err)
	}
	return oauth.InvalidGrant("the authorization code was already used; the tokens it issued are revoked")
}
