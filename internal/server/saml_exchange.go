package server

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/saml"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// samlReplayPrefix keeps assertion IDs apart from other single-use IDs
// in the replay store; the issuer's SHA-256 follows it.
const samlReplayPrefix = "saml-assertion:"

// samlAssertions verifies SAML 2.0 assertions presented to token
// exchange (grant.SAMLAssertions): writ's own, signed by the ring's RSA
// keys, and those of SAML IdPs registered as trusted issuers for token
// exchange, whose JWK Set holds their signing keys.
type samlAssertions struct {
	s      *Server
	trust  store.TrustStore // nil: only writ's own assertions
	replay store.ReplayStore
}

// VerifySAML implements grant.SAMLAssertions. An assertion must name writ
// in its AudienceRestriction (the issuer, the token endpoint, the SAML
// entity ID) or one of audiences; UseSAML spends it.
func (v *samlAssertions) VerifySAML(ctx context.Context, raw string, audiences []string) (*grant.SAMLSubject, error) {
	doc, err := saml.DecodeAssertionToken(raw)
	if err != nil {
		return nil, err
	}
	now := v.s.now()
	audiences = append([]string{v.s.opts.Issuer, v.s.opts.Issuer + PathToken, v.s.saml.idp.EntityID}, audiences...)
	var lookupErr error
	a, err := saml.VerifyAssertion(doc, saml.AssertionPolicy{
		Keys: func(issuer string) ([]crypto.PublicKey, error) {
			keys, err := v.keys(ctx, issuer)
			if err != nil && !errors.Is(err, grant.ErrUntrustedIssuer) {
				lookupErr = err
			}
			return keys, err
		},
		Audiences: audiences,
		Now:       now,
	})
	if lookupErr != nil {
		return nil, oauth.ServerError(fmt.Errorf("token exchange: saml issuer keys: %w", lookupErr))
	}
	if err != nil {
		return nil, err
	}
	return &grant.SAMLSubject{ID: a.ID, Issuer: a.Issuer, Subject: a.NameID, Audiences: a.Audiences, IssuedAt: a.IssueInstant, ExpiresAt: a.NotOnOrAfter}, nil
}

// UseSAML implements grant.SAMLAssertions: an assertion is a bearer
// credential, accepted once per issuer and ID until it expires.
func (v *samlAssertions) UseSAML(ctx context.Context, a *grant.SAMLSubject) error {
	sum := sha256.Sum256([]byte(a.Issuer))
	switch err := v.replay.UseJTI(ctx, samlReplayPrefix+base64.RawURLEncoding.EncodeToString(sum[:]), a.ID, a.ExpiresAt.Add(time.Minute)); {
	case errors.Is(err, store.ErrAlreadyExists):
		return fmt.Errorf("%w: assertion %s", grant.ErrSAMLReplayed, a.ID)
	case err != nil:
		return oauth.ServerError(fmt.Errorf("token exchange: saml replay: %w", err))
	}
	return nil
}

// keys returns the public keys trusted for an issuer's assertions.
func (v *samlAssertions) keys(ctx context.Context, issuer string) ([]crypto.PublicKey, error) {
	if issuer == v.s.saml.idp.EntityID {
		var out []crypto.PublicKey
		for _, k := range v.s.opts.Ring.PublicKeySet().Keys() {
			if k.Algorithm() == jose.RS256 {
				out = append(out, k.PublicKey())
			}
		}
		return out, nil
	}
	if v.trust == nil {
		return nil, fmt.Errorf("%w: %q", grant.ErrUntrustedIssuer, issuer)
	}
	ti, err := v.trust.GetTrustedIssuer(ctx, issuer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %q", grant.ErrUntrustedIssuer, issuer)
	case err != nil:
		return nil, err
	}
	if !slices.Contains(ti.Uses, store.TrustSubjectToken) || len(ti.JWKS) == 0 {
		return nil, fmt.Errorf("%w: %q is not trusted for token exchange with registered keys", grant.ErrUntrustedIssuer, issuer)
	}
	ks, err := jose.ParseKeySet(ti.JWKS)
	if err != nil {
		return nil, fmt.Errorf("trusted issuer %q: %w", issuer, err)
	}
	var out []crypto.PublicKey
	for _, k := range ks.Keys() {
		out = append(out, k.PublicKey())
	}
	return out, nil
}
