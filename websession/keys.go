package websession

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/jose"
)

// MinSecretSize is the smallest HS256 secret NewHMACKey accepts (RFC 7518
// §3.2: at least the size of the hash output).
const MinSecretSize = 32

// Key is one key of a Manager's key ring.
type Key struct {
	// Key is an HS256 key (a secret of at least MinSecretSize bytes) or an
	// EdDSA key. The signing key (the first of Config.Keys) must hold the
	// secret or private half; an older EdDSA key may be public only.
	Key *jose.Key
	// RetireAt is when sessions signed with this key stop verifying. It
	// must be zero for the signing key and set for every older key.
	RetireAt time.Time
}

// NewHMACKey returns an HS256 key for secret, which must be at least
// MinSecretSize bytes of random data. Its kid is derived from the secret
// by a one-way, domain-separated hash, so that the same secret always gets
// the same kid (several replicas agree) and the kid reveals nothing usable
// about the secret.
func NewHMACKey(secret []byte) (*jose.Key, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("websession: an HS256 secret must be at least %d bytes, got %d", MinSecretSize, len(secret))
	}
	h := sha256.New()
	h.Write([]byte("writ websession key id\x00"))
	h.Write(secret)
	kid := "hs-" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
	return jose.NewKey(jose.HS256, secret, jose.WithKeyID(kid))
}

// NewEd25519Key returns an EdDSA key for an Ed25519 private key. Its kid
// is the RFC 7638 thumbprint of the public key.
func NewEd25519Key(priv ed25519.PrivateKey) (*jose.Key, error) {
	return jose.NewKey(jose.EdDSA, priv)
}

// keyRing is the validated key configuration: the signer, the trusted set
// and every key's retire time.
type keyRing struct {
	signer  *jose.Key
	set     *jose.KeySet
	algs    []jose.Algorithm
	retires map[*jose.Key]time.Time // zero: never (the signing key)
}

func newKeyRing(keys []Key) (*keyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("websession: Config.Keys is empty; it needs at least the signing key")
	}
	r := &keyRing{retires: make(map[*jose.Key]time.Time, len(keys))}
	kids := map[string]bool{}
	var all []*jose.Key
	for i, k := range keys {
		if k.Key == nil {
			return nil, fmt.Errorf("websession: Config.Keys[%d] has no key", i)
		}
		alg := k.Key.Algorithm()
		if alg != jose.HS256 && alg != jose.EdDSA {
			return nil, fmt.Errorf("websession: Config.Keys[%d] is %s; session keys are HS256 or EdDSA", i, alg)
		}
		if kids[k.Key.KeyID()] {
			return nil, fmt.Errorf("websession: Config.Keys[%d]: kid %q is used twice", i, k.Key.KeyID())
		}
		kids[k.Key.KeyID()] = true
		if i == 0 {
			if !k.Key.IsPrivate() {
				return nil, errors.New("websession: Config.Keys[0] signs and needs its secret or private key")
			}
			if !k.RetireAt.IsZero() {
				return nil, errors.New("websession: Config.Keys[0] is the signing key and cannot have a RetireAt")
			}
		} else if k.RetireAt.IsZero() {
			return nil, fmt.Errorf("websession: Config.Keys[%d] is an older key and needs a RetireAt", i)
		}
		r.retires[k.Key] = k.RetireAt
		all = append(all, k.Key)
		seen := false
		for _, a := range r.algs {
			seen = seen || a == alg
		}
		if !seen {
			r.algs = append(r.algs, alg)
		}
	}
	r.signer = keys[0].Key
	r.set = jose.NewKeySet(all...)
	return r, nil
}

// retired reports whether k, a key of the ring, is retired at now.
func (r *keyRing) retired(k *jose.Key, now time.Time) bool {
	at, ok := r.retires[k]
	return !ok || (!at.IsZero() && !now.Before(at))
}
