package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"

	"github.com/writ-dev/writ/internal/strictjson"
)

// MaxJWKSize bounds the size of one JWK or JWK Set document that writ parses.
const MaxJWKSize = 1 << 20

// maxKeysInSet bounds the number of keys in a JWK Set.
const maxKeysInSet = 256

// jwk is the JSON form of a key. Unknown members are ignored.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	D      string   `json:"d,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	P      string   `json:"p,omitempty"`
	Q      string   `json:"q,omitempty"`
	DP     string   `json:"dp,omitempty"`
	DQ     string   `json:"dq,omitempty"`
	QI     string   `json:"qi,omitempty"`
	K      string   `json:"k,omitempty"`

	Oth json.RawMessage `json:"oth,omitempty"`
}

// MarshalJSON encodes the key as a JWK, including private members when the
// key holds them. Use Public to publish a key.
func (k *Key) MarshalJSON() ([]byte, error) {
	if k.ops != nil && len(k.ops) == 0 {
		// An empty list would be dropped by omitempty and the key read back
		// unrestricted; a key that permits nothing has no JWK form.
		return nil, fmt.Errorf("%w: the key permits no operation (its key_ops has no public counterpart)", ErrInvalidKey)
	}
	j := jwk{Kid: k.kid, Use: k.use, KeyOps: k.ops, Alg: string(k.alg)}
	switch {
	case k.secret != nil:
		j.Kty, j.K = "oct", b64(k.secret)
	default:
		switch p := k.pub.(type) {
		case *ecdsa.PublicKey:
			x, y, crv, err := ecCoords(p)
			if err != nil {
				return nil, err
			}
			j.Kty, j.Crv, j.X, j.Y = "EC", crv, b64(x), b64(y)
			if priv, ok := k.priv.(*ecdsa.PrivateKey); ok {
				d, err := priv.Bytes()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
				}
				j.D = b64(d)
			}
		case *rsa.PublicKey:
			j.Kty, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
			if priv, ok := k.priv.(*rsa.PrivateKey); ok {
				if len(priv.Primes) != 2 {
					return nil, fmt.Errorf("%w: multi-prime RSA keys are not supported", ErrInvalidKey)
				}
				j.D, j.P, j.Q = b64(priv.D.Bytes()), b64(priv.Primes[0].Bytes()), b64(priv.Primes[1].Bytes())
				j.DP, j.DQ, j.QI = b64(priv.Precomputed.Dp.Bytes()), b64(priv.Precomputed.Dq.Bytes()), b64(priv.Precomputed.Qinv.Bytes())
			}
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(p)
			if priv, ok := k.priv.(ed25519.PrivateKey); ok {
				j.D = b64(priv.Seed())
			}
		default:
			return nil, fmt.Errorf("%w: empty key", ErrInvalidKey)
		}
	}
	return json.Marshal(j)
}

// ParseKey parses one JWK (public, private or symmetric) strictly: the JSON
// must have no duplicate members (not even ones differing only in case,
// which encoding/json would merge), every base64url member must be canonical,
// EC points must lie on their curve, RSA moduli must be at least 2048 bits,
// and private members must match the public ones. A JWK without "alg" is
// bound to the only algorithm its type allows (EC curves, Ed25519); RSA and
// "oct" keys must name their algorithm.
func ParseKey(data []byte) (*Key, error) {
	if len(data) > MaxJWKSize {
		return nil, fmt.Errorf("%w: JWK larger than %d bytes", ErrInvalidKey, MaxJWKSize)
	}
	if err := strictjson.ValidateFold(string(data), 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return parseKeyJSON(data)
}

// ParsePublicKey parses one public JWK that arrived inside a message, such
// as the "jwk" header of a DPoP proof (RFC 9449 §4.2), and binds it to alg,
// the algorithm of the message it came with. It is ParseKey with three more
// rules: the JWK must hold no private or secret member (d, p, q, dp, dq, qi,
// oth, k) and must not be a symmetric "oct" key; a JWK that names an "alg"
// must name alg; and the key must be usable to verify signatures with alg
// (an EC key of the curve alg needs, an RSA key for RS*/PS*, an Ed25519 key
// for EdDSA). An RSA JWK may leave "alg" out here: alg binds it.
func ParsePublicKey(data []byte, alg Algorithm) (*Key, error) {
	if len(data) > MaxJWKSize {
		return nil, fmt.Errorf("%w: JWK larger than %d bytes", ErrInvalidKey, MaxJWKSize)
	}
	if !alg.IsSignature() || alg.IsSymmetric() {
		return nil, fmt.Errorf("%w: %q is not an asymmetric signature algorithm", ErrUnsupportedAlg, alg)
	}
	if err := strictjson.ValidateFold(string(data), 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	var probe struct {
		D, P, Q, DP, DQ, QI, K *string
		Oth                    json.RawMessage
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: JWK members have the wrong JSON types", ErrInvalidKey)
	}
	if probe.D != nil || probe.P != nil || probe.Q != nil || probe.DP != nil || probe.DQ != nil ||
		probe.QI != nil || probe.K != nil || probe.Oth != nil {
		return nil, fmt.Errorf("%w: the JWK holds private or secret members", ErrPrivateInPublic)
	}
	var j jwk
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%w: JWK members have the wrong JSON types", ErrInvalidKey)
	}
	if j.Kty == "oct" {
		return nil, fmt.Errorf("%w: a symmetric (oct) key is never a public key", ErrPrivateInPublic)
	}
	switch {
	case j.Alg == "":
		j.Alg = string(alg)
	case Algorithm(j.Alg) != alg:
		return nil, fmt.Errorf("%w: the JWK is bound to another algorithm", ErrKeyAlgMismatch)
	}
	k, err := j.key()
	if err != nil {
		return nil, err
	}
	if !k.canVerify() {
		return nil, ErrKeyNotForSigning
	}
	return k, nil
}

func parseKeyJSON(data []byte) (*Key, error) {
	var j jwk
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: JWK members have the wrong JSON types", ErrInvalidKey)
	}
	return j.key()
}

func (j *jwk) key() (*Key, error) {
	if len(j.Oth) > 0 {
		return nil, fmt.Errorf("%w: multi-prime RSA keys (oth) are not supported", ErrInvalidKey)
	}
	alg := Algorithm(j.Alg)
	var material any
	switch j.Kty {
	case "EC":
		curve, def, size := ecCurve(j.Crv)
		if curve == nil {
			return nil, fmt.Errorf("%w: unsupported EC curve %q", ErrUnsupportedAlg, j.Crv)
		}
		if alg == "" {
			alg = def
		}
		x, err := fixedB64(j.X, size)
		if err != nil {
			return nil, fmt.Errorf("%w: EC x: %v", ErrInvalidKey, err)
		}
		y, err := fixedB64(j.Y, size)
		if err != nil {
			return nil, fmt.Errorf("%w: EC y: %v", ErrInvalidKey, err)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("%w: EC point is not on curve %s", ErrInvalidKey, j.Crv)
		}
		material = pub
		if j.D != "" {
			d, err := fixedB64(j.D, size)
			if err != nil {
				return nil, fmt.Errorf("%w: EC d: %v", ErrInvalidKey, err)
			}
			priv, err := ecdsa.ParseRawPrivateKey(curve, d)
			if err != nil {
				return nil, fmt.Errorf("%w: EC private scalar", ErrInvalidKey)
			}
			if !priv.PublicKey.Equal(pub) {
				return nil, fmt.Errorf("%w: EC private key does not match x and y", ErrInvalidKey)
			}
			material = priv
		}
	case "RSA":
		if alg == "" && j.Use == UseEncryption {
			// An encryption key is only ever used to encrypt to: bind it
			// to RSA-OAEP-256 and let EncryptionKey rebind it to the
			// algorithm the relying party registered.
			alg = RSAOAEP256
		}
		if alg == "" {
			return nil, fmt.Errorf("%w: RSA JWK without \"alg\": name RS256, PS256, ... so the key is bound to one algorithm", ErrInvalidKey)
		}
		n, err := bigB64(j.N)
		if err != nil {
			return nil, fmt.Errorf("%w: RSA n: %v", ErrInvalidKey, err)
		}
		e, err := bigB64(j.E)
		if err != nil {
			return nil, fmt.Errorf("%w: RSA e: %v", ErrInvalidKey, err)
		}
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("%w: RSA public exponent too large", ErrInvalidKey)
		}
		pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
		material = pub
		if j.D != "" || j.P != "" || j.Q != "" || j.DP != "" || j.DQ != "" || j.QI != "" {
			priv, err := rsaPrivate(pub, j)
			if err != nil {
				return nil, err
			}
			material = priv
		}
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("%w: unsupported OKP curve %q", ErrUnsupportedAlg, j.Crv)
		}
		if alg == "" {
			alg = EdDSA
		}
		x, err := fixedB64(j.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("%w: OKP x: %v", ErrInvalidKey, err)
		}
		material = ed25519.PublicKey(x)
		if j.D != "" {
			seed, err := fixedB64(j.D, ed25519.SeedSize)
			if err != nil {
				return nil, fmt.Errorf("%w: OKP d: %v", ErrInvalidKey, err)
			}
			priv := ed25519.NewKeyFromSeed(seed)
			if !bytes.Equal(priv.Public().(ed25519.PublicKey), x) {
				return nil, fmt.Errorf("%w: Ed25519 private key does not match x", ErrInvalidKey)
			}
			material = priv
		}
	case "oct":
		if alg == "" {
			return nil, fmt.Errorf("%w: oct JWK without \"alg\": name HS256, HS384 or HS512 so the secret is bound to one algorithm", ErrInvalidKey)
		}
		k, err := strictB64(j.K)
		if err != nil || len(k) == 0 {
			return nil, fmt.Errorf("%w: oct k", ErrInvalidKey)
		}
		material = k
	case "":
		return nil, fmt.Errorf("%w: missing \"kty\"", ErrInvalidKey)
	default:
		return nil, fmt.Errorf("%w: unsupported kty %q", ErrUnsupportedAlg, j.Kty)
	}
	if _, ok := lookupAlg(alg); !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	if err := checkUseOps(j.Use, j.KeyOps); err != nil {
		return nil, err
	}
	var opts []KeyOption
	if j.Kid != "" {
		opts = append(opts, WithKeyID(j.Kid))
	}
	if j.Use != "" {
		opts = append(opts, WithUse(j.Use))
	}
	k, err := NewKey(alg, material, opts...)
	if err != nil {
		return nil, err
	}
	if j.Use == "" {
		k.use = "" // keep the document as it was; an absent use allows both by RFC 7517
		if alg.IsEncryption() {
			k.use = UseEncryption
		}
	}
	k.ops = j.KeyOps
	k.algSet = j.Alg != ""
	return k, nil
}

func checkUseOps(use string, ops []string) error {
	switch use {
	case "", UseSignature, UseEncryption:
	default:
		return fmt.Errorf("%w: unknown use %q", ErrInvalidKey, use)
	}
	if ops != nil && len(ops) == 0 {
		return fmt.Errorf("%w: key_ops is empty, so the key permits no operation; leave key_ops out or list the operations", ErrInvalidKey)
	}
	seen := map[string]bool{}
	for _, o := range ops {
		switch o {
		case "sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits":
		default:
			return fmt.Errorf("%w: unknown key_ops value %q", ErrInvalidKey, o)
		}
		if seen[o] {
			return fmt.Errorf("%w: duplicate key_ops value %q", ErrInvalidKey, o)
		}
		seen[o] = true
	}
	if use == UseEncryption && (seen["sign"] || seen["verify"]) {
		return fmt.Errorf("%w: use \"enc\" conflicts with key_ops sign/verify", ErrInvalidKey)
	}
	if use == UseSignature && (seen["encrypt"] || seen["decrypt"] || seen["wrapKey"] || seen["unwrapKey"]) {
		return fmt.Errorf("%w: use \"sig\" conflicts with encryption key_ops", ErrInvalidKey)
	}
	return nil
}

func rsaPrivate(pub *rsa.PublicKey, j *jwk) (*rsa.PrivateKey, error) {
	var parts [6]*big.Int
	for i, s := range []string{j.D, j.P, j.Q, j.DP, j.DQ, j.QI} {
		v, err := bigB64(s)
		if err != nil {
			return nil, fmt.Errorf("%w: RSA private key needs d, p, q, dp, dq and qi", ErrInvalidKey)
		}
		parts[i] = v
	}
	priv := &rsa.PrivateKey{PublicKey: *pub, D: parts[0], Primes: []*big.Int{parts[1], parts[2]}}
	if err := checkRSA(pub); err != nil {
		return nil, err
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("%w: RSA private key is inconsistent", ErrInvalidKey)
	}
	priv.Precompute()
	if priv.Precomputed.Dp.Cmp(parts[3]) != 0 || priv.Precomputed.Dq.Cmp(parts[4]) != 0 || priv.Precomputed.Qinv.Cmp(parts[5]) != 0 {
		return nil, fmt.Errorf("%w: RSA CRT values do not match the key", ErrInvalidKey)
	}
	return priv, nil
}

// ecCurve maps a JWK "crv" (or the Go curve name) to the curve, the one
// signature algorithm it implies, and its coordinate size.
func ecCurve(crv string) (elliptic.Curve, Algorithm, int) {
	switch crv {
	case "P-256":
		return elliptic.P256(), ES256, 32
	case "P-384":
		return elliptic.P384(), ES384, 48
	case "P-521":
		return elliptic.P521(), ES512, 66
	}
	return nil, "", 0
}

// strictB64 decodes canonical unpadded base64url.
func strictB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if !isB64URL(s[i]) {
			return nil, fmt.Errorf("not canonical base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not canonical base64url")
	}
	return b, nil
}

func fixedB64(s string, size int) ([]byte, error) {
	b, err := strictB64(s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("must be %d bytes, got %d", size, len(b))
	}
	return b, nil
}

// bigB64 decodes a base64urlUInt (RFC 7518 §2): no leading zero octets.
func bigB64(s string) (*big.Int, error) {
	b, err := strictB64(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("missing")
	}
	if b[0] == 0 && len(b) > 1 {
		return nil, fmt.Errorf("leading zero octet")
	}
	return new(big.Int).SetBytes(b), nil
}

func isB64URL(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
}

// KeySet is an immutable set of keys trusted for verification, with an exact
// kid index. Build one with NewKeySet or ParseKeySet.
type KeySet struct {
	keys  []*Key
	byKID map[string][]*Key
	byAlg map[Algorithm][]*Key
	// Skipped lists why keys of a parsed set were left out (unknown kty or
	// curve, per RFC 7517 §5). It is informational.
	Skipped []string
}

// NewKeySet builds a trusted key set from keys. Symmetric keys are allowed
// here (the caller holds them); use ParseKeySet for published sets.
func NewKeySet(keys ...*Key) *KeySet {
	ks := &KeySet{byKID: map[string][]*Key{}, byAlg: map[Algorithm][]*Key{}}
	for _, k := range keys {
		if k == nil {
			continue
		}
		ks.keys = append(ks.keys, k)
		if k.canVerify() {
			ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
			ks.byAlg[k.alg] = append(ks.byAlg[k.alg], k)
		}
	}
	return ks
}

// ParseKeySet parses a published JWK Set ({"keys": [...]}) strictly. Keys of
// a type or curve writ does not support are skipped (RFC 7517 §5) and listed
// in Skipped; a key that is malformed, holds private members, or is a
// symmetric "oct" key fails the whole set: a published set must never carry
// secrets.
func ParseKeySet(data []byte) (*KeySet, error) {
	if len(data) > MaxJWKSize {
		return nil, fmt.Errorf("%w: JWK Set larger than %d bytes", ErrInvalidKey, MaxJWKSize)
	}
	if err := strictjson.ValidateFold(string(data), 0); err != nil {
		return nil, fmt.Errorf("%w: JWK Set: %v", ErrInvalidKey, err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Keys == nil {
		return nil, fmt.Errorf("%w: JWK Set must be an object with a \"keys\" array", ErrInvalidKey)
	}
	if len(doc.Keys) > maxKeysInSet {
		return nil, fmt.Errorf("%w: JWK Set has more than %d keys", ErrInvalidKey, maxKeysInSet)
	}
	var keys []*Key
	var skipped []string
	type kidAlg struct {
		kid string
		alg Algorithm
	}
	seen := make(map[kidAlg]bool, len(doc.Keys))
	for i, raw := range doc.Keys {
		var probe struct {
			Kty string  `json:"kty"`
			D   *string `json:"d"`
			K   *string `json:"k"`
			P   *string `json:"p"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("%w: key %d is not a JSON object", ErrInvalidKey, i)
		}
		if probe.Kty == "oct" || probe.K != nil || probe.D != nil || probe.P != nil {
			return nil, fmt.Errorf("%w: key %d", ErrPrivateInPublic, i)
		}
		k, err := parseKeyJSON(raw)
		if err != nil {
			if isUnsupported(err) {
				skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
				continue
			}
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if id := (kidAlg{k.kid, k.alg}); seen[id] {
			return nil, fmt.Errorf("%w: key %d repeats the kid and alg of an earlier key", ErrInvalidKey, i)
		} else {
			seen[id] = true
		}
		keys = append(keys, k)
	}
	ks := NewKeySet(keys...)
	ks.Skipped = skipped
	return ks, nil
}

func isUnsupported(err error) bool {
	for e := err; e != nil; {
		if e == ErrUnsupportedAlg {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// Keys returns the keys of the set, in order.
func (ks *KeySet) Keys() []*Key { return slices.Clone(ks.keys) }

// Len returns the number of keys in the set.
func (ks *KeySet) Len() int { return len(ks.keys) }

// Lookup returns the verification keys for a token header: with a kid, the
// keys whose kid is exactly that value; without one, every key bound to alg.
// The returned slice is shared and must not be modified.
func (ks *KeySet) Lookup(kid string, alg Algorithm, hasKID bool) []*Key {
	if hasKID {
		return ks.byKID[kid]
	}
	return ks.byAlg[alg]
}

// MarshalJSON encodes the set as a public JWK Set: private members are never
// written, and symmetric keys are left out.
func (ks *KeySet) MarshalJSON() ([]byte, error) {
	pub := make([]*Key, 0, len(ks.keys))
	for _, k := range ks.keys {
		if p := k.Public(); p != nil {
			pub = append(pub, p)
		}
	}
	return json.Marshal(struct {
		Keys []*Key `json:"keys"`
	}{pub})
}
