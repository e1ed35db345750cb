package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// Token types for Config.Type.
const (
	// TypeAccessToken is the RFC 9068 type of JWT access tokens.
	TypeAccessToken = "at+jwt"
	// TypeJWT is the generic type most ID tokens carry.
	TypeJWT = "JWT"
)

// DefaultLeeway is the clock skew tolerated for exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// KeySource supplies the key set trusted for one verification. A static set
// is wrapped with StaticKeys; a remote JWKS cache implements it to refresh
// when it meets an unknown kid.
type KeySource interface {
	KeySet(ctx context.Context, h *jose.Header) (*jose.KeySet, error)
}

type staticKeys struct{ ks *jose.KeySet }

func (s staticKeys) KeySet(context.Context, *jose.Header) (*jose.KeySet, error) { return s.ks, nil }

// StaticKeys returns a KeySource that always supplies ks.
func StaticKeys(ks *jose.KeySet) KeySource { return staticKeys{ks} }

// Config is the validation policy of a Verifier. Issuer and Audience are
// required unless explicitly skipped.
type Config struct {
	// Issuer is compared exactly with the "iss" claim.
	Issuer string
	// Audience must be one of the values of the "aud" claim.
	Audience string
	// SkipIssuerCheck and SkipAudienceCheck turn those checks off. Use them
	// only where another layer does the check.
	SkipIssuerCheck   bool
	SkipAudienceCheck bool
	// Type, when set, must equal the "typ" header (case-insensitively, with
	// or without an "application/" prefix). Set TypeAccessToken so that an
	// ID token is never taken for an access token.
	Type string
	// Algorithms is the allow-list of signature algorithms. Empty allows the
	// algorithm each trusted key is bound to, and nothing else.
	Algorithms []jose.Algorithm
	// Leeway is the clock skew tolerated for exp, nbf and iat; zero means
	// DefaultLeeway, a negative value means none.
	Leeway time.Duration
	// AllowMissingExpiry accepts tokens without "exp". Off by default.
	AllowMissingExpiry bool
	// RequiredClaims lists claim names that must be present, for example the
	// RFC 9068 set: "sub", "client_id", "iat", "jti".
	RequiredClaims []string
	// MaxSize bounds the compact token size; zero means jose.DefaultMaxSize.
	MaxSize int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Verifier checks tokens against trusted keys and a Config. It is safe for
// concurrent use.
type Verifier struct {
	keys    KeySource
	cfg     Config
	allowed uint32 // bit set over algIndex
	leeway  int64
}

// NewVerifier returns a Verifier for keys and cfg, or an error when the
// policy is incomplete (no issuer or audience and no explicit skip) or names
// an unsupported algorithm.
func NewVerifier(keys KeySource, cfg Config) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("jwt: NewVerifier needs a key source")
	}
	if cfg.Issuer == "" && !cfg.SkipIssuerCheck {
		return nil, errors.New("jwt: Config.Issuer is empty; set it or SkipIssuerCheck")
	}
	if cfg.Audience == "" && !cfg.SkipAudienceCheck {
		return nil, errors.New("jwt: Config.Audience is empty; set it or SkipAudienceCheck")
	}
	v := &Verifier{keys: keys, cfg: cfg}
	for _, a := range cfg.Algorithms {
		i := algIndex(a)
		if i < 0 {
			return nil, fmt.Errorf("jwt: %q is not a supported signature algorithm", a)
		}
		v.allowed |= 1 << i
	}
	if len(cfg.Algorithms) == 0 {
		// Empty (nil or not) allows whatever each trusted key is bound to;
		// the key binding is checked by jose.JWS.Verify.
		v.allowed = ^uint32(0)
	}
	switch {
	case cfg.Leeway == 0:
		v.leeway = int64(DefaultLeeway / time.Second)
	case cfg.Leeway > 0:
		v.leeway = int64(cfg.Leeway / time.Second)
	}
	if v.cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	v.cfg.Type = normalizeType(cfg.Type)
	return v, nil
}

func algIndex(a jose.Algorithm) int {
	for i, s := range jose.SignatureAlgorithms() {
		if s == a {
			return i
		}
	}
	return -1
}

func normalizeType(t string) string {
	if len(t) > 12 && strings.EqualFold(t[:12], "application/") {
		return t[12:]
	}
	return t
}

// Token is a verified JWT. It cannot be changed after Verify returns it:
// the header, the payload, the registered claims and the verifying key are
// read through methods, and none of them shares memory the caller can write.
// (A Token does not embed the jose.JWS it was parsed from, so no promoted
// Parse or Verify can put a different payload behind checked claims.)
type Token struct {
	jws    jose.JWS
	raw    string
	claims Claims
	key    *jose.Key

	present uint8 // bit set of registered claims seen
	members []strictjson.Member
	memBuf  [12]strictjson.Member
	audBuf  [2]string
}

// Header returns a copy of the protected header.
func (t *Token) Header() jose.Header { return t.jws.Header }

// Claims returns a copy of the registered claims that were present and
// checked. Its Audience is the caller's own copy.
func (t *Token) Claims() Claims {
	c := t.claims
	c.Audience = slices.Clone(c.Audience)
	return c
}

// Key returns the trusted key that verified the signature. Keys are
// immutable.
func (t *Token) Key() *jose.Key { return t.key }

// Payload returns the decoded payload, the JSON claims object exactly as it
// was signed. Strings are immutable, so this is a read-only view.
func (t *Token) Payload() string { return t.jws.Payload() }

// Raw returns the compact serialization the token was verified from.
func (t *Token) Raw() string { return t.raw }

const (
	hasIss uint8 = 1 << iota
	hasSub
	hasAud
	hasExp
	hasNbf
	hasIat
	hasJti
)

// Claim returns the raw JSON value of the top-level claim name.
func (t *Token) Claim(name string) (raw string, ok bool) {
	for _, m := range t.members {
		if m.Name == name {
			return m.Value, true
		}
	}
	return "", false
}

// StringClaim returns the top-level claim name when it is a JSON string.
func (t *Token) StringClaim(name string) (string, bool) {
	raw, ok := t.Claim(name)
	if !ok {
		return "", false
	}
	s, err := strictjson.String(raw)
	return s, err == nil
}

// DecodeClaims decodes the payload into v with encoding/json. The payload
// has already been checked for strict JSON and duplicate members.
//
// encoding/json matches member names to struct fields case-insensitively
// (the last match wins), so DecodeClaims first refuses, with ErrMalformed,
// payloads on which that would make a struct embedding Claims disagree
// with Token.Claims, the exactly named claims that Verify checked: two
// member names of one object that differ only in case ("iss" and "ISS" or
// "iſs"), and a top-level name that differs only in case from a registered
// claim ("Sub", "EXP").
func (t *Token) DecodeClaims(v any) error {
	for _, m := range t.members {
		if foldsToRegistered(m.Name) {
			return fmt.Errorf("%w: claims: %q differs only in case from a registered claim", ErrMalformed, m.Name)
		}
	}
	if err := strictjson.ValidateFold(t.Payload(), jose.DefaultMaxDepth); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return json.Unmarshal([]byte(t.Payload()), v)
}

// foldsToRegistered reports whether name is not a registered claim name
// but equal to one under Unicode case folding.
func foldsToRegistered(name string) bool {
	for _, r := range [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"} {
		if name != r && strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// Verify parses token, checks its signature against the trusted keys, and
// validates its header and registered claims against the policy.
func (v *Verifier) Verify(ctx context.Context, token string) (*Token, error) {
	t := new(Token)
	if err := t.jws.Parse(token, v.cfg.MaxSize); err != nil {
		return nil, err
	}
	t.raw = token
	h := &t.jws.Header
	if i := algIndex(h.Algorithm); i < 0 || v.allowed&(1<<i) == 0 {
		return nil, fmt.Errorf("%w: %s is not allowed", ErrAlgorithm, h.Algorithm)
	}
	if v.cfg.Type != "" && !strings.EqualFold(normalizeType(h.Type), v.cfg.Type) {
		return nil, fmt.Errorf("%w: want %q", ErrType, v.cfg.Type)
	}
	if strings.EqualFold(h.ContentType, "JWT") {
		return nil, fmt.Errorf("%w: nested JWT (cty JWT) must be unwrapped first", ErrMalformed)
	}
	ks, err := v.keys.KeySet(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySource, err)
	}
	if ks == nil {
		return nil, fmt.Errorf("%w: the key source supplied no key set", ErrKeyNotFound)
	}
	if t.key, err = t.jws.Verify(ks); err != nil {
		return nil, err
	}
	if err := t.parseClaims(); err != nil {
		return nil, err
	}
	if err := v.validate(t); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Token) parseClaims() error {
	members, err := strictjson.ParseObject(t.Payload(), jose.DefaultMaxDepth, t.memBuf[:0])
	if err != nil {
		return fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	t.members = members
	c := &t.claims
	for _, m := range members {
		var err error
		switch m.Name {
		case "iss":
			c.Issuer, err = strictjson.String(m.Value)
			t.present |= hasIss
		case "sub":
			c.Subject, err = strictjson.String(m.Value)
			t.present |= hasSub
		case "jti":
			c.ID, err = strictjson.String(m.Value)
			t.present |= hasJti
		case "aud":
			t.present |= hasAud
			if m.Value != "" && m.Value[0] == '[' {
				var aud []string
				aud, err = strictjson.AppendStrings(t.audBuf[:0], m.Value)
				if err == nil && len(aud) == 0 {
					err = errors.New("empty")
				}
				c.Audience = aud
			} else {
				var s string
				s, err = strictjson.String(m.Value)
				t.audBuf[0] = s
				c.Audience = t.audBuf[:1]
			}
		case "exp":
			c.ExpiresAt, err = date(m.Value)
			t.present |= hasExp
		case "nbf":
			c.NotBefore, err = date(m.Value)
			t.present |= hasNbf
		case "iat":
			c.IssuedAt, err = date(m.Value)
			t.present |= hasIat
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %q has the wrong JSON type", ErrClaim, m.Name)
		}
	}
	return nil
}

func date(raw string) (NumericDate, error) {
	f, err := strictjson.Number(raw)
	if err != nil {
		return 0, err
	}
	return numericDate(f), nil
}

func (v *Verifier) validate(t *Token) error {
	c := &t.claims
	now := v.cfg.Now().Unix()
	switch {
	case t.present&hasExp != 0:
		// now-leeway cannot overflow; exp+leeway can (exp is clamped to
		// MaxInt64), which would turn a far-future exp into "expired".
		if now-v.leeway >= int64(c.ExpiresAt) {
			return ErrExpired
		}
	case !v.cfg.AllowMissingExpiry:
		return fmt.Errorf("%w: exp is required", ErrClaim)
	}
	if t.present&hasNbf != 0 && int64(c.NotBefore) > now+v.leeway {
		return ErrNotYetValid
	}
	if t.present&hasIat != 0 && int64(c.IssuedAt) > now+v.leeway {
		return fmt.Errorf("%w: iat is in the future", ErrNotYetValid)
	}
	if !v.cfg.SkipIssuerCheck && (t.present&hasIss == 0 || c.Issuer != v.cfg.Issuer) {
		return ErrIssuer
	}
	if !v.cfg.SkipAudienceCheck && !c.Audience.Contains(v.cfg.Audience) {
		return ErrAudience
	}
	for _, name := range v.cfg.RequiredClaims {
		if _, ok := t.Claim(name); !ok {
			return fmt.Errorf("%w: %q is required", ErrClaim, name)
		}
	}
	return nil
}
