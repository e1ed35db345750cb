package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// AssertionType is the typ header of identity assertions.
const AssertionType = "writ-gw+jwt"

// assertionSigner signs identity assertions: short-lived JWTs that tell
// an upstream who the gateway authorised, for which request, and which
// identity headers it set, so that the upstream can check that the headers
// came from the gateway (like Pomerium's X-Pomerium-Jwt-Assertion).
type assertionSigner struct {
	signer *jwt.Signer
	header string
	issuer string
	ttl    time.Duration
	now    func() time.Time
}

func newAssertionSigner(cfg *config.Assertion, key *jose.Key, now func() time.Time) (*assertionSigner, error) {
	if key == nil && cfg.KeyFile != "" {
		data, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("read key_file: %w", err)
		}
		if key, err = jose.ParseKey(data); err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
	}
	if key == nil {
		var err error
		if key, err = jose.GenerateKey(jose.ES256); err != nil {
			return nil, err
		}
	}
	if !key.IsPrivate() || key.IsSymmetric() {
		return nil, fmt.Errorf("the assertion key must be a private asymmetric key")
	}
	s, err := jwt.NewSigner(key, AssertionType)
	if err != nil {
		return nil, err
	}
	return &assertionSigner{signer: s, header: httpCanonical(cfg.Header), issuer: cfg.Issuer, ttl: cfg.TTL, now: now}, nil
}

// assertionClaims are the claims of an identity assertion.
type assertionClaims struct {
	// Issuer is the gateway (identity_assertion.issuer).
	Issuer string `json:"iss"`
	// Audience is the upstream's origin.
	Audience string `json:"aud"`
	// Subject is the token's sub.
	Subject string `json:"sub,omitempty"`
	// ClientID is the token's client_id.
	ClientID string `json:"client_id,omitempty"`
	// TokenIss is the issuer of the client's token.
	TokenIss string `json:"token_iss,omitempty"`
	// IssuedAt and Expiry bound the assertion's short life.
	IssuedAt int64 `json:"iat"`
	// Expiry is IssuedAt plus the TTL.
	Expiry int64 `json:"exp"`
	// ID is the decision id of the decision log.
	ID string `json:"jti"`
	// Route is the route's name.
	Route string `json:"route"`
	// Method is the request's method.
	Method string `json:"htm"`
	// Path is the request's normalised path.
	Path string `json:"htp"`
	// Headers are the identity headers the gateway set, name → value.
	Headers map[string]string `json:"headers,omitempty"`
	// ActorSub is the sub of the current actor of a delegated token.
	ActorSub string `json:"act_sub,omitempty"`
	// TokenJKT is the DPoP key thumbprint the token is bound to.
	TokenJKT string `json:"jkt,omitempty"`
	// Delegated is true when the token carries an act chain.
	Delegated bool `json:"delegated,omitempty"`
}

func (s *assertionSigner) sign(rt *compiledRoute, tok *rs.Token, method, path, id string, headers map[string]string) (string, error) {
	now := s.now()
	c := assertionClaims{
		Issuer: s.issuer, Audience: rt.upstream.Scheme + "://" + rt.upstream.Host,
		Subject: tok.Subject, ClientID: tok.ClientID, TokenIss: tok.Issuer,
		IssuedAt: now.Unix(), Expiry: now.Add(s.ttl).Unix(), ID: id,
		Route: rt.name, Method: method, Path: path, Headers: headers, TokenJKT: tok.JKT,
	}
	if act := actChain(tok.Claims); len(act) > 0 {
		c.Delegated = true
		if sub, ok := act[0]["sub"].(string); ok {
			c.ActorSub = sub
		}
	}
	return s.signer.Sign(c)
}

func (s *assertionSigner) jwks() []byte {
	b, err := json.Marshal(jose.NewKeySet(s.signer.Key().Public()))
	if err != nil {
		return []byte(`{"keys":[]}`)
	}
	return b
}

func httpCanonical(h string) string { return http.CanonicalHeaderKey(h) }
