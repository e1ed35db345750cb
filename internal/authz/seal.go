package authz

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrExpired means a sealed request is older than its time to live.
var ErrExpired = errors.New("authz: the sign-in took too long; start again from the application")

// ErrTampered means a sealed request was not produced by this server (or
// by another node with the same master key).
var ErrTampered = errors.New("authz: invalid sign-in request")

// maxSealed bounds a sealed request read from a form.
const maxSealed = 16 << 10

// Sealer protects validated requests carried through the browser between
// the authorization endpoint and the login and consent pages. They are
// encrypted and authenticated (AES-256-GCM), so a browser can neither read
// nor change them, and they expire.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key (derived from the master key,
// so every node of a deployment shares it).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("authz: sealer needs a 32-byte key")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts r.
func (s *Sealer) Seal(r *Request) (string, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("authz: encode request: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("authz: nonce: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte("writ/authorize-request/v1"))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed request and checks that it has not expired.
func (s *Sealer) Open(sealed string, now time.Time) (*Request, error) {
	if sealed == "" || len(sealed) > maxSealed {
		return nil, ErrTampered
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, ErrTampered
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte("writ/authorize-request/v1"))
	if err != nil {
		return nil, ErrTampered
	}
	var r Request
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, ErrTampered
	}
	if now.Unix() > r.Expires {
		return nil, ErrExpired
	}
	return &r, nil
}

// SealerPurpose names the master-key derivation of the sealing key.
const SealerPurpose = "authorize-request/v1"

// Timeout is the default time a user has to complete sign-in.
const Timeout = 15 * time.Minute

func subtleEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
