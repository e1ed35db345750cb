package grant

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/delegation"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// ParamImpersonate is writ's request parameter (not part of RFC 8693) that
// asks token exchange for impersonation: a token for the subject with no
// act claim naming the client. Its only value is "true"; it takes no
// actor_token, and the client's ExchangePolicy must allow it.
const ParamImpersonate = "impersonate"

// MaxExchangeToken bounds subject_token and actor_token.
const MaxExchangeToken = 16 << 10

// ExchangeStores are the stores token exchange needs: opaque subject
// tokens and the JWT revocation list, users, delegations, the audit trail,
// and the records of what it issues.
type ExchangeStores interface {
	// GetToken returns an opaque access token's record.
	GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error)
	// IsJTIRevoked reports whether a JWT access token is revoked.
	IsJTIRevoked(ctx context.Context, jti string) (bool, error)
	UserGetter
	// CreateToken stores the record of an opaque access token issued.
	CreateToken(ctx context.Context, r store.TokenRecord) error
	// CreateRefreshToken stores a refresh token issued (a new family).
	CreateRefreshToken(ctx context.Context, t store.RefreshToken) error
	// GetDelegation, DelegationRevoked, CreateDelegation and
	// RevokeDelegation are store.DelegationStore's.
	GetDelegation(ctx context.Context, id string) (store.Delegation, error)
	DelegationRevoked(ctx context.Context, id string) (bool, error)
	CreateDelegation(ctx context.Context, d store.Delegation) error
	RevokeDelegation(ctx context.Context, id string, at time.Time) (int, error)
	// AppendAudit records the exchange.
	AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error)
}

// TokenExchange is the token exchange grant (RFC 8693): a client presents
// a token of a subject (and optionally of an actor) and gets a token for
// another audience that says, in its act claim, who acts for the subject.
//
// Policy is the client's store.ExchangePolicy (nil: the default policy
// documented on the type). Refusals of the subject or actor token, whether
// invalid or unacceptable by policy, are invalid_request (RFC 8693
// §2.2.2); a target the client may not ask for is invalid_target; a scope
// that would widen invalid_scope; a client without the grant type
// unauthorized_client. Everything is checked before anything is written.
type TokenExchange struct {
	*Tokens
	// Store reads subject tokens and records what the exchange issued.
	Store ExchangeStores
	// Clients looks up the client a writ access token was issued to, to
	// refuse tokens of a client whose grants were revoked.
	Clients oauth.ClientGetter
	// Issuer is writ's own issuer identifier.
	Issuer string
	// OwnAccessTokens verifies writ's JWT access tokens (signature, typ
	// at+jwt, iss, exp without leeway); OwnIDTokens writ's ID tokens.
	OwnAccessTokens *jwt.Verifier
	OwnIDTokens     *jwt.Verifier
	// External verifies tokens of trusted external issuers; nil means no
	// external issuer is trusted.
	External ExternalTokens
	// SAML verifies SAML 2.0 assertions (subject_token_type saml2); nil
	// means the type is not supported.
	SAML SAMLAssertions
	// IDJAG issues ID-JAGs; nil means requested_token_type id-jag is not
	// supported.
	IDJAG IDJAGIssuer
	// DefaultAudience is the aud when the request names no target and the
	// client has no audiences.
	DefaultAudience string
	// MCPResources mark the audiences that are MCP servers: a token for
	// one is issued only when the request names it (resource or audience).
	MCPResources *oauth.ResourceSet
}

// presented is a verified subject or actor token.
type presented struct {
	tokenType    string
	own          bool // issued by writ
	issuer       string
	subject      string
	clientID     string
	audience     []string
	scopes       []string
	hasScope     bool
	issuedAt     time.Time
	expiresAt    time.Time
	act          json.RawMessage
	mayAct       json.RawMessage
	jkt          string
	x5t          string // cnf.x5t#S256 (RFC 8705 §3.1), or empty
	delegationID string
	user         bool // sub is a writ user (holdersActive)
	// delegation is the delegation of a writ token issued by exchange
	// (holdersActive), or nil.
	delegation *store.Delegation
	// token is the verified JWT, nil for an opaque token.
	token *jwt.Token
	// saml is the verified SAML assertion, used up (UseSAML) only once
	// the exchange's checks have passed; nil for other tokens.
	saml *SAMLSubject
}

// SubjectTokenTypes lists the subject_token_type values Handle accepts,
// which are also its actor_token_type values: writ's own access tokens
// (access_token, or jwt for a JWT one) and ID tokens, and JWTs of trusted
// external issuers (jwt, or the type the issuer's tokens are).
func (g *TokenExchange) SubjectTokenTypes() []string {
	if g.SAML != nil {
		return []string{TokenTypeAccessToken, TokenTypeIDToken, TokenTypeJWT, TokenTypeSAML2}
	}
	return []string{TokenTypeAccessToken, TokenTypeIDToken, TokenTypeJWT}
}

// RequestedTokenTypes lists the requested_token_type values Handle
// accepts: access_token (the default) and jwt, and id-jag when IDJAG is
// set.
func (g *TokenExchange) RequestedTokenTypes() []string {
	types := []string{TokenTypeAccessToken, TokenTypeJWT}
	if g.IDJAG != nil {
		types = append(types, TokenTypeIDJAG)
	}
	return types
}

// Handle implements Handler.
func (g *TokenExchange) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeTokenExchange); err != nil {
		return nil, err
	}
	pol := store.ExchangePolicy{}
	if c.Exchange != nil {
		pol = *c.Exchange
	}
	f := req.Form
	requested := f.Get("requested_token_type")
	switch {
	case requested == "":
		requested = TokenTypeAccessToken
	case slices.Contains(g.RequestedTokenTypes(), requested):
	case requested == TokenTypeIDJAG:
		return nil, oauth.InvalidRequest("requested_token_type %s is not supported", TokenTypeIDJAG)
	default:
		return nil, oauth.InvalidRequest("requested_token_type is not supported; use %s or %s", TokenTypeAccessToken, TokenTypeJWT)
	}
	actorRaw, actorType := f.Get("actor_token"), f.Get("actor_token_type")
	switch {
	case actorRaw != "" && actorType == "":
		return nil, oauth.InvalidRequest("actor_token_type is required with actor_token")
	case actorRaw == "" && actorType != "":
		return nil, oauth.InvalidRequest("actor_token_type is sent without actor_token")
	}
	impersonate := false
	switch f.Get(ParamImpersonate) {
	case "":
	case "true":
		impersonate = true
		if actorRaw != "" {
			return nil, oauth.InvalidRequest("impersonation takes no actor_token")
		}
		if requested == TokenTypeIDJAG {
			return nil, oauth.InvalidRequest("impersonation does not apply to an ID-JAG")
		}
		if !pol.Impersonation {
			return nil, oauth.InvalidRequest("impersonation is not allowed for this client")
		}
	default:
		return nil, oauth.InvalidRequest("%s must be \"true\" when present", ParamImpersonate)
	}
	if c.Agent != nil && c.Agent.RequireDPoP && req.DPoPKey == "" && requested != TokenTypeIDJAG {
		return nil, oauth.InvalidRequest("this agent must send a DPoP proof")
	}
	now := g.now()

	// The subject token: valid, addressed to this client, not bound to a
	// key the request did not prove.
	subj, err := g.verify(ctx, f.Get("subject_token"), f.Get("subject_token_type"), "subject_token", c.ID, &pol, now)
	if err != nil {
		return nil, err
	}
	if !onBehalfOf(subj, c, &pol) {
		return nil, oauth.InvalidRequest("the subject_token is not addressed to this client")
	}
	if subj.jkt != "" && subj.jkt != req.DPoPKey {
		return nil, oauth.InvalidRequest("the subject_token is DPoP-bound; send a DPoP proof of its key")
	}
	if subj.x5t != "" && !oauth.ThumbprintsEqual(subj.x5t, req.CertThumbprint) {
		return nil, oauth.InvalidRequest("the subject_token is certificate-bound; connect with its TLS client certificate")
	}
	allowed := c.Scopes
	if subj.hasScope {
		allowed = intersect(subj.scopes, c.Scopes)
	}
	scopes, err := Scopes(f, allowed)
	if err != nil {
		return nil, oauth.InvalidScope("the requested scope exceeds the subject token's scope or what this client may ask for")
	}
	if requested == TokenTypeIDJAG {
		if actorRaw != "" {
			return nil, oauth.InvalidRequest("an ID-JAG takes no actor_token")
		}
		// An ID-JAG asserts a writ user by sub alone: another issuer's
		// principal (or a service) of that name would be taken for the
		// user, and an act chain would be dropped, the actor passing for
		// the user at the resource's authorization server.
		if !subj.user {
			return nil, oauth.InvalidRequest("an ID-JAG is issued only for a subject_token of a user of this issuer")
		}
		if len(subj.act) > 0 {
			return nil, oauth.InvalidRequest("an ID-JAG is not issued for a subject_token acted on by another party")
		}
		return g.idJAG(ctx, req, subj, &pol, scopes)
	}

	// The actor: the actor token's subject, or the client itself.
	actor := delegation.Actor{Subject: c.ID, ClientID: c.ID}
	var act *presented
	if actorRaw != "" {
		if act, err = g.verify(ctx, actorRaw, actorType, "actor_token", c.ID, &pol, now); err != nil {
			return nil, err
		}
		if act.jkt != "" && act.jkt != req.DPoPKey {
			return nil, oauth.InvalidRequest("the actor_token is DPoP-bound; send a DPoP proof of its key")
		}
		if act.x5t != "" && !oauth.ThumbprintsEqual(act.x5t, req.CertThumbprint) {
			return nil, oauth.InvalidRequest("the actor_token is certificate-bound; connect with its TLS client certificate")
		}
		if !g.actorPresentable(act, c) {
			return nil, oauth.InvalidRequest("the actor_token was issued to another client for another audience")
		}
		actor = delegation.Actor{Subject: act.subject, ClientID: act.clientID}
		if !act.own {
			actor.Issuer = act.issuer
		}
	}
	if len(pol.Actors) > 0 && !slices.Contains(pol.Actors, actor.Subject) {
		return nil, oauth.InvalidRequest("this actor may not act through this client")
	}
	switch ok, err := delegation.MayAct(subj.mayAct, actor); {
	case err != nil:
		return nil, oauth.InvalidRequest("the subject_token's may_act claim is malformed")
	case !ok:
		return nil, oauth.InvalidRequest("the subject_token's may_act does not name this actor")
	}
	if len(subj.mayAct) > 0 && !mayActNamesIssuer(subj.mayAct) {
		// may_act without iss names a principal of the subject token's
		// issuer: another issuer's principal of that sub is not it.
		actorIssuer := g.Issuer
		if act != nil {
			actorIssuer = act.issuer
		}
		if actorIssuer != subj.issuer {
			return nil, oauth.InvalidRequest("the subject_token's may_act does not name this actor")
		}
	}
	maxChain := pol.MaxChain
	if maxChain <= 0 {
		maxChain = store.DefaultMaxChain
	}
	prior, err := delegation.ParseAct(subj.act, maxChain)
	switch {
	case errors.Is(err, delegation.ErrTooDeep):
		return nil, oauth.InvalidRequest("the act chain would be longer than %d actors", maxChain)
	case err != nil:
		return nil, oauth.InvalidRequest("the subject_token's act claim is malformed")
	}
	chain := prior
	actClaim := subj.act
	if !impersonate {
		if len(prior)+1 > maxChain {
			return nil, oauth.InvalidRequest("the act chain would be longer than %d actors", maxChain)
		}
		chain = append(delegation.Chain{actor}, prior...)
		if actClaim, err = delegation.Nest(actor, subj.act); err != nil {
			return nil, oauth.ServerError(err)
		}
	}

	aud, err := exchangeAudience(f, c, g.DefaultAudience)
	if err != nil {
		return nil, err
	}
	if err := RequireResource(f, aud, g.MCPResources); err != nil {
		return nil, err
	}
	// SAML assertions are single use: spent only now, so that a request
	// refused above (another client's policy, another audience) does not
	// use up someone else's assertion.
	for _, t := range []struct {
		p     *presented
		param string
	}{{subj, "subject_token"}, {act, "actor_token"}} {
		if t.p == nil || t.p.saml == nil {
			continue
		}
		switch err := g.SAML.UseSAML(ctx, t.p.saml); {
		case errors.Is(err, ErrSAMLReplayed):
			return nil, oauth.InvalidRequest("the %s was already used", t.param)
		case err != nil:
			return nil, oauth.AsError(err)
		}
	}

	// The lifetime: the client's, capped by the agent's maximum and by
	// what remains of the subject and actor tokens.
	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = g.AccessTTL
	}
	ttl = AgentTTL(c, ttl)
	ttl = min(ttl, subj.expiresAt.Sub(now))
	if act != nil {
		ttl = min(ttl, act.expiresAt.Sub(now))
	}
	ttl = ttl.Truncate(time.Second)
	if ttl < time.Second {
		return nil, oauth.InvalidRequest("the presented tokens expire too soon to exchange")
	}

	// The subject's delegation, when it came from an exchange (checked
	// not revoked): the root of the chain the new one joins, and who the
	// subject is.
	id := opaque.Random(16)
	root, parent, subjectIssuer := id, "", subj.issuer
	if d := subj.delegation; d != nil {
		parent, root = d.ID, cmp.Or(d.RootID, d.ID)
		subjectIssuer = cmp.Or(d.SubjectIssuer, subjectIssuer)
	}

	// Mint in memory.
	extra := map[string]any{"delegation_id": id}
	if len(actClaim) > 0 {
		extra["act"] = actClaim
	}
	tokenType := "Bearer"
	if req.DPoPKey != "" {
		tokenType = "DPoP"
	}
	// A certificate-bound subject stays bound to the certificate the
	// request proved (RFC 8705 §3: it never becomes a bearer token).
	x5t := certBinding(req)
	if subj.x5t != "" || (act != nil && act.x5t != "") {
		x5t = req.CertThumbprint
	}
	extra = withCnf(extra, req.DPoPKey, x5t)
	format := c.AccessTokenFormat
	if requested == TokenTypeJWT {
		format = store.AccessTokenJWT
	}
	at, err := g.Minter.PrepareContext(ctx, mint.AccessToken{
		ClientID: c.ID, Subject: subj.subject, Scopes: scopes, Audience: aud, TTL: ttl, Format: format, Extra: extra,
	})
	if err != nil {
		return nil, mintFailed(err)
	}
	resp := &Response{
		AccessToken: at.Value, TokenType: tokenType, ExpiresIn: at.ExpiresIn(), Scope: oauth.JoinScope(scopes),
		IssuedTokenType: requested,
	}
	expires := at.ExpiresAt
	var refresh *store.RefreshToken
	if pol.RefreshTokens && AgentMayRefresh(c) && subj.user && slices.Contains(c.GrantTypes, TypeRefreshToken) {
		familyExtra := map[string]any{"delegation_id": id}
		if len(actClaim) > 0 {
			familyExtra["act"] = actClaim
		}
		if x5t != "" {
			// The family is bound to the certificate (RFC 8705 §4) and
			// keeps the binding through refresh.
			familyExtra["cnf"] = Cnf("", x5t)
		}
		fe, err := json.Marshal(familyExtra)
		if err != nil {
			return nil, oauth.ServerError(err)
		}
		value, hash := opaque.New(opaque.RefreshTokenPrefix)
		famExp := now.Add(g.RefreshMaxTTL)
		sliding := c.RefreshTokenTTL
		if sliding <= 0 {
			sliding = g.RefreshTTL
		}
		refresh = &store.RefreshToken{
			Hash: hash, FamilyID: opaque.TimeOrderedID(now), ClientID: c.ID, UserID: subj.subject,
			Scopes: scopes, Audience: aud, JKT: req.DPoPKey, DelegationID: id, Extra: fe,
			CreatedAt: now, ExpiresAt: now.Add(sliding), FamilyExpiresAt: famExp,
		}
		if famExp.Before(refresh.ExpiresAt) {
			refresh.ExpiresAt = famExp
		}
		resp.RefreshToken = value
		if famExp.After(expires) {
			expires = famExp
		}
	}

	d := store.Delegation{
		ID: id, RootID: root, ParentID: parent, ClientID: c.ID, Subject: subj.subject, SubjectIssuer: subjectIssuer,
		Actors: chain.Subjects(), Audience: aud, Scopes: scopes, CreatedAt: now, ExpiresAt: expires,
	}
	details := map[string]any{
		"audience": aud, "scope": oauth.JoinScope(scopes), "subject_token_type": subj.tokenType,
		"subject_issuer": subjectIssuer, "requested_token_type": requested, "refresh_token": refresh != nil,
	}
	if act != nil {
		details["actor_token_type"] = act.tokenType
		details["actor_issuer"] = act.issuer
	}
	if req.DPoPKey != "" {
		details["jkt"] = req.DPoPKey
	}
	if x5t != "" {
		details[CnfX5T] = x5t
	}
	event := store.AuditEvent{
		Time: now, Type: store.AuditTokenExchange, ClientID: c.ID, Subject: subj.subject, Actors: chain.Subjects(),
		DelegationID: id, RequestID: req.RequestID,
	}
	if impersonate {
		event.Type = store.AuditImpersonation
	}
	if event.Details, err = json.Marshal(details); err != nil {
		return nil, oauth.ServerError(err)
	}
	// The event goes in the store with the exchange: one the trail cannot
	// hold (a name with a control character) refuses the exchange.
	if err := event.Validate(); err != nil {
		return nil, oauth.InvalidRequest("the tokens name a principal that cannot be recorded")
	}

	if err := g.commit(ctx, d, at.Record, refresh, event); err != nil {
		return nil, oauth.ServerError(err)
	}
	return resp, nil
}

// commit stores the delegation, what the exchange issued under it, and its
// audit event. The delegation goes first, so that nothing refers to a
// missing one; the last write carries the event (store.RunAudited), so
// that the event is committed exactly when everything is. A failure after
// the delegation revokes it with whatever it had issued.
func (g *TokenExchange) commit(ctx context.Context, d store.Delegation, rec *store.TokenRecord, refresh *store.RefreshToken, event store.AuditEvent) error {
	steps := []func(ctx context.Context) error{func(ctx context.Context) error {
		if err := g.Store.CreateDelegation(ctx, d); err != nil {
			return fmt.Errorf("token exchange: store delegation: %w", err)
		}
		return nil
	}}
	if rec != nil {
		steps = append(steps, func(ctx context.Context) error {
			if err := g.Store.CreateToken(ctx, *rec); err != nil {
				return fmt.Errorf("token exchange: store access token: %w", err)
			}
			return nil
		})
	}
	if refresh != nil {
		steps = append(steps, func(ctx context.Context) error {
			if err := g.Store.CreateRefreshToken(ctx, *refresh); err != nil {
				return fmt.Errorf("token exchange: store refresh token: %w", err)
			}
			return nil
		})
	}
	for i, step := range steps {
		var err error
		if i == len(steps)-1 {
			err = store.RunAudited(ctx, store.AppendAuditsFunc(g.Store), []store.AuditEvent{event}, step)
			if errors.Is(err, store.ErrAuditNotRecorded) {
				err = fmt.Errorf("token exchange: audit: %w", err)
			}
		} else {
			err = step(ctx)
		}
		if err == nil {
			continue
		}
		if i > 0 || errors.Is(err, store.ErrAuditNotRecorded) {
			if _, rerr := g.Store.RevokeDelegation(ctx, d.ID, event.Time); rerr != nil {
				g.log().ErrorContext(ctx, "token exchange: revoke a delegation after a failed commit",
					"delegation_id", d.ID, "request_id", event.RequestID, "error", rerr)
			}
		}
		return err
	}
	return nil
}

// idJAG answers requested_token_type id-jag: exactly one audience, the
// resource authorization server, which the client's policy must name.
func (g *TokenExchange) idJAG(ctx context.Context, req *Request, subj *presented, pol *store.ExchangePolicy, scopes []string) (*Response, error) {
	auds := req.Form.All("audience")
	if len(auds) != 1 {
		return nil, oauth.InvalidTarget("an ID-JAG needs exactly one audience: the resource authorization server's issuer")
	}
	if !slices.Contains(pol.IDJAGAudiences, auds[0]) {
		return nil, oauth.InvalidTarget("this client may not ask for ID-JAGs for that audience")
	}
	resources := req.Form.All("resource")
	for _, r := range resources {
		if len(r) > MaxResourceLen {
			return nil, oauth.InvalidTarget("resource is too long")
		}
	}
	tok, expiresIn, err := g.IDJAG.IssueIDJAG(ctx, IDJAGRequest{
		Client: &req.Client.Client, Subject: subj.subject, SubjectToken: subj.token, Audience: auds[0], Resources: resources,
		Scopes: scopes, RequestID: req.RequestID,
	})
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, mintFailed(err)
	}
	return &Response{
		AccessToken: tok, TokenType: "N_A", ExpiresIn: expiresIn, Scope: oauth.JoinScope(scopes),
		IssuedTokenType: TokenTypeIDJAG,
	}, nil
}

// onBehalfOf is the on-behalf-of rule: the subject token is addressed to
// the exchanging client (its id; for an access token also one of its
// audiences) or to one of the policy's further subject audiences.
func onBehalfOf(p *presented, c *store.Client, pol *store.ExchangePolicy) bool {
	for _, a := range p.audience {
		if a == c.ID || slices.Contains(pol.SubjectAudiences, a) {
			return true
		}
		if p.tokenType != TokenTypeIDToken && slices.Contains(c.Audiences, a) {
			return true
		}
	}
	return false
}

// mayActNamesIssuer reports whether a well-formed may_act claim has an
// iss member.
func mayActNamesIssuer(raw json.RawMessage) bool {
	members, err := strictjson.ParseObject(string(raw), 0, nil)
	if err != nil {
		return false
	}
	for _, m := range members {
		if m.Name == "iss" {
			return true
		}
	}
	return false
}

// actorPresentable reports whether a writ actor token is one the
// exchanging client may present, so that the actor it names is a party
// that meant to act here: a token issued to the client (client_id, or an
// ID token's aud), whose sub is the client, or addressed to writ itself
// (aud: the issuer, a token made to be exchanged). A token issued to
// another client for a resource (the bearer token a caller sent to this
// service, say) would let the client pass for that caller, past may_act
// and the policy's actors. Another issuer's tokens are trusted by the
// client's policy (SubjectIssuers) and not checked here.
func (g *TokenExchange) actorPresentable(p *presented, c *store.Client) bool {
	if !p.own {
		return true
	}
	return p.clientID == c.ID || p.subject == c.ID || slices.Contains(p.audience, g.Issuer) ||
		p.tokenType == TokenTypeIDToken && slices.Contains(p.audience, c.ID)
}

// exchangeAudience resolves the targets of an exchange: audience values
// (logical names) and resource values (RFC 8707 absolute URIs), each among
// the client's audiences; none means DefaultAudience.
func exchangeAudience(f oauth.Form, c *store.Client, def string) ([]string, error) {
	audiences := f.All("audience")
	if len(audiences) == 0 && len(f.All("resource")) == 0 {
		return DefaultAudience(c, def), nil
	}
	var out []string
	if len(f.All("resource")) > 0 {
		var err error
		if out, err = Audience(f, c, def); err != nil {
			return nil, err
		}
	}
	for _, a := range audiences {
		if a == "" || len(a) > MaxResourceLen {
			return nil, oauth.InvalidTarget("audience is empty or too long")
		}
		if !slices.Contains(c.Audiences, a) {
			return nil, oauth.InvalidTarget("this client may not ask for that audience")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// verify verifies a subject or actor token (param names it) of type typ:
// writ's own access tokens (JWT or opaque) and ID tokens, or a JWT of an
// external issuer the policy names and writ trusts.
func (g *TokenExchange) verify(ctx context.Context, raw, typ, param, clientID string, pol *store.ExchangePolicy, now time.Time) (*presented, error) {
	if raw == "" {
		return nil, oauth.InvalidRequest("%s is required", param)
	}
	if typ == "" {
		return nil, oauth.InvalidRequest("%s_type is required", param)
	}
	if len(raw) > MaxExchangeToken {
		return nil, oauth.InvalidRequest("%s is too large", param)
	}
	if !slices.Contains(g.SubjectTokenTypes(), typ) {
		return nil, oauth.InvalidRequest("%s_type is not supported; use one of %s", param, strings.Join(g.SubjectTokenTypes(), ", "))
	}
	invalid := func(err error) error {
		e := oauth.InvalidRequest("the %s is invalid, expired or revoked", param)
		e.Cause = err
		return e
	}
	var (
		p   *presented
		err error
	)
	switch {
	case typ == TokenTypeSAML2:
		return g.samlSubject(ctx, raw, param, clientID, pol, now)
	case typ == TokenTypeAccessToken && opaque.IsAccessToken(raw):
		p, err = g.ownOpaque(ctx, raw, now)
	default:
		iss, perr := peekIssuer(raw)
		if perr != nil {
			return nil, invalid(perr)
		}
		switch {
		case iss == g.Issuer && typ == TokenTypeIDToken:
			p, err = g.ownJWT(ctx, raw, g.OwnIDTokens, false)
		case iss == g.Issuer:
			p, err = g.ownJWT(ctx, raw, g.OwnAccessTokens, true)
		default:
			return g.external(ctx, raw, typ, param, iss, pol, now)
		}
	}
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, invalid(err)
	}
	p.tokenType = typ
	if err := g.holdersActive(ctx, p, param); err != nil {
		return nil, err
	}
	return p, nil
}

// errRevoked marks a token found revoked.
var errRevoked = errors.New("revoked")

// ownOpaque looks an opaque writ access token up.
func (g *TokenExchange) ownOpaque(ctx context.Context, raw string, now time.Time) (*presented, error) {
	rec, err := g.Store.GetToken(ctx, opaque.Hash(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, err
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("token exchange: look up token: %w", err))
	}
	if !rec.ActiveAccessToken(now) {
		return nil, errRevoked
	}
	p := &presented{
		own: true, issuer: g.Issuer, subject: rec.Subject, clientID: rec.ClientID, audience: rec.Audience,
		scopes: rec.Scopes, hasScope: true, issuedAt: rec.IssuedAt, expiresAt: rec.ExpiresAt,
	}
	if len(rec.Extra) > 0 {
		members, err := strictjson.ParseObject(string(rec.Extra), 0, nil)
		if err != nil {
			return nil, oauth.ServerError(fmt.Errorf("token exchange: stored claims: %w", err))
		}
		if err := p.extraClaims(func(name string) (string, bool) {
			for _, m := range members {
				if m.Name == name {
					return m.Value, true
				}
			}
			return "", false
		}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ownJWT verifies a JWT writ issued: an access token (checked against the
// revocation list) or an ID token.
func (g *TokenExchange) ownJWT(ctx context.Context, raw string, v *jwt.Verifier, access bool) (*presented, error) {
	if v == nil {
		return nil, errors.New("no verifier for this token type")
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	claims := tok.Claims()
	if claims.Subject == "" || claims.ExpiresAt == 0 {
		return nil, errors.New("sub and exp are required")
	}
	p := &presented{
		own: true, issuer: claims.Issuer, subject: claims.Subject, audience: claims.Audience,
		issuedAt: claims.IssuedAt.Time(), expiresAt: claims.ExpiresAt.Time(), token: tok,
	}
	if access {
		if claims.ID == "" {
			return nil, errors.New("jti is required")
		}
		revoked, err := g.Store.IsJTIRevoked(ctx, claims.ID)
		if err != nil {
			return nil, oauth.ServerError(fmt.Errorf("token exchange: revocation list: %w", err))
		}
		if revoked {
			return nil, errRevoked
		}
		p.clientID, _ = tok.StringClaim("client_id")
	} else {
		p.clientID, _ = tok.StringClaim("azp")
	}
	if err := p.claims(tok); err != nil {
		return nil, err
	}
	if access {
		// writ leaves scope out of an access token issued no scope
		// (RFC 9068 §2.2.3): it grants none, not the exchanging client's.
		p.hasScope = true
	}
	return p, nil
}

// external verifies a JWT of an external issuer: the policy must name the
// issuer (checked before any key is fetched), and writ must trust it for
// token exchange.
func (g *TokenExchange) external(ctx context.Context, raw, typ, param, iss string, pol *store.ExchangePolicy, now time.Time) (*presented, error) {
	if g.External == nil || !slices.Contains(pol.SubjectIssuers, iss) {
		return nil, oauth.InvalidRequest("the %s's issuer is not trusted for token exchange by this client", param)
	}
	tok, trusted, err := g.External.Verify(ctx, raw, store.TrustSubjectToken, nil)
	switch {
	case errors.Is(err, ErrUntrustedIssuer):
		return nil, oauth.InvalidRequest("the %s's issuer is not trusted for token exchange", param)
	case errors.Is(err, jwt.ErrKeySource):
		return nil, oauth.TemporarilyUnavailable(err, "the issuer's keys are unavailable; retry later")
	case err != nil:
		e := oauth.InvalidRequest("the %s is invalid or expired", param)
		e.Cause = err
		return nil, e
	}
	claims := tok.Claims()
	if trusted == nil || trusted.Issuer != claims.Issuer || claims.Issuer != iss || claims.Subject == "" || claims.ExpiresAt == 0 {
		return nil, oauth.InvalidRequest("the %s lacks iss, sub or exp", param)
	}
	if !now.Before(claims.ExpiresAt.Time()) {
		return nil, oauth.InvalidRequest("the %s has expired", param)
	}
	p := &presented{
		tokenType: typ, issuer: iss, subject: claims.Subject, audience: claims.Audience,
		issuedAt: claims.IssuedAt.Time(), expiresAt: claims.ExpiresAt.Time(), token: tok,
	}
	p.clientID, _ = tok.StringClaim("client_id")
	if err := p.claims(tok); err != nil {
		return nil, oauth.InvalidRequest("the %s has a malformed claim", param)
	}
	// Another issuer's delegation ids are not writ's.
	p.delegationID = ""
	return p, nil
}

// samlSubject verifies a SAML 2.0 assertion as a subject or actor token:
// its issuer must be one the client's policy names (SubjectIssuers) — an
// assertion's subject is the IdP's NameID, never taken for a writ user —
// and its audience writ, the client or one of the policy's
// SubjectAudiences (the SP an assertion of writ's own was issued to).
func (g *TokenExchange) samlSubject(ctx context.Context, raw, param, clientID string, pol *store.ExchangePolicy, now time.Time) (*presented, error) {
	a, err := g.SAML.VerifySAML(ctx, raw, append([]string{clientID}, pol.SubjectAudiences...))
	switch {
	case errors.Is(err, ErrUntrustedIssuer):
		return nil, oauth.InvalidRequest("the %s's issuer is not trusted for token exchange", param)
	case err != nil:
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		e := oauth.InvalidRequest("the %s is invalid, expired or already used", param)
		e.Cause = err
		return nil, e
	}
	if !slices.Contains(pol.SubjectIssuers, a.Issuer) {
		return nil, oauth.InvalidRequest("the %s's issuer is not trusted for token exchange by this client", param)
	}
	if !now.Before(a.ExpiresAt) {
		return nil, oauth.InvalidRequest("the %s has expired", param)
	}
	return &presented{tokenType: TokenTypeSAML2, issuer: a.Issuer, subject: a.Subject, audience: a.Audiences,
		issuedAt: a.IssuedAt, expiresAt: a.ExpiresAt, saml: a}, nil
}

// claims reads the claims exchange uses from a verified JWT.
func (p *presented) claims(tok *jwt.Token) error {
	return p.extraClaims(tok.Claim)
}

// extraClaims reads scope, act, may_act, cnf (jkt, x5t#S256) and
// delegation_id.
func (p *presented) extraClaims(claim func(string) (string, bool)) error {
	if raw, ok := claim("scope"); ok {
		s, err := strictjson.String(raw)
		if err != nil {
			return errors.New("scope is not a string")
		}
		if p.scopes, err = oauth.ParseScope(s); err != nil {
			return errors.New("scope is malformed")
		}
		p.hasScope = true
	}
	if raw, ok := claim("act"); ok {
		p.act = json.RawMessage(raw)
	}
	if raw, ok := claim("may_act"); ok {
		p.mayAct = json.RawMessage(raw)
	}
	if raw, ok := claim("delegation_id"); ok {
		s, err := strictjson.String(raw)
		if err != nil || s == "" {
			return errors.New("delegation_id is not a string")
		}
		p.delegationID = s
	}
	if raw, ok := claim("cnf"); ok {
		members, err := strictjson.ParseObject(raw, 0, nil)
		if err != nil {
			return errors.New("cnf is not an object")
		}
		for _, m := range members {
			switch m.Name {
			case "jkt":
				if p.jkt, err = strictjson.String(m.Value); err != nil || p.jkt == "" {
					return errors.New("cnf.jkt is not a string")
				}
			case CnfX5T:
				if p.x5t, err = strictjson.String(m.Value); err != nil || p.x5t == "" {
					return errors.New("cnf.x5t#S256 is not a string")
				}
			default:
				// A confirmation method writ cannot check: the token
				// cannot be presented here.
				return fmt.Errorf("unsupported confirmation method %q", m.Name)
			}
		}
	}
	return nil
}

// holdersActive refuses a writ token whose delegation (or one above it)
// was revoked, whose client's grants were revoked after it was issued, or
// whose subject is gone: a user must exist and be active, a service (a
// client acting for itself or acted for) must exist; another issuer's
// principal, on a token writ issued by exchange, is recorded on its
// delegation. It records the token's delegation and whether its subject
// is a writ user.
func (g *TokenExchange) holdersActive(ctx context.Context, p *presented, param string) error {
	revoked := oauth.InvalidRequest("the %s is invalid, expired or revoked", param)
	if p.delegationID != "" {
		r, err := g.Store.DelegationRevoked(ctx, p.delegationID)
		if err != nil {
			return oauth.ServerError(fmt.Errorf("token exchange: delegation: %w", err))
		}
		if r {
			return revoked
		}
		d, err := g.Store.GetDelegation(ctx, p.delegationID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return revoked
		case err != nil:
			return oauth.ServerError(fmt.Errorf("token exchange: look up delegation: %w", err))
		}
		p.delegation = &d
	}
	if p.clientID != "" && g.Clients != nil {
		holder, err := g.Clients.GetClient(ctx, p.clientID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return revoked
		case err != nil:
			return oauth.ServerError(fmt.Errorf("token exchange: look up client: %w", err))
		}
		if !holder.TokensRevokedBefore.IsZero() && !p.issuedAt.After(holder.TokensRevokedBefore) {
			return revoked
		}
		if holder.Agent != nil {
			// An agent without a live owner acts for no one; introspection
			// says its tokens are inactive, and so does exchange.
			switch live, err := g.ownerActive(ctx, holder.Agent.Owner); {
			case err != nil:
				return oauth.ServerError(fmt.Errorf("token exchange: look up agent owner: %w", err))
			case !live:
				return revoked
			}
		}
	}
	if p.subject == p.clientID {
		return nil // a client's token for itself, checked above
	}
	if p.delegation != nil && p.delegation.SubjectIssuer != "" && p.delegation.SubjectIssuer != g.Issuer {
		// Another issuer's principal, exchanged before: never taken for
		// a writ user of the same name.
		return nil
	}
	u, err := g.Store.GetUser(ctx, p.subject)
	switch {
	case err == nil && u.Disabled:
		return revoked
	case err == nil:
		p.user = true
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return oauth.ServerError(fmt.Errorf("token exchange: look up user: %w", err))
	case g.Clients == nil:
		return revoked
	}
	sc, err := g.Clients.GetClient(ctx, p.subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return revoked
	case err != nil:
		return oauth.ServerError(fmt.Errorf("token exchange: look up client: %w", err))
	}
	// A service acted for: revoking it (an agent's revocation) covers
	// what others got to act for it until then, and an agent without a
	// live owner is acted for by no one.
	if !sc.TokensRevokedBefore.IsZero() && !p.issuedAt.After(sc.TokensRevokedBefore) {
		return revoked
	}
	if sc.Agent != nil {
		switch live, err := g.ownerActive(ctx, sc.Agent.Owner); {
		case err != nil:
			return oauth.ServerError(fmt.Errorf("token exchange: look up agent owner: %w", err))
		case !live:
			return revoked
		}
	}
	return nil
}

// ownerActive reports whether an agent's owner (store.AgentPolicy.Owner)
// is still there: a user that exists and is not disabled, or a registered
// client.
func (g *TokenExchange) ownerActive(ctx context.Context, owner string) (bool, error) {
	if id, ok := strings.CutPrefix(owner, store.OwnerClient); ok {
		_, err := g.Clients.GetClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	id, ok := strings.CutPrefix(owner, store.OwnerUser)
	if !ok {
		return false, nil
	}
	u, err := g.Store.GetUser(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return !u.Disabled, nil
}

// peekIssuer reads the iss of a compact JWS without verifying it, only to
// choose who verifies it.
func peekIssuer(raw string) (string, error) {
	jws, err := jose.ParseCompact(raw, MaxExchangeToken)
	if err != nil {
		return "", err
	}
	var buf [16]strictjson.Member
	members, err := strictjson.ParseObject(jws.Payload(), 0, buf[:0])
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.Name == "iss" {
			return strictjson.String(m.Value)
		}
	}
	return "", errors.New("no iss")
}

// AgentTTL caps an access token lifetime at the agent's MaxTokenTTL when c
// is an agent with one.
func AgentTTL(c *store.Client, ttl time.Duration) time.Duration {
	if c.Agent != nil && c.Agent.MaxTokenTTL > 0 && c.Agent.MaxTokenTTL < ttl {
		return c.Agent.MaxTokenTTL
	}
	return ttl
}

// AgentMayRefresh reports whether c may receive refresh tokens as far as
// its agent registration goes: any client that is not an agent, and
// agents that AllowRefresh.
func AgentMayRefresh(c *store.Client) bool {
	return c.Agent == nil || c.Agent.AllowRefresh
}
