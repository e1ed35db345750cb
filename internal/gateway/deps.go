package gateway

import (
	"context"
	"fmt"
	"os"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

// NewVerifier builds the multi-issuer JWT verifier (rs.Verifier) of the
// route file's issuers: a jwks_file is read once (explicit keys, never
// fetched), a jwks_uri fetched, and an issuer with neither discovered.
func NewVerifier(ctx context.Context, issuers []config.Issuer, opts ...rs.VerifierOption) (*rs.Verifier, error) {
	cfgs := make([]rs.IssuerConfig, 0, len(issuers))
	for _, iss := range issuers {
		c := rs.IssuerConfig{
			Issuer: iss.Issuer, JWKSURI: iss.JWKSURI, Audiences: iss.Audiences, Types: iss.Types,
			AllowUntypedTokens: iss.AllowUntypedTokens, ClaimMapping: iss.ClaimMapping,
			RequiredClaims: iss.RequiredClaims, Leeway: iss.Leeway,
		}
		for _, a := range iss.Algorithms {
			c.Algorithms = append(c.Algorithms, jose.Algorithm(a))
		}
		if iss.JWKSFile != "" {
			data, err := os.ReadFile(iss.JWKSFile)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", iss.Issuer, err)
			}
			ks, err := jose.ParseKeySet(data)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: jwks_file %s: %w", iss.Issuer, iss.JWKSFile, err)
			}
			c.Keys = ks
		}
		cfgs = append(cfgs, c)
	}
	return rs.NewVerifier(ctx, cfgs, opts...)
}
