package jwt

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/jose"
)

// Signer signs claims with one private key. It is safe for concurrent use.
type Signer struct {
	key  *jose.Key
	opts jose.SignOptions
}

// NewSigner returns a Signer that signs with key and writes typ (for
// example TypeAccessToken) in the header. The key must hold private or
// secret material and be bound to a signature algorithm.
func NewSigner(key *jose.Key, typ string) (*Signer, error) {
	if key == nil || !key.IsPrivate() || !key.Algorithm().IsSignature() {
		return nil, errors.New("jwt: NewSigner needs a private signing key")
	}
	return &Signer{key: key, opts: jose.SignOptions{Type: typ}}, nil
}

// Key returns the signing key.
func (s *Signer) Key() *jose.Key { return s.key }

// Sign encodes claims as JSON and signs them. claims is usually a struct
// that embeds Claims, or a map[string]any.
func (s *Signer) Sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt: encode claims: %w", err)
	}
	return s.SignPayload(payload)
}

// SignPayload signs an already encoded JSON object.
func (s *Signer) SignPayload(payload []byte) (string, error) {
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("jwt: claims must encode to a JSON object")
	}
	return jose.Sign(s.key, payload, &s.opts)
}
