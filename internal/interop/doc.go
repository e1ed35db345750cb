// Package interop holds writ's interoperability tests: the real server,
// started as `writ serve` starts it, driven by relying parties that no one
// here wrote, each on its default settings — coreos/go-oidc with
// golang.org/x/oauth2, panva's openid-client (Node.js) and oauth2-proxy.
//
// The package has no code of its own; everything is in its tests. Tests that
// need a program that is not installed (node, npm, oauth2-proxy) skip with a
// message, except with CI=true, where they fail: .ci/run installs them.
package interop
