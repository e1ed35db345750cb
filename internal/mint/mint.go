// Package mint issues access tokens: RFC 9068 JWTs signed by the key ring's
// active key, or opaque reference tokens whose SHA-256 hash is stored. It
// owns the token formats; grant handlers decide what goes into a token.
package mint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/internal/tracing"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// ErrNoSigningKey means the key ring has no active key: nothing can be
// signed until one is activated. It is a server state, not a client error.
var ErrNoSigningKey = errors.New("mint: no active signing key")

// SigningKeys supplies the key that signs now (the key ring).
type SigningKeys interface {
	Signer() (*jose.Key, error)
}

// TokenWriter stores opaque token records.
type TokenWriter interface {
	CreateToken(ctx context.Context, r store.TokenRecord) error
}

// Minter mints access tokens. It is safe for concurrent use.
type Minter struct {
	issuer string
	keys   SigningKeys
	tokens TokenWriter
	now    func() time.Time
	// tracer opens a span per minted token; nil opens none.
	tracer trace.Tracer
}

// SetTracer makes the minter open a span for each access token it mints
// (PrepareContext, Access, Sign). Call it before the minter is used.
func (m *Minter) SetTracer(t trace.Tracer) { m.tracer = t }

// PrepareContext is Prepare, its signature in a span of ctx's trace (when
// a tracer is set): the span names the format, never a claim.
func (m *Minter) PrepareContext(ctx context.Context, at AccessToken) (Issued, error) {
	iss, err := m.Plan(at)
	if err != nil {
		return Issued{}, err
	}
	if err := m.Sign(ctx, &iss); err != nil {
		return Issued{}, err
	}
	return iss, nil
}

// formatName is the access token format as a span attribute.
func formatName(f string) string {
	if f == store.AccessTokenOpaque {
		return "opaque"
	}
	return "jwt"
}

// New returns a Minter for issuer. now may be nil (time.Now).
func New(issuer string, keys SigningKeys, tokens TokenWriter, now func() time.Time) *Minter {
	if now == nil {
		now = time.Now
	}
	return &Minter{issuer: issuer, keys: keys, tokens: tokens, now: now}
}

// Issuer returns the iss of minted tokens.
func (m *Minter) Issuer() string { return m.issuer }

// AccessToken describes an access token to mint.
type AccessToken struct {
	ClientID string
	// Subject is the sub: the client_id for client credentials, the user
	// otherwise.
	Subject  string
	Scopes   []string
	Audience []string
	TTL      time.Duration
	// Format is store.AccessTokenJWT or store.AccessTokenOpaque.
	Format string
	// Extra holds further top-level claims (act, cnf, auth_time, ...). They
	// may not replace registered ones.
	Extra map[string]any
}

// Issued is a minted token.
type Issued struct {
	// Value is the token itself.
	Value string
	// Format is store.AccessTokenJWT or store.AccessTokenOpaque.
	Format string
	// ID is the jti of a JWT; empty for an opaque token.
	ID string
	// Record is the record of an opaque token, which Prepare leaves for
	// the caller to store; nil for a JWT.
	Record *store.TokenRecord
	// IssuedAt and ExpiresAt are the token's iat and exp.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// unsigned is the payload of a JWT that Plan fixed and Sign has not
	// signed yet (Value is then empty).
	unsigned []byte
}

// ExpiresIn is the lifetime in whole seconds, for the token response.
func (i Issued) ExpiresIn() int64 { return int64(i.ExpiresAt.Sub(i.IssuedAt) / time.Second) }

var reserved = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"}

// Access mints an access token and stores the record of an opaque one.
func (m *Minter) Access(ctx context.Context, at AccessToken) (Issued, error) {
	iss, err := m.PrepareContext(ctx, at)
	if err != nil || iss.Record == nil {
		return iss, err
	}
	if err := m.Store(ctx, iss); err != nil {
		return Issued{}, err
	}
	return iss, nil
}

// Store stores the record of an opaque token Prepare minted; a JWT has
// none and is not stored.
func (m *Minter) Store(ctx context.Context, iss Issued) error {
	if iss.Record == nil {
		return nil
	}
	if err := m.tokens.CreateToken(ctx, *iss.Record); err != nil {
		return fmt.Errorf("mint: store opaque token: %w", err)
	}
	return nil
}

// Prepare mints an access token in memory: a signed JWT, or an opaque
// token with its Record, which the caller stores (the grants store it in
// the transaction that records what they issued). It writes nothing. It is
// Plan followed by Sign.
func (m *Minter) Prepare(at AccessToken) (Issued, error) {
	iss, err := m.Plan(at)
	if err != nil {
		return Issued{}, err
	}
	if err := m.sign(&iss); err != nil {
		return Issued{}, err
	}
	return iss, nil
}

// Plan fixes an access token without signing it: its ID (jti), iat and
// exp, and for an opaque token its value and Record. A JWT's Value stays
// empty until Sign. A grant plans what it issues inside the transaction
// that records it, and signs once that committed, so that the transaction
// does not wait for a signature.
func (m *Minter) Plan(at AccessToken) (Issued, error) {
	if at.TTL <= 0 {
		return Issued{}, errors.New("mint: access token TTL must be positive")
	}
	for name := range at.Extra {
		if slices.Contains(reserved, name) {
			return Issued{}, fmt.Errorf("mint: extra claim %q would replace a registered claim", name)
		}
	}
	now := m.now().Truncate(time.Second)
	switch at.Format {
	case store.AccessTokenJWT, "":
		return m.jwtAccess(at, now)
	case store.AccessTokenOpaque:
		return m.opaqueAccess(at, now)
	}
	return Issued{}, fmt.Errorf("mint: unknown access token format %q", at.Format)
}

func (m *Minter) jwtAccess(at AccessToken, now time.Time) (Issued, error) {
	jti := opaque.Random(16)
	exp := now.Add(at.TTL)
	p := make([]byte, 0, 384)
	p = append(p, `{"iss":`...)
	p = strictjson.AppendString(p, m.issuer)
	p = append(p, `,"sub":`...)
	p = strictjson.AppendString(p, at.Subject)
	p = append(p, `,"aud":`...)
	if len(at.Audience) == 1 {
		p = strictjson.AppendString(p, at.Audience[0])
	} else {
		p = strictjson.AppendStringArray(p, at.Audience)
	}
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, exp.Unix(), 10)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	p = append(p, `,"jti":`...)
	p = strictjson.AppendString(p, jti)
	p = append(p, `,"client_id":`...)
	p = strictjson.AppendString(p, at.ClientID)
	if len(at.Scopes) > 0 {
		p = append(p, `,"scope":`...)
		p = strictjson.AppendString(p, strings.Join(at.Scopes, " "))
	}
	if len(at.Extra) > 0 {
		extra, err := json.Marshal(at.Extra)
		if err != nil {
			return Issued{}, fmt.Errorf("mint: encode extra claims: %w", err)
		}
		p = append(p, ',')
		p = append(p, extra[1:len(extra)-1]...)
	}
	p = append(p, '}')
	return Issued{Format: store.AccessTokenJWT, ID: jti, IssuedAt: now, ExpiresAt: exp, unsigned: p}, nil
}

// CanSign returns nil when a JWT could be signed now (the key ring has an
// active key), or an error wrapping ErrNoSigningKey.
func (m *Minter) CanSign() error {
	if _, err := m.keys.Signer(); err != nil {
		return fmt.Errorf("%w: %v", ErrNoSigningKey, err)
	}
	return nil
}

// Sign signs the JWT that Plan left unsigned, in a span of ctx's trace
// (when a tracer is set), and sets its Value. An opaque token, or a JWT
// signed already, is left as it is.
func (m *Minter) Sign(ctx context.Context, iss *Issued) error {
	if iss.unsigned == nil {
		return nil
	}
	if m.tracer == nil {
		return m.sign(iss)
	}
	_, span := tracing.Start(ctx, m.tracer, "mint.access_token", attribute.String("token.format", formatName(iss.Format)))
	err := m.sign(iss)
	tracing.End(span, err)
	return err
}

// sign signs iss's unsigned JWT with the key ring's active key.
func (m *Minter) sign(iss *Issued) error {
	if iss.unsigned == nil {
		return nil
	}
	key, err := m.keys.Signer()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSigningKey, err)
	}
	tok, err := jose.Sign(key, iss.unsigned, &jose.SignOptions{Type: jwt.TypeAccessToken})
	if err != nil {
		return fmt.Errorf("mint: sign: %w", err)
	}
	iss.Value, iss.unsigned = tok, nil
	return nil
}

func (m *Minter) opaqueAccess(at AccessToken, now time.Time) (Issued, error) {
	value, hash := opaque.New(opaque.AccessTokenPrefix)
	var extra json.RawMessage
	if len(at.Extra) > 0 {
		var err error
		if extra, err = json.Marshal(at.Extra); err != nil {
			return Issued{}, fmt.Errorf("mint: encode extra claims: %w", err)
		}
	}
	exp := now.Add(at.TTL)
	rec := &store.TokenRecord{
		Hash:      hash,
		Kind:      store.KindAccessToken,
		ClientID:  at.ClientID,
		Subject:   at.Subject,
		Scopes:    at.Scopes,
		Audience:  at.Audience,
		IssuedAt:  now,
		ExpiresAt: exp,
		Extra:     extra,
	}
	return Issued{Value: value, Format: store.AccessTokenOpaque, Record: rec, IssuedAt: now, ExpiresAt: exp}, nil
}
