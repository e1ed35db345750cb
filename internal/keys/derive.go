package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// DeriveKey derives a 32-byte subkey for purpose from the master key with
// HKDF-SHA-256, so that one master key can serve several independent uses
// (for example the keyed hash of client secrets) without sharing bytes.
// Different purposes give unrelated keys.
func (mk MasterKey) DeriveKey(purpose string) ([]byte, error) {
	if !mk.valid() {
		return nil, fmt.Errorf("%w: zero MasterKey", ErrInvalidMasterKey)
	}
	if purpose == "" {
		return nil, fmt.Errorf("keys: DeriveKey needs a purpose")
	}
	k, err := hkdf.Key(sha256.New, mk.m.key[:], nil, "writ/"+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive key: %w", err)
	}
	return k, nil
}
