package main

import (
	"log/slog"

	"github.com/writ-dev/writ/internal/gateway"
)

// gatewayDeps wires the gateway to the relying-party packages.
func gatewayDeps(log *slog.Logger) gateway.Deps {
	return gateway.Deps{Logger: log, CompilePolicy: gatewayPolicyCompiler()}
}

// gatewayPolicyCompiler is the rule compiler of serving and check alike.
func gatewayPolicyCompiler() gateway.PolicyCompiler { return nil }
