package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/rs"
)

// countingTransport counts the gateway's requests for JWK Sets.
type countingTransport struct {
	jwks atomic.Int64
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "jwks") {
		c.jwks.Add(1)
	}
	return c.base.RoundTrip(r)
}

// gatewayDeps wires the gateway as `writ gateway` does (cmd/writ's
// gatewayDeps, in package main, cannot be imported): package gateway's
// verifier, introspection client and DPoP checker, and the default rule
// compiler (internal/gateway/policy). The one difference: the verifier
// reads the test's clock and counts its JWKS fetches, so that the tests
// can move the clock past the refetch rate limit and see the refetch.
func gatewayDeps(now func() time.Time, tr *countingTransport) gateway.Deps {
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return gateway.Deps{
		Now: now,
		NewVerifier: func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error) {
			return gateway.NewVerifier(ctx, issuers, rs.WithClock(now), rs.WithHTTPClient(hc))
		},
		NewIntrospector: func(ctx context.Context, c config.Introspection) (gateway.Introspector, error) {
			return gateway.NewIntrospector(ctx, c)
		},
		NewDPoP: func(ctx context.Context, c config.DPoP) (rs.DPoPChecker, error) {
			return gateway.NewDPoP(ctx, c)
		},
	}
}
