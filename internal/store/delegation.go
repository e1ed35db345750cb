package store

import (
	"context"
	"encoding/json"
	"time"
)

// This file holds the records of delegation: agents as principals, the
// token exchange policy of a client, issuers writ trusts for token exchange,
// the JWT bearer grant and ID-JAG, the delegations (exchange chains) writ
// issued, and the audit trail.

// Owner kinds, the prefix of AgentPolicy.Owner.
const (
	// OwnerUser prefixes a user id: "user:<id>".
	OwnerUser = "user:"
	// OwnerClient prefixes a client id (a service): "client:<id>".
	OwnerClient = "client:"
)

// AgentPolicy makes a client an agent: a principal that acts for its owner
// with least privilege. The agent's allowed audiences and scopes are the
// client's Audiences and Scopes.
type AgentPolicy struct {
	// Owner is who the agent acts for and who may revoke it: OwnerUser or
	// OwnerClient followed by the id.
	Owner string
	// MaxTokenTTL bounds the lifetime of every token issued to the agent.
	MaxTokenTTL time.Duration
	// AllowRefresh lets the agent receive refresh tokens; false by default.
	AllowRefresh bool
	// RequireDPoP refuses to issue the agent anything but DPoP-bound tokens.
	RequireDPoP bool
}

// ExchangePolicy is what a client may do with the token exchange grant
// (RFC 8693). Its zero value is the default policy: subject tokens issued
// by writ whose aud includes the client's id or one of its Audiences (the
// on-behalf-of rule), any actor whose token writ can verify (a writ actor
// token issued to the client, for it, or addressed to writ), target
// audiences among the client's Audiences, scopes that only narrow, a
// lifetime never past the subject token's, no refresh tokens, no
// impersonation, chains of at most DefaultMaxChain actors.
type ExchangePolicy struct {
	// SubjectIssuers are further issuers (TrustedIssuer.Issuer) whose
	// tokens the client may present as subject or actor tokens; writ's own
	// issuer is always accepted.
	SubjectIssuers []string
	// SubjectAudiences are further audiences a subject token may carry
	// instead of the client's id or audiences.
	SubjectAudiences []string
	// Actors, when not empty, are the only actor subjects (the actor
	// token's sub, or the client's id when no actor token is sent) that
	// may act.
	Actors []string
	// MaxChain bounds the number of actors in the resulting act chain;
	// zero means DefaultMaxChain.
	MaxChain int
	// Impersonation allows an exchange whose result has no act claim,
	// when asked for explicitly; it is audited as such.
	Impersonation bool
	// RefreshTokens lets an exchange return a refresh token.
	RefreshTokens bool
	// IDJAGAudiences are the resource authorization servers (their issuer
	// identifiers) the client may ask ID-JAGs for.
	IDJAGAudiences []string
}

// DefaultMaxChain is the longest act chain of the default ExchangePolicy.
const DefaultMaxChain = 4

// Trust uses, the values of TrustedIssuer.Uses.
const (
	// TrustSubjectToken: the issuer's JWTs are accepted as subject and
	// actor tokens of token exchange (for clients whose ExchangePolicy
	// names it).
	TrustSubjectToken = "token_exchange"
	// TrustJWTBearer: its JWTs are accepted as RFC 7523 §2.1 assertions.
	TrustJWTBearer = "jwt_bearer"
	// TrustIDJAG: its ID-JAGs (typ oauth-id-jag+jwt) are accepted with the
	// jwt-bearer grant.
	TrustIDJAG = "id_jag"
)

// TrustedIssuer is an external issuer writ accepts tokens from.
type TrustedIssuer struct {
	// Issuer is the exact iss of its tokens; the key.
	Issuer string
	// JWKS is its public key set as raw JSON, or nil when JWKSURI is set.
	JWKS []byte
	// JWKSURI is where its key set is published, or empty.
	JWKSURI string
	// Uses are what its tokens may be used for (Trust* constants).
	Uses []string
	// Rules say which client may present its assertions (jwt-bearer,
	// ID-JAG) for which audiences and scopes; none means no client may.
	Rules []TrustRule
	// CreatedAt is when it was registered.
	CreatedAt time.Time
	// UpdatedAt is when it last changed.
	UpdatedAt time.Time
}

// TrustRule admits assertions of a TrustedIssuer presented by one client.
type TrustRule struct {
	// ClientID is the client that may present them ("*" for any).
	ClientID string
	// Audiences are the audiences of the tokens writ issues for them.
	Audiences []string
	// Scopes are the most the issued tokens may carry.
	Scopes []string
}

// Delegation is one link of an exchange chain writ issued: a token of
// Subject, acted on by Actors, issued to ClientID.
type Delegation struct {
	// ID identifies the delegation; tokens issued by it carry it as the
	// delegation_id claim (or TokenRecord.Extra, RefreshToken.DelegationID).
	ID string
	// RootID is the ID of the chain's first delegation (ID itself for the
	// first); revoking a delegation revokes every delegation with its ID
	// as RootID or ParentID, transitively.
	RootID string
	// ParentID is the delegation of the subject token, or empty.
	ParentID string
	// ClientID is the client that exchanged; it must exist.
	ClientID string
	// Subject is the principal acted for (the subject token's sub).
	Subject string
	// SubjectIssuer is the subject token's iss.
	SubjectIssuer string
	// Actors are the act chain of the issued token, outermost (the current
	// actor) first.
	Actors []string
	// Audience and Scopes are those of the issued token.
	Audience []string
	Scopes   []string
	// CreatedAt is when it was issued; ExpiresAt when its last token
	// expires (purged after).
	CreatedAt time.Time
	ExpiresAt time.Time
	// RevokedAt is when it was revoked; zero while active.
	RevokedAt time.Time
}

// DelegationQuery selects delegations; empty fields do not filter.
type DelegationQuery struct {
	// Subject, ClientID and Actor filter on equality (Actor: any element
	// of Actors).
	Subject  string
	ClientID string
	Actor    string
	// ActiveAt, when not zero, keeps those not revoked and not expired at
	// that instant.
	ActiveAt time.Time
	// Limit bounds the result (EffectiveLimit rules); newest first.
	Limit int
}

// DelegationStore keeps the delegations writ issued.
type DelegationStore interface {
	// CreateDelegation stores d; ErrAlreadyExists if the ID is taken,
	// ErrNotFound if the client does not exist.
	CreateDelegation(ctx context.Context, d Delegation) error
	// GetDelegation returns one delegation, or ErrNotFound.
	GetDelegation(ctx context.Context, id string) (Delegation, error)
	// DelegationRevoked reports whether the delegation or any delegation
	// it descends from is revoked (an unknown id counts as revoked).
	DelegationRevoked(ctx context.Context, id string) (bool, error)
	// ListDelegations returns the delegations q selects, newest first.
	ListDelegations(ctx context.Context, q DelegationQuery) ([]Delegation, error)
	// RevokeDelegation revokes the delegation and every delegation below
	// it, and the refresh token families that carry their ids, in one
	// transaction; returns how many delegations it revoked. ErrNotFound
	// for an unknown id.
	RevokeDelegation(ctx context.Context, id string, at time.Time) (int, error)
	// RevokeClientGrants revokes everything a client holds: its refresh
	// token families, its delegations and those where it is an actor (with
	// every delegation below them, as RevokeDelegation), and
	// sets Client.TokensRevokedBefore to at, in one transaction.
	RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error
	// DeleteExpiredDelegations removes delegations past ExpiresAt; the
	// delegations below them that live on, which then count as revoked,
	// are revoked at now with their live refresh token families, in the
	// same transaction.
	DeleteExpiredDelegations(ctx context.Context, now time.Time) (int64, error)
}

// TrustStore keeps the external issuers writ trusts.
type TrustStore interface {
	// PutTrustedIssuer creates or replaces an issuer (CreatedAt kept).
	PutTrustedIssuer(ctx context.Context, t TrustedIssuer) error
	// CreateTrustedIssuer stores a new issuer, or returns
	// ErrAlreadyExists (leaving the stored one as it was).
	CreateTrustedIssuer(ctx context.Context, t TrustedIssuer) error
	// UpdateTrustedIssuer replaces the issuer with what fn makes of it,
	// in one transaction, and returns what was stored; ErrNotFound when
	// there is none, fn's error (nothing written), or ErrInvalid when fn
	// changes the issuer.
	UpdateTrustedIssuer(ctx context.Context, issuer string, fn func(old TrustedIssuer) (TrustedIssuer, error)) (TrustedIssuer, error)
	// GetTrustedIssuer returns one issuer, or ErrNotFound.
	GetTrustedIssuer(ctx context.Context, issuer string) (TrustedIssuer, error)
	// ListTrustedIssuers returns them all, ordered by Issuer.
	ListTrustedIssuers(ctx context.Context) ([]TrustedIssuer, error)
	// DeleteTrustedIssuer removes one, or returns ErrNotFound.
	DeleteTrustedIssuer(ctx context.Context, issuer string) error
}

// Audit event types.
const (
	AuditTokenExchange     = "token_exchange"
	AuditImpersonation     = "impersonation"
	AuditJWTBearer         = "jwt_bearer"
	AuditIDJAGIssued       = "id_jag_issued"
	AuditIDJAGRedeemed     = "id_jag_redeemed"
	AuditAgentRevoked      = "agent_revoked"
	AuditDelegationRevoked = "delegation_revoked"
	AuditClientRegistered  = "client_registered"
	AuditClientUpdated     = "client_updated"
	AuditClientDeleted     = "client_deleted"
	// AuditTokenIssued: a grant issued tokens (authorization code, device
	// code, client credentials).
	AuditTokenIssued = "token_issued"
	// AuditTokenRefreshed: a refresh token was rotated.
	AuditTokenRefreshed = "token_refreshed"
	// AuditTokenRevoked: a token was revoked (revocation endpoint).
	AuditTokenRevoked = "token_revoked"
	// AuditCodeReplayed: an authorization code was presented again; what
	// it issued was revoked.
	AuditCodeReplayed = "code_replayed"
	// AuditRefreshReused: a rotated refresh token was presented again; its
	// family was revoked.
	AuditRefreshReused = "refresh_reused"
	// AuditSignIn and AuditSignInFailed: a sign-in succeeded or failed.
	AuditSignIn       = "sign_in"
	AuditSignInFailed = "sign_in_failed"
	// AuditConsentGiven and AuditConsentWithdrawn: a user gave or withdrew
	// consent to a client.
	AuditConsentGiven     = "consent_given"
	AuditConsentWithdrawn = "consent_withdrawn"
	// AuditAdminChange: the admin API changed a record (Details say which).
	AuditAdminChange = "admin_change"
	// AuditKeyRotated: the signing keys were rotated.
	AuditKeyRotated = "key_rotated"
)

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	// Seq is assigned by the store: ascending, gap-free per store.
	Seq int64
	// Time is when it happened.
	Time time.Time
	// Type is one of the Audit* constants.
	Type string
	// ClientID is the client that acted, or empty.
	ClientID string
	// Subject is the principal acted for, or empty.
	Subject string
	// Actors is the act chain, outermost first, or empty.
	Actors []string
	// DelegationID is the delegation concerned, or empty.
	DelegationID string
	// By is who caused it when not the client: "admin", "user:<id>".
	By string
	// RequestID is the HTTP request's id, or empty.
	RequestID string
	// Details is a JSON object with the rest (audiences, scopes, token
	// types, issuers); never a token or secret.
	Details json.RawMessage
	// PrevHash is the Hash of the event before (32 zero bytes for the
	// first chained event); set by the store, ignored on append.
	PrevHash []byte
	// Hash chains the event to PrevHash (internal/audit/chain.Hash); set
	// by the store inside the append's transaction, ignored on append.
	// Both are nil for events appended before the chain existed
	// (migration 0011).
	Hash []byte
}

// AuditQuery selects audit events; empty fields do not filter.
type AuditQuery struct {
	// AfterSeq starts after this sequence number.
	AfterSeq int64
	// Type, ClientID and Subject filter on equality.
	Type     string
	ClientID string
	Subject  string
	// Since and Until, when not zero, keep the events whose Time is at or
	// after Since and before Until.
	Since time.Time
	Until time.Time
	// Limit bounds the result (EffectiveLimit rules); oldest first.
	Limit int
}

// AuditStore keeps the audit trail; events are never updated or deleted
// through it.
type AuditStore interface {
	// AppendAudit stores e and returns its sequence number.
	AppendAudit(ctx context.Context, e AuditEvent) (int64, error)
	// ListAudit returns the events q selects, oldest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
