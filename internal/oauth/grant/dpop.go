package grant

import (
	"encoding/json"
	"maps"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// Token types of a token response (RFC 6749 §7.1, RFC 9449 §5).
const (
	// TokenTypeBearer is the token_type of a bearer access token.
	TokenTypeBearer = "Bearer"
	// TokenTypeDPoP is the token_type of an access token bound to a DPoP
	// key (cnf.jkt).
	TokenTypeDPoP = "DPoP"
)

// RequireDPoP refuses a request without a DPoP proof from a client that
// may only get DPoP-bound tokens (registered with dpop_bound_access_tokens,
// RFC 9449 §5.2, or an agent registered with RequireDPoP):
// invalid_dpop_proof (RFC 9449 §5), since what is wrong is the proof,
// here its absence. The server calls it for every grant, after client
// authentication.
func RequireDPoP(req *Request) error {
	c := &req.Client.Client
	if req.DPoPKey == "" && (c.DPoPBoundAccessTokens || c.Agent != nil && c.Agent.RequireDPoP) {
		return oauth.InvalidDPoPProof("this client must send a DPoP proof: it is only issued DPoP-bound tokens")
	}
	return nil
}

// tokenType is the token_type of an access token bound to jkt (empty: not
// bound).
func tokenType(jkt string) string {
	if jkt != "" {
		return TokenTypeDPoP
	}
	return TokenTypeBearer
}

// Cnf is the confirmation claim (cnf, RFC 7800) of a token bound to the
// DPoP key jkt ({"jkt": jkt}, RFC 9449 §6) and to the TLS client
// certificate x5t ({"x5t#S256": x5t}, RFC 8705 §3.1), each when not
// empty; nil when both are.
func Cnf(jkt, x5t string) map[string]string {
	if jkt == "" && x5t == "" {
		return nil
	}
	cnf := make(map[string]string, 2)
	if jkt != "" {
		cnf["jkt"] = jkt
	}
	if x5t != "" {
		cnf[CnfX5T] = x5t
	}
	return cnf
}

// withCnf returns extra with the confirmation claim Cnf(jkt, x5t) added;
// extra itself when jkt and x5t are both empty. extra is not modified.
func withCnf(extra map[string]any, jkt, x5t string) map[string]any {
	cnf := Cnf(jkt, x5t)
	if cnf == nil {
		return extra
	}
	out := make(map[string]any, len(extra)+1)
	maps.Copy(out, extra)
	out["cnf"] = cnf
	return out
}

// refreshBinding is the key a new refresh token family of c is bound to:
// the proof's key for a public client (RFC 9449 §5), and for a
// confidential client that asked for it by registering
// dpop_bound_access_tokens (§5: "may" be bound; writ binds them, so that
// the family can never be rotated without the key); none for another
// confidential client, whose refresh tokens are bound to its
// authentication instead.
func refreshBinding(c *store.Client, jkt string) string {
	if c.TokenEndpointAuthMethod == oauth.AuthNone || c.DPoPBoundAccessTokens {
		return jkt
	}
	return ""
}

// checkRefreshBinding refuses to rotate a refresh token bound to a DPoP
// key unless the request's proof is by that key (RFC 9449 §5).
func checkRefreshBinding(rt *store.RefreshToken, jkt string) error {
	switch {
	case rt.JKT == "":
		return nil
	case jkt == "":
		return oauth.InvalidGrant("the refresh token is bound to a DPoP key: send a DPoP proof made with it")
	case jkt != rt.JKT:
		return oauth.InvalidGrant("the DPoP proof is not made with the key the refresh token is bound to")
	}
	return nil
}

// presentedBinding returns the key what a grant issues on a presented
// token (a token exchange's subject or actor token, an assertion) must be
// bound to, given the presented token's cnf.jkt (empty: not bound) and the
// request's proof: a bound token stays bound, to the same key, and needs a
// proof by it (RFC 9449 §5: it never becomes a bearer token); an unbound
// one binds to the proof's key, if any.
func presentedBinding(presentedJKT string, req *Request) (string, error) {
	switch {
	case presentedJKT == "":
		return req.DPoPKey, nil
	case req.DPoPKey == "":
		return "", oauth.InvalidGrant("the presented token is DPoP-bound: send a DPoP proof made with its key")
	case req.DPoPKey != presentedJKT:
		return "", oauth.InvalidGrant("the DPoP proof is not made with the key the presented token is bound to")
	}
	return presentedJKT, nil
}

// cnfJKT returns the jkt member of a presented token's cnf claim (raw
// JSON; empty when the token has none), "" for a token without cnf. A cnf
// that is not an object with a string jkt is an error: a token bound by
// another method (x5t#S256 included) or malformed is refused, never
// taken as unbound.
func cnfJKT(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	var cnf map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &cnf); err != nil {
		return "", oauth.InvalidGrant("the presented token's cnf claim is malformed")
	}
	j, ok := cnf["jkt"]
	if !ok {
		return "", oauth.InvalidGrant("the presented token is bound (cnf) by a method other than DPoP")
	}
	var jkt string
	if err := json.Unmarshal(j, &jkt); err != nil || jkt == "" {
		return "", oauth.InvalidGrant("the presented token's cnf.jkt is malformed")
	}
	return jkt, nil
}
