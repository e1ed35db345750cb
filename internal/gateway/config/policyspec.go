package config

// PolicySpec is the authorization rule of a route, inline in the route.
//
// Interim: the type mirrors internal/gateway/policy.Spec (CONTRACT.md)
// until that package lands; it then becomes an alias of policy.Spec.
type PolicySpec struct {
	// Allow is a CEL expression; the request is allowed when it is true.
	Allow string `yaml:"allow"`
	// Deny is a CEL expression; deny wins over allow.
	Deny string `yaml:"deny"`
	// Scopes require scopes of the token.
	Scopes *ScopeRule `yaml:"scopes"`
	// Roles require roles from a claim path.
	Roles *ListRule `yaml:"roles"`
	// Groups require groups from a claim path.
	Groups *ListRule `yaml:"groups"`
	// Claims are conditions on claims.
	Claims []ClaimRule `yaml:"claims"`
	// Attributes are the route's attributes, `route.<name>` in CEL.
	Attributes map[string]any `yaml:"attributes"`
	// Anonymous routes need no token.
	Anonymous bool `yaml:"anonymous"`
}

// ScopeRule requires scopes: every one of All, and one of Any.
type ScopeRule struct {
	// All are all required.
	All []string `yaml:"all"`
	// Any: one is required.
	Any []string `yaml:"any"`
}

// ListRule requires values of a list claim.
type ListRule struct {
	// Claim is the dotted claim path.
	Claim string `yaml:"claim"`
	// Any: one is required.
	Any []string `yaml:"any"`
	// All are all required.
	All []string `yaml:"all"`
}

// ClaimRule is a condition on one claim.
type ClaimRule struct {
	// Path is the dotted claim path.
	Path string `yaml:"path"`
	// Equals requires the claim to equal the value.
	Equals any `yaml:"equals"`
	// In requires the claim to be one of the values.
	In []any `yaml:"in"`
	// Contains requires a list claim to contain the value.
	Contains any `yaml:"contains"`
	// Exists requires the claim to exist (or not).
	Exists *bool `yaml:"exists"`
	// Gt, Ge, Lt, Le compare a numeric claim.
	Gt *float64 `yaml:"gt"`
	// Ge is ≥.
	Ge *float64 `yaml:"ge"`
	// Lt is <.
	Lt *float64 `yaml:"lt"`
	// Le is ≤.
	Le *float64 `yaml:"le"`
}
