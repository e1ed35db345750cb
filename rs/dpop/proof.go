package dpop

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/jose"
)

// NewProof makes a DPoP proof (RFC 9449 §4.2), the value of a request's
// DPoP header, as a client does: signed by key (a private asymmetric key)
// with its public half in the jwk header, a random jti of 128 bits, htm
// method, htu url without its query and fragment, and iat now. accessToken,
// when not empty, is bound by ath; nonce, when not empty, is the server's
// nonce (the last DPoP-Nonce response header).
func NewProof(key *jose.Key, method, url, accessToken, nonce string, now time.Time) (string, error) {
	if key == nil || !key.IsPrivate() || key.IsSymmetric() || !key.Algorithm().IsSignature() {
		return "", errors.New("dpop: a proof is signed with a private asymmetric signature key")
	}
	if method == "" || url == "" {
		return "", errors.New("dpop: a proof needs the request's method and URL")
	}
	jwk, err := json.Marshal(key.Public())
	if err != nil {
		return "", fmt.Errorf("dpop: encode the proof key: %w", err)
	}
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("dpop: random jti: %w", err)
	}
	claims := struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		ATH   string `json:"ath,omitempty"`
		Nonce string `json:"nonce,omitempty"`
	}{JTI: base64.RawURLEncoding.EncodeToString(id[:]), HTM: method, HTU: url, IAT: now.Unix(), Nonce: nonce}
	if accessToken != "" {
		claims.ATH = AccessTokenHash(accessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("dpop: encode the proof claims: %w", err)
	}
	return jose.Sign(key, payload, &jose.SignOptions{
		Type:      ProofType,
		OmitKeyID: true,
		Extra:     map[string]any{"jwk": json.RawMessage(jwk)},
	})
}
