// Package oidc holds the OpenID Connect pieces of writ's identity provider:
// ID tokens (OpenID Connect Core 1.0 §2, with at_hash per §3.1.3.6), the
// release of user claims per scope and per claims request (§5.4, §5.5),
// the UserInfo endpoint (§5.3) and back-channel logout (OpenID Connect
// Back-Channel Logout 1.0).
//
// The package owns formats and policy; the authorization server wires it
// in. Grant handlers decide what goes into an ID token and call
// IDTokens.Mint with the claims that Release returns; the server mounts a
// UserInfo handler; logout calls Notifier.Notify with the clients to tell.
//
// # Claims release
//
// Release implements writ's release rule:
//
//   - A granted scope releases the standard claims of OIDC Core §5.4
//     (see ScopeClaims) and the custom attribute (store.User.Attributes)
//     named like the scope: scope "groups" releases attribute "groups".
//   - The claims request parameter (§5.5) names individual claims for
//     UserInfo or for the ID token. It can narrow a request to single
//     standard claims (ask for "email" without the email scope) and add
//     standard claims and attributes no granted scope covers, but only
//     claims from the user record: the standard claims of §5.1 and custom
//     attributes. Protocol claims (sub, iss, aud, nonce, acr, ...) are never
//     released this way. A claim so requested goes only to the target it
//     was requested for. It never removes what a granted scope releases.
//     "essential", "value" and "values" are accepted but do not change what
//     is released: writ releases the user's actual value, or nothing.
//   - When an access token is issued with the ID token (always, in the
//     authorization code flow), scope claims go to UserInfo only; the ID
//     token carries only the claims requested for it through the claims
//     parameter (§5.4).
//   - Empty values are left out. email_verified and phone_number_verified
//     are released only with a non-empty email or phone number. updated_at
//     is a NumericDate.
//   - An attribute is never released when its name is a standard claim
//     name or a protocol claim name, or equal to one of those under Unicode
//     case folding ("Email", "SUB"): encoding/json matches member names
//     case-insensitively, so such an attribute could shadow the real claim
//     in a relying party. Attributes whose value is not strict JSON are
//     left out too.
//
// Because the claims parameter can add claims beyond the granted scopes,
// the consent page must show the claims it names.
//
// # The claims request and the access token
//
// UserInfo needs the claims requested for it when the access token is
// presented, long after the authorization request. writ carries the names
// of those claims inside the access token, as the private claim
// UserinfoClaimsClaim (see AccessTokenClaims): a JWT access token holds it
// in its payload, an opaque one in its stored record's Extra. No lookup
// table is needed, and the claims a token can reach through UserInfo are
// fixed when it is minted.
package oidc
