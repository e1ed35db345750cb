package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
)

// MasterKeySize is the length of a master key in bytes (AES-256).
const MasterKeySize = 32

// Environment variables LoadMasterKey reads.
const (
	// EnvMasterKey holds the master key itself, base64 (standard or URL
	// alphabet, padded or not) of exactly MasterKeySize bytes.
	EnvMasterKey = "WRIT_MASTER_KEY"
	// EnvMasterKeyFile names a file holding the master key in the same
	// encoding, optionally followed by one newline. The file must not be
	// readable or writable by group or others.
	EnvMasterKeyFile = "WRIT_MASTER_KEY_FILE"
)

// Envelope layout of a sealed blob:
//
//	version (1 byte) || master key id (8 bytes) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// The version byte and the master key id are authenticated as part of the
// GCM additional data, in front of the caller's associated data.
const (
	sealVersion1  byte = 1
	masterIDSize       = 8
	nonceSize          = 12
	tagSize            = 16
	headerSize         = 1 + masterIDSize
	envelopeFixed      = headerSize + nonceSize + tagSize
)

// maxMasterKeyFileSize bounds what LoadMasterKeyFile reads: a master key
// file is a single line of about 45 bytes.
const maxMasterKeyFileSize = 1 << 10

// maxMasterKeyText bounds the text form: 32 bytes are 43 or 44 characters.
const maxMasterKeyText = 64

// Errors about master keys and sealed data. They never carry key material
// or plaintext.
var (
	// ErrNoMasterKey means neither WRIT_MASTER_KEY nor WRIT_MASTER_KEY_FILE
	// is set. The caller decides: development mode may generate a key and
	// store it (WriteMasterKeyFile); production must fail.
	ErrNoMasterKey = errors.New("keys: no master key configured (set " + EnvMasterKey + " or " + EnvMasterKeyFile + ")")
	// ErrInvalidMasterKey means a master key is configured but unusable:
	// bad encoding, wrong length, both variables set, an empty value, or a
	// zero MasterKey value.
	ErrInvalidMasterKey = errors.New("keys: invalid master key")
	// ErrInsecureMasterKeyFile means the master key file is readable or
	// writable by group or others, or is not a regular file.
	ErrInsecureMasterKeyFile = errors.New("keys: master key file is not private")
	// ErrWrongMasterKey means sealed data was sealed under another master
	// key than the one given.
	ErrWrongMasterKey = errors.New("keys: sealed with a different master key")
	// ErrSealedCorrupt means sealed data is malformed, was modified, or is
	// bound to other associated data (for example another key's record).
	ErrSealedCorrupt = errors.New("keys: sealed data is corrupt or belongs to another record")
)

// MasterKey is a 256-bit key that seals private keys at rest with
// AES-256-GCM. The zero value holds no key; Seal and Open fail on it. A
// MasterKey is immutable and safe for concurrent use.
//
// Formatting a MasterKey (fmt with any verb, log/slog) prints only its
// public identifier, never the key.
type MasterKey struct {
	// m is a pointer so that no formatting path, not even the %p verb that
	// bypasses fmt.Formatter for non-pointer values, reaches the key bytes.
	m *masterKey
}

type masterKey struct {
	key  [MasterKeySize]byte
	id   [masterIDSize]byte
	aead cipher.AEAD
}

// NewMasterKey returns a MasterKey holding a copy of b, which must be
// exactly MasterKeySize bytes.
func NewMasterKey(b []byte) (MasterKey, error) {
	if len(b) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("%w: need %d bytes, got %d", ErrInvalidMasterKey, MasterKeySize, len(b))
	}
	m := new(masterKey)
	copy(m.key[:], b)
	sum := sha256.Sum256(m.key[:])
	copy(m.id[:], sum[:masterIDSize])
	block, err := aes.NewCipher(m.key[:])
	if err != nil {
		return MasterKey{}, fmt.Errorf("%w: %w", ErrInvalidMasterKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return MasterKey{}, fmt.Errorf("%w: %w", ErrInvalidMasterKey, err)
	}
	m.aead = aead
	return MasterKey{m: m}, nil
}

// GenerateMasterKey reads a new master key from random, or from
// crypto/rand when random is nil.
func GenerateMasterKey(random io.Reader) (MasterKey, error) {
	if random == nil {
		random = rand.Reader
	}
	var b [MasterKeySize]byte
	defer clear(b[:])
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return MasterKey{}, fmt.Errorf("keys: generate master key: %w", err)
	}
	return NewMasterKey(b[:])
}

// ParseMasterKey decodes the text form of a master key: base64 in the
// standard or URL alphabet, with or without padding, of exactly
// MasterKeySize bytes. Nothing else is allowed, not even white space.
func ParseMasterKey(text string) (MasterKey, error) {
	if text == "" {
		return MasterKey{}, fmt.Errorf("%w: empty", ErrInvalidMasterKey)
	}
	// The base64 decoders skip CR and LF anywhere; refuse every byte outside
	// the two alphabets so that only one spelling of a key is accepted.
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' || c == '=') {
			return MasterKey{}, fmt.Errorf("%w: not base64 (unexpected character at offset %d)", ErrInvalidMasterKey, i)
		}
	}
	if len(text) > maxMasterKeyText {
		return MasterKey{}, fmt.Errorf("%w: need %d bytes, got more than %d", ErrInvalidMasterKey, MasterKeySize, MasterKeySize)
	}
	var buf [maxMasterKeyText]byte // DecodedLen is always below the text length
	defer clear(buf[:])
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		n, err := enc.Strict().Decode(buf[:], []byte(text))
		if err != nil {
			continue
		}
		if n != MasterKeySize {
			return MasterKey{}, fmt.Errorf("%w: need %d bytes, got %d", ErrInvalidMasterKey, MasterKeySize, n)
		}
		return NewMasterKey(buf[:n])
	}
	return MasterKey{}, fmt.Errorf("%w: not valid base64", ErrInvalidMasterKey)
}

// LoadMasterKey loads the master key from the environment, read through
// lookupEnv (os.LookupEnv when nil):
//
//   - WRIT_MASTER_KEY holds the key itself (see ParseMasterKey);
//   - WRIT_MASTER_KEY_FILE names a file holding it (see LoadMasterKeyFile).
//
// Setting both is an error, and so is setting one to the empty string.
// Setting neither returns ErrNoMasterKey. LoadMasterKey never invents a key:
// deciding to generate one (development mode) is the caller's business.
func LoadMasterKey(lookupEnv func(string) (string, bool)) (MasterKey, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	val, hasVal := lookupEnv(EnvMasterKey)
	file, hasFile := lookupEnv(EnvMasterKeyFile)
	switch {
	case hasVal && hasFile:
		return MasterKey{}, fmt.Errorf("%w: both %s and %s are set; set only one", ErrInvalidMasterKey, EnvMasterKey, EnvMasterKeyFile)
	case hasVal:
		if val == "" {
			return MasterKey{}, fmt.Errorf("%w: %s is set but empty", ErrInvalidMasterKey, EnvMasterKey)
		}
		mk, err := ParseMasterKey(val)
		if err != nil {
			return MasterKey{}, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return mk, nil
	case hasFile:
		if file == "" {
			return MasterKey{}, fmt.Errorf("%w: %s is set but empty", ErrInvalidMasterKey, EnvMasterKeyFile)
		}
		mk, err := LoadMasterKeyFile(file)
		if err != nil {
			return MasterKey{}, fmt.Errorf("%s: %w", EnvMasterKeyFile, err)
		}
		return mk, nil
	}
	return MasterKey{}, ErrNoMasterKey
}

// LoadMasterKeyFile reads a master key from the file at path. The file holds
// the text form of ParseMasterKey, optionally followed by one "\n" or
// "\r\n". It must be a regular file that neither group nor others may read
// or write (mode 0600 or 0400); otherwise the error is
// ErrInsecureMasterKeyFile and tells how to fix it. On Windows the mode is
// not checked.
func LoadMasterKeyFile(path string) (MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return MasterKey{}, fmt.Errorf("keys: open master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // the opened file, not the path: no race with a rename
	if err != nil {
		return MasterKey{}, fmt.Errorf("keys: stat master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return MasterKey{}, fmt.Errorf("%w: %s is not a regular file", ErrInsecureMasterKeyFile, path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return MasterKey{}, fmt.Errorf("%w: %s has mode %04o, which lets group or others access it; run: chmod 600 %s", ErrInsecureMasterKeyFile, path, perm, path)
	}
	buf := make([]byte, maxMasterKeyFileSize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
	case err != nil:
		return MasterKey{}, fmt.Errorf("keys: read master key file: %w", err)
	default:
		return MasterKey{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidMasterKey, path, maxMasterKeyFileSize)
	}
	text := string(buf[:n])
	if s, ok := strings.CutSuffix(text, "\n"); ok {
		text, _ = strings.CutSuffix(s, "\r")
	}
	mk, err := ParseMasterKey(text)
	if err != nil {
		return MasterKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return mk, nil
}

// WriteMasterKeyFile stores mk at path in the form LoadMasterKeyFile reads,
// with mode 0600. It never replaces an existing file (the error then wraps
// fs.ErrExist): overwriting a master key would make every sealed key
// unreadable. It is meant for development mode, which generates a key on
// first start.
func WriteMasterKeyFile(path string, mk MasterKey) error {
	if !mk.valid() {
		return fmt.Errorf("%w: zero MasterKey", ErrInvalidMasterKey)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keys: create master key file: %w", err)
	}
	text := make([]byte, 0, base64.RawURLEncoding.EncodedLen(MasterKeySize)+1)
	text = base64.RawURLEncoding.AppendEncode(text, mk.m.key[:])
	text = append(text, '\n')
	_, werr := f.Write(text)
	clear(text)
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return fmt.Errorf("keys: write master key file: %w", werr)
	}
	return nil
}

func (mk MasterKey) valid() bool { return mk.m != nil }

// ID returns the public identifier of the key: the hex encoding of the first
// 8 bytes of its SHA-256 hash, as written in every sealed envelope. It is
// empty for the zero MasterKey.
func (mk MasterKey) ID() string {
	if !mk.valid() {
		return ""
	}
	return hex.EncodeToString(mk.m.id[:])
}

// Equal reports, in constant time, whether mk and other hold the same key.
func (mk MasterKey) Equal(other MasterKey) bool {
	if !mk.valid() || !other.valid() {
		return mk.valid() == other.valid()
	}
	return subtle.ConstantTimeCompare(mk.m.key[:], other.m.key[:]) == 1
}

// String returns a description that names the key by its ID only.
func (mk MasterKey) String() string {
	if !mk.valid() {
		return "keys.MasterKey(none)"
	}
	return "keys.MasterKey(id=" + mk.ID() + ")"
}

// GoString implements fmt.GoStringer with the same redacted text as String.
func (mk MasterKey) GoString() string { return mk.String() }

// Format implements fmt.Formatter so that no verb (%x, %d, %+v, ...) can
// print the key bytes.
func (mk MasterKey) Format(f fmt.State, _ rune) { io.WriteString(f, mk.String()) }

// LogValue implements slog.LogValuer with the redacted description.
func (mk MasterKey) LogValue() slog.Value { return slog.StringValue(mk.String()) }

// Seal encrypts plaintext with AES-256-GCM under a fresh random 96-bit
// nonce and binds it to associatedData, which Open must be given again. The
// result is a versioned envelope that names the master key by its ID.
//
// A master key seals few, small records (private keys), far below the 2^32
// messages at which random GCM nonces become a concern.
func (mk MasterKey) Seal(plaintext, associatedData []byte) ([]byte, error) {
	if !mk.valid() {
		return nil, fmt.Errorf("%w: zero MasterKey", ErrInvalidMasterKey)
	}
	out := make([]byte, headerSize+nonceSize, envelopeFixed+len(plaintext))
	out[0] = sealVersion1
	copy(out[1:headerSize], mk.m.id[:])
	nonce := out[headerSize : headerSize+nonceSize]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("keys: seal: nonce: %w", err)
	}
	ad := sealAD(out[:headerSize], associatedData)
	return mk.m.aead.Seal(out, nonce, plaintext, ad), nil
}

// Open authenticates and decrypts an envelope made by Seal with the same
// associatedData. It returns ErrWrongMasterKey when the envelope names
// another master key, and ErrSealedCorrupt when the envelope is malformed,
// modified, or sealed with other associated data.
func (mk MasterKey) Open(sealed, associatedData []byte) ([]byte, error) {
	if !mk.valid() {
		return nil, fmt.Errorf("%w: zero MasterKey", ErrInvalidMasterKey)
	}
	if len(sealed) < envelopeFixed {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrSealedCorrupt, len(sealed))
	}
	if sealed[0] != sealVersion1 {
		return nil, fmt.Errorf("%w: unknown envelope version %d", ErrSealedCorrupt, sealed[0])
	}
	if subtle.ConstantTimeCompare(sealed[1:headerSize], mk.m.id[:]) != 1 {
		return nil, fmt.Errorf("%w: sealed under master key %s, have %s", ErrWrongMasterKey, hex.EncodeToString(sealed[1:headerSize]), mk.ID())
	}
	nonce := sealed[headerSize : headerSize+nonceSize]
	ad := sealAD(sealed[:headerSize], associatedData)
	pt, err := mk.m.aead.Open(nil, nonce, sealed[headerSize+nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrSealedCorrupt)
	}
	return pt, nil
}

// sealAD is the GCM additional data: the envelope header, then the caller's
// associated data.
func sealAD(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}

// Compile-time checks of the redaction interfaces.
var (
	_ fmt.Formatter  = MasterKey{}
	_ fmt.GoStringer = MasterKey{}
	_ slog.LogValuer = MasterKey{}
)
