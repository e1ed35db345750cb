// Package policy is the policy decision point of writ gateway: it compiles
// a route's authorization rule (Spec) once, at load, and decides requests
// against it (Policy.Decide), without any HTTP serving of its own.
//
// A Spec combines scopes (all-of, any-of, from the `scope` string or the
// `scp` array), roles and groups from a configurable claim path, claim
// predicates (equals, in, contains, exists, gt/ge/lt/le) and CEL
// expressions (cel-go with its string extensions) named allow and deny.
// CEL expressions are parsed and type-checked at load: a syntax error, an
// unknown variable, field or route attribute, or a result that is not a
// bool is an error naming the route, the expression and the position. A
// worst-case cost is estimated at load (every input assumed at the input
// size bound) and an expression estimated above WithMaxEstimatedCost is
// refused; expressions with loops, and any whose estimate exceeds the
// runtime limit, run under cel.CostLimit (WithCostLimit). The others cannot
// reach it and run without the tracker's per-evaluation cost.
//
// CEL sees four variables:
//
//	claims   map(string, dyn)  the verified token's claims (numbers are doubles)
//	request  object            method, path, host, source (client IP), params
//	                           (map(string, string)), query and headers
//	                           (map(string, list(string)), lowercase header
//	                           names; credentials hidden), mcp.method, mcp.tool
//	act      list(map)         the delegation chain, outermost actor first
//	route    map(string, dyn)  the route's attributes
//
// Numbers compare across types, so `claims.clearance >= route.classification`
// holds for a JSON double and a YAML integer.
//
// Deny wins: the deny expression is evaluated first; an anonymous route
// then allows; otherwise every rule present must hold, and a route without
// any rule denies. A runtime error (a missing key, the cost limit) denies,
// with the error as the reason. Decision.Rule names the rule that decided.
//
// Case, RunCases and Report implement the policy tests of
// `writ gateway check`: requests with claims and the expected decision,
// reported case by case with a summary, like `opa test`.
package policy
