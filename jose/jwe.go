package jose

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/writ-dev/writ/internal/strictjson"
)

// ContentEncryption is a JWE content encryption algorithm, the "enc" header
// member (RFC 7518 §5).
type ContentEncryption string

// Content encryption algorithms writ produces and accepts (RFC 7518 §5).
const (
	// A256GCM is AES-256 in Galois/Counter Mode (RFC 7518 §5.3).
	A256GCM ContentEncryption = "A256GCM"
	// A128CBCHS256 is AES-128-CBC with HMAC-SHA-256, encrypt-then-MAC
	// (RFC 7518 §5.2.3).
	A128CBCHS256 ContentEncryption = "A128CBC-HS256"
	// A128GCM is AES-128 in Galois/Counter Mode (RFC 7518 §5.3).
	A128GCM ContentEncryption = "A128GCM"
	// A256CBCHS512 is AES-256-CBC with HMAC-SHA-512, encrypt-then-MAC
	// (RFC 7518 §5.2.5).
	A256CBCHS512 ContentEncryption = "A256CBC-HS512"
)

// DirectKeySize is the size in bytes of a "dir" key. Direct encryption is
// used only with the content encryptions whose key is 256 bits (A256GCM and
// A128CBC-HS256), so a "dir" key is always 32 bytes. GenerateKey(Direct)
// makes keys of this size.
const DirectKeySize = 32

// ContentEncryptions lists every content encryption algorithm writ supports,
// in a stable order.
func ContentEncryptions() []ContentEncryption {
	return []ContentEncryption{A256GCM, A128CBCHS256, A128GCM, A256CBCHS512}
}

// ivSize returns the initialization vector size of e, or 0 when writ does
// not support e.
func (e ContentEncryption) ivSize() int {
	switch e {
	case A256GCM, A128GCM:
		return 12
	case A128CBCHS256, A256CBCHS512:
		return 16
	}
	return 0
}

// tagSize returns the authentication tag size of e: 16 bytes, except 32
// for A256CBC-HS512 (RFC 7518 §5.2.5).
func (e ContentEncryption) tagSize() int {
	if e == A256CBCHS512 {
		return 32
	}
	return 16
}

// cekSize returns the content encryption key size of e in bytes.
func (e ContentEncryption) cekSize() int {
	switch e {
	case A128GCM:
		return 16
	case A256CBCHS512:
		return 64
	}
	return 32
}

// IsSupported reports whether writ encrypts and decrypts with e.
func (e ContentEncryption) IsSupported() bool { return e.ivSize() != 0 }

// goJoseEncryptions is the content encryption allow-list given to go-jose:
// ContentEncryptions, whose names are go-jose's.
func goJoseEncryptions() []gojose.ContentEncryption {
	encs := ContentEncryptions()
	out := make([]gojose.ContentEncryption, len(encs))
	for i, e := range encs {
		out[i] = gojose.ContentEncryption(e)
	}
	return out
}

// Errors about JWE.
var (
	// ErrDecrypt means a JWE did not decrypt: the key did not unwrap or
	// derive the content encryption key, or the authentication tag did not
	// verify. All such failures return this one error, with no detail, so
	// that they cannot be told apart (no padding or unwrap oracle).
	ErrDecrypt = errors.New("jose: decryption failed")
	// ErrKeyNotForEncryption means a key is not bound to a JWE key
	// management algorithm, is marked for signatures, or its key_ops do not
	// allow the operation.
	ErrKeyNotForEncryption = errors.New("jose: key is not usable for encryption")
)

// EncryptOptions sets optional header members of an encrypted token.
type EncryptOptions struct {
	// Type is the "typ" header, for example "JWT".
	Type string
	// ContentType is the "cty" header; "JWT" marks a nested token
	// (EncryptNested sets it).
	ContentType string
}

// JWEHeader is the protected header of a compact JWE, with the members writ
// interprets decoded. Raw holds the whole header JSON for anything else.
// It is authenticated only once Decrypt has returned without error.
type JWEHeader struct {
	// Algorithm is the key management algorithm, "alg".
	Algorithm Algorithm
	// Encryption is the content encryption algorithm, "enc".
	Encryption ContentEncryption
	// KeyID is the "kid" member; HasKeyID reports whether it was present.
	KeyID    string
	HasKeyID bool
	// Type and ContentType are the "typ" and "cty" members.
	Type        string
	ContentType string
	// Raw is the decoded protected header.
	Raw string
}

// canEncrypt reports whether k may encrypt to its holder: it is bound to a
// JWE key management algorithm, is not marked "use":"sig", and its key_ops,
// when present, allow encryption, key wrapping or key agreement.
func (k *Key) canEncrypt() bool {
	if k == nil || k.fam < famRSAEnc || k.use == UseSignature {
		return false
	}
	return k.ops == nil || slices.ContainsFunc(k.ops, func(o string) bool {
		return o == "encrypt" || o == "wrapKey" || o == "deriveKey" || o == "deriveBits"
	})
}

// canDecrypt reports whether k may decrypt: as canEncrypt, and k holds
// private or secret material, and its key_ops, when present, allow
// decryption, key unwrapping or key agreement.
func (k *Key) canDecrypt() bool {
	if k == nil || k.fam < famRSAEnc || k.use == UseSignature || !k.IsPrivate() {
		return false
	}
	return k.ops == nil || slices.ContainsFunc(k.ops, func(o string) bool {
		return o == "decrypt" || o == "unwrapKey" || o == "deriveKey" || o == "deriveBits"
	})
}

// Encrypt encrypts plaintext to recipient and returns the JWE compact
// serialization. The recipient key's algorithm selects key management:
// RSA-OAEP or RSA-OAEP-256 (RSA of at least 2048 bits), ECDH-ES,
// ECDH-ES+A128KW or ECDH-ES+A256KW (EC P-256, P-384 or P-521), or dir (a
// secret of exactly DirectKeySize bytes, with A256GCM or A128CBC-HS256
// only). EncryptionKey picks such a key from a relying party's JWK Set.
// Only the public half of an asymmetric key is used. The header carries
// alg, enc, the key's kid, and typ and cty from opts when set; plaintext is
// never compressed.
func Encrypt(recipient *Key, enc ContentEncryption, plaintext []byte, opts *EncryptOptions) (string, error) {
	if !enc.IsSupported() {
		return "", fmt.Errorf("%w: content encryption %q", ErrUnsupportedAlg, enc)
	}
	if !recipient.canEncrypt() {
		return "", ErrKeyNotForEncryption
	}
	rcpt := gojose.Recipient{Algorithm: gojose.KeyAlgorithm(recipient.alg), KeyID: recipient.kid}
	switch recipient.fam {
	case famRSAEnc:
		rcpt.Key = recipient.pub.(*rsa.PublicKey)
	case famECDHEnc:
		rcpt.Key = recipient.pub.(*ecdsa.PublicKey)
	case famDirEnc:
		if enc.cekSize() != DirectKeySize {
			return "", fmt.Errorf("%w: dir is used only with A256GCM or A128CBC-HS256, not %s", ErrUnsupportedAlg, enc)
		}
		if len(recipient.secret) != DirectKeySize {
			return "", fmt.Errorf("%w: a dir key must be %d bytes for %s", ErrInvalidKey, DirectKeySize, enc)
		}
		rcpt.Key = recipient.secret
	default:
		return "", ErrKeyNotForEncryption
	}
	var eo gojose.EncrypterOptions
	if opts != nil {
		if opts.Type != "" {
			eo.WithType(gojose.ContentType(opts.Type))
		}
		if opts.ContentType != "" {
			eo.WithContentType(gojose.ContentType(opts.ContentType))
		}
	}
	encrypter, err := gojose.NewEncrypter(gojose.ContentEncryption(enc), rcpt, &eo)
	if err != nil {
		return "", fmt.Errorf("jose: encrypt: %w", err)
	}
	obj, err := encrypter.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("jose: encrypt: %w", err)
	}
	token, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("jose: encrypt: %w", err)
	}
	return token, nil
}

// jweParts holds the decoded segments of a compact JWE.
type jweParts struct {
	header       JWEHeader
	epk          string // raw JSON of "epk", ECDH only
	encryptedKey []byte
	iv           []byte
	tag          []byte
}

// parseCompactJWE checks a compact JWE strictly before any key is touched:
// five segments of canonical unpadded base64url, a header that is one JSON
// object without duplicate members, a supported alg and enc, no "zip", no
// "crit", and segment lengths that fit the algorithms.
func parseCompactJWE(token string) (*jweParts, error) {
	if s := strings.TrimLeft(token, " \t\r\n"); s != "" && s[0] == '{' {
		return nil, fmt.Errorf("%w: JWE JSON serialization is not accepted, only compact", ErrMalformed)
	}
	var seg [5]string
	rest := token
	for i := range 4 {
		var ok bool
		seg[i], rest, ok = strings.Cut(rest, ".")
		if !ok {
			return nil, fmt.Errorf("%w: want five segments", ErrMalformed)
		}
	}
	if strings.IndexByte(rest, '.') >= 0 {
		return nil, fmt.Errorf("%w: more than five segments", ErrMalformed)
	}
	seg[4] = rest
	if seg[0] == "" || seg[2] == "" || seg[4] == "" {
		return nil, fmt.Errorf("%w: empty header, iv or tag", ErrMalformed)
	}
	var dec [5][]byte
	names := [5]string{"header", "encrypted key", "iv", "ciphertext", "tag"}
	for i, s := range seg {
		b, err := strictB64(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not canonical base64url", ErrMalformed, names[i])
		}
		dec[i] = b
	}
	p := &jweParts{encryptedKey: dec[1], iv: dec[2], tag: dec[4]}
	if err := p.parseHeader(string(dec[0])); err != nil {
		return nil, err
	}
	h := &p.header
	switch h.Algorithm {
	case Direct, ECDHES:
		// RFC 7516 §5.2 step 10: direct encryption and direct key agreement
		// carry an empty encrypted key.
		if len(p.encryptedKey) != 0 {
			return nil, fmt.Errorf("%w: %s needs an empty encrypted key", ErrMalformed, h.Algorithm)
		}
	default:
		if len(p.encryptedKey) == 0 {
			return nil, fmt.Errorf("%w: missing encrypted key", ErrMalformed)
		}
	}
	if len(p.iv) != h.Encryption.ivSize() {
		return nil, fmt.Errorf("%w: iv must be %d bytes for %s", ErrMalformed, h.Encryption.ivSize(), h.Encryption)
	}
	if len(p.tag) != h.Encryption.tagSize() {
		return nil, fmt.Errorf("%w: tag must be %d bytes for %s", ErrMalformed, h.Encryption.tagSize(), h.Encryption)
	}
	return p, nil
}

func (p *jweParts) parseHeader(raw string) error {
	h := &p.header
	h.Raw = raw
	var arr [12]strictjson.Member
	members, err := strictjson.ParseObject(raw, DefaultMaxDepth, arr[:0])
	if err != nil {
		return fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var alg, enc string
	haveAlg, haveEnc := false, false
	for _, m := range members {
		var err error
		switch m.Name {
		case "alg":
			alg, err = strictjson.String(m.Value)
			haveAlg = true
		case "enc":
			enc, err = strictjson.String(m.Value)
			haveEnc = true
		case "kid":
			h.KeyID, err = strictjson.String(m.Value)
			h.HasKeyID = true
		case "typ":
			h.Type, err = strictjson.String(m.Value)
		case "cty":
			h.ContentType, err = strictjson.String(m.Value)
		case "epk":
			p.epk = m.Value
		case "zip":
			return fmt.Errorf("%w: compressed plaintext (zip) is not accepted", ErrAlgorithm)
		case "crit":
			return fmt.Errorf("%w: no critical extensions are supported", ErrCritical)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: header %s is not a string", ErrMalformed, m.Name)
		}
	}
	if !haveAlg || !haveEnc {
		return fmt.Errorf("%w: header needs alg and enc", ErrMalformed)
	}
	h.Algorithm, h.Encryption = Algorithm(alg), ContentEncryption(enc)
	if !h.Algorithm.IsEncryption() {
		return fmt.Errorf("%w: key management algorithm not accepted", ErrAlgorithm)
	}
	if !h.Encryption.IsSupported() {
		return fmt.Errorf("%w: content encryption not accepted", ErrAlgorithm)
	}
	if h.Algorithm == Direct && h.Encryption.cekSize() != DirectKeySize {
		return fmt.Errorf("%w: dir is accepted only with A256GCM or A128CBC-HS256", ErrAlgorithm)
	}
	return nil
}

// epkMatches reports whether the "epk" of an ECDH header is a valid public
// EC key on the curve of k. It is checked before go-jose derives anything.
func (p *jweParts) epkMatches(k *Key) (bool, error) {
	if p.epk == "" {
		return false, fmt.Errorf("%w: %s needs an epk header", ErrMalformed, p.header.Algorithm)
	}
	epk, err := parseKeyJSON([]byte(p.epk))
	if err != nil || epk.IsPrivate() {
		return false, fmt.Errorf("%w: epk is not a valid public EC key", ErrMalformed)
	}
	ep, ok := epk.pub.(*ecdsa.PublicKey)
	if !ok {
		return false, fmt.Errorf("%w: epk is not a valid public EC key", ErrMalformed)
	}
	return ep.Curve == k.pub.(*ecdsa.PublicKey).Curve, nil
}

// Decrypt decrypts a compact JWE with a private key from keys and returns
// the plaintext and the authenticated header. It is strict:
//
//   - The size is checked before anything is decoded; maxSize <= 0 means
//     DefaultMaxSize. The plaintext is bounded by the same limit.
//   - Only the compact serialization is accepted, in canonical base64url.
//   - alg must be one of EncryptionAlgorithms (never RSA1_5, AES key wrap
//     or PBES2) and enc one of ContentEncryptions (dir only with the 256-bit
//     ones); "zip" (compression) and "crit" are rejected.
//   - With a kid, the key is looked up exactly among the keys of the set
//     that may decrypt (private, not "use":"sig", key_ops allowing it), and
//     its bound algorithm must equal the token's alg (ErrAlgorithm
//     otherwise). Without a kid, every such key bound to the token's alg is
//     tried. Keys carried in the header (jwk, jku, x5u, x5c) are never used.
//   - go-jose receives explicit allow-lists: the key's algorithm and writ's
//     content encryptions, nothing else.
//
// Errors wrap ErrTooLarge, ErrMalformed, ErrAlgorithm, ErrCritical or
// ErrKeyNotFound; every failure to unwrap, derive or authenticate is the
// single ErrDecrypt.
func Decrypt(token string, keys *KeySet, maxSize int) ([]byte, *JWEHeader, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(token) > maxSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(token), maxSize)
	}
	p, err := parseCompactJWE(token)
	if err != nil {
		return nil, nil, err
	}
	h := &p.header
	var candidates []*Key
	kidMatched := false
	if keys != nil {
		for _, k := range keys.keys {
			if !k.canDecrypt() || (h.HasKeyID && k.kid != h.KeyID) {
				continue
			}
			kidMatched = true
			if k.alg == h.Algorithm {
				candidates = append(candidates, k)
			}
		}
	}
	if len(candidates) == 0 {
		if h.HasKeyID && kidMatched {
			return nil, nil, fmt.Errorf("%w: token alg differs from the key's alg", ErrAlgorithm)
		}
		return nil, nil, ErrKeyNotFound
	}
	obj, err := gojose.ParseEncryptedCompact(token,
		[]gojose.KeyAlgorithm{gojose.KeyAlgorithm(h.Algorithm)},
		goJoseEncryptions())
	if err != nil || obj.Header.Algorithm != string(h.Algorithm) {
		return nil, nil, fmt.Errorf("%w: JWE structure", ErrMalformed)
	}
	for _, k := range candidates {
		if k.fam == famECDHEnc {
			ok, err := p.epkMatches(k)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
		}
		plaintext, err := obj.Decrypt(k.CryptoKey())
		if err != nil {
			continue
		}
		// Without compression the plaintext is never longer than the
		// ciphertext; the bound is kept so that it holds by construction.
		if len(plaintext) > maxSize {
			return nil, nil, fmt.Errorf("%w: plaintext larger than %d bytes", ErrTooLarge, maxSize)
		}
		return plaintext, h, nil
	}
	return nil, nil, ErrDecrypt
}

// EncryptNested encrypts a signed compact JWS to recipient, making a nested
// JWT (sign, then encrypt; RFC 7519 §5.2 and §11.2) with "cty":"JWT". The
// JWS is checked to be a well-formed compact JWS first; its signature is
// not verified here.
func EncryptNested(signedCompactJWS string, recipient *Key, enc ContentEncryption) (string, error) {
	if _, err := ParseCompact(signedCompactJWS, len(signedCompactJWS)); err != nil {
		return "", fmt.Errorf("jose: nested token is not a compact JWS: %w", err)
	}
	return Encrypt(recipient, enc, []byte(signedCompactJWS), &EncryptOptions{ContentType: "JWT"})
}

// DecryptNested decrypts a nested JWT made by EncryptNested (or any issuer
// following RFC 7519 §5.2) under the rules of Decrypt. The JWE must carry
// "cty":"JWT" (compared case-insensitively, "application/jwt" accepted), and
// the plaintext must be a well-formed compact JWS, which is returned. Its
// signature is NOT verified: pass it to jwt.Verifier.Verify.
func DecryptNested(token string, keys *KeySet, maxSize int) (innerJWS string, err error) {
	plaintext, h, err := Decrypt(token, keys, maxSize)
	if err != nil {
		return "", err
	}
	cty := h.ContentType
	if len(cty) > 12 && strings.EqualFold(cty[:12], "application/") {
		cty = cty[12:]
	}
	if !strings.EqualFold(cty, "JWT") {
		return "", fmt.Errorf("%w: nested JWT needs cty JWT", ErrMalformed)
	}
	inner := string(plaintext)
	if _, err := ParseCompact(inner, maxSize); err != nil {
		return "", fmt.Errorf("jose: nested token: %w", err)
	}
	return inner, nil
}
