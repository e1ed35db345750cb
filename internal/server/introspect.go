package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Media types of RFC 9701.
const (
	mediaIntrospectionJWT = "application/token-introspection+jwt"
	typIntrospectionJWT   = "token-introspection+jwt"
)

// maxTokenParam bounds the token parameter of introspection and revocation.
const maxTokenParam = 16 << 10

// Introspection is an RFC 7662 response. Inactive tokens carry only
// Active=false: nothing about why.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	// Extra holds further claims of the token (act, cnf, ...).
	Extra map[string]json.RawMessage `json:"-"`
}

// MarshalJSON flattens Extra into the object. Extra members named like a
// member of Introspection are left out, so that they can neither repeat nor
// (for parsers that keep the last duplicate) replace "active" or "scope";
// an inactive result carries no Extra at all.
func (in Introspection) MarshalJSON() ([]byte, error) {
	type plain Introspection
	b, err := json.Marshal(plain(in))
	if err != nil || len(in.Extra) == 0 || !in.Active {
		return b, err
	}
	extra := make(map[string]json.RawMessage, len(in.Extra))
	for name, v := range in.Extra {
		if !introspectionMembers[name] {
			extra[name] = v
		}
	}
	if len(extra) == 0 {
		return b, nil
	}
	eb, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	return append(append(b[:len(b)-1], ','), eb[1:]...), nil
}

// introspectionMembers are the JSON names of Introspection's fields.
var introspectionMembers = map[string]bool{
	"active": true, "scope": true, "client_id": true, "sub": true, "aud": true, "iss": true,
	"exp": true, "iat": true, "jti": true, "token_type": true,
}

// ownTokenVerifier checks access tokens this server issued.
func (s *Server) ownTokenVerifier() (*jwt.Verifier, error) {
	return jwt.NewVerifier(s.opts.Ring, jwt.Config{
		Issuer:            s.opts.Issuer,
		SkipAudienceCheck: true, // the caller is the resource server; it checks aud
		Type:              jwt.TypeAccessToken,
		Algorithms:        []jose.Algorithm{s.opts.Ring.Algorithm()},
		RequiredClaims:    []string{"jti", "client_id"},
		Leeway:            -1,
		Now:               s.now,
	})
}

// introspectionStore is what introspection reads: the token records, the
// refresh tokens, the JWT revocation list, and the users the tokens act
// for (clients come from the client cache).
type introspectionStore interface {
	// GetToken returns an opaque access token's record.
	GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error)
	// GetRefreshToken returns a refresh token.
	GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error)
	// IsJTIRevoked reports whether a JWT access token is revoked.
	IsJTIRevoked(ctx context.Context, jti string) (bool, error)
	// GetUser returns the user a token acts for.
	GetUser(ctx context.Context, id string) (store.User, error)
}

// revocationStore is what revocation reads and writes: opaque access
// tokens, refresh token families and the JWT revocation list.
type revocationStore interface {
	// GetToken returns an opaque access token's record.
	GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error)
	// RevokeToken revokes an opaque access token.
	RevokeToken(ctx context.Context, hash []byte) error
	// RevokeJTI puts a JWT access token on the revocation list.
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	// GetRefreshToken returns a refresh token.
	GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error)
	store.RefreshRevoker
}

// handleIntrospect is the introspection endpoint (RFC 7662, RFC 9701).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := oauth.ParseForm(w, r, s.opts.MaxRequestBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	caller, err := s.auth.Authenticate(ctx, r, form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if caller.Method == oauth.AuthNone {
		s.fail(w, r, oauth.InvalidClient("introspection requires an authenticated client"))
		return
	}
	token := form.Get("token")
	if token == "" {
		s.fail(w, r, oauth.InvalidRequest("token is required"))
		return
	}
	res, err := s.introspectFor(ctx, &caller.Client, token)
	if err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	if wantsJWT(r.Header.Get("Accept")) {
		s.writeIntrospectionJWT(w, r, caller.Client.ID, res)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, res)
}

// introspectFor answers the introspection of token by caller. The token is
// active only when it is live (introspect), its client and user still are
// (holdersActive), and caller may see it (mayIntrospect). Errors are store
// failures only.
func (s *Server) introspectFor(ctx context.Context, caller *store.Client, token string) (Introspection, error) {
	inactive := Introspection{Active: false}
	var (
		res     Introspection
		refresh bool
		err     error
	)
	if opaque.IsRefreshToken(token) {
		res, err = s.introspectRefresh(ctx, token)
		refresh = true
	} else {
		res, err = s.introspect(ctx, token)
	}
	if err != nil || !res.Active || !mayIntrospect(caller, res, refresh) {
		return inactive, err
	}
	live, err := s.holdersActive(ctx, res)
	if err != nil || !live {
		return inactive, err
	}
	return res, nil
}

// mayIntrospect is the access policy of RFC 7662 §4: a client sees a token
// as active when it is the token's client, or, for an access token, when
// one of the token's audiences is an audience the client is registered for
// (the client is that resource server). A refresh token is its client's
// alone.
func mayIntrospect(caller *store.Client, res Introspection, refresh bool) bool {
	if res.ClientID != "" && caller.ID == res.ClientID {
		return true
	}
	if refresh {
		return false
	}
	for _, aud := range res.Audience {
		if slices.Contains(caller.Audiences, aud) {
			return true
		}
	}
	return false
}

// delegationChecker tells whether a delegation (a token exchange chain)
// was revoked; store.DelegationStore implements it.
type delegationChecker interface {
	// DelegationRevoked reports whether the delegation or one it descends
	// from is revoked; an unknown id counts as revoked.
	DelegationRevoked(ctx context.Context, id string) (bool, error)
	// GetDelegation returns one delegation, for its subject's issuer.
	GetDelegation(ctx context.Context, id string) (store.Delegation, error)
}

// ClaimDelegationID is the claim (and TokenRecord.Extra member) that names
// the store.Delegation a token was issued by.
const ClaimDelegationID = "delegation_id"

// holdersActive reports whether the client a token was issued to still
// exists and has not had its grants revoked since the token was issued
// (Client.TokensRevokedBefore ≥ iat), for an agent whether its owner is
// still there (ownerActive), whether the delegation the token was
// issued by (delegation_id) is not revoked, and, for a token that acts for
// a user, whether that user still exists and is not disabled. A token
// whose sub is its client_id was issued to the client for itself (RFC 9068
// §5; no user may have a client's id); an exchanged token's sub may also
// be a client (a service acting as the subject) or, when its delegation's
// subject issuer is another issuer, that issuer's principal.
func (s *Server) holdersActive(ctx context.Context, res Introspection) (bool, error) {
	c, err := s.clients.Registered(ctx, res.ClientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("introspect: look up client: %w", err)
	}
	// iat has whole seconds: a token of the second of the revocation is
	// revoked with it.
	if !c.TokensRevokedBefore.IsZero() && res.IssuedAt <= c.TokensRevokedBefore.Unix() {
		return false, nil
	}
	if c.Agent != nil {
		if live, err := s.ownerActive(ctx, c.Agent.Owner); err != nil || !live {
			return false, err
		}
	}
	var d *store.Delegation
	if raw, ok := res.Extra[ClaimDelegationID]; ok {
		if d, err = s.liveDelegation(ctx, raw); err != nil || d == nil {
			return false, err
		}
	}
	if res.Subject == "" || res.Subject == res.ClientID {
		return true, nil
	}
	if d != nil && d.SubjectIssuer != "" && d.SubjectIssuer != s.opts.Issuer {
		// The subject is another issuer's principal: that issuer answers
		// for it, through the delegation writ keeps.
		return true, nil
	}
	u, err := s.stores.introspection.GetUser(ctx, res.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound) && d != nil:
		// A token exchanged for a service: its subject is a client.
		return s.subjectClientActive(ctx, res.Subject, res.IssuedAt)
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("introspect: look up user: %w", err)
	}
	return !u.Disabled, nil
}

// ownerActive reports whether an agent's owner is still there: a user
// that exists and is not disabled, or a registered client. An agent acts
// for its owner; without one it acts for no one.
func (s *Server) ownerActive(ctx context.Context, owner string) (bool, error) {
	if id, ok := strings.CutPrefix(owner, store.OwnerClient); ok {
		return s.clientExists(ctx, id)
	}
	id, ok := strings.CutPrefix(owner, store.OwnerUser)
	if !ok {
		return false, nil
	}
	u, err := s.stores.introspection.GetUser(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("introspect: look up agent owner: %w", err)
	}
	return !u.Disabled, nil
}

// subjectClientActive reports whether a client that is the subject of a
// token exchanged for it (issued at iat) still stands behind it: it is
// registered, its grants were not revoked since (an agent's revocation
// covers what others got to act for it), and, for an agent, its owner is
// active.
func (s *Server) subjectClientActive(ctx context.Context, id string, iat int64) (bool, error) {
	c, err := s.clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("introspect: look up client: %w", err)
	}
	if !c.TokensRevokedBefore.IsZero() && iat <= c.TokensRevokedBefore.Unix() {
		return false, nil
	}
	if c.Agent != nil {
		return s.ownerActive(ctx, c.Agent.Owner)
	}
	return true, nil
}

// clientExists reports whether a client is registered.
func (s *Server) clientExists(ctx context.Context, id string) (bool, error) {
	_, err := s.clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("introspect: look up client: %w", err)
	}
	return true, nil
}

// liveDelegation returns the delegation a token names (the raw JSON value
// of its delegation_id) when it is live: known, and neither it nor one it
// descends from revoked; nil otherwise. A malformed value, or a server
// that keeps no delegations, gives nil.
func (s *Server) liveDelegation(ctx context.Context, raw json.RawMessage) (*store.Delegation, error) {
	var id string
	if json.Unmarshal(raw, &id) != nil || store.CheckID(ClaimDelegationID, id) != nil || id == "" || s.stores.delegations == nil {
		return nil, nil
	}
	revoked, err := s.stores.delegations.DelegationRevoked(ctx, id)
	if err != nil || revoked {
		return nil, wrapDelegationErr(err)
	}
	d, err := s.stores.delegations.GetDelegation(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil // purged in between
	case err != nil:
		return nil, wrapDelegationErr(err)
	}
	return &d, nil
}

func wrapDelegationErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("introspect: delegation: %w", err)
}

// introspectRefresh finds out whether a refresh token is active: known,
// neither rotated nor revoked, and within both its own and its family's
// lifetime.
func (s *Server) introspectRefresh(ctx context.Context, token string) (Introspection, error) {
	inactive := Introspection{Active: false}
	if len(token) > maxTokenParam {
		return inactive, nil
	}
	rt, err := s.stores.introspection.GetRefreshToken(ctx, opaque.Hash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inactive, nil
	case err != nil:
		return inactive, fmt.Errorf("introspect refresh token: %w", err)
	}
	now := s.now()
	if rt.Revoked || !rt.RotatedAt.IsZero() || !now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
		return inactive, nil
	}
	exp := rt.ExpiresAt
	if rt.FamilyExpiresAt.Before(exp) {
		exp = rt.FamilyExpiresAt
	}
	res := Introspection{
		Active: true, Scope: oauth.JoinScope(rt.Scopes), ClientID: rt.ClientID, Subject: rt.UserID,
		Issuer: s.opts.Issuer, ExpiresAt: exp.Unix(), IssuedAt: rt.CreatedAt.Unix(),
	}
	x5t, err := grant.FamilyX5T(rt.Extra)
	if err != nil {
		return inactive, fmt.Errorf("introspect refresh token: %w", err)
	}
	if rt.JKT != "" || rt.DelegationID != "" || x5t != "" {
		res.Extra = map[string]json.RawMessage{}
	}
	if c := grant.Cnf(rt.JKT, x5t); c != nil {
		// A refresh token bound to a DPoP key (RFC 9449 §5) or a
		// certificate (RFC 8705 §4) says so.
		cnf, err := json.Marshal(c)
		if err != nil {
			return inactive, fmt.Errorf("introspect refresh token: %w", err)
		}
		res.Extra["cnf"] = cnf
	}
	if rt.DelegationID != "" {
		id, _ := json.Marshal(rt.DelegationID)
		res.Extra[ClaimDelegationID] = id
	}
	return res, nil
}

// introspect finds out whether an access token is live. Errors are store
// failures only; an unknown, malformed, expired or revoked token is
// inactive.
func (s *Server) introspect(ctx context.Context, token string) (Introspection, error) {
	inactive := Introspection{Active: false}
	if len(token) > maxTokenParam {
		return inactive, nil
	}
	now := s.now()
	if opaque.IsAccessToken(token) {
		rec, err := s.stores.introspection.GetToken(ctx, opaque.Hash(token))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return inactive, nil
		case err != nil:
			return inactive, fmt.Errorf("introspect opaque token: %w", err)
		}
		if !rec.ActiveAccessToken(now) {
			return inactive, nil
		}
		res := Introspection{
			Active: true, Scope: oauth.JoinScope(rec.Scopes), ClientID: rec.ClientID, Subject: rec.Subject,
			Audience: rec.Audience, Issuer: s.opts.Issuer, ExpiresAt: rec.ExpiresAt.Unix(), IssuedAt: rec.IssuedAt.Unix(),
			TokenType: "Bearer",
		}
		if len(rec.Extra) > 0 {
			_ = json.Unmarshal(rec.Extra, &res.Extra)
		}
		res.TokenType = boundTokenType(res.Extra)
		return res, nil
	}
	tok, err := s.ownTokens.Verify(ctx, token)
	if err != nil {
		return inactive, nil
	}
	claims := tok.Claims()
	revoked, err := s.stores.introspection.IsJTIRevoked(ctx, claims.ID)
	if err != nil {
		return inactive, fmt.Errorf("introspect: revocation list: %w", err)
	}
	if revoked {
		return inactive, nil
	}
	res := Introspection{
		Active: true, Subject: claims.Subject, Audience: claims.Audience, Issuer: claims.Issuer,
		ExpiresAt: int64(claims.ExpiresAt), IssuedAt: int64(claims.IssuedAt), JTI: claims.ID, TokenType: "Bearer",
	}
	res.ClientID, _ = tok.StringClaim("client_id")
	res.Scope, _ = tok.StringClaim("scope")
	for _, name := range []string{"act", "cnf", "may_act", "auth_time", "acr", "amr", ClaimDelegationID} {
		if raw, ok := tok.Claim(name); ok {
			if res.Extra == nil {
				res.Extra = map[string]json.RawMessage{}
			}
			res.Extra[name] = json.RawMessage(raw)
		}
	}
	res.TokenType = boundTokenType(res.Extra)
	return res, nil
}

func wantsJWT(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == mediaIntrospectionJWT {
			return true
		}
	}
	return false
}

// writeIntrospectionJWT answers with a signed JWT (RFC 9701 §5): the
// introspection result under "token_introspection", addressed to the caller.
func (s *Server) writeIntrospectionJWT(w http.ResponseWriter, r *http.Request, audience string, res Introspection) {
	key, err := s.opts.Ring.Signer()
	if err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	claims := struct {
		Iss                string        `json:"iss"`
		Aud                string        `json:"aud"`
		Iat                int64         `json:"iat"`
		TokenIntrospection Introspection `json:"token_introspection"`
	}{s.opts.Issuer, audience, s.now().Unix(), res}
	payload, err := json.Marshal(claims)
	if err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	tok, err := jose.Sign(key, payload, &jose.SignOptions{Type: typIntrospectionJWT})
	if err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", mediaIntrospectionJWT)
	oauth.NoStore(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(tok))
}

// handleRevoke is the revocation endpoint (RFC 7009). It answers 200 for
// any token it cannot or need not revoke, so that it reveals nothing.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := oauth.ParseForm(w, r, s.opts.MaxRequestBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	caller, err := s.auth.Authenticate(ctx, r, form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token := form.Get("token")
	if token == "" {
		s.fail(w, r, oauth.InvalidRequest("token is required"))
		return
	}
	if err := s.revoke(ctx, caller.Client.ID, token); err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	oauth.NoStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// revoke revokes token when it was issued to clientID. A token of another
// client is left alone (RFC 7009 §2.1). A refresh token takes its whole
// family (every token rotated from the same grant) with it.
func (s *Server) revoke(ctx context.Context, clientID, token string) error {
	if len(token) > maxTokenParam {
		return nil
	}
	if opaque.IsRefreshToken(token) {
		rt, err := s.stores.revocation.GetRefreshToken(ctx, opaque.Hash(token))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("revoke refresh token: %w", err)
		}
		if rt.ClientID != clientID {
			return nil
		}
		// The event is committed with the revocation (or on its own when
		// the family was gone already).
		err = s.auditedChange(ctx, store.AuditTokenRevoked, clientID, rt.UserID, map[string]any{"token_type": "refresh_token", "family_id": rt.FamilyID},
			func(ctx context.Context) error {
				return ignoreNotFound(s.stores.revocation.RevokeRefreshFamily(ctx, rt.FamilyID))
			})
		if err != nil {
			return fmt.Errorf("revoke refresh token: %w", err)
		}
		return nil
	}
	if opaque.IsAccessToken(token) {
		hash := opaque.Hash(token)
		rec, err := s.stores.revocation.GetToken(ctx, hash)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("revoke: %w", err)
		}
		if rec.ClientID != clientID {
			return nil
		}
		err = s.auditedChange(ctx, store.AuditTokenRevoked, clientID, rec.Subject, map[string]any{"token_type": "access_token", "format": "opaque"},
			func(ctx context.Context) error { return ignoreNotFound(s.stores.revocation.RevokeToken(ctx, hash)) })
		if err != nil {
			return fmt.Errorf("revoke: %w", err)
		}
		return nil
	}
	tok, err := s.ownTokens.Verify(ctx, token)
	if err != nil {
		return nil // expired, foreign or malformed: nothing to revoke
	}
	if owner, _ := tok.StringClaim("client_id"); owner != clientID {
		return nil
	}
	claims := tok.Claims()
	until := claims.ExpiresAt.Time().Add(jwt.DefaultLeeway + time.Minute)
	err = s.auditedChange(ctx, store.AuditTokenRevoked, clientID, claims.Subject, map[string]any{"token_type": "access_token", "format": "jwt", "jti": claims.ID},
		func(ctx context.Context) error { return s.stores.revocation.RevokeJTI(ctx, claims.ID, until) })
	if err != nil {
		return fmt.Errorf("revoke jti: %w", err)
	}
	return nil
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// RegisteredClientKeys supplies a private_key_jwt client's registered jwks.
// ClientKeyCache uses it, and falls back to the jwks_uri for clients without one.
type RegisteredClientKeys struct{}

// ClientKeys implements oauth.ClientKeySource.
func (RegisteredClientKeys) ClientKeys(_ context.Context, c *store.Client, _ *jose.Header) (*jose.KeySet, error) {
	if len(c.JWKS) == 0 {
		return nil, errors.New("client has no registered jwks")
	}
	return jose.ParseKeySet(c.JWKS)
}
