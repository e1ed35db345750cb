package grant

import (
	"context"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// ClientCredentials is the client credentials grant (RFC 6749 §4.4): a
// confidential client gets an access token for itself.
type ClientCredentials struct {
	Minter *mint.Minter
	// DefaultAudience is the aud when neither the request nor the client
	// names one (RFC 9068 §3 requires a default resource).
	DefaultAudience string
	// DefaultTTL is the access token lifetime when the client sets none.
	DefaultTTL time.Duration
	// MCPResources are audiences issued only when the request names them
	// with resource (MCP servers); nil is none.
	MCPResources *oauth.ResourceSet
	// Audit records each token issued (AuditTokenIssued) before the
	// response, through group commit; nil records nothing.
	Audit Recorder
	// Now is the clock of the audit events; nil means time.Now.
	Now func() time.Time
}

// Handle implements Handler.
func (g *ClientCredentials) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if req.Client.Method == oauth.AuthNone {
		return nil, oauth.UnauthorizedClient("public clients may not use the client_credentials grant")
	}
	if err := checkGrantAllowed(c, TypeClientCredentials); err != nil {
		return nil, err
	}
	scopes, err := Scopes(req.Form, c.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := Audience(req.Form, c, g.DefaultAudience)
	if err != nil {
		return nil, err
	}
	if err := RequireResource(req.Form, aud, g.MCPResources); err != nil {
		return nil, err
	}
	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = g.DefaultTTL
	}
	ttl = AgentTTL(c, ttl)
	at := mint.AccessToken{
		ClientID: c.ID,
		Subject:  c.ID,
		Scopes:   scopes,
		Audience: aud,
		TTL:      ttl,
		Format:   c.AccessTokenFormat,
		Extra:    withCnf(nil, req.DPoPKey, certBinding(req)),
	}
	if g.Audit == nil {
		issued, err := g.Minter.Access(ctx, at)
		if err != nil {
			return nil, mintFailed(err)
		}
		return g.response(issued, scopes, req), nil
	}
	// Audited: the token's event is written to the node's audit journal
	// (the recorder) before the response — after an opaque token's record
	// is stored, so that every token a client receives has its event. A
	// record whose event could not be written is never handed out.
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	issued, err := g.Minter.Access(ctx, at)
	if err != nil {
		return nil, mintFailed(err)
	}
	e := tokenEvent(store.AuditTokenIssued, req, c.ID, issuedDetails{GrantType: TypeClientCredentials,
		Scope: oauth.JoinScope(scopes), Audience: aud, JTI: issued.ID, Format: c.AccessTokenFormat}, now())
	if err := recordIssued(ctx, g.Audit, e); err != nil {
		return nil, err
	}
	return g.response(issued, scopes, req), nil
}

// response is the token response for issued.
func (g *ClientCredentials) response(issued mint.Issued, scopes []string, req *Request) *Response {
	return &Response{
		AccessToken: issued.Value,
		TokenType:   tokenType(req.DPoPKey),
		ExpiresIn:   issued.ExpiresIn(),
		Scope:       oauth.JoinScope(scopes),
	}
}
