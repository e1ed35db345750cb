package jose

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"sync"
)

// MinRSABits is the smallest RSA modulus writ accepts, for signing and for
// verification.
const MinRSABits = 2048

// maxRSABits bounds the work a hostile key can cause.
const maxRSABits = 8192

// Key use values (RFC 7517 §4.2).
const (
	UseSignature  = "sig"
	UseEncryption = "enc"
)

// Key is a JSON Web Key bound to exactly one algorithm. It holds either a
// public key, a private key (and its public half), or an HMAC secret.
// A Key is immutable after creation and safe for concurrent use.
type Key struct {
	kid string
	alg Algorithm
	use string
	ops []string
	fam family
	// algSet is false for a key parsed from a JWK without "alg", bound to
	// its type's default algorithm: EncryptionKey may rebind it.
	algSet bool

	pub    crypto.PublicKey // *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey
	priv   crypto.Signer    // nil for a public key or an HMAC key
	secret []byte           // HMAC and dir keys only

	info     algInfo
	hmacPool *sync.Pool // of *hmacState, HMAC keys only
}

type hmacState struct {
	h   hash.Hash
	sum [64]byte
}

// Errors about keys.
var (
	ErrInvalidKey       = errors.New("jose: invalid key")
	ErrUnsupportedAlg   = errors.New("jose: unsupported algorithm")
	ErrKeyAlgMismatch   = errors.New("jose: key does not match algorithm")
	ErrKeyNotForSigning = errors.New("jose: key is not usable for signatures")
	ErrPrivateInPublic  = errors.New("jose: private key material in a public key set")
)

// KeyOption adjusts a key as it is created.
type KeyOption func(*Key)

// WithKeyID sets the key's "kid". By default a key created in writ gets its
// RFC 7638 SHA-256 thumbprint as kid.
func WithKeyID(kid string) KeyOption { return func(k *Key) { k.kid = kid } }

// WithUse sets the key's "use" member ("sig" or "enc").
func WithUse(use string) KeyOption { return func(k *Key) { k.use = use } }

// NewKey binds a Go crypto key to alg. key may be an *ecdsa.PrivateKey,
// *ecdsa.PublicKey, *rsa.PrivateKey, *rsa.PublicKey, ed25519.PrivateKey,
// ed25519.PublicKey, or a []byte secret for HMAC and "dir". The key is
// checked against the algorithm: curve, RSA size (at least 2048 bits), HMAC
// secret length (at least the hash size).
func NewKey(alg Algorithm, key any, opts ...KeyOption) (*Key, error) {
	info, ok := lookupAlg(alg)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	k := &Key{alg: alg, fam: info.fam, info: info, algSet: true}
	switch info.fam {
	case famHMAC, famDirEnc:
		b, ok := key.([]byte)
		if !ok {
			return nil, fmt.Errorf("%w: %s needs a []byte secret, got %T", ErrKeyAlgMismatch, alg, key)
		}
		if info.fam == famDirEnc && len(b) != info.size {
			return nil, fmt.Errorf("%w: %s secret must be exactly %d bytes, got %d", ErrInvalidKey, alg, info.size, len(b))
		}
		if len(b) < info.size {
			return nil, fmt.Errorf("%w: %s secret must be at least %d bytes, got %d", ErrInvalidKey, alg, info.size, len(b))
		}
		k.secret = slices.Clone(b)
	case famRSA, famPSS, famRSAEnc:
		switch v := key.(type) {
		case *rsa.PrivateKey:
			if err := checkRSA(&v.PublicKey); err != nil {
				return nil, err
			}
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("%w: RSA private key: %v", ErrInvalidKey, err)
			}
			v.Precompute()
			k.priv, k.pub = v, &v.PublicKey
		case *rsa.PublicKey:
			if err := checkRSA(v); err != nil {
				return nil, err
			}
			k.pub = v
		default:
			return nil, fmt.Errorf("%w: %s needs an RSA key, got %T", ErrKeyAlgMismatch, alg, key)
		}
	case famECDSA, famECDHEnc:
		var pub *ecdsa.PublicKey
		switch v := key.(type) {
		case *ecdsa.PrivateKey:
			k.priv, pub = v, &v.PublicKey
		case *ecdsa.PublicKey:
			pub = v
		default:
			return nil, fmt.Errorf("%w: %s needs an ECDSA key, got %T", ErrKeyAlgMismatch, alg, key)
		}
		if info.fam == famECDSA && pub.Curve != info.curve {
			return nil, fmt.Errorf("%w: %s needs curve %s", ErrKeyAlgMismatch, alg, info.curve.Params().Name)
		}
		if _, err := pub.ECDH(); err != nil { // on-curve and not the point at infinity
			return nil, fmt.Errorf("%w: EC public key: %v", ErrInvalidKey, err)
		}
		k.pub = pub
	case famEdDSA:
		switch v := key.(type) {
		case ed25519.PrivateKey:
			if len(v) != ed25519.PrivateKeySize {
				return nil, fmt.Errorf("%w: Ed25519 private key size", ErrInvalidKey)
			}
			k.priv, k.pub = v, v.Public()
		case ed25519.PublicKey:
			if len(v) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%w: Ed25519 public key size", ErrInvalidKey)
			}
			k.pub = v
		default:
			return nil, fmt.Errorf("%w: EdDSA needs an Ed25519 key, got %T", ErrKeyAlgMismatch, key)
		}
	}
	if info.fam >= famRSAEnc {
		k.use = UseEncryption
	} else {
		k.use = UseSignature
	}
	for _, o := range opts {
		o(k)
	}
	if k.kid == "" {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, err
		}
		k.kid = tp
	}
	k.init()
	return k, nil
}

func checkRSA(pub *rsa.PublicKey) error {
	if pub.N == nil || pub.N.BitLen() < MinRSABits {
		return fmt.Errorf("%w: RSA modulus must be at least %d bits", ErrInvalidKey, MinRSABits)
	}
	if pub.N.BitLen() > maxRSABits {
		return fmt.Errorf("%w: RSA modulus larger than %d bits", ErrInvalidKey, maxRSABits)
	}
	if pub.N.Bit(0) == 0 {
		return fmt.Errorf("%w: RSA modulus is even", ErrInvalidKey)
	}
	if pub.E < 3 || pub.E&1 == 0 {
		return fmt.Errorf("%w: RSA public exponent", ErrInvalidKey)
	}
	if hasROCAFingerprint(pub.N) {
		return fmt.Errorf("%w: RSA modulus has the ROCA fingerprint (CVE-2017-15361) and can be factored; replace the key", ErrInvalidKey)
	}
	return nil
}

// hasROCAFingerprint reports whether n looks like a modulus from the Infineon
// RSALib generator broken by ROCA (CVE-2017-15361). Its primes have the form
// k*M + (65537^a mod M), with M a product of the first small primes, so for
// every small prime r dividing M, n mod r lies in the subgroup generated by
// 65537 modulo r. The odd primes up to 167 divide M for every key size the
// generator produces; a random modulus passes all of them with probability
// about 4e-9.
func hasROCAFingerprint(n *big.Int) bool {
	primes := [...]int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
		79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}
	var r, m big.Int
	for _, p := range primes {
		r.Mod(n, m.SetInt64(p))
		if !powerOf65537(r.Int64(), p) {
			return false
		}
	}
	return true
}

// powerOf65537 reports whether x is a power of 65537 modulo the prime p.
func powerOf65537(x, p int64) bool {
	g := 65537 % p
	v := int64(1)
	for {
		if v == x {
			return true
		}
		v = v * g % p
		if v == 1 {
			return false
		}
	}
}

// init precomputes per-key state for the hot path.
func (k *Key) init() {
	if k.fam == famHMAC {
		secret, h := k.secret, k.info.hash
		k.hmacPool = &sync.Pool{New: func() any {
			return &hmacState{h: hmac.New(h.New, secret)}
		}}
	}
}

// GenerateKey creates a new private key for alg with a fresh random source.
// RSA keys are 2048 bits; use GenerateRSAKey for larger ones. HMAC secrets
// are as long as the hash output. The kid is the RFC 7638 thumbprint.
func GenerateKey(alg Algorithm, opts ...KeyOption) (*Key, error) {
	info, ok := lookupAlg(alg)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	switch info.fam {
	case famHMAC, famDirEnc:
		b := make([]byte, info.size)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("jose: generate secret: %w", err)
		}
		return NewKey(alg, b, opts...)
	case famRSA, famPSS, famRSAEnc:
		return GenerateRSAKey(alg, MinRSABits, opts...)
	case famECDSA:
		pk, err := ecdsa.GenerateKey(info.curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate EC key: %w", err)
		}
		return NewKey(alg, pk, opts...)
	case famECDHEnc:
		pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate EC key: %w", err)
		}
		return NewKey(alg, pk, opts...)
	case famEdDSA:
		_, pk, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate Ed25519 key: %w", err)
		}
		return NewKey(alg, pk, opts...)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
}

// GenerateRSAKey creates an RSA key of the given size (at least 2048 bits)
// for an RS*, PS*, RSA-OAEP or RSA-OAEP-256 algorithm.
func GenerateRSAKey(alg Algorithm, bits int, opts ...KeyOption) (*Key, error) {
	if bits < MinRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("%w: RSA size must be between %d and %d bits", ErrInvalidKey, MinRSABits, maxRSABits)
	}
	pk, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("jose: generate RSA key: %w", err)
	}
	return NewKey(alg, pk, opts...)
}

// KeyID returns the key's "kid".
func (k *Key) KeyID() string { return k.kid }

// Algorithm returns the one algorithm the key is bound to.
func (k *Key) Algorithm() Algorithm { return k.alg }

// Use returns the key's "use" ("sig", "enc" or empty).
func (k *Key) Use() string { return k.use }

// IsPrivate reports whether the key holds private or secret material.
func (k *Key) IsPrivate() bool { return k.priv != nil || k.secret != nil }

// IsSymmetric reports whether the key is a shared secret.
func (k *Key) IsSymmetric() bool { return k.secret != nil }

// PublicKey returns the Go public key (*ecdsa.PublicKey, *rsa.PublicKey or
// ed25519.PublicKey), or nil for a symmetric key.
func (k *Key) PublicKey() crypto.PublicKey { return k.pub }

// CryptoKey returns the underlying Go key: the private key (crypto.Signer)
// when present, the secret for a symmetric key, otherwise the public key.
// The returned value must not be modified.
func (k *Key) CryptoKey() any {
	switch {
	case k.secret != nil:
		return k.secret
	case k.priv != nil:
		return k.priv
	}
	return k.pub
}

// Public returns the public half of the key, with the same kid, alg and use.
// It returns nil for a symmetric key, which has no public half.
func (k *Key) Public() *Key {
	if k.secret != nil {
		return nil
	}
	if k.priv == nil {
		return k
	}
	return &Key{kid: k.kid, alg: k.alg, use: k.use, ops: publicOps(k.ops), fam: k.fam, pub: k.pub, info: k.info, algSet: k.algSet}
}

// publicOps maps the key_ops of a private key to those of its public half:
// sign → verify, decrypt → encrypt, unwrapKey → wrapKey; public operations
// stay. A nil list (no restriction) stays nil.
func publicOps(ops []string) []string {
	if ops == nil {
		return nil
	}
	out := make([]string, 0, len(ops))
	add := func(op string) {
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	for _, o := range ops {
		switch o {
		case "sign", "verify":
			add("verify")
		case "decrypt", "encrypt":
			add("encrypt")
		case "unwrapKey", "wrapKey":
			add("wrapKey")
		}
	}
	return out
}

// canVerify reports whether the key may check signatures.
func (k *Key) canVerify() bool {
	if k.fam < famHMAC || k.fam > famEdDSA || k.use == UseEncryption {
		return false
	}
	return k.ops == nil || slices.Contains(k.ops, "verify")
}

// canSign reports whether the key may create signatures.
func (k *Key) canSign() bool {
	if k.fam < famHMAC || k.fam > famEdDSA || k.use == UseEncryption || !k.IsPrivate() {
		return false
	}
	return k.ops == nil || slices.Contains(k.ops, "sign")
}

// Thumbprint computes the RFC 7638 thumbprint of the key with hash h and
// returns it base64url-encoded.
func (k *Key) Thumbprint(h crypto.Hash) (string, error) {
	if !h.Available() {
		return "", fmt.Errorf("jose: thumbprint hash %v unavailable", h)
	}
	var canon string
	switch {
	case k.secret != nil:
		canon = `{"k":"` + b64(k.secret) + `","kty":"oct"}`
	default:
		switch p := k.pub.(type) {
		case *ecdsa.PublicKey:
			x, y, crv, err := ecCoords(p)
			if err != nil {
				return "", err
			}
			canon = `{"crv":"` + crv + `","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
		case *rsa.PublicKey:
			canon = `{"e":"` + b64(big.NewInt(int64(p.E)).Bytes()) + `","kty":"RSA","n":"` + b64(p.N.Bytes()) + `"}`
		case ed25519.PublicKey:
			canon = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(p) + `"}`
		default:
			return "", fmt.Errorf("%w: no public key", ErrInvalidKey)
		}
	}
	hh := h.New()
	hh.Write([]byte(canon))
	return b64(hh.Sum(nil)), nil
}

// ThumbprintSHA256 is Thumbprint(crypto.SHA256) for use where an error is
// impossible (the key was validated when it was created).
func (k *Key) ThumbprintSHA256() string {
	tp, _ := k.Thumbprint(crypto.SHA256)
	return tp
}

func ecCoords(p *ecdsa.PublicKey) (x, y []byte, crv string, err error) {
	pk, err := p.ECDH()
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	raw := pk.Bytes() // 0x04 || X || Y
	n := (len(raw) - 1) / 2
	switch pk.Curve() {
	case ecdh.P256():
		crv = "P-256"
	case ecdh.P384():
		crv = "P-384"
	case ecdh.P521():
		crv = "P-521"
	}
	return raw[1 : 1+n], raw[1+n:], crv, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// String describes the key without its material: kid, alg and whether it
// is private. Every formatting path (fmt verbs, %#v, log/slog) uses it, so a
// Key can be logged safely.
func (k *Key) String() string {
	if k == nil {
		return "jose.Key(nil)"
	}
	kind := "public"
	switch {
	case k.secret != nil:
		kind = "secret"
	case k.priv != nil:
		kind = "private"
	}
	return "jose.Key{kid: " + strconv.Quote(k.kid) + ", alg: " + string(k.alg) + ", " + kind + "}"
}

// GoString implements fmt.GoStringer with the redacted form.
func (k *Key) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer with the redacted form.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }
