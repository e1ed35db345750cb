package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// DefaultResponseEncryption is the content encryption of a client that
// registered an *_encrypted_response_alg without its *_enc: A128CBC-HS256,
// the default of OpenID Connect Dynamic Client Registration §2.
const DefaultResponseEncryption = jose.A128CBCHS256

// ResponseEncryptionAlgorithms returns the JWE key management algorithms a
// client may register as id_token_encrypted_response_alg or
// userinfo_encrypted_response_alg: the public-key ones of jose, never
// RSA1_5.
func ResponseEncryptionAlgorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.RSAOAEP, jose.RSAOAEP256, jose.ECDHES, jose.ECDHESA128KW, jose.ECDHESA256KW}
}

// ResponseEncryptionEncs returns the content encryptions a client may
// register as id_token_encrypted_response_enc or
// userinfo_encrypted_response_enc, the default first.
func ResponseEncryptionEncs() []jose.ContentEncryption {
	return []jose.ContentEncryption{jose.A128CBCHS256, jose.A256CBCHS512, jose.A128GCM, jose.A256GCM}
}

// ResponseEncryptionAlgValues returns ResponseEncryptionAlgorithms as
// strings, for discovery's *_encryption_alg_values_supported.
func ResponseEncryptionAlgValues() []string { return strs(ResponseEncryptionAlgorithms()) }

// ResponseEncryptionEncValues returns ResponseEncryptionEncs as strings,
// for discovery's *_encryption_enc_values_supported.
func ResponseEncryptionEncValues() []string { return strs(ResponseEncryptionEncs()) }

// strs converts names (algorithms, content encryptions) to strings.
func strs[T ~string](names []T) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out
}

// ResponseEncryption is how a client registered one kind of response
// (ID token or UserInfo) to be encrypted. The zero value is "not
// encrypted".
type ResponseEncryption struct {
	// Alg is the key management algorithm; empty means not encrypted.
	Alg jose.Algorithm
	// Enc is the content encryption; DefaultResponseEncryption when the
	// client registered only Alg.
	Enc jose.ContentEncryption
}

// Enabled reports whether the response is to be encrypted.
func (e ResponseEncryption) Enabled() bool { return e.Alg != "" }

func responseEncryption(alg, enc string) ResponseEncryption {
	if alg == "" {
		return ResponseEncryption{}
	}
	e := ResponseEncryption{Alg: jose.Algorithm(alg), Enc: jose.ContentEncryption(enc)}
	if e.Enc == "" {
		e.Enc = DefaultResponseEncryption
	}
	return e
}

// IDTokenEncryption returns the encryption c registered for its ID tokens.
func IDTokenEncryption(c *store.Client) ResponseEncryption {
	return responseEncryption(c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc)
}

// UserInfoEncryption returns the encryption c registered for its UserInfo
// responses.
func UserInfoEncryption(c *store.Client) ResponseEncryption {
	return responseEncryption(c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc)
}

// CheckResponseMetadata judges the response signing and encryption
// metadata of a registration (OpenID Connect Dynamic Client Registration
// §2): every alg and enc supported, an enc only with its alg, a
// userinfo_signed_response_alg among signingAlgs (the algorithms the key
// ring signs with; empty means IDTokenAlgorithms), and for encryption a jwks or jwks_uri; an inline jwks
// must hold a key fit for each registered encryption algorithm (a jwks_uri
// is checked when a response is encrypted). The error text is meant for
// the registrant.
func CheckResponseMetadata(c *store.Client, signingAlgs []jose.Algorithm) error {
	if len(signingAlgs) == 0 {
		signingAlgs = IDTokenAlgorithms()
	}
	if a := jose.Algorithm(c.UserinfoSignedResponseAlg); a != "" && (!slices.Contains(signingAlgs, a) || !a.IsSignature() || a.IsSymmetric()) {
		return fmt.Errorf("userinfo_signed_response_alg %q is not supported; this server signs UserInfo responses with %s", clip(string(a)), algNames(signingAlgs))
	}
	var ks *jose.KeySet // c.JWKS, parsed once
	for _, r := range []struct{ prefix, alg, enc string }{
		{"id_token", c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc},
		{"userinfo", c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc},
	} {
		if r.alg == "" {
			if r.enc != "" {
				return fmt.Errorf("%s_encrypted_response_enc needs %s_encrypted_response_alg", r.prefix, r.prefix)
			}
			continue
		}
		if !slices.Contains(ResponseEncryptionAlgorithms(), jose.Algorithm(r.alg)) {
			return fmt.Errorf("%s_encrypted_response_alg %q is not supported; use one of %s", r.prefix, clip(r.alg), algNames(ResponseEncryptionAlgorithms()))
		}
		if r.enc != "" && !slices.Contains(ResponseEncryptionEncs(), jose.ContentEncryption(r.enc)) {
			return fmt.Errorf("%s_encrypted_response_enc %q is not supported; use one of %s", r.prefix, clip(r.enc), encNames())
		}
		if len(c.JWKS) == 0 && c.JWKSURI == "" {
			return fmt.Errorf("%s_encrypted_response_alg needs the client's encryption key: set jwks or jwks_uri", r.prefix)
		}
		if len(c.JWKS) > 0 {
			if ks == nil {
				var err error
				if ks, err = jose.ParseKeySet(c.JWKS); err != nil {
					return fmt.Errorf("jwks is not a valid JWK Set: %w", err)
				}
			}
			if _, err := jose.EncryptionKey(ks, jose.Algorithm(r.alg)); err != nil {
				return fmt.Errorf("%s_encrypted_response_alg %s needs a key in jwks to encrypt to: %s", r.prefix, r.alg, encryptionKeyHint(jose.Algorithm(r.alg)))
			}
		}
	}
	return nil
}

func encryptionKeyHint(alg jose.Algorithm) string {
	kty := `"kty":"EC" (P-256, P-384 or P-521)`
	if alg == jose.RSAOAEP || alg == jose.RSAOAEP256 {
		kty = `"kty":"RSA" (2048 bits or more)`
	}
	return fmt.Sprintf(`a public key with %s, "use":"enc" (or no use), and "alg":%q or no alg`, kty, alg)
}

func algNames(algs []jose.Algorithm) string { return strings.Join(strs(algs), ", ") }

func encNames() string { return strings.Join(ResponseEncryptionEncValues(), ", ") }

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// ErrNoEncryptionKey means a client registered encrypted responses but its
// key set (jwks, or the one at its jwks_uri) holds no key to encrypt to
// with the registered algorithm.
var ErrNoEncryptionKey = errors.New("oidc: the client's key set has no key for its registered encryption")

// ResponseEncrypter encrypts ID tokens and UserInfo responses to the
// client's key (OpenID Connect Core §10.2). It is safe for concurrent use.
type ResponseEncrypter struct {
	// Keys supplies the client's key set: its registered jwks, or the set
	// at its jwks_uri. Nil uses the registered jwks only.
	Keys oauth.ClientKeySource
}

// Encrypt encrypts plaintext to c's key for e. nested marks the plaintext
// as a signed JWT ("cty":"JWT", RFC 7519 §5.2). The header carries the
// key's kid. Errors: ErrNoEncryptionKey when the key set holds no fit key;
// any other error when the key set cannot be had (a jwks_uri that does not
// answer).
func (re *ResponseEncrypter) Encrypt(ctx context.Context, c *store.Client, e ResponseEncryption, plaintext []byte, nested bool) (string, error) {
	key, err := re.key(ctx, c, e)
	if err != nil {
		return "", err
	}
	var tok string
	if nested {
		tok, err = jose.EncryptNested(string(plaintext), key, e.Enc)
	} else {
		tok, err = jose.Encrypt(key, e.Enc, plaintext, nil)
	}
	if err != nil {
		return "", fmt.Errorf("oidc: encrypt for client %q: %w", c.ID, err)
	}
	return tok, nil
}

// Ready checks, without encrypting anything, that Encrypt could encrypt
// to c's key for e now: the key set can be had (a jwks_uri answers, and
// its cache is then warm) and holds a fit key. It returns Encrypt's
// errors.
func (re *ResponseEncrypter) Ready(ctx context.Context, c *store.Client, e ResponseEncryption) error {
	_, err := re.key(ctx, c, e)
	return err
}

// key returns c's key for e, with Encrypt's errors.
func (re *ResponseEncrypter) key(ctx context.Context, c *store.Client, e ResponseEncryption) (*jose.Key, error) {
	ks, err := re.keySet(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("oidc: the key set of client %q: %w", c.ID, err)
	}
	key, err := jose.EncryptionKey(ks, e.Alg)
	if err != nil {
		return nil, fmt.Errorf("%w (client %q, %s): %w", ErrNoEncryptionKey, c.ID, e.Alg, err)
	}
	return key, nil
}

func (re *ResponseEncrypter) keySet(ctx context.Context, c *store.Client) (*jose.KeySet, error) {
	if re == nil || re.Keys == nil {
		if len(c.JWKS) == 0 {
			return nil, errors.New("client has no registered jwks")
		}
		return jose.ParseKeySet(c.JWKS)
	}
	return re.Keys.ClientKeys(ctx, c, nil)
}

// EncryptionFailed turns an error of ResponseEncrypter.Encrypt into the
// OAuth error sent to the client: server_error (500) saying that the
// client's keys hold no encryption key, or temporarily_unavailable (503)
// when its key set could not be had. The cause is kept for the log.
func EncryptionFailed(what string, err error) *oauth.Error {
	if errors.Is(err, ErrNoEncryptionKey) {
		e := oauth.ServerError(err)
		e.Description = "the " + what + " cannot be encrypted: the client's registered keys hold no key for its registered encryption algorithm"
		return e
	}
	return oauth.TemporarilyUnavailable(err, "the "+what+" cannot be encrypted: the client's key set is unavailable; retry later")
}
