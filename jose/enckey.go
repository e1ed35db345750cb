package jose

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"slices"
)

// EncryptionKey picks the key of a relying party's public JWK Set to encrypt
// to with alg, a public-key management algorithm (RSA-OAEP, RSA-OAEP-256,
// ECDH-ES, ECDH-ES+A128KW or ECDH-ES+A256KW), as OpenID Connect Core §10.2
// asks of an issuer that encrypts ID tokens or UserInfo responses.
//
// A key qualifies when it is public, is not marked "use":"sig", its key_ops
// (when present) allow encryption, key wrapping or key agreement, and either
// its JWK named alg, or it named no "alg" and its type fits alg (an RSA key
// of at least 2048 bits for RSA-OAEP*, an EC key on P-256, P-384 or P-521
// for ECDH-ES*), in which case it is bound to alg here, with the same kid.
// A key marked "use":"enc" is preferred to one without a use; among equals
// the first in the set wins. The result is a public key: Encrypt puts its
// kid in the JWE header.
//
// Errors wrap ErrUnsupportedAlg for an alg that is not a public-key
// management algorithm, and ErrKeyNotFound when no key qualifies.
func EncryptionKey(ks *KeySet, alg Algorithm) (*Key, error) {
	info, ok := lookupAlg(alg)
	if !ok || (info.fam != famRSAEnc && info.fam != famECDHEnc) {
		return nil, fmt.Errorf("%w: %q is not a public-key encryption algorithm", ErrUnsupportedAlg, alg)
	}
	var fallback *Key
	if ks != nil {
		for _, k := range ks.keys {
			c := encryptionCandidate(k, alg, info.fam)
			if c == nil {
				continue
			}
			if k.use == UseEncryption {
				return c, nil
			}
			if fallback == nil {
				fallback = c
			}
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, fmt.Errorf("%w: no public key for %s (an %s key with \"use\":\"enc\" or no use)", ErrKeyNotFound, alg, keyTypeOf(info.fam))
}

// encryptionCandidate returns k, or k bound to alg, when k may encrypt to
// its holder with alg; nil otherwise.
func encryptionCandidate(k *Key, alg Algorithm, fam family) *Key {
	if k == nil || k.secret != nil || k.use == UseSignature {
		return nil
	}
	if k.ops != nil && !slices.ContainsFunc(k.ops, func(o string) bool {
		return o == "encrypt" || o == "wrapKey" || o == "deriveKey" || o == "deriveBits"
	}) {
		return nil
	}
	if k.alg == alg {
		return k.Public()
	}
	if k.algSet {
		return nil
	}
	var material any
	switch fam {
	case famRSAEnc:
		pub, ok := k.pub.(*rsa.PublicKey)
		if !ok {
			return nil
		}
		material = pub
	case famECDHEnc:
		pub, ok := k.pub.(*ecdsa.PublicKey)
		if !ok {
			return nil
		}
		material = pub
	default:
		return nil
	}
	nk, err := NewKey(alg, material, WithKeyID(k.kid), WithUse(UseEncryption))
	if err != nil {
		return nil
	}
	nk.ops = k.ops
	return nk
}

func keyTypeOf(fam family) string {
	if fam == famRSAEnc {
		return "RSA"
	}
	return "EC"
}
