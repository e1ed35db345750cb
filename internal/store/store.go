// Package store defines writ's persistent records and the small interfaces
// through which the rest of the server reads and writes them.
//
// Every aggregate has its own interface (ClientStore, TokenStore,
// ReplayStore, KeyStore, for signing users in UserStore, SessionStore,
// AuthCodeStore, RefreshStore and ConsentStore, and for delegation
// DelegationStore, TrustStore and AuditStore, in delegation.go, and for
// devices DeviceCodeStore, in device.go), so a
// handler asks only for what it needs: the client credentials grant
// depends on a ClientStore, introspection on a TokenStore. Store embeds them all, plus Migrator, Ping
// and Close, and is what a backend implements.
//
// The package is split so that nothing registers itself globally:
//
//	internal/store           records, interfaces, sentinel errors, validation
//	internal/store/sqlite    the embedded backend (modernc.org/sqlite, no cgo)
//	internal/store/postgres  the PostgreSQL backend (jackc/pgx v5, pgxpool)
//	internal/store/storeopen Open(ctx, dsn): picks a backend by the DSN's form
//	internal/store/storetest the conformance suite every backend must pass
//
// # Rules every backend follows
//
//   - Updates are read-modify-write functions (UpdateClient, UpdateUser,
//     UpdateKeyRing) run inside one transaction with the row locked, so
//     concurrent updates never lose a write. The function must not call the
//     store itself: it runs while the transaction (and, on SQLite, the
//     single writer connection) is held. The single-use operations
//     (RedeemAuthCode, RotateRefreshToken) lock the same way, so that of
//     concurrent callers exactly one succeeds, and write what the grant
//     issued (Issue) in the same transaction.
//   - Uniqueness is enforced by the database (primary keys), never by a
//     check-then-insert in Go; a duplicate yields ErrAlreadyExists.
//   - All SQL is parameterized. Text is stored verbatim; records that cannot be
//     stored faithfully (invalid UTF-8, NUL bytes, out-of-range times) are
//     refused with ErrInvalid before anything is written.
//   - Secrets are never stored in plaintext: the caller hands over a keyed
//     hash or sealed bytes (Client.SecretHash, the key ring), the SHA-256 of
//     a bearer value (opaque tokens, session cookies, authorization codes,
//     refresh tokens) or an encoded password hash (User.PasswordHash), which
//     the store keeps as given. No error message contains a secret, a hash
//     or a token.
//   - Times are stored in UTC at TimePrecision (microseconds) and returned in
//     UTC. Durations are stored as nanoseconds.
//   - The store persists the times it is given: the caller, which owns the
//     clock, sets CreatedAt, UpdatedAt, IssuedAt and the like, and passes
//     "now" to the operations that judge or record an instant.
//   - Deleting a record deletes what depends on it, in the same statement
//     (foreign keys ON DELETE CASCADE): a client takes its token records,
//     authorization codes, refresh tokens, consents and delegations with
//     it; a user its sessions, authorization codes, refresh tokens and
//     consents. The audit trail names clients and users but does not
//     depend on them: it outlives them.
//
// # Adding an aggregate
//
// A new aggregate gets its record type and a small interface in this
// package (the sign-in aggregates live in signin.go), a new numbered
// migration file per backend (migrations/NNNN_name.sql), its methods in each
// backend, and a group of tests in storetest; Store then embeds the new
// interface. Expiring records are purged by the aggregate's method of
// Purger.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with context; callers test them with
// errors.Is.
var (
	// ErrNotFound reports that the record asked for does not exist (or, when
	// creating a token, that the client it refers to does not exist).
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists reports that a record with the same key exists
	// already, or that a single-use identifier was used before.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict reports that the operation collided with a concurrent one
	// and was abandoned without effect (a lock or busy timeout, a
	// serialization failure or a deadlock); retrying may succeed.
	ErrConflict = errors.New("store: conflict with a concurrent operation")
	// ErrInvalid reports that a record or argument cannot be stored
	// faithfully, or that an update tried to change a record's key. Nothing
	// was written. The message names the field, never its value.
	ErrInvalid = errors.New("store: invalid record")
	// ErrReused reports that a single-use credential was presented again:
	// an authorization code redeemed before (RedeemAuthCode) or a refresh
	// token rotated before (RotateRefreshToken). It is a sign of theft: the
	// caller revokes what the first use issued.
	ErrReused = errors.New("store: single-use credential used again")
	// ErrExpired reports that an authorization code (RedeemAuthCode) or a
	// refresh token, or its family, has expired (RotateRefreshToken).
	// Nothing was written.
	ErrExpired = errors.New("store: expired")
	// ErrUnavailable reports that the database could not be reached or
	// the connection was lost: the operation was not done, or (a
	// connection lost during the commit) its outcome is unknown. Callers
	// answer 503 and acknowledge nothing.
	ErrUnavailable = errors.New("store: database unavailable")
)

// TimePrecision is the precision at which every backend stores times; finer
// parts are truncated (towards the past).
const TimePrecision = time.Microsecond

// Access token formats for Client.AccessTokenFormat.
const (
	// AccessTokenJWT is a self-contained RFC 9068 JWT access token.
	AccessTokenJWT = "jwt"
	// AccessTokenOpaque is a random reference token whose hash is kept as a
	// TokenRecord.
	AccessTokenOpaque = "opaque"
)

// KindAccessToken is the TokenRecord.Kind of an opaque access token.
const KindAccessToken = "access_token"

// Security profiles of a client (Client.Profile).
const (
	// ProfileNone holds the client to writ's ordinary rules.
	ProfileNone = ""
	// ProfileFAPI2 holds the client to the FAPI 2.0 Security Profile.
	ProfileFAPI2 = "fapi2"
)

// TLSClientAuth is the registered certificate identity of a client that
// authenticates with tls_client_auth (RFC 8705 §2.1.2). The store needs
// at least one field set; the admin API registers exactly one, as the RFC
// asks.
type TLSClientAuth struct {
	// SubjectDN is tls_client_auth_subject_dn (RFC 4514 string form).
	SubjectDN string
	// SANDNS is tls_client_auth_san_dns.
	SANDNS string
	// SANURI is tls_client_auth_san_uri.
	SANURI string
	// SANIP is tls_client_auth_san_ip.
	SANIP string
	// SANEmail is tls_client_auth_san_email.
	SANEmail string
}

// Client is an OAuth 2.0 client registration (RFC 7591 metadata plus writ's
// own policy).
type Client struct {
	// ID is the client_id; it cannot change once created.
	ID string
	// SecretHash is the keyed hash of the client secret computed by the
	// caller (HMAC-SHA-256 under a server key); empty for public clients
	// and for clients that authenticate with private_key_jwt.
	SecretHash []byte
	// SecretRotatedAt is when the current secret was set.
	SecretRotatedAt time.Time
	// Name is the human-readable client_name.
	Name string
	// RedirectURIs are the registered redirect_uris, matched exactly.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the registered post_logout_redirect_uris.
	PostLogoutRedirectURIs []string
	// GrantTypes are the grant_types the client may use.
	GrantTypes []string
	// ResponseTypes are the response_types the client may use.
	ResponseTypes []string
	// Scopes are the scopes the client may request.
	Scopes []string
	// Audiences are the resources/audiences the client may ask tokens for
	// (RFC 8707); the first one is the default.
	Audiences []string
	// TokenEndpointAuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt or none.
	TokenEndpointAuthMethod string
	// JWKS is the client's registered public key set as raw JSON, or nil.
	JWKS []byte
	// JWKSURI is where the client publishes its key set, or empty.
	JWKSURI string
	// AccessTokenFormat is AccessTokenJWT or AccessTokenOpaque.
	AccessTokenFormat string
	// AccessTokenTTL is the lifetime of the access tokens issued to the
	// client.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of its refresh tokens.
	RefreshTokenTTL time.Duration
	// IDTokenTTL is the lifetime of its ID tokens.
	IDTokenTTL time.Duration
	// IDTokenSignedResponseAlg is the algorithm its ID tokens are signed
	// with (OIDC Registration §2); empty means RS256.
	IDTokenSignedResponseAlg string
	// FirstParty clients may skip the consent page.
	FirstParty bool
	// BackchannelLogoutURI receives OIDC back-channel logout tokens, or is
	// empty.
	BackchannelLogoutURI string
	// Metadata holds free-form annotations.
	Metadata map[string]string
	// DPoPBoundAccessTokens is the client metadata dpop_bound_access_tokens
	// (RFC 9449 §5.2): every token request of the client must carry a
	// DPoP proof, and its tokens are all DPoP-bound (its refresh tokens
	// too, confidential client or not).
	DPoPBoundAccessTokens bool
	// RequirePushedAuthorizationRequests is the client metadata of RFC
	// 9126 §6: the authorization endpoint takes the client's requests only
	// as a request_uri from the pushed authorization request endpoint.
	RequirePushedAuthorizationRequests bool
	// TLSClientAuth is how a tls_client_auth client's certificate is
	// matched (RFC 8705 §2.1.2): the one registered subject DN or SAN
	// value; nil for other clients.
	TLSClientAuth *TLSClientAuth
	// TLSClientCertificateBoundAccessTokens is the client metadata of RFC
	// 8705 §3.4: the client's access tokens are bound to its TLS client
	// certificate (cnf.x5t#S256).
	TLSClientCertificateBoundAccessTokens bool
	// IDTokenEncryptedResponseAlg and IDTokenEncryptedResponseEnc are the
	// JWE key management and content encryption algorithms of the client's
	// ID tokens (OIDC Registration §2; nested JWT: signed, then encrypted
	// to a key of the client's JWKS); empty means not encrypted.
	IDTokenEncryptedResponseAlg string
	// IDTokenEncryptedResponseEnc: see IDTokenEncryptedResponseAlg; empty
	// with an alg set means A128CBC-HS256.
	IDTokenEncryptedResponseEnc string
	// UserinfoSignedResponseAlg is the algorithm UserInfo responses are
	// signed with (a JWT instead of JSON); empty means plain JSON.
	UserinfoSignedResponseAlg string
	// UserinfoEncryptedResponseAlg and UserinfoEncryptedResponseEnc
	// encrypt UserInfo responses like ID tokens; empty means not encrypted.
	UserinfoEncryptedResponseAlg string
	// UserinfoEncryptedResponseEnc: see UserinfoEncryptedResponseAlg.
	UserinfoEncryptedResponseEnc string
	// Profile is a security profile the client is held to: ProfileNone
	// (empty) or ProfileFAPI2 (the FAPI 2.0 Security Profile).
	Profile string
	// Agent, when not nil, registers the client as an agent (a principal
	// acting for its owner); nil for other clients.
	Agent *AgentPolicy
	// Exchange is the client's token exchange policy; nil is the default
	// policy (the zero ExchangePolicy).
	Exchange *ExchangePolicy
	// Origin is how the client was registered: OriginAdmin (empty),
	// OriginDynamic (RFC 7591) or OriginMetadataDocument (a client ID
	// metadata document, cached as this record).
	Origin string
	// RegistrationTokenHash is the SHA-256 of the RFC 7592 registration
	// access token of a dynamically registered client, or nil.
	RegistrationTokenHash []byte
	// TokensRevokedBefore, when not zero, makes every token issued to the
	// client at or before it inactive (RevokeClientGrants sets it).
	TokensRevokedBefore time.Time
	// CreatedAt is when the client was registered.
	CreatedAt time.Time
	// UpdatedAt is when the registration last changed.
	UpdatedAt time.Time
}

// Client origins, the values of Client.Origin.
const (
	OriginAdmin            = ""
	OriginDynamic          = "dynamic"
	OriginMetadataDocument = "metadata_document"
)

// TokenRecord is the stored state of an opaque token, keyed by the SHA-256
// hash of the token; the token itself is never stored.
type TokenRecord struct {
	// Hash is the SHA-256 of the opaque token (32 bytes).
	Hash []byte
	// Kind is what the token is, e.g. KindAccessToken.
	Kind string
	// ClientID is the client the token was issued to; it must exist.
	// Deleting the client deletes its token records.
	ClientID string
	// Subject is the token's sub.
	Subject string
	// Scopes are the granted scopes.
	Scopes []string
	// Audience is the token's aud.
	Audience []string
	// IssuedAt is the token's iat.
	IssuedAt time.Time
	// ExpiresAt is the token's exp; DeleteExpired removes the record after
	// it. Must not be zero.
	ExpiresAt time.Time
	// Revoked is set by RevokeToken.
	Revoked bool
	// Extra is a JSON document with further claims, or nil. It is kept byte
	// for byte.
	Extra json.RawMessage
}

// ListOptions selects one page of a list ordered by key. Pages are keyset
// based: pass the last key of a page as After to get the next one.
type ListOptions struct {
	// Limit is the page size; zero or negative means DefaultListLimit, and
	// it is capped at MaxListLimit.
	Limit int
	// After, when not empty, starts the page after this key.
	After string
}

// Page-size bounds for ListOptions.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// EffectiveLimit returns the page size a backend uses for o.
func (o ListOptions) EffectiveLimit() int {
	switch {
	case o.Limit <= 0:
		return DefaultListLimit
	case o.Limit > MaxListLimit:
		return MaxListLimit
	default:
		return o.Limit
	}
}

// ClientStore keeps client registrations.
type ClientStore interface {
	// CreateClient stores a new client; ErrAlreadyExists if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client with the given ID, or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns one page of clients ordered by ID (byte order).
	ListClients(ctx context.Context, opts ListOptions) ([]Client, error)
	// UpdateClient applies fn to the stored client inside one transaction
	// with the row locked, stores the result and returns it. An error from
	// fn aborts the update and is returned (wrapped). The ID cannot change
	// (ErrInvalid). ErrNotFound if there is no such client.
	UpdateClient(ctx context.Context, id string, fn func(old Client) (Client, error)) (Client, error)
	// DeleteClient removes the client and, in the same statement, its token
	// records, authorization codes, refresh tokens and consents, or returns
	// ErrNotFound.
	DeleteClient(ctx context.Context, id string) error
}

// TokenStore keeps opaque token records and the revocation list of JWT
// access tokens.
type TokenStore interface {
	// CreateToken stores a token record; ErrAlreadyExists if the hash is
	// taken, ErrNotFound if the client does not exist.
	CreateToken(ctx context.Context, r TokenRecord) error
	// GetToken returns the record with the given hash, expired or revoked
	// ones included (the caller decides), or ErrNotFound.
	GetToken(ctx context.Context, hash []byte) (TokenRecord, error)
	// RevokeToken marks the record revoked. Revoking a revoked token is not
	// an error; an unknown hash is ErrNotFound.
	RevokeToken(ctx context.Context, hash []byte) error
	// RevokeJTI records that the JWT with this jti is revoked until
	// expiresAt, which should include the verifiers' clock-skew leeway.
	// Idempotent: revoking again keeps the later expiry.
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	// IsJTIRevoked reports whether the jti is on the revocation list.
	IsJTIRevoked(ctx context.Context, jti string) (bool, error)
}

// Purger removes expired records, one aggregate per method, each in one
// transaction; every method returns how many records it removed, and
// removes those whose expiry is at or before now.
// UsedAuthCodeRetention is how long past its expiry a redeemed
// authorization code is kept, so that a replay of it (a sign of a stolen
// code, RFC 6749 §4.1.2) still revokes the tokens its redemption issued.
const UsedAuthCodeRetention = 24 * time.Hour

type Purger interface {
	// DeleteExpiredTokens removes opaque token records (TokenRecord.ExpiresAt)
	// and revoked JTIs.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error)
	// DeleteExpiredReplays removes used assertion JTIs (UseJTI).
	DeleteExpiredReplays(ctx context.Context, now time.Time) (int64, error)
	// DeleteExpiredSessions removes sessions (Session.ExpiresAt).
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
	// DeleteExpiredAuthCodes removes unredeemed authorization codes past
	// AuthCode.ExpiresAt, and redeemed ones UsedAuthCodeRetention later, so
	// that a replay still finds, and revokes, what the code issued. Once
	// purged, a code presented again is ErrNotFound rather than ErrReused.
	DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int64, error)
	// DeleteExpiredRefreshTokens removes refresh tokens
	// (RefreshToken.ExpiresAt) and the families past their absolute expiry
	// with all their tokens; families are not counted, their tokens are.
	// Once purged, a rotated token presented again is ErrNotFound rather
	// than ErrReused, and the access tokens recorded on it are no longer
	// revoked with its family.
	DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int64, error)
	// DeleteExpired runs every method above and returns the sum.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// ReplayStore remembers single-use identifiers, such as the jti of RFC 7523
// client assertions (private_key_jwt).
type ReplayStore interface {
	// UseJTI records that clientID used jti, remembered until expiresAt
	// (which should include the verifier's leeway). It returns
	// ErrAlreadyExists if the pair was used before and not yet purged by
	// DeleteExpired. It is atomic: of concurrent callers with the same pair,
	// exactly one succeeds.
	UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error
}

// KeyStore persists the signing key ring as one opaque (sealed) document
// with a version number.
type KeyStore interface {
	// GetKeyRing returns the stored key ring and its version, or ErrNotFound
	// when none was stored yet.
	GetKeyRing(ctx context.Context) (data []byte, version int64, err error)
	// UpdateKeyRing applies fn to the stored key ring (nil when none) in one
	// transaction with the row locked, stores the result (which must not be
	// empty) and increments the version, so two nodes rotating at once do
	// not lose a key. An error from fn aborts the update and is returned
	// (wrapped).
	UpdateKeyRing(ctx context.Context, fn func(old []byte) ([]byte, error)) error
}

// Migration describes one schema migration and whether it is applied.
type Migration struct {
	// Version is the migration's number (from its file name, 0001_...).
	Version int
	// Name is the rest of the file name, without ".sql"; empty for a
	// version applied to the database but unknown to this binary.
	Name string
	// Applied reports whether the database has the migration.
	Applied bool
	// AppliedAt is when it was applied (zero if it was not).
	AppliedAt time.Time
}

// Migrator applies and reports schema migrations.
type Migrator interface {
	// Migrate applies the pending migrations in order, each in its own
	// transaction; running it again is a no-op. Concurrent callers (two
	// nodes starting at once) are serialized. It fails without changes if
	// the database has a version this binary does not know (a newer
	// schema).
	Migrate(ctx context.Context) error
	// MigrationStatus lists the migrations this binary knows and any
	// unknown versions found in the database, ordered by version. It works
	// on a database that was never migrated.
	MigrationStatus(ctx context.Context) ([]Migration, error)
}

// Store is everything a backend provides.
type Store interface {
	ClientStore
	TokenStore
	ReplayStore
	KeyStore
	UserStore
	SessionStore
	AuthCodeStore
	RefreshStore
	ConsentStore
	AuditStore
	AuditChainStore
	DelegationStore
	TrustStore
	DeviceCodeStore
	SAMLStore
	Purger
	Migrator
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// DeleteAllExpired runs every method of p that purges one aggregate and
// returns the sum; it is how a backend implements Purger.DeleteExpired.
func DeleteAllExpired(ctx context.Context, p Purger, now time.Time) (int64, error) {
	var total int64
	for _, purge := range []func(context.Context, time.Time) (int64, error){
		p.DeleteExpiredTokens, p.DeleteExpiredReplays, p.DeleteExpiredSessions,
		p.DeleteExpiredAuthCodes, p.DeleteExpiredRefreshTokens,
	} {
		n, err := purge(ctx, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
