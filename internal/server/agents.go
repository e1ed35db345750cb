package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
)

// This file holds the revocation of agents and delegations by their
// owners: a user on the account page, a service (the owning client) at
// PathAgentRevoke. Each revocation is an audit event whose By names the
// owner ("user:<id>", "client:<id>").

// Paths of owner revocation.
const (
	// PathAgentRevoke is where a service revokes an agent it owns:
	// POST with client authentication and agent_id.
	PathAgentRevoke = "/oauth2/agents/revoke"
	// PathAccountAgentRevoke and PathAccountDelegationRevoke are the
	// account page's forms.
	PathAccountAgentRevoke      = "/account/agents/revoke"
	PathAccountDelegationRevoke = "/account/delegations/revoke"
)

// accountRevokedQuery is the query string of the redirect after an agent
// or delegation was revoked on the account page.
const accountRevokedQuery = "revoked=1"

// Bounds of the account page's agent and delegation lists.
const (
	// maxAgentScan bounds the clients read to find the agents a user owns.
	maxAgentScan = 10000
	// maxAccountDelegations bounds the delegations listed.
	maxAccountDelegations = 100
)

// agentStore is what owner revocation needs: clients (to find agents and
// their owners), delegations, and the audit trail. store.Store implements
// it once it keeps delegations.
type agentStore interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
	ListClients(ctx context.Context, o store.ListOptions) ([]store.Client, error)
	GetDelegation(ctx context.Context, id string) (store.Delegation, error)
	ListDelegations(ctx context.Context, q store.DelegationQuery) ([]store.Delegation, error)
	RevokeDelegation(ctx context.Context, id string, at time.Time) (int, error)
	RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error
	AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error)
}

// AgentRevokeResponse is the answer of PathAgentRevoke.
type AgentRevokeResponse struct {
	// AgentID is the agent revoked.
	AgentID string `json:"agent_id"`
	// TokensRevokedBefore: every token issued to the agent at or before
	// it is inactive.
	TokensRevokedBefore time.Time `json:"tokens_revoked_before"`
}

// revokeAgent revokes everything agent c holds and records the audit
// event, by whom.
func (s *Server) revokeAgent(ctx context.Context, c *store.Client, by string) (time.Time, error) {
	now := s.now().UTC().Truncate(store.TimePrecision)
	e := admin.AgentRevokedEvent(c, by, now)
	e.RequestID = RequestID(ctx)
	// The event is committed with the revocation.
	err := store.RunAudited(ctx, store.AppendAuditsFunc(s.stores.agents), []store.AuditEvent{e},
		func(ctx context.Context) error { return s.stores.agents.RevokeClientGrants(ctx, c.ID, now) })
	if err != nil {
		return now, fmt.Errorf("revoke agent: %w", err)
	}
	s.clients.Invalidate(c.ID)
	s.log.InfoContext(ctx, "agent revoked by its owner", "client_id", c.ID, "by", by)
	return now, nil
}

// handleAgentRevoke serves POST PathAgentRevoke: a confidential client
// revokes everything an agent it owns (Agent.Owner "client:<its id>")
// holds. Form: agent_id. Answers 200 with AgentRevokeResponse; an agent
// that does not exist or that the caller does not own is the same 400
// invalid_request.
func (s *Server) handleAgentRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := oauth.ParseForm(w, r, s.opts.MaxRequestBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	caller, err := s.auth.Authenticate(ctx, r, form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if caller.Method == oauth.AuthNone {
		s.fail(w, r, oauth.InvalidClient("revoking an agent requires an authenticated client"))
		return
	}
	if s.stores.agents == nil {
		s.fail(w, r, oauth.ServerError(errors.New("the store keeps no delegations")))
		return
	}
	id := form.Get("agent_id")
	if id == "" {
		s.fail(w, r, oauth.InvalidRequest("agent_id is required"))
		return
	}
	notOwned := oauth.InvalidRequest("agent_id names no agent this client owns")
	if store.CheckID("agent_id", id) != nil {
		s.fail(w, r, notOwned)
		return
	}
	c, err := s.stores.agents.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, notOwned)
		return
	case err != nil:
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	by := store.OwnerClient + caller.Client.ID
	if c.Agent == nil || c.Agent.Owner != by {
		s.fail(w, r, notOwned)
		return
	}
	at, err := s.revokeAgent(ctx, &c, by)
	if err != nil {
		s.fail(w, r, oauth.ServerError(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, AgentRevokeResponse{AgentID: id, TokensRevokedBefore: at})
}

// accountAgents returns the agents user userID owns and the active
// delegations that act for them (subject userID at this issuer), for the
// account page. Nothing when the store keeps no delegations.
func (s *Server) accountAgents(ctx context.Context, userID string) ([]ui.AgentAccess, []ui.DelegationAccess, error) {
	if s.stores.agents == nil {
		return nil, nil, nil
	}
	owner := store.OwnerUser + userID
	var agents []ui.AgentAccess
	names := map[string]string{}
	after := ""
	for scanned := 0; scanned < maxAgentScan; {
		page, err := s.stores.agents.ListClients(ctx, store.ListOptions{Limit: store.MaxListLimit, After: after})
		if err != nil {
			return nil, nil, fmt.Errorf("account: list agents: %w", err)
		}
		for _, c := range page {
			if c.Agent != nil && c.Agent.Owner == owner {
				agents = append(agents, ui.AgentAccess{ClientID: c.ID, ClientName: c.Name, MaxTokenTTL: c.Agent.MaxTokenTTL, RequireDPoP: c.Agent.RequireDPoP})
			}
		}
		if len(page) < store.MaxListLimit {
			break
		}
		scanned += len(page)
		after = page[len(page)-1].ID
	}
	list, err := s.stores.agents.ListDelegations(ctx, store.DelegationQuery{Subject: userID, ActiveAt: s.now(), Limit: maxAccountDelegations})
	if err != nil {
		return nil, nil, fmt.Errorf("account: list delegations: %w", err)
	}
	var dels []ui.DelegationAccess
	for _, d := range list {
		if !s.ownSubject(d) {
			continue
		}
		name, ok := names[d.ClientID]
		if !ok {
			if c, err := s.clients.GetClient(ctx, d.ClientID); err == nil {
				name = c.Name
			}
			names[d.ClientID] = name
		}
		dels = append(dels, ui.DelegationAccess{
			ID: d.ID, ClientID: d.ClientID, ClientName: name, Actors: d.Actors,
			Scopes: d.Scopes, Audience: d.Audience, ExpiresAt: d.ExpiresAt,
		})
	}
	return agents, dels, nil
}

// ownSubject reports whether the subject of d is one of this issuer's
// users: an external issuer's sub is another principal, whatever its value.
func (s *Server) ownSubject(d store.Delegation) bool {
	return d.SubjectIssuer == "" || d.SubjectIssuer == s.opts.Issuer
}

// accountForm reads a POST of the account page: method, body, CSRF token
// and session. It returns the signed-in user and the single value of
// field, or writes the error page and reports false.
func (s *Server) accountForm(w http.ResponseWriter, r *http.Request, field, what string) (store.User, string, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use the form on your account page.")
		return store.User{}, "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return store.User{}, "", false
	}
	if err := s.signin.csrf.Check(r); err != nil {
		s.pageError(w, r, http.StatusForbidden, "Request refused",
			"The form expired or came from another site. Open your account page again and retry.")
		return store.User{}, "", false
	}
	u, ok := s.accountUser(w, r)
	if !ok {
		return store.User{}, "", false
	}
	vs := r.PostForm[field]
	if len(vs) != 1 || store.CheckID(field, vs[0]) != nil {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "Choose the "+what+" to revoke.")
		return store.User{}, "", false
	}
	if s.stores.agents == nil {
		s.accountServerError(w, r, errors.New("the store keeps no delegations"))
		return store.User{}, "", false
	}
	return u, vs[0], true
}

// handleAccountAgentRevoke serves POST PathAccountAgentRevoke: the
// signed-in user revokes everything an agent they own holds. An agent the
// user does not own (unknown, not an agent, another owner's) gets the same
// 404 page and changes nothing.
func (s *Server) handleAccountAgentRevoke(w http.ResponseWriter, r *http.Request) {
	u, id, ok := s.accountForm(w, r, ui.FieldClientID, "agent")
	if !ok {
		return
	}
	ctx := r.Context()
	by := store.OwnerUser + u.ID
	c, err := s.stores.agents.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (c.Agent == nil || c.Agent.Owner != by)):
		s.pageError(w, r, http.StatusNotFound, "Agent not found",
			"You own no agent by that name. Open your account page again to see your agents.")
		return
	case err != nil:
		s.accountServerError(w, r, err)
		return
	}
	if _, err := s.revokeAgent(ctx, &c, by); err != nil {
		s.accountServerError(w, r, err)
		return
	}
	ui.SetPageHeaders(w.Header())
	http.Redirect(w, r, PathAccount+"?"+accountRevokedQuery, http.StatusSeeOther)
}

// handleAccountDelegationRevoke serves POST PathAccountDelegationRevoke:
// the signed-in user revokes a delegation that acts for them (and every
// delegation below it). One that does not act for the user gets the same
// 404 page and changes nothing.
func (s *Server) handleAccountDelegationRevoke(w http.ResponseWriter, r *http.Request) {
	u, id, ok := s.accountForm(w, r, "delegation_id", "delegation")
	if !ok {
		return
	}
	ctx := r.Context()
	d, err := s.stores.agents.GetDelegation(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (d.Subject != u.ID || !s.ownSubject(d))):
		s.pageError(w, r, http.StatusNotFound, "Not found",
			"Nothing by that name acts for you. Open your account page again to see what does.")
		return
	case err != nil:
		s.accountServerError(w, r, err)
		return
	}
	now := s.now().UTC().Truncate(store.TimePrecision)
	by := store.OwnerUser + u.ID
	// The event is committed with the revocation (or on its own when the
	// delegation was revoked already).
	e := admin.DelegationRevokedEvent(d, by, now)
	e.RequestID = RequestID(ctx)
	var n int
	err = store.RunAudited(ctx, store.AppendAuditsFunc(s.stores.agents), []store.AuditEvent{e}, func(ctx context.Context) error {
		var err error
		n, err = s.stores.agents.RevokeDelegation(ctx, id, now)
		return ignoreNotFound(err)
	})
	if err != nil {
		s.accountServerError(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "account: delegation revoked by the user", "user_id", u.ID, "delegation_id", id, "revoked", n)
	ui.SetPageHeaders(w.Header())
	http.Redirect(w, r, PathAccount+"?"+accountRevokedQuery, http.StatusSeeOther)
}
