package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"
)

// DefaultNoncePeriod is how long one server nonce is current when
// NewNonces is given no period.
const DefaultNoncePeriod = 5 * time.Minute

// MinNonceSecret is the shortest secret NewNonces accepts, in bytes.
const MinNonceSecret = 32

// nonceSize is the number of HMAC bytes in a nonce: 128 bits.
const nonceSize = 16

// Nonces makes and checks server-provided DPoP nonces (RFC 9449 §8 and §9)
// without storing any: the nonce of a time window is an HMAC of the
// window's number under a secret, so every node that shares the secret
// issues and accepts the same nonces, and nothing is written per client.
// The nonce changes every period; the current and the previous window's
// nonces are accepted, so a nonce stays good for one to two periods. This
// is how panva's oidc-provider rotates its DPoP nonces.
//
// A Nonces is safe for concurrent use.
type Nonces struct {
	key    []byte
	period int64 // nanoseconds
	now    func() time.Time
	last   atomic.Pointer[nonceWindow]
}

// nonceWindow caches the nonces of window n and the one before it.
type nonceWindow struct {
	n         int64
	cur, prev string
}

// NewNonces returns nonces derived from secret (at least MinNonceSecret
// random bytes, the same on every node), changing every period (<= 0
// means DefaultNoncePeriod), read against now (nil means time.Now).
func NewNonces(secret []byte, period time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	if period <= 0 {
		period = DefaultNoncePeriod
	}
	if period < time.Second {
		return nil, errors.New("dpop: the nonce period must be at least one second")
	}
	if now == nil {
		now = time.Now
	}
	// The key is derived so that the secret given here may also serve
	// another purpose without the two meeting.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("writ rs/dpop nonce key v1"))
	return &Nonces{key: m.Sum(nil), period: int64(period), now: now}, nil
}

// Current returns the nonce a client should use now, the value of the
// DPoP-Nonce response header.
func (n *Nonces) Current() string { return n.window().cur }

// Valid reports whether nonce is the current or the previous window's
// nonce. The comparison takes constant time.
func (n *Nonces) Valid(nonce string) bool {
	w := n.window()
	b := []byte(nonce)
	// Both compared always, so the time taken tells nothing of which.
	cur := subtle.ConstantTimeCompare(b, []byte(w.cur))
	prev := subtle.ConstantTimeCompare(b, []byte(w.prev))
	return cur|prev == 1
}

func (n *Nonces) window() *nonceWindow {
	t := n.now().UnixNano()
	i := t / n.period
	if t < 0 && t%n.period != 0 {
		i-- // floor, for clocks before 1970
	}
	if w := n.last.Load(); w != nil && w.n == i {
		return w
	}
	w := &nonceWindow{n: i, cur: n.nonce(i), prev: n.nonce(i - 1)}
	n.last.Store(w)
	return w
}

func (n *Nonces) nonce(i int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(i))
	m := hmac.New(sha256.New, n.key)
	m.Write(msg[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:nonceSize])
}
