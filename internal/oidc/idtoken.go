package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// maxClaimsDepth bounds the JSON nesting of released claims and of the
// tokens minted here.
const maxClaimsDepth = jose.DefaultMaxDepth

// SigningKeys supplies the key that signs now with an algorithm (the key
// ring).
type SigningKeys interface {
	SignerFor(alg jose.Algorithm) (*jose.Key, error)
}

// DefaultSigningAlgorithm is the algorithm of ID tokens (and logout tokens)
// for a client that registered no id_token_signed_response_alg: RS256, the
// default of OpenID Connect Dynamic Client Registration §2 and the one
// algorithm every relying party accepts (OIDC Discovery §3).
const DefaultSigningAlgorithm = jose.RS256

// IDTokenAlgorithms returns the algorithms a client may register as its
// id_token_signed_response_alg, the default first. The server signs with one
// only while its key ring has a key for it.
func IDTokenAlgorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}
}

// IDTokenSigningAlgValues returns the id_token_signing_alg_values_supported
// of a server whose key ring signs with have: exactly those algorithms,
// RS256 first (OIDC Discovery §3 requires RS256; writ's ring always has it).
func IDTokenSigningAlgValues(have []jose.Algorithm) []string {
	out := make([]string, 0, len(have))
	if slices.Contains(have, DefaultSigningAlgorithm) {
		out = append(out, string(DefaultSigningAlgorithm))
	}
	for _, a := range have {
		if a != DefaultSigningAlgorithm {
			out = append(out, string(a))
		}
	}
	return out
}

// signerFor returns the key of alg, or of DefaultSigningAlgorithm when alg
// is empty.
func signerFor(keys SigningKeys, alg jose.Algorithm) (*jose.Key, error) {
	if alg == "" {
		alg = DefaultSigningAlgorithm
	}
	key, err := keys.SignerFor(alg)
	if err != nil {
		return nil, fmt.Errorf("oidc: no %s signing key: %w", alg, err)
	}
	return key, nil
}

// lifetimeBound is implemented by key sources that publish retired keys for
// a bounded time (keys.Ring): a token must not outlive its key's
// publication.
type lifetimeBound interface {
	MaxTokenLifetime() time.Duration
}

// IDTokens mints ID tokens (OpenID Connect Core 1.0 §2). The zero Now means
// time.Now. It is safe for concurrent use.
type IDTokens struct {
	// Issuer is the iss of minted tokens.
	Issuer string
	// Keys supplies the signing key; the header carries its kid.
	Keys SigningKeys
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Encrypter encrypts the ID tokens of clients that registered
	// id_token_encrypted_response_alg; nil encrypts to their registered
	// jwks only (never their jwks_uri).
	Encrypter *ResponseEncrypter
}

// Issue mints tok for client c (Mint, with c's
// id_token_signed_response_alg in tok.Algorithm) and, when c registered
// id_token_encrypted_response_alg, encrypts the signed token to c's key:
// a nested JWT, signed then encrypted, "cty":"JWT" (OpenID Connect Core
// §10.2, §16.14). It is the one path by which ID tokens reach clients. An
// encryption failure is an *oauth.Error (EncryptionFailed).
func (t IDTokens) Issue(ctx context.Context, c *store.Client, tok IDToken) (string, error) {
	signed, err := t.Mint(tok)
	if err != nil {
		return "", err
	}
	e := IDTokenEncryption(c)
	if !e.Enabled() {
		return signed, nil
	}
	out, err := t.Encrypter.Encrypt(ctx, c, e, []byte(signed), true)
	if err != nil {
		return "", EncryptionFailed("ID token", err)
	}
	return out, nil
}

// Ready checks that an ID token for c could be issued now: when c
// registered id_token_encrypted_response_alg, that its key set can be had
// and holds a key for it (ResponseEncrypter.Ready). A grant asks before it
// consumes a code, since the ID token is encrypted after the redemption
// committed. A failure is an *oauth.Error (EncryptionFailed).
func (t IDTokens) Ready(ctx context.Context, c *store.Client) error {
	e := IDTokenEncryption(c)
	if !e.Enabled() {
		return nil
	}
	if err := t.Encrypter.Ready(ctx, c, e); err != nil {
		return EncryptionFailed("ID token", err)
	}
	return nil
}

// IDToken describes an ID token to mint.
type IDToken struct {
	// Algorithm is the client's id_token_signed_response_alg; empty means
	// DefaultSigningAlgorithm.
	Algorithm jose.Algorithm
	// Subject is the sub: the user's ID.
	Subject string
	// ClientID is the aud (the only audience) and the azp.
	ClientID string
	// AuthTime is when the user authenticated (auth_time); zero leaves
	// auth_time out.
	AuthTime time.Time
	// Nonce is the nonce of the authentication request, or empty.
	Nonce string
	// ACR is the authentication context class reached, or empty.
	ACR string
	// AMR lists the authentication methods used, or is empty.
	AMR []string
	// SessionID is the sid of the browser session, or empty.
	SessionID string
	// AccessToken is the access token issued with the ID token; its hash
	// becomes at_hash. Empty means no at_hash.
	AccessToken string
	// TTL is the token's lifetime; it must be positive.
	TTL time.Duration
	// Claims are the released user claims (see Release). They may not
	// replace a protocol claim (ReservedClaim), not even under case
	// folding.
	Claims map[string]any
}

// ReservedClaim reports whether name is a protocol claim that released user
// claims may not take, or equal to one under Unicode case folding. The
// protocol claims are those of ID tokens, access tokens and logout tokens,
// and the names relying parties interpret (distributed claims,
// confirmation, events).
func ReservedClaim(name string) bool {
	reserved := [...]string{
		"iss", "sub", "aud", "exp", "iat", "nbf", "jti",
		"auth_time", "nonce", "acr", "amr", "azp", "sid",
		"at_hash", "c_hash", "s_hash",
		"events", "cnf", "_claim_names", "_claim_sources",
		"client_id", "scope", "act", "may_act",
		UserinfoClaimsClaim,
	}
	for _, r := range reserved {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// Mint signs an ID token with the active key of tok.Algorithm: header typ
// "JWT" and the key's kid; claims iss, sub, aud and azp (the client), exp, iat,
// auth_time, nonce, acr, amr, sid and at_hash when given, a fresh jti, and
// the released claims.
func (t IDTokens) Mint(tok IDToken) (string, error) {
	if tok.Subject == "" || tok.ClientID == "" {
		return "", errors.New("oidc: ID token needs a subject and a client")
	}
	if err := checkTTL(t.Keys, tok.TTL); err != nil {
		return "", err
	}
	for name := range tok.Claims {
		if name == "" || ReservedClaim(name) {
			return "", fmt.Errorf("oidc: claim %q would replace a protocol claim", name)
		}
	}
	key, err := signerFor(t.Keys, tok.Algorithm)
	if err != nil {
		return "", err
	}
	jti := opaque.Random(16)
	now := nowFunc(t.Now)().Truncate(time.Second)
	p := make([]byte, 0, 512)
	p = append(p, `{"iss":`...)
	p = strictjson.AppendString(p, t.Issuer)
	p = append(p, `,"sub":`...)
	p = strictjson.AppendString(p, tok.Subject)
	p = append(p, `,"aud":`...)
	p = strictjson.AppendString(p, tok.ClientID)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, now.Add(tok.TTL).Unix(), 10)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	if !tok.AuthTime.IsZero() {
		p = append(p, `,"auth_time":`...)
		p = strconv.AppendInt(p, tok.AuthTime.Unix(), 10)
	}
	if tok.Nonce != "" {
		p = append(p, `,"nonce":`...)
		p = strictjson.AppendString(p, tok.Nonce)
	}
	if tok.ACR != "" {
		p = append(p, `,"acr":`...)
		p = strictjson.AppendString(p, tok.ACR)
	}
	if len(tok.AMR) > 0 {
		p = strictjson.AppendStringArray(append(p, `,"amr":`...), tok.AMR)
	}
	p = append(p, `,"azp":`...)
	p = strictjson.AppendString(p, tok.ClientID)
	if tok.SessionID != "" {
		p = append(p, `,"sid":`...)
		p = strictjson.AppendString(p, tok.SessionID)
	}
	if tok.AccessToken != "" {
		h, err := AccessTokenHash(key.Algorithm(), tok.AccessToken)
		if err != nil {
			return "", err
		}
		p = append(p, `,"at_hash":`...)
		p = strictjson.AppendString(p, h)
	}
	p = append(p, `,"jti":`...)
	p = strictjson.AppendString(p, jti)
	if len(tok.Claims) > 0 {
		extra, err := json.Marshal(tok.Claims)
		if err != nil {
			return "", fmt.Errorf("oidc: encode claims: %w", err)
		}
		p = append(p, ',')
		p = append(p, extra[1:len(extra)-1]...)
	}
	p = append(p, '}')
	return sign(key, p, jwt.TypeJWT)
}

// sign checks that payload is strict JSON that encoding/json decodes the way
// an exact-name reader does (no member names equal under case folding, at
// any depth; valid UTF-8), then signs it.
func sign(key *jose.Key, payload []byte, typ string) (string, error) {
	if err := strictjson.ValidateFold(string(payload), maxClaimsDepth); err != nil {
		return "", fmt.Errorf("oidc: token payload: %w", err)
	}
	tok, err := jose.Sign(key, payload, &jose.SignOptions{Type: typ})
	if err != nil {
		return "", fmt.Errorf("oidc: sign: %w", err)
	}
	return tok, nil
}

// checkTTL refuses a lifetime that is not positive or outlives the
// publication of retired keys.
func checkTTL(keys SigningKeys, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("oidc: token TTL must be positive")
	}
	if lb, ok := keys.(lifetimeBound); ok {
		if limit := lb.MaxTokenLifetime(); limit > 0 && ttl > limit {
			return fmt.Errorf("oidc: token TTL %v exceeds the key ring's maximum token lifetime %v", ttl, limit)
		}
	}
	return nil
}

// AccessTokenHash computes at_hash (OpenID Connect Core 1.0 §3.1.3.6) for an
// access token issued with an ID token signed with alg: the left half of
// the hash of the token's ASCII bytes, base64url-encoded without padding.
// The hash is the one of alg: SHA-256 for *256, SHA-384 for *384, SHA-512
// for *512 and for EdDSA (Ed25519 hashes with SHA-512).
func AccessTokenHash(alg jose.Algorithm, accessToken string) (string, error) {
	var h hash.Hash
	switch alg {
	case jose.RS256, jose.PS256, jose.ES256, jose.HS256:
		h = sha256.New()
	case jose.RS384, jose.PS384, jose.ES384, jose.HS384:
		h = sha512.New384()
	case jose.RS512, jose.PS512, jose.ES512, jose.HS512, jose.EdDSA:
		h = sha512.New()
	default:
		return "", fmt.Errorf("oidc: no at_hash for algorithm %q", alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

func nowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
