// Package opaque owns writ's opaque credentials: bearer values that mean
// nothing by themselves and are stored only as their SHA-256 hash (opaque
// access tokens, refresh tokens, authorization codes), and the random
// identifiers generated next to them (jti, refresh token families).
//
// A value is a prefix that names what it is (so that secret scanners and
// people can tell a leaked string apart) followed by 256 random bits in
// base64url. The hash of the whole value is its storage key.
package opaque

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

// Prefixes of the credentials writ issues.
const (
	// AccessTokenPrefix starts every opaque access token.
	AccessTokenPrefix = "writ_at_"
	// RefreshTokenPrefix starts every refresh token.
	RefreshTokenPrefix = "writ_rt_"
	// CodePrefix starts authorization codes; empty, as codes are short-lived
	// and travel in redirect URIs where a shorter value helps.
	CodePrefix = ""
)

// SecretBytes is the entropy of a credential: 256 bits.
const SecretBytes = 32

// MaxLength bounds a presented credential: longer input is not one of
// writ's and is refused before it is hashed.
const MaxLength = 512

// New returns a new credential with prefix and its storage key.
func New(prefix string) (value string, hash []byte) {
	value = prefix + Random(SecretBytes)
	return value, Hash(value)
}

// Hash returns the storage key of a credential: its SHA-256.
func Hash(value string) []byte {
	h := sha256.Sum256([]byte(value))
	return h[:]
}

// Random returns n random bytes in base64url without padding, for
// identifiers (jti, family IDs) and secrets. crypto/rand.Read never fails
// (Go 1.24 and later): it crashes the program rather than return weak bytes.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// IsAccessToken reports whether v has the form of an opaque access token.
func IsAccessToken(v string) bool { return strings.HasPrefix(v, AccessTokenPrefix) }

// IsRefreshToken reports whether v has the form of a refresh token.
func IsRefreshToken(v string) bool { return strings.HasPrefix(v, RefreshTokenPrefix) }

// TimeOrderedID returns a 16-byte identifier in base64url: the time in
// Unix milliseconds in its first 6 bytes, big-endian, then 80 random bits.
// Identifiers made close in time share their leading characters, so a
// store's index on them takes new ones into the same few pages instead of
// a random page each (refresh token families: a redemption writes two
// index entries keyed by its family).
func TimeOrderedID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
