package config

import "github.com/writ-dev/writ/internal/gateway/policy"

// PolicySpec is the authorization rule of a route, inline in the route:
// allow, deny, scopes, roles, groups, claims, attributes, anonymous.
type PolicySpec = policy.Spec

// ScopeRule, ListRule and ClaimRule are the parts of a PolicySpec.
type (
	// ScopeRule requires scopes.
	ScopeRule = policy.ScopeRule
	// ListRule requires roles or groups.
	ListRule = policy.ListRule
	// ClaimRule is a predicate on a claim.
	ClaimRule = policy.ClaimRule
)
