package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// DPoPNoncePurpose names the master-key subkey (keys.MasterKey.DeriveKey)
// that the token endpoint's DPoP nonces are derived from, so that every
// node issues and accepts the same nonces.
const DPoPNoncePurpose = "dpop nonce"

// DPoPOptions configure DPoP (RFC 9449) at the token endpoint. The zero
// value accepts proofs of every asymmetric algorithm writ verifies, two
// minutes old at most, remembered in memory, without server nonces.
type DPoPOptions struct {
	// Disabled turns DPoP off: a DPoP header is ignored (RFC 9449 §5: a
	// server that does not support DPoP issues bearer tokens), and
	// discovery lists no proof algorithms.
	Disabled bool
	// Algorithms are the accepted proof algorithms; empty means
	// dpop.DefaultAlgorithms.
	Algorithms []jose.Algorithm
	// MaxAge is how long after its iat a proof is accepted; 0 means
	// dpop.DefaultMaxAge.
	MaxAge time.Duration
	// Replay remembers used proofs; nil means in memory (one node). Nodes
	// behind one issuer share a dpop.RedisReplayCache.
	Replay dpop.ReplayCache
	// NonceSecret, when set (at least 32 bytes, the same on every node),
	// makes a server nonce required in every proof (RFC 9449 §8): stateless,
	// rotating every NoncePeriod (0: dpop.DefaultNoncePeriod).
	NonceSecret []byte
	NoncePeriod time.Duration
}

// newDPoP returns the token endpoint's proof verifier, nil when DPoP is
// off, and its nonces, nil when none are required.
func newDPoP(o *DPoPOptions, now func() time.Time) (*dpop.Verifier, *dpop.Nonces, error) {
	if o == nil {
		o = &DPoPOptions{}
	}
	if o.Disabled {
		return nil, nil, nil
	}
	cfg := dpop.Config{Algorithms: o.Algorithms, MaxAge: o.MaxAge, Replay: o.Replay, Now: now}
	if o.NonceSecret != nil {
		n, err := dpop.NewNonces(o.NonceSecret, o.NoncePeriod, now)
		if err != nil {
			return nil, nil, fmt.Errorf("server: DPoP nonces: %w", err)
		}
		cfg.Nonces = n
	}
	v, err := dpop.NewVerifier(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("server: DPoP: %w", err)
	}
	return v, cfg.Nonces, nil
}

// checkDPoP verifies the DPoP proof of a token request (RFC 9449 §4.3,
// §5) and returns the thumbprint of its key, or "" when the request has
// none (or DPoP is off). The proof must be for POST at the token endpoint
// URL under the issuer, whatever host the request came in by. More than
// one DPoP header, or an invalid proof, is invalid_dpop_proof; a missing
// or stale server nonce is use_dpop_nonce with the nonce in the DPoP-Nonce
// header; a replay cache that cannot answer is temporarily_unavailable.
func (s *Server) checkDPoP(ctx context.Context, w http.ResponseWriter, r *http.Request) (string, error) {
	vals := r.Header.Values(dpop.Header)
	if s.dpop == nil || len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 {
		return "", oauth.InvalidDPoPProof("send exactly one DPoP header")
	}
	proof, err := s.dpop.Verify(ctx, dpop.Params{Proof: vals[0], Method: r.Method, URL: s.endpointURL(r, PathToken)})
	var nonce *rs.NonceError
	switch {
	case errors.As(err, &nonce):
		w.Header().Set(dpop.NonceHeader, nonce.Nonce)
		return "", oauth.UseDPoPNonce()
	case errors.Is(err, rs.ErrInvalidDPoPProof):
		e := oauth.InvalidDPoPProof("the DPoP proof is invalid: %s", dpopReason(err))
		e.Cause = err
		return "", e
	case err != nil:
		return "", oauth.TemporarilyUnavailable(err, "DPoP proofs cannot be checked now; retry shortly")
	}
	if s.dpopNonces != nil {
		// RFC 9449 §8.2: the current nonce may come with any response.
		w.Header().Set(dpop.NonceHeader, s.dpopNonces.Current())
	}
	return proof.JKT, nil
}

// endpointDPoP checks the proofs of requests to one endpoint of this
// server (UserInfo) against its URL under the issuer, whatever host the
// request came in by.
type endpointDPoP struct {
	v   *dpop.Verifier
	url string
}

// CheckDPoP implements oidc.DPoPChecker.
func (e endpointDPoP) CheckDPoP(ctx context.Context, r *http.Request, accessToken, jkt string) error {
	vals := r.Header.Values(dpop.Header)
	switch {
	case len(vals) > 1:
		return dpop.ErrMultiple
	case len(vals) == 0:
		return dpop.ErrMissing
	}
	_, err := e.v.Verify(ctx, dpop.Params{Proof: vals[0], Method: r.Method, URL: e.url, AccessToken: accessToken, JKT: jkt})
	return err
}

// dpopReason is the reason of a refused proof without the package prefix
// ("htu does not match the request URL"). rs/dpop's errors never hold a
// token, a key or a claim's value.
func dpopReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, rs.ErrInvalidDPoPProof.Error()+": "); i >= 0 {
		msg = msg[i+len(rs.ErrInvalidDPoPProof.Error())+2:]
	}
	return msg
}

// dpopAlgorithms lists the accepted proof algorithms for discovery
// (dpop_signing_alg_values_supported), nil when DPoP is off.
func (s *Server) dpopAlgorithms() []string {
	if s.dpop == nil {
		return nil
	}
	var out []string
	for _, a := range s.dpop.Algorithms() {
		out = append(out, string(a))
	}
	return out
}

// boundTokenType is the token_type introspection reports for a token with
// these extra claims: DPoP when cnf holds a jkt (RFC 9449 §6.2), else
// Bearer.
func boundTokenType(extra map[string]json.RawMessage) string {
	raw, ok := extra["cnf"]
	if !ok {
		return "Bearer"
	}
	var cnf struct {
		JKT string `json:"jkt"`
	}
	if json.Unmarshal(raw, &cnf) == nil && cnf.JKT != "" {
		return "DPoP"
	}
	return "Bearer"
}
