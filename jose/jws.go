package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unsafe"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/writ-dev/writ/internal/strictjson"
)

// DefaultMaxSize is the largest compact token ParseCompact accepts when the
// caller passes no limit: 16 KiB, far above any real access token.
const DefaultMaxSize = 16 << 10

// DefaultMaxDepth bounds the JSON nesting of headers and payloads.
const DefaultMaxDepth = 16

// Errors returned when parsing or verifying a JWS. Use errors.Is to test for
// them; the wrapping error adds a short reason and never any key material.
var (
	// ErrMalformed means the token is not a well-formed compact JWS.
	ErrMalformed = errors.New("jose: malformed token")
	// ErrTooLarge means the token exceeded the size limit before decoding.
	ErrTooLarge = errors.New("jose: token too large")
	// ErrAlgorithm means the token's alg is unsupported, "none", not allowed,
	// or not the algorithm its key is bound to.
	ErrAlgorithm = errors.New("jose: algorithm not accepted")
	// ErrCritical means the header lists a "crit" extension writ does not understand.
	ErrCritical = errors.New("jose: unsupported critical header")
	// ErrKeyNotFound means no trusted key matches the token's kid and alg.
	ErrKeyNotFound = errors.New("jose: no matching key")
	// ErrSignature means the signature does not verify.
	ErrSignature = errors.New("jose: invalid signature")
)

// Header is the protected header of a compact JWS, with the members writ
// interprets decoded. Raw holds the whole header JSON for anything else.
type Header struct {
	Algorithm   Algorithm
	KeyID       string
	HasKeyID    bool
	Type        string
	ContentType string
	Raw         string
}

// JWS is a parsed compact JWS whose signature has not been checked yet.
// Nothing in it may be trusted before a Verify method returns nil.
type JWS struct {
	Header       Header
	payload      string
	signingInput []byte
	signature    []byte
}

// ParseCompact parses a compact JWS strictly: exactly three segments of
// canonical unpadded base64url, a header that is one JSON object without
// duplicate members, a supported alg other than "none", no "crit", no
// unencoded payload ("b64": false). maxSize <= 0 means DefaultMaxSize. The
// size is checked before anything is decoded.
func ParseCompact(token string, maxSize int) (*JWS, error) {
	j := new(JWS)
	if err := j.Parse(token, maxSize); err != nil {
		return nil, err
	}
	return j, nil
}

// Parse is ParseCompact into an existing JWS, for callers that embed one.
func (j *JWS) Parse(token string, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(token) > maxSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(token), maxSize)
	}
	// Find the two dots; a third is an error. The base64 decoder rejects
	// every byte outside the unpadded URL alphabet except CR and LF, which
	// it skips, so those are refused here.
	dot1 := strings.IndexByte(token, '.')
	if dot1 < 0 {
		return fmt.Errorf("%w: want three segments", ErrMalformed)
	}
	dot2 := strings.IndexByte(token[dot1+1:], '.')
	if dot2 < 0 {
		return fmt.Errorf("%w: want three segments", ErrMalformed)
	}
	dot2 += dot1 + 1
	if strings.IndexByte(token[dot2+1:], '.') >= 0 {
		return fmt.Errorf("%w: more than three segments", ErrMalformed)
	}
	if strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return fmt.Errorf("%w: character outside base64url", ErrMalformed)
	}
	if dot1 == 0 {
		return fmt.Errorf("%w: empty header", ErrMalformed)
	}
	enc := base64.RawURLEncoding.Strict()
	hn, pn, sn := enc.DecodedLen(dot1), enc.DecodedLen(dot2-dot1-1), enc.DecodedLen(len(token)-dot2-1)
	// Zero-copy views, the hot path's two allocations saved (measured in
	// docs/PERFORMANCE.md): the signing input and the base64 sources are
	// read-only byte views of the token string, and the decoded header and
	// payload are viewed as one string over the freshly decoded buffer.
	// Both are sound because nothing ever writes to either memory: hashing,
	// base64 decoding and signature checks only read their inputs, buf is
	// written only by the Decode calls below and is unexported, and the
	// JWS exposes the payload as a string, not as bytes.
	raw := unsafe.Slice(unsafe.StringData(token), len(token))
	j.signingInput = raw[:dot2:dot2]
	buf := make([]byte, hn+pn+sn)
	n, err := enc.Decode(buf, raw[:dot1])
	if err != nil {
		return fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	}
	hdr := buf[:n]
	rest := buf[n:]
	n, err = enc.Decode(rest, raw[dot1+1:dot2])
	if err != nil {
		return fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	}
	pl := rest[:n]
	rest = rest[n:]
	n, err = enc.Decode(rest, raw[dot2+1:])
	if err != nil {
		return fmt.Errorf("%w: signature is not canonical base64url", ErrMalformed)
	}
	j.signature = rest[:n:n]
	text := unsafe.String(unsafe.SliceData(buf), len(hdr)+len(pl))
	j.Header = Header{Raw: text[:len(hdr)]}
	j.payload = text[len(hdr):]
	// The header is judged first, so that an unsigned "alg":"none" token is
	// reported as an algorithm refusal rather than a missing signature.
	if err := j.Header.parse(); err != nil {
		return err
	}
	if len(j.signature) == 0 {
		return fmt.Errorf("%w: empty signature", ErrMalformed)
	}
	return nil
}

func (h *Header) parse() error {
	var arr [12]strictjson.Member
	members, err := strictjson.ParseObject(h.Raw, DefaultMaxDepth, arr[:0])
	if err != nil {
		return fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	haveAlg := false
	for _, m := range members {
		switch m.Name {
		case "alg":
			s, err := strictjson.String(m.Value)
			if err != nil {
				return fmt.Errorf("%w: header alg is not a string", ErrMalformed)
			}
			h.Algorithm, haveAlg = Algorithm(s), true
		case "kid":
			s, err := strictjson.String(m.Value)
			if err != nil {
				return fmt.Errorf("%w: header kid is not a string", ErrMalformed)
			}
			h.KeyID, h.HasKeyID = s, true
		case "typ":
			s, err := strictjson.String(m.Value)
			if err != nil {
				return fmt.Errorf("%w: header typ is not a string", ErrMalformed)
			}
			h.Type = s
		case "cty":
			s, err := strictjson.String(m.Value)
			if err != nil {
				return fmt.Errorf("%w: header cty is not a string", ErrMalformed)
			}
			h.ContentType = s
		case "crit":
			return fmt.Errorf("%w: no critical extensions are supported", ErrCritical)
		case "b64":
			b, err := strictjson.Bool(m.Value)
			if err != nil {
				return fmt.Errorf("%w: header b64 is not a boolean", ErrMalformed)
			}
			if !b {
				return fmt.Errorf("%w: unencoded payloads (b64=false) are not supported", ErrMalformed)
			}
		case "enc", "zip":
			return fmt.Errorf("%w: header member %q belongs to JWE", ErrMalformed, m.Name)
		}
	}
	if !haveAlg {
		return fmt.Errorf("%w: header has no alg", ErrMalformed)
	}
	if !h.Algorithm.IsSignature() {
		if strings.EqualFold(string(h.Algorithm), "none") {
			return fmt.Errorf("%w: alg none is never accepted", ErrAlgorithm)
		}
		return fmt.Errorf("%w: unsupported alg", ErrAlgorithm)
	}
	return nil
}

// Payload returns the decoded payload. It is not authenticated until a
// Verify method has returned nil.
func (j *JWS) Payload() string { return j.payload }

// Verify finds the token's key in ks and checks the signature. With a kid
// the lookup is exact; without one every key bound to the token's alg is
// tried. The key must be bound to exactly the token's alg and be usable for
// signatures. It returns the key that verified.
func (j *JWS) Verify(ks *KeySet) (*Key, error) {
	keys := ks.Lookup(j.Header.KeyID, j.Header.Algorithm, j.Header.HasKeyID)
	if len(keys) == 0 {
		return nil, ErrKeyNotFound
	}
	candidates := 0
	for _, k := range keys {
		if k.alg == j.Header.Algorithm {
			candidates++
		}
	}
	if candidates > 1 && j.Header.HasKeyID {
		// Two trusted keys for one kid and alg: refuse rather than guess.
		return nil, fmt.Errorf("%w: kid is ambiguous in the key set", ErrKeyNotFound)
	}
	for _, k := range keys {
		if k.alg != j.Header.Algorithm {
			continue
		}
		if err := j.VerifyKey(k); err == nil {
			return k, nil
		}
	}
	if candidates == 0 {
		return nil, fmt.Errorf("%w: token alg differs from the key's alg", ErrAlgorithm)
	}
	return nil, ErrSignature
}

// VerifyKey checks the signature with one key. The key's algorithm must be
// the token's algorithm.
func (j *JWS) VerifyKey(k *Key) error {
	if k.alg != j.Header.Algorithm {
		return fmt.Errorf("%w: token alg differs from the key's alg", ErrAlgorithm)
	}
	if !k.canVerify() {
		return ErrKeyNotForSigning
	}
	if !verify(k, j.signingInput, j.signature) {
		return ErrSignature
	}
	return nil
}

// digest hashes msg with h into out and returns the used prefix.
func digest(h crypto.Hash, msg []byte, out *[64]byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		copy(out[:], s[:])
		return out[:32]
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		copy(out[:], s[:])
		return out[:48]
	default:
		s := sha512.Sum512(msg)
		copy(out[:], s[:])
		return out[:64]
	}
}

func verify(k *Key, msg, sig []byte) bool {
	switch k.fam {
	case famHMAC:
		st := k.hmacPool.Get().(*hmacState)
		st.h.Reset()
		st.h.Write(msg)
		sum := st.h.Sum(st.sum[:0])
		ok := len(sig) == len(sum) && hmac.Equal(sum, sig)
		k.hmacPool.Put(st)
		return ok
	case famRSA:
		var d [64]byte
		return rsa.VerifyPKCS1v15(k.pub.(*rsa.PublicKey), k.info.hash, digest(k.info.hash, msg, &d), sig) == nil
	case famPSS:
		var d [64]byte
		opts := rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: k.info.hash}
		return rsa.VerifyPSS(k.pub.(*rsa.PublicKey), k.info.hash, digest(k.info.hash, msg, &d), sig, &opts) == nil
	case famECDSA:
		size := k.info.size
		if len(sig) != 2*size || isZero(sig[:size]) || isZero(sig[size:]) {
			return false
		}
		var d [64]byte
		var der [2*66 + 12]byte
		return ecdsa.VerifyASN1(k.pub.(*ecdsa.PublicKey), digest(k.info.hash, msg, &d), appendDERSig(der[:0], sig[:size], sig[size:]))
	case famEdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.pub.(ed25519.PublicKey), msg, sig)
	}
	return false
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// appendDERSig encodes fixed-width r and s as an ASN.1 ECDSA-Sig-Value.
func appendDERSig(dst, r, s []byte) []byte {
	r, s = trimInt(r), trimInt(s)
	rl, sl := len(r), len(s)
	if r[0]&0x80 != 0 {
		rl++
	}
	if s[0]&0x80 != 0 {
		sl++
	}
	body := 2 + rl + 2 + sl
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	dst = appendDERInt(dst, r, rl)
	return appendDERInt(dst, s, sl)
}

func appendDERInt(dst, v []byte, l int) []byte {
	dst = append(dst, 0x02, byte(l))
	if l > len(v) {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}

func trimInt(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// SignOptions sets optional header members of a signed token.
type SignOptions struct {
	// Type is the "typ" header, for example "at+jwt" or "JWT".
	Type string
	// ContentType is the "cty" header, "JWT" for a nested token.
	ContentType string
	// OmitKeyID leaves "kid" out of the header.
	OmitKeyID bool
	// Extra holds additional header members; they may not replace alg,
	// kid, typ, cty, crit or b64.
	Extra map[string]any
}

// Sign signs payload with k and returns the compact serialization.
func Sign(k *Key, payload []byte, opts *SignOptions) (string, error) {
	if !k.canSign() {
		return "", ErrKeyNotForSigning
	}
	var o SignOptions
	if opts != nil {
		o = *opts
	}
	hdr := make([]byte, 0, 96)
	hdr = append(hdr, `{"alg":`...)
	hdr = strictjson.AppendString(hdr, string(k.alg))
	if !o.OmitKeyID && k.kid != "" {
		hdr = append(hdr, `,"kid":`...)
		hdr = strictjson.AppendString(hdr, k.kid)
	}
	if o.Type != "" {
		hdr = append(hdr, `,"typ":`...)
		hdr = strictjson.AppendString(hdr, o.Type)
	}
	if o.ContentType != "" {
		hdr = append(hdr, `,"cty":`...)
		hdr = strictjson.AppendString(hdr, o.ContentType)
	}
	if len(o.Extra) > 0 {
		for name := range o.Extra {
			switch name {
			case "alg", "kid", "typ", "cty", "crit", "b64":
				return "", fmt.Errorf("jose: extra header member %q is reserved", name)
			}
		}
		extra, err := json.Marshal(o.Extra)
		if err != nil {
			return "", fmt.Errorf("jose: encode extra header members: %w", err)
		}
		hdr = append(hdr, ',')
		hdr = append(hdr, extra[1:len(extra)-1]...)
	}
	hdr = append(hdr, '}')

	enc := base64.RawURLEncoding
	sigLen := signatureSize(k)
	buf := make([]byte, 0, enc.EncodedLen(len(hdr))+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(sigLen))
	buf = enc.AppendEncode(buf, hdr)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	var sigBuf [512]byte
	sig, err := sign(k, buf, sigBuf[:0])
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

func signatureSize(k *Key) int {
	switch k.fam {
	case famHMAC:
		return k.info.hash.Size()
	case famRSA, famPSS:
		return k.pub.(*rsa.PublicKey).Size()
	case famECDSA:
		return 2 * k.info.size
	case famEdDSA:
		return ed25519.SignatureSize
	}
	return 0
}

func sign(k *Key, msg, dst []byte) ([]byte, error) {
	switch k.fam {
	case famHMAC:
		st := k.hmacPool.Get().(*hmacState)
		st.h.Reset()
		st.h.Write(msg)
		dst = st.h.Sum(dst)
		k.hmacPool.Put(st)
		return dst, nil
	case famRSA:
		var d [64]byte
		sig, err := rsa.SignPKCS1v15(nil, k.priv.(*rsa.PrivateKey), k.info.hash, digest(k.info.hash, msg, &d))
		if err != nil {
			return nil, fmt.Errorf("jose: RSA signature: %w", err)
		}
		return sig, nil
	case famPSS:
		var d [64]byte
		opts := rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: k.info.hash}
		sig, err := rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), k.info.hash, digest(k.info.hash, msg, &d), &opts)
		if err != nil {
			return nil, fmt.Errorf("jose: RSA-PSS signature: %w", err)
		}
		return sig, nil
	case famECDSA:
		var d [64]byte
		der, err := ecdsa.SignASN1(rand.Reader, k.priv.(*ecdsa.PrivateKey), digest(k.info.hash, msg, &d))
		if err != nil {
			return nil, fmt.Errorf("jose: ECDSA signature: %w", err)
		}
		return derToFixed(dst, der, k.info.size)
	case famEdDSA:
		return append(dst, ed25519.Sign(k.priv.(ed25519.PrivateKey), msg)...), nil
	}
	return nil, ErrKeyNotForSigning
}

// derToFixed converts an ASN.1 ECDSA signature to the fixed-width r||s form
// of RFC 7518 §3.4.
func derToFixed(dst, der []byte, size int) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("jose: ECDSA signature encoding")
	}
	start := len(dst)
	dst = append(dst, make([]byte, 2*size)...)
	r.FillBytes(dst[start : start+size])
	s.FillBytes(dst[start+size:])
	return dst, nil
}
