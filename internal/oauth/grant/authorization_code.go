package grant

import (
	"context"
	"errors"
	"fmt"

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

// Handle implements Handler. It validates the request against the stored
// code before anything is written: a request that fails (another client,
// a wrong redirect URI or verifier, an expired code) neither consumes the
// code nor revokes anything.
func (g *AuthorizationCode) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeAuthorizationCode); err != nil {
		return nil, err
	}
	code := req.Form.Get("code")
	if code == "" || len(code) > opaque.MaxLength {
		return nil, oauth.InvalidRequest("code is required")
	}
	now := g.now()
	hash := opaque.Hash(code)
	// The code and its user in one read (one round trip on PostgreSQL);
	// the user is only looked at once the request has passed the code's
	// checks.
	ac, u, err := g.Store.GetAuthCodeUser(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the authorization code is invalid")
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("look up code: %w", err))
	}
	if err := checkCode(&ac, c.ID, req.Form.Get("redirect_uri"), req.Form.Get("code_verifier")); err != nil {
		return nil, err
	}
	// Before the replay check: without the key the code is bound to, a
	// stolen code is worth nothing, not even a revocation.
	if err := checkCodeBinding(&ac, req.DPoPKey); err != nil {
		return nil, err
	}
	if !ac.UsedAt.IsZero() {
		return nil, g.replayed(ctx, req, &ac, hash)
	}
	if !now.Before(ac.ExpiresAt) {
		return nil, oauth.InvalidGrant("the authorization code has expired")
	}
	if u.ID == "" || u.Disabled {
		return nil, oauth.InvalidGrant("the user is no longer active")
	}
	claims, err := oidc.DecodeClaimsRequest(ac.Claims)
	if err != nil {
		return nil, oauth.ServerError(fmt.Errorf("stored claims request: %w", err))
	}
	st := grantState{client: c, user: &u, scopes: ac.Scopes, audience: ac.Audience, sessionID: ac.SessionID,
		authTime: ac.AuthTime, amr: ac.AMR, acr: ac.ACR, nonce: ac.Nonce, claims: claims,
		binding: requestBinding(req)}
	if len(st.audience) == 0 {
		st.audience = DefaultAudience(c, g.DefaultAudience)
	}
	// The code's grant is for its audience; resource in the token
	// request (which MCP clients always send) may only name it again.
	if st.accessAudience, err = TokenResources(req.Form, st.audience); err != nil {
		return nil, err
	}
	resp, issue, err := g.issue(ctx, st, now)
	if err != nil {
		return nil, err
	}
	g.auditIssue(&issue, req, TypeAuthorizationCode, st, now)
	stored, err := g.Store.RedeemAuthCode(ctx, hash, now, issue)
	switch {
	case errors.Is(err, store.ErrReused):
		// A concurrent redemption won: what it issued is committed with it.
		return nil, g.replayed(ctx, req, &stored, hash)
	case errors.Is(err, store.ErrExpired):
		return nil, oauth.InvalidGrant("the authorization code has expired")
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the authorization code is invalid")
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("redeem code: %w", err))
	}
	return resp, nil
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
