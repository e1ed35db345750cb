package main

import (
	"context"
	"log/slog"

	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/rs"
)

// gatewayDeps wires the gateway to the relying-party packages.
func gatewayDeps(log *slog.Logger) gateway.Deps {
	return gateway.Deps{
		Logger: log,
		NewVerifier: func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error) {
			return gateway.NewVerifier(ctx, issuers)
		},
		NewIntrospector: func(ctx context.Context, cfg config.Introspection) (gateway.Introspector, error) {
			return gateway.NewIntrospector(ctx, cfg)
		},
		NewDPoP: func(ctx context.Context, cfg config.DPoP) (rs.DPoPChecker, error) {
			return gateway.NewDPoP(ctx, cfg)
		},
		CompilePolicy: gatewayPolicyCompiler(),
	}
}

// gatewayPolicyCompiler is the rule compiler of serving and check alike.
func gatewayPolicyCompiler() gateway.PolicyCompiler { return nil }
