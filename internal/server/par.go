package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
)

// Pushed authorization requests (RFC 9126).
const (
	// PathPAR is the pushed authorization request endpoint.
	PathPAR = "/oauth2/par"
	// RequestURIPrefix starts every request_uri the endpoint issues.
	RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// RequestURITTL is how long a request_uri may be used (once).
	RequestURITTL = 60 * time.Second
	// KindPushedRequest is the store.TokenRecord.Kind of a pushed
	// authorization request: the record is keyed by the SHA-256 of the
	// request_uri and holds the sealed, validated request in Extra.
	KindPushedRequest = "pushed_authorization_request"
	// maxRequestURI bounds a request_uri read from a request.
	maxRequestURI = 256
)

// parStore is what pushed authorization requests need: a record per
// request_uri (kept as an opaque token record of KindPushedRequest, purged
// with them once expired), and the replay store that makes each one single
// use.
type parStore interface {
	// CreateToken stores a pushed request.
	CreateToken(ctx context.Context, r store.TokenRecord) error
	// GetToken reads it back by the hash of its request_uri.
	GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error)
	// UseJTI spends a request_uri, and request objects' jti.
	UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error
}

// pushedRecord is the Extra of a pushed request's record.
type pushedRecord struct {
	// Request is the validated request, sealed (authz.Sealer).
	Request string `json:"request"`
}

// handlePAR is the pushed authorization request endpoint (RFC 9126 §2):
// the client authenticates as at the token endpoint, the request is
// validated as the authorization endpoint validates it (a request object
// in request replaces the other parameters, RFC 9126 §3), and it is kept
// for RequestURITTL under a random request_uri that only this client can
// use, once.
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := oauth.ParseForm(w, r, s.opts.MaxRequestBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	client, err := s.auth.Authenticate(ctx, r, form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.allow(w, r, RuleAuthorizeClient, clientKey(r, client), asJSON) {
		return
	}
	c := &client.Client
	fapi := s.fapi2(c)
	if fapi {
		if err := s.fapiPushedRequest(form, client); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	// The parameters of client authentication are not part of the
	// authorization request.
	params := form.Values()
	for _, name := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		delete(params, name)
	}
	if params.Has("request_uri") {
		s.fail(w, r, oauth.InvalidRequest("request_uri cannot be pushed"))
		return
	}
	if id := params.Get("client_id"); id != "" && id != c.ID {
		s.fail(w, r, oauth.InvalidRequest("client_id does not match the authenticated client"))
		return
	}
	params.Set("client_id", c.ID)
	if raw := params.Get("request"); params.Has("request") {
		if params, err = s.requestObjects.Verify(ctx, raw, c); err != nil {
			s.fail(w, r, requestObjectFailure(err))
			return
		}
	}
	req, _, err := authz.Parse(ctx, params, fixedClient{c}, s.now(), authz.Timeout)
	if err == nil {
		err = s.checkAudience(req, c)
	}
	if err != nil {
		s.fail(w, r, parFailure(err))
		return
	}
	if fapi {
		if err := fapiAuthorizationRequest(params, req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	uri, err := s.pushRequest(ctx, req, c)
	if err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	oauth.WriteJSON(w, http.StatusCreated, struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}{uri, int(RequestURITTL / time.Second)})
}

// pushRequest seals req and stores it under a new request_uri.
func (s *Server) pushRequest(ctx context.Context, req *authz.Request, c *store.Client) (string, error) {
	sealed, err := s.signin.sealer.Seal(req)
	if err != nil {
		return "", err
	}
	extra, err := json.Marshal(pushedRecord{Request: sealed})
	if err != nil {
		return "", fmt.Errorf("encode pushed request: %w", err)
	}
	value, _ := opaque.New(RequestURIPrefix)
	now := s.now()
	err = s.stores.par.CreateToken(ctx, store.TokenRecord{
		Hash: opaque.Hash(value), Kind: KindPushedRequest, ClientID: c.ID,
		IssuedAt: now, ExpiresAt: now.Add(RequestURITTL), Extra: extra,
	})
	if err != nil {
		return "", fmt.Errorf("store pushed request: %w", err)
	}
	return value, nil
}

// fixedClient is the client Parse looks up: the one that authenticated.
type fixedClient struct{ c *store.Client }

func (f fixedClient) GetClient(_ context.Context, id string) (store.Client, error) {
	if id != f.c.ID {
		return store.Client{}, store.ErrNotFound
	}
	return *f.c, nil
}

// checkAudience refuses a request without resource whose default
// audience is an MCP server: its token is issued only for a request that
// names it (MCP authorization, RFC 8707).
func (s *Server) checkAudience(req *authz.Request, c *store.Client) error {
	if len(req.Resources) > 0 {
		return nil
	}
	if aud, ok := s.mcpResources.First(grant.DefaultAudience(c, s.opts.DefaultAudience)); ok {
		return &authz.RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: oauth.CodeInvalidTarget, Description: "resource is required: " + aud + " is an MCP server"}
	}
	return nil
}

// parFailure turns an authz.Parse error into the JSON error of the
// pushed authorization request endpoint (RFC 9126 §2.3).
func parFailure(err error) error {
	var pe *authz.PageError
	var re *authz.RedirectError
	switch {
	case errors.As(err, &pe):
		return oauth.InvalidRequest("%s", pe.Description)
	case errors.As(err, &re):
		return &oauth.Error{Code: re.Code, Status: http.StatusBadRequest, Description: re.Description}
	}
	return oauth.ServerError(err)
}

// requestObjectFailure is the JSON error of a refused request object.
func requestObjectFailure(err error) error {
	var oe *authz.RequestObjectError
	if errors.As(err, &oe) {
		return &oauth.Error{Code: authz.CodeInvalidRequestObject, Status: http.StatusBadRequest, Description: oe.Description, Cause: oe.Cause}
	}
	return oauth.ServerError(err)
}

// resolved is an authorization request after request_uri or request:
// either a request pushed and validated before (req, client), or the
// parameters to validate.
type resolved struct {
	req    *authz.Request
	client *store.Client
	params url.Values
}

// resolveRequest applies request_uri (RFC 9126 §4) and request (RFC
// 9101) at the authorization endpoint, and the server-wide requirement of
// pushed requests. With request_uri, only client_id and request_uri are
// read, and client_id must be the client that pushed it; with request,
// only client_id and the request object's parameters. Refusals go back to
// the client only at a redirect URI registered for it
// (authz.RefuseRequest), else they are pages.
func (s *Server) resolveRequest(ctx context.Context, params url.Values) (resolved, error) {
	hasURI, hasObject := params.Has("request_uri"), params.Has("request")
	// The FAPI 2.0 Security Profile requires pushed requests too
	// (fapi.go), server-wide or for the client.
	required := s.opts.SignIn.RequirePushedAuthorizationRequests || s.opts.FAPI2
	if !hasURI && !hasObject && !required && !s.clientRequiresPAR(ctx, params) {
		return resolved{params: params}, nil
	}
	for name, vs := range params {
		if len(vs) > 1 {
			return resolved{}, &authz.PageError{Title: "Invalid request", Description: fmt.Sprintf("The parameter %q appears more than once.", truncate(name, 40))}
		}
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return resolved{}, &authz.PageError{Title: "Invalid request", Description: "The request does not name a client (client_id)."}
	}
	c, err := s.clients.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return resolved{}, &authz.PageError{Title: "Unknown application", Description: "The application that sent you here is not registered."}
	}
	if err != nil {
		return resolved{}, fmt.Errorf("authz: look up client: %w", err)
	}
	switch {
	case hasURI && hasObject:
		return resolved{}, authz.RefuseRequest(&c, params, oauth.CodeInvalidRequest, "the request has both request and request_uri")
	case hasURI:
		uri := params.Get("request_uri")
		if !strings.HasPrefix(uri, RequestURIPrefix) || len(uri) > maxRequestURI {
			return resolved{}, authz.RefuseRequest(&c, params, authz.CodeRequestURINotSupported, "request_uri is accepted only from the pushed authorization request endpoint")
		}
		req, desc, err := s.pushedRequest(ctx, uri, &c)
		switch {
		case err != nil:
			return resolved{}, err
		case desc != "":
			return resolved{}, authz.RefuseRequest(&c, params, authz.CodeInvalidRequestURI, desc)
		}
		return resolved{req: req, client: &c}, nil
	case required || c.RequirePushedAuthorizationRequests || s.fapi2(&c):
		// Pushed requests are required, server-wide or for the client:
		// neither plain parameters nor a request object will do.
		return resolved{}, authz.RefuseRequest(&c, params, oauth.CodeInvalidRequest, "authorization requests must be pushed first (pushed authorization request endpoint, then request_uri)")
	case !hasObject:
		return resolved{params: params}, nil
	}
	obj, err := s.requestObjects.Verify(ctx, params.Get("request"), &c)
	var oe *authz.RequestObjectError
	if errors.As(err, &oe) {
		return resolved{}, authz.RefuseRequest(&c, params, authz.CodeInvalidRequestObject, oe.Description)
	}
	if err != nil {
		return resolved{}, err
	}
	return resolved{params: obj}, nil
}

// clientRequiresPAR reports whether the client a plain request names
// registered require_pushed_authorization_requests, or is held to the
// FAPI 2.0 Security Profile. A client that cannot
// be read is left to authz.Parse, which refuses it.
func (s *Server) clientRequiresPAR(ctx context.Context, params url.Values) bool {
	ids := params["client_id"]
	if len(ids) != 1 || ids[0] == "" {
		return false
	}
	c, err := s.clients.GetClient(ctx, ids[0])
	return err == nil && (c.RequirePushedAuthorizationRequests || s.fapi2(&c))
}

// pushedRequest spends the request_uri of client c and returns the request
// pushed under it; or why it cannot be used (desc); or a server error.
func (s *Server) pushedRequest(ctx context.Context, uri string, c *store.Client) (req *authz.Request, desc string, err error) {
	const gone = "the request_uri is unknown or expired"
	hash := opaque.Hash(uri)
	rec, err := s.stores.par.GetToken(ctx, hash)
	now := s.now()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, gone, nil
	case err != nil:
		return nil, "", fmt.Errorf("read pushed request: %w", err)
	case rec.Kind != KindPushedRequest:
		return nil, gone, nil
	case rec.ClientID != c.ID:
		return nil, "the request_uri was not issued to this client", nil
	case !now.Before(rec.ExpiresAt):
		return nil, gone, nil
	}
	err = s.stores.par.UseJTI(ctx, c.ID, "request_uri:"+hex.EncodeToString(hash), rec.ExpiresAt)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, "the request_uri was used already", nil
	case err != nil:
		return nil, "", fmt.Errorf("spend request_uri: %w", err)
	}
	var pr pushedRecord
	if err := json.Unmarshal(rec.Extra, &pr); err != nil {
		return nil, "", fmt.Errorf("decode pushed request: %w", err)
	}
	if req, err = s.signin.sealer.Open(pr.Request, now); err != nil {
		return nil, "", fmt.Errorf("open pushed request: %w", err)
	}
	if req.ClientID != c.ID {
		return nil, "the request_uri was not issued to this client", nil
	}
	return req, "", nil
}
