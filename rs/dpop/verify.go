package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

// Names of RFC 9449.
const (
	// Header is the request header that carries the proof.
	Header = "DPoP"
	// NonceHeader is the response header that carries a server nonce.
	NonceHeader = "DPoP-Nonce"
	// ProofType is the typ header of every proof.
	ProofType = "dpop+jwt"
)

// Defaults of Config.
const (
	// DefaultMaxAge is how long after its iat a proof is accepted.
	DefaultMaxAge = 2 * time.Minute
	// DefaultLeeway is how far in the future a proof's iat may lie, for
	// clients whose clocks run ahead.
	DefaultLeeway = 10 * time.Second
	// DefaultMaxSize bounds the proof, in bytes, before anything is
	// decoded: room for an RSA key of 8192 bits and its signature.
	DefaultMaxSize = 8 << 10
	// MaxJTILength bounds the jti claim, in bytes.
	MaxJTILength = 256
	// MaxNonceLength bounds the nonce claim, in bytes.
	MaxNonceLength = 512
)

// maxMaxSize bounds Config.MaxSize.
const maxMaxSize = 64 << 10

// DefaultAlgorithms returns the proof algorithms a Verifier accepts when
// Config.Algorithms is empty: every asymmetric signature algorithm writ
// verifies, the ones clients use most first.
func DefaultAlgorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.ES256, jose.EdDSA, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.RS256, jose.RS384, jose.RS512}
}

// Why a proof was refused. Each wraps rs.ErrInvalidDPoPProof, so that
// errors.Is(err, rs.ErrInvalidDPoPProof) holds for all of them; the errors
// Verify returns wrap one of them and add a short reason, never a token,
// a key or a claim's value.
var (
	// ErrMissing: the request has no DPoP header, or an empty one.
	ErrMissing = fmt.Errorf("%w: no DPoP header", rs.ErrInvalidDPoPProof)
	// ErrMultiple: the request has more than one DPoP header.
	ErrMultiple = fmt.Errorf("%w: more than one DPoP header", rs.ErrInvalidDPoPProof)
	// ErrMalformed: not a compact JWS, too large, or its header or
	// claims are not JSON objects.
	ErrMalformed = fmt.Errorf("%w: malformed", rs.ErrInvalidDPoPProof)
	// ErrType: the typ header is not exactly dpop+jwt.
	ErrType = fmt.Errorf("%w: typ is not dpop+jwt", rs.ErrInvalidDPoPProof)
	// ErrAlgorithm: alg is none, symmetric, unsupported or not allowed.
	ErrAlgorithm = fmt.Errorf("%w: alg not accepted", rs.ErrInvalidDPoPProof)
	// ErrKey: the jwk header is missing, holds private or secret
	// material, is a symmetric key, or does not fit alg.
	ErrKey = fmt.Errorf("%w: jwk is not an acceptable public key", rs.ErrInvalidDPoPProof)
	// ErrSignature: the signature is not the jwk's.
	ErrSignature = fmt.Errorf("%w: signature does not verify", rs.ErrInvalidDPoPProof)
	// ErrClaims: jti, htm, htu or iat is missing, of the wrong type or
	// too long.
	ErrClaims = fmt.Errorf("%w: required claims missing or malformed", rs.ErrInvalidDPoPProof)
	// ErrMethod: htm is not the request's method.
	ErrMethod = fmt.Errorf("%w: htm does not match the request method", rs.ErrInvalidDPoPProof)
	// ErrURL: htu is not the request's URL.
	ErrURL = fmt.Errorf("%w: htu does not match the request URL", rs.ErrInvalidDPoPProof)
	// ErrIssuedAt: iat is older than MaxAge or further than Leeway in
	// the future.
	ErrIssuedAt = fmt.Errorf("%w: iat outside the accepted window", rs.ErrInvalidDPoPProof)
	// ErrAccessTokenHash: ath is missing or is not the hash of the
	// access token presented with the proof.
	ErrAccessTokenHash = fmt.Errorf("%w: ath does not match the access token", rs.ErrInvalidDPoPProof)
	// ErrKeyBinding: the proof's key is not the key the access token is
	// bound to (cnf.jkt).
	ErrKeyBinding = fmt.Errorf("%w: proof key does not match the token's cnf.jkt", rs.ErrInvalidDPoPProof)
	// ErrReplay: the proof was used before.
	ErrReplay = fmt.Errorf("%w: proof already used", rs.ErrInvalidDPoPProof)
)

// Config tells a Verifier what proofs to accept. The zero value is usable:
// every field has a default.
type Config struct {
	// Algorithms is the allow-list of proof algorithms; empty means
	// DefaultAlgorithms. Symmetric (HS*) algorithms and none are refused
	// here as in proofs.
	Algorithms []jose.Algorithm
	// MaxAge is how long after its iat a proof is accepted; 0 means
	// DefaultMaxAge. It is also how long the replay cache keeps a jti.
	MaxAge time.Duration
	// Leeway is how far in the future iat may be; 0 means DefaultLeeway.
	Leeway time.Duration
	// MaxSize bounds a proof in bytes; 0 means DefaultMaxSize.
	MaxSize int
	// Replay remembers used proofs; nil means a MemoryReplayCache of
	// DefaultReplayCacheSize entries on the clock Now. Several nodes
	// behind one name share a RedisReplayCache.
	Replay ReplayCache
	// Nonces, when set, makes a server nonce required in every proof
	// (RFC 9449 §9); nil means none is required.
	Nonces *Nonces
	// Now is the clock iat is judged by; nil means time.Now.
	Now func() time.Time
	// URL returns the URL of a request as the client addressed it, which
	// htu must match (CheckDPoP only); nil means RequestURL. Behind a
	// proxy use OriginURL, or ForwardedURL when the proxy sets the
	// X-Forwarded headers. An empty string refuses the proof.
	URL func(*http.Request) string
}

// Verifier checks DPoP proofs (RFC 9449 §4.3) at a resource server or a
// token endpoint. It implements rs.DPoPChecker and is safe for concurrent
// use.
type Verifier struct {
	algs    []jose.Algorithm
	maxAge  time.Duration
	leeway  time.Duration
	maxSize int
	replay  ReplayCache
	nonces  *Nonces
	now     func() time.Time
	url     func(*http.Request) string
}

var _ rs.DPoPChecker = (*Verifier)(nil)

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{
		algs:    slices.Clone(cfg.Algorithms),
		maxAge:  cfg.MaxAge,
		leeway:  cfg.Leeway,
		maxSize: cfg.MaxSize,
		replay:  cfg.Replay,
		nonces:  cfg.Nonces,
		now:     cfg.Now,
		url:     cfg.URL,
	}
	if len(v.algs) == 0 {
		v.algs = DefaultAlgorithms()
	}
	for _, a := range v.algs {
		if !a.IsSignature() || a.IsSymmetric() {
			return nil, fmt.Errorf("dpop: algorithm %q is not an asymmetric signature algorithm", a)
		}
	}
	switch {
	case v.maxAge < 0, v.leeway < 0, v.maxSize < 0:
		return nil, errors.New("dpop: MaxAge, Leeway and MaxSize must not be negative")
	case v.maxSize > maxMaxSize:
		return nil, fmt.Errorf("dpop: MaxSize above %d bytes", maxMaxSize)
	}
	if v.maxAge == 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.maxSize == 0 {
		v.maxSize = DefaultMaxSize
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayCache(DefaultReplayCacheSize, v.now)
	}
	if v.url == nil {
		v.url = RequestURL
	}
	return v, nil
}

// Algorithms returns the accepted proof algorithms, for the algs of a
// WWW-Authenticate challenge and dpop_signing_alg_values_supported.
func (v *Verifier) Algorithms() []jose.Algorithm { return slices.Clone(v.algs) }

// Params is one proof to check and what it must match.
type Params struct {
	// Proof is the value of the request's DPoP header.
	Proof string
	// Method is the request's method, which htm must equal.
	Method string
	// URL is the request's absolute URL, which htu must equal after
	// NormalizeURL; its query and fragment are ignored.
	URL string
	// AccessToken is the access token presented with the proof; when
	// not empty, ath must be its hash. Empty at a token endpoint.
	AccessToken string
	// JKT is the token's cnf.jkt; when not empty, the proof's key must
	// have this RFC 7638 thumbprint.
	JKT string
}

// Proof is a verified proof.
type Proof struct {
	// Key is the proof's public key, from its jwk header.
	Key *jose.Key
	// JKT is the RFC 7638 SHA-256 thumbprint of Key: what a token
	// endpoint binds a token to (cnf.jkt).
	JKT string
	// ID is the jti claim.
	ID string
	// Method is the htm claim.
	Method string
	// URL is the htu claim as the client wrote it.
	URL string
	// IssuedAt is the iat claim.
	IssuedAt time.Time
	// Nonce is the nonce claim, empty when absent.
	Nonce string
	// AccessTokenHash is the ath claim, empty when absent.
	AccessTokenHash string
}

// CheckDPoP verifies the request's DPoP header (exactly one) against r's
// method, its URL as Config.URL gives it, the access token and, when jkt
// is not empty, the key the token is bound to. It implements
// rs.DPoPChecker; its errors wrap rs.ErrInvalidDPoPProof, are an
// *rs.NonceError, or wrap rs.ErrUnavailable when the replay cache failed.
// With jkt empty the proof is checked but bound to no key: whether a token
// that is not bound may be used under the DPoP scheme is the caller's
// decision.
func (v *Verifier) CheckDPoP(ctx context.Context, r *http.Request, accessToken, jkt string) error {
	vals := r.Header.Values(Header)
	switch {
	case len(vals) > 1:
		return ErrMultiple
	case len(vals) == 0 || vals[0] == "":
		return ErrMissing
	}
	_, err := v.Verify(ctx, Params{Proof: vals[0], Method: r.Method, URL: v.url(r), AccessToken: accessToken, JKT: jkt})
	return err
}

// Verify checks one proof (RFC 9449 §4.3): a compact JWS of at most
// MaxSize bytes; typ dpop+jwt; an allowed asymmetric alg; a jwk header that
// is a public key fit for alg; a signature by that key; jti (at most
// MaxJTILength bytes), htm, htu and iat present; htm = p.Method; htu =
// p.URL after NormalizeURL; iat no older than MaxAge and no further than
// Leeway ahead; the server nonce when nonces are required; ath when an
// access token is presented; the key's thumbprint = p.JKT when given; and
// last, that the proof was not used before. The replay cache records the
// proof, by a hash of its key's thumbprint and its jti, until iat + MaxAge
// + Leeway (the leeway keeps it past the end of the proof's window on a
// node whose clock runs a little behind).
func (v *Verifier) Verify(ctx context.Context, p Params) (*Proof, error) {
	if p.Proof == "" {
		return nil, ErrMissing
	}
	var j jose.JWS
	if err := j.Parse(p.Proof, v.maxSize); err != nil {
		if errors.Is(err, jose.ErrAlgorithm) {
			return nil, fmt.Errorf("%w: %v", ErrAlgorithm, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	h := &j.Header
	if h.Type != ProofType {
		return nil, ErrType
	}
	if !slices.Contains(v.algs, h.Algorithm) {
		return nil, ErrAlgorithm
	}
	key, err := proofKey(h)
	if err != nil {
		return nil, err
	}
	if err := j.VerifyKey(key); err != nil {
		return nil, ErrSignature
	}
	pr, err := parseClaims(j.Payload())
	if err != nil {
		return nil, err
	}
	pr.Key = key
	if pr.Method != p.Method {
		return nil, ErrMethod
	}
	if err := sameURL(pr.URL, p.URL); err != nil {
		return nil, err
	}
	now := v.now()
	if pr.IssuedAt.Before(now.Add(-v.maxAge)) {
		return nil, fmt.Errorf("%w: too old", ErrIssuedAt)
	}
	if pr.IssuedAt.After(now.Add(v.leeway)) {
		return nil, fmt.Errorf("%w: in the future", ErrIssuedAt)
	}
	if v.nonces != nil && (pr.Nonce == "" || !v.nonces.Valid(pr.Nonce)) {
		return nil, &rs.NonceError{Nonce: v.nonces.Current()}
	}
	if p.AccessToken != "" {
		want := AccessTokenHash(p.AccessToken)
		if subtle.ConstantTimeCompare([]byte(pr.AccessTokenHash), []byte(want)) != 1 {
			return nil, ErrAccessTokenHash
		}
	}
	pr.JKT = key.ThumbprintSHA256()
	if p.JKT != "" && subtle.ConstantTimeCompare([]byte(p.JKT), []byte(pr.JKT)) != 1 {
		return nil, ErrKeyBinding
	}
	fresh, err := v.replay.Use(ctx, replayKey(pr.JKT, pr.ID), pr.IssuedAt.Add(v.maxAge+v.leeway))
	if err != nil {
		if !errors.Is(err, rs.ErrUnavailable) {
			err = fmt.Errorf("%w: DPoP replay cache: %w", rs.ErrUnavailable, err)
		}
		return nil, err
	}
	if !fresh {
		return nil, ErrReplay
	}
	return pr, nil
}

// proofKey returns the public key of the jwk header, bound to alg.
func proofKey(h *jose.Header) (*jose.Key, error) {
	var arr [8]strictjson.Member
	members, err := strictjson.ParseObject(h.Raw, jose.DefaultMaxDepth, arr[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	for _, m := range members {
		if m.Name != "jwk" {
			continue
		}
		if m.Value == "" || m.Value[0] != '{' {
			return nil, fmt.Errorf("%w: not a JSON object", ErrKey)
		}
		k, err := jose.ParsePublicKey([]byte(m.Value), h.Algorithm)
		if err != nil {
			// A fixed reason: jose's own may quote the client's members.
			reason := "not a valid public JWK"
			switch {
			case errors.Is(err, jose.ErrPrivateInPublic):
				reason = "private or secret key material"
			case errors.Is(err, jose.ErrKeyAlgMismatch):
				reason = "the key does not fit alg"
			case errors.Is(err, jose.ErrUnsupportedAlg):
				reason = "unsupported key type or curve"
			case errors.Is(err, jose.ErrKeyNotForSigning):
				reason = "not a signature key"
			}
			return nil, fmt.Errorf("%w: %s", ErrKey, reason)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: no jwk header", ErrKey)
}

// parseClaims decodes the claims a proof must have, and ath and nonce.
func parseClaims(payload string) (*Proof, error) {
	var arr [16]strictjson.Member
	members, err := strictjson.ParseObject(payload, jose.DefaultMaxDepth, arr[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	pr := new(Proof)
	var haveIAT bool
	for _, m := range members {
		var s string
		switch m.Name {
		case "jti", "htm", "htu", "ath", "nonce":
			if s, err = strictjson.String(m.Value); err != nil {
				return nil, fmt.Errorf("%w: %s is not a string", ErrClaims, m.Name)
			}
		case "iat":
			f, err := strictjson.Number(m.Value)
			// Up to the year 9999, so that the time arithmetic is exact.
			if err != nil || f < 0 || f > 253402300799 {
				return nil, fmt.Errorf("%w: iat is not a NumericDate", ErrClaims)
			}
			sec, frac := math.Modf(f)
			pr.IssuedAt, haveIAT = time.Unix(int64(sec), int64(frac*1e9)), true
			continue
		default:
			continue
		}
		switch m.Name {
		case "jti":
			pr.ID = s
		case "htm":
			pr.Method = s
		case "htu":
			pr.URL = s
		case "ath":
			pr.AccessTokenHash = s
		case "nonce":
			pr.Nonce = s
		}
	}
	switch {
	case pr.ID == "" || len(pr.ID) > MaxJTILength:
		return nil, fmt.Errorf("%w: jti missing, empty or longer than %d bytes", ErrClaims, MaxJTILength)
	case pr.Method == "":
		return nil, fmt.Errorf("%w: htm missing", ErrClaims)
	case pr.URL == "":
		return nil, fmt.Errorf("%w: htu missing", ErrClaims)
	case !haveIAT:
		return nil, fmt.Errorf("%w: iat missing", ErrClaims)
	case len(pr.Nonce) > MaxNonceLength:
		return nil, fmt.Errorf("%w: nonce longer than %d bytes", ErrClaims, MaxNonceLength)
	}
	return pr, nil
}

// sameURL compares htu with the request URL after normalisation.
func sameURL(htu, requestURL string) error {
	want, err := NormalizeURL(requestURL)
	if err != nil {
		return fmt.Errorf("%w: the request URL is not usable", ErrURL)
	}
	got, err := NormalizeURL(htu)
	if err != nil {
		return fmt.Errorf("%w: htu is not an absolute http(s) URL", ErrURL)
	}
	if got != want {
		return ErrURL
	}
	return nil
}

// AccessTokenHash returns the ath of an access token (RFC 9449 §4.2): the
// base64url encoding of its SHA-256 hash.
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// replayKey names a proof in the replay cache: a hash of its key's
// thumbprint and its jti, so that jti values of different keys never meet
// and no client-chosen string reaches the cache's keys.
func replayKey(jkt, jti string) string {
	h := sha256.New()
	h.Write([]byte("writ rs/dpop jti\x00"))
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}
