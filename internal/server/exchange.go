package server

import (
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/jwt"
)

// exchangeStore is what token exchange reads and writes
// (grant.ExchangeStores): subject tokens, users, delegations, the audit
// trail, and the tokens it issues.
type exchangeStore interface {
	grant.ExchangeStores
}

// setupExchange registers the token exchange grant (RFC 8693) on st.
// Refresh tokens issued by exchange (only where a client's policy allows
// them) have the sign-in lifetimes, or their defaults.
func (s *Server) setupExchange(st exchangeStore) error {
	refreshTTL, refreshMax := defaultRefreshTTL, defaultRefreshMaxTTL
	if o := s.opts.SignIn; o != nil {
		if o.RefreshTTL > 0 {
			refreshTTL = o.RefreshTTL
		}
		if o.RefreshMaxTTL > 0 {
			refreshMax = o.RefreshMaxTTL
		}
	}
	idTokens, err := jwt.NewVerifier(s.opts.Ring, jwt.Config{
		Issuer:            s.opts.Issuer,
		SkipAudienceCheck: true, // the grant checks aud against the client
		Type:              jwt.TypeJWT,
		Leeway:            -1,
		Now:               s.now,
	})
	if err != nil {
		return err
	}
	s.grants[grant.TypeTokenExchange] = &grant.TokenExchange{
		Tokens: &grant.Tokens{
			Minter:        s.minter,
			AccessTTL:     s.opts.AccessTokenTTL,
			RefreshTTL:    refreshTTL,
			RefreshMaxTTL: refreshMax,
			Logger:        s.log,
			Now:           s.now,
			Reused:        s.opts.Metrics.ReuseDetected,
		},
		Store:           st,
		Clients:         s.clients,
		Issuer:          s.opts.Issuer,
		OwnAccessTokens: s.ownTokens,
		MCPResources:    s.mcpResources,
		OwnIDTokens:     idTokens,
		External:        s.opts.ExternalTokens,
		IDJAG:           s.opts.IDJAG,
		DefaultAudience: s.opts.DefaultAudience,
	}
	return nil
}
