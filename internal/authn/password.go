package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Default argon2id parameters: OWASP's Password Storage Cheat Sheet
// recommends, as its first argon2id configuration, at least 19 MiB of
// memory, 2 iterations and 1 degree of parallelism. One lane keeps a hash on
// one core, so concurrent sign-ins on a small node share the cores fairly;
// 19 MiB keeps MaxConcurrent computations affordable in memory.
// BenchmarkHashPassword measures the cost on the machine at hand: about
// 22 ms and 19 MiB per hash (or verification) on the 2-core AMD EPYC
// development machine.
const (
	// DefaultMemory is the memory cost in KiB (19 MiB).
	DefaultMemory = 19456
	// DefaultTime is the number of passes over the memory.
	DefaultTime = 2
	// DefaultThreads is the degree of parallelism (lanes).
	DefaultThreads = 1
)

// Bounds on argon2id parameters, stored hashes and passwords. An encoded
// hash outside them is refused with ErrMalformedHash before any work.
const (
	// MaxMemory is the largest memory cost accepted, in KiB (1 GiB).
	MaxMemory = 1 << 20
	// MaxTime is the largest number of passes accepted.
	MaxTime = 10
	// MaxThreads is the largest degree of parallelism accepted.
	MaxThreads = 16
	// SaltSize is the salt length in bytes; other lengths are refused.
	SaltSize = 16
	// KeySize is the hash length in bytes; other lengths are refused.
	KeySize = 32
	// MaxPasswordLength bounds a password in bytes.
	MaxPasswordLength = 1024
	// MinPasswordLength is the policy's minimum length of a new password,
	// in characters (see CheckPasswordPolicy).
	MinPasswordLength = 8
)

// maxEncodedLength bounds a PHC string: the longest valid one is
// "$argon2id$v=19$m=1048576,t=10,p=16$" (35 bytes) plus 22 + 1 + 43 bytes of
// salt and hash.
const maxEncodedLength = 128

// Errors of password hashing and checking. None of them carries the
// password or the encoded hash.
var (
	// ErrPasswordLength reports a password that is empty or longer than
	// MaxPasswordLength bytes.
	ErrPasswordLength = fmt.Errorf("authn: password must be 1 to %d bytes long", MaxPasswordLength)
	// ErrMalformedHash reports an encoded password hash that is not a
	// strictly formed argon2id PHC string within the parameter bounds.
	ErrMalformedHash = errors.New("authn: malformed password hash")
	// ErrInvalidParams reports argon2id parameters outside the bounds.
	ErrInvalidParams = errors.New("authn: invalid argon2id parameters")
	// ErrPasswordPolicy reports a new password that the policy refuses;
	// the wrapping error's message says why and can be shown to the user.
	ErrPasswordPolicy = errors.New("password does not meet the policy")
)

// Params are argon2id cost parameters. A zero field takes its default
// (DefaultMemory, DefaultTime, DefaultThreads).
type Params struct {
	// Memory is the memory cost in KiB; at least 8 × Threads.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// withDefaults fills zero fields with the defaults.
func (p Params) withDefaults() Params {
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Time == 0 {
		p.Time = DefaultTime
	}
	if p.Threads == 0 {
		p.Threads = DefaultThreads
	}
	return p
}

// Validate reports an error wrapping ErrInvalidParams unless p, after
// defaults, lies within the bounds argon2id and this package accept.
func (p Params) Validate() error {
	p = p.withDefaults()
	switch {
	case p.Time > MaxTime:
		return fmt.Errorf("%w: time %d exceeds %d", ErrInvalidParams, p.Time, MaxTime)
	case p.Threads > MaxThreads:
		return fmt.Errorf("%w: parallelism %d exceeds %d", ErrInvalidParams, p.Threads, MaxThreads)
	case p.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB exceeds %d KiB", ErrInvalidParams, p.Memory, MaxMemory)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("%w: memory %d KiB is below 8 KiB per lane", ErrInvalidParams, p.Memory)
	}
	return nil
}

// Hasher hashes and verifies passwords with argon2id. The zero Hasher uses
// the default parameters and crypto/rand.
type Hasher struct {
	// Params are the parameters of new hashes; Verify reports needsRehash
	// for a stored hash made with others.
	Params Params
	// Rand is the source of salts; nil means crypto/rand.Reader.
	Rand io.Reader
}

// Hash returns the argon2id hash of password in PHC string form:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, salt and hash
// in unpadded standard base64. The password must be 1 to MaxPasswordLength
// bytes (ErrPasswordLength); it is hashed as given, without Unicode
// normalization. Hash does not apply the password policy: see
// CheckPasswordPolicy.
func (h Hasher) Hash(password string) (string, error) {
	if err := checkPasswordLength(password); err != nil {
		return "", err
	}
	p := h.Params.withDefaults()
	if err := p.Validate(); err != nil {
		return "", err
	}
	r := h.Rand
	if r == nil {
		r = rand.Reader
	}
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("authn: generate salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, KeySize)
	return encodePHC(p, salt, key), nil
}

// Verify reports whether password matches the encoded hash, comparing in
// constant time. needsRehash is true when the password matches but the hash
// was made with parameters other than h.Params: the caller should store a
// new Hash of the password. An encoded hash that is not a strict argon2id
// PHC string within the bounds (MaxMemory, MaxTime, MaxThreads, SaltSize,
// KeySize) is ErrMalformedHash, and a password outside 1 to
// MaxPasswordLength bytes ErrPasswordLength; both are refused before any
// hashing, and neither panics.
func (h Hasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := checkPasswordLength(password); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, KeySize)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.Params.withDefaults(), nil
}

// DummyVerify does the work of a Verify against a hash made with h.Params
// and discards the result. Call it when there is no stored hash to verify
// against (unknown user, user without a password, unreadable hash), so that
// the response takes as long as for a wrong password. A password longer
// than MaxPasswordLength is cut to that length (Verify would refuse it).
func (h Hasher) DummyVerify(password string) {
	p := h.Params.withDefaults()
	if p.Validate() != nil {
		p = Params{}.withDefaults()
	}
	if len(password) > MaxPasswordLength {
		password = password[:MaxPasswordLength]
	}
	var salt, want [KeySize]byte
	got := argon2.IDKey([]byte(password), salt[:SaltSize], p.Time, p.Memory, p.Threads, KeySize)
	subtle.ConstantTimeCompare(got, want[:])
}

// String describes the hasher by its parameters.
func (h Hasher) String() string {
	p := h.Params.withDefaults()
	return fmt.Sprintf("authn.Hasher{argon2id m=%d t=%d p=%d}", p.Memory, p.Time, p.Threads)
}

// CheckPasswordPolicy reports whether password may be set as a new password:
// valid UTF-8 of at least MinPasswordLength characters and at most
// MaxPasswordLength bytes. The error wraps ErrPasswordPolicy and its message
// says what is wrong, for the user (it never contains the password). Like
// NIST SP 800-63B, the policy asks for length, not for character classes.
func CheckPasswordPolicy(password string) error {
	switch {
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: the password must be valid UTF-8 text", ErrPasswordPolicy)
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("%w: the password must be at least %d characters long", ErrPasswordPolicy, MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return fmt.Errorf("%w: the password must be at most %d bytes long", ErrPasswordPolicy, MaxPasswordLength)
	}
	return nil
}

func checkPasswordLength(password string) error {
	if password == "" || len(password) > MaxPasswordLength {
		return ErrPasswordLength
	}
	return nil
}

// b64 is the PHC base64: standard alphabet, no padding, canonical.
func b64() *base64.Encoding { return base64.RawStdEncoding.Strict() }

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64().EncodeToString(salt), b64().EncodeToString(key))
}

// parsePHC parses an argon2id PHC string strictly: exactly the fields Hash
// writes, in its order, decimal numbers in canonical form, the parameters
// within the bounds, salt and hash of exactly SaltSize and KeySize bytes in
// canonical unpadded base64.
func parsePHC(s string) (p Params, salt, key []byte, err error) {
	fail := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(s) > maxEncodedLength {
		return fail("too long")
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return fail("not a PHC string")
	}
	if f[1] != "argon2id" {
		return fail("not argon2id")
	}
	if f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return fail("unsupported version")
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return fail("parameters must be m, t and p")
	}
	var vals [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return fail("parameters must be m, t and p")
		}
		n, ok := parseDecimal(v)
		if !ok {
			return fail("parameter is not a canonical decimal number")
		}
		vals[i] = n
	}
	m, t, par := vals[0], vals[1], vals[2]
	switch {
	case t < 1 || t > MaxTime:
		return fail("time out of bounds")
	case par < 1 || par > MaxThreads:
		return fail("parallelism out of bounds")
	case m < 8*par || m > MaxMemory:
		return fail("memory out of bounds")
	}
	if len(f[4]) != b64().EncodedLen(SaltSize) || len(f[5]) != b64().EncodedLen(KeySize) {
		return fail("salt or hash of the wrong length")
	}
	if salt, err = b64().DecodeString(f[4]); err != nil || len(salt) != SaltSize {
		return fail("salt is not canonical base64")
	}
	if key, err = b64().DecodeString(f[5]); err != nil || len(key) != KeySize {
		return fail("hash is not canonical base64")
	}
	return Params{Memory: m, Time: t, Threads: uint8(par)}, salt, key, nil
}

// parseDecimal parses 1 to 10 ASCII digits without a leading zero (except
// "0") into a uint32.
func parseDecimal(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}
