package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// SecretBytes is the entropy of a generated client secret: 256 bits.
const SecretBytes = 32

// GenerateSecret returns a new client secret: 256 random bits, base64url.
func GenerateSecret() (string, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oauth: generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SecretHasher computes keyed hashes (HMAC-SHA-256) of client secrets. For
// secrets with 256 bits of entropy a slow password hash adds only cost: a
// keyed hash keeps a stolen database useless without the server key.
type SecretHasher struct {
	key [32]byte
}

// SecretHashPurpose names the master-key derivation that yields the
// hashing key (keys.MasterKey.DeriveKey).
const SecretHashPurpose = "client-secret-hash/v1"

// NewSecretHasher returns a hasher keyed with a 32-byte key, normally
// derived from the master key so that no second secret has to be managed.
func NewSecretHasher(key []byte) (*SecretHasher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("oauth: secret hasher needs a 32-byte key")
	}
	h := &SecretHasher{}
	copy(h.key[:], key)
	return h, nil
}

// Hash returns the keyed hash of secret.
func (h *SecretHasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, h.key[:])
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Verify compares secret with a stored hash in constant time. An empty
// stored hash never matches.
func (h *SecretHasher) Verify(secret string, stored []byte) bool {
	got := h.Hash(secret)
	return len(stored) == len(got) && hmac.Equal(got, stored)
}

// String redacts the key.
func (h *SecretHasher) String() string { return "oauth.SecretHasher{key: REDACTED}" }

// GoString redacts the key for %#v too.
func (h *SecretHasher) GoString() string { return h.String() }
