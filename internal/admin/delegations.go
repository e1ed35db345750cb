package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// This file holds the routes of delegation: revoking everything a client
// (an agent) holds, listing and revoking delegations (token exchange
// chains), and reading the audit trail.

// Paths of the delegation routes.
const (
	PathDelegations = "/admin/delegations"
	PathAudit       = "/admin/audit"
)

// AuditByAdmin is the By of the audit events the admin API records.
const AuditByAdmin = "admin"

// MaxAuditPage bounds the limit of GET /admin/audit and GET
// /admin/delegations.
const MaxAuditPage = store.MaxListLimit

// RevokeGrantsResponse is the body of POST /admin/clients/{id}/revoke-grants.
type RevokeGrantsResponse struct {
	// ClientID is the client whose grants were revoked.
	ClientID string `json:"client_id"`
	// TokensRevokedBefore is the instant at or before which every token
	// issued to the client is now inactive.
	TokensRevokedBefore time.Time `json:"tokens_revoked_before"`
}

// DelegationJSON is a delegation in responses.
type DelegationJSON struct {
	ID            string    `json:"id"`
	RootID        string    `json:"root_id"`
	ParentID      string    `json:"parent_id,omitempty"`
	ClientID      string    `json:"client_id"`
	Subject       string    `json:"subject"`
	SubjectIssuer string    `json:"subject_issuer,omitempty"`
	Actors        []string  `json:"actors"`
	Audience      []string  `json:"aud,omitempty"`
	Scope         string    `json:"scope,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	// Active is true while the delegation is neither revoked nor expired.
	Active bool `json:"active"`
}

// DelegationListResponse is the body of GET /admin/delegations.
type DelegationListResponse struct {
	Delegations []DelegationJSON `json:"delegations"`
}

// RevokeDelegationResponse is the body of POST /admin/delegations/{id}/revoke.
type RevokeDelegationResponse struct {
	// DelegationID is the delegation revoked.
	DelegationID string `json:"delegation_id"`
	// Revoked is how many delegations were revoked: it and those below it.
	Revoked int `json:"revoked"`
}

// AuditEventJSON is an audit event in responses.
type AuditEventJSON struct {
	Seq          int64           `json:"seq"`
	Time         time.Time       `json:"time"`
	Type         string          `json:"type"`
	ClientID     string          `json:"client_id,omitempty"`
	Subject      string          `json:"subject,omitempty"`
	Actors       []string        `json:"actors,omitempty"`
	DelegationID string          `json:"delegation_id,omitempty"`
	By           string          `json:"by,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
	// PrevHash and Hash are the event's chain hashes, in hex (empty for
	// events appended before the chain existed).
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// auditFlushTimeout bounds the wait for the node's journaled audit events
// before the trail is listed.
const auditFlushTimeout = 5 * time.Second

// AuditListResponse is the body of GET /admin/audit. Next is the after
// value of the following page (the last seq), or 0 when the page is empty.
type AuditListResponse struct {
	Events []AuditEventJSON `json:"events"`
	Next   int64            `json:"next"`
}

// DelegationToJSON renders d as of now.
func DelegationToJSON(d store.Delegation, now time.Time) DelegationJSON {
	return DelegationJSON{
		ID: d.ID, RootID: d.RootID, ParentID: d.ParentID, ClientID: d.ClientID, Subject: d.Subject,
		SubjectIssuer: d.SubjectIssuer, Actors: nonNil(d.Actors), Audience: d.Audience,
		Scope: oauth.JoinScope(d.Scopes), CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt, RevokedAt: d.RevokedAt,
		Active: d.RevokedAt.IsZero() && now.Before(d.ExpiresAt),
	}
}

// AuditToJSON renders e.
func AuditToJSON(e store.AuditEvent) AuditEventJSON {
	j := AuditEventJSON{
		Seq: e.Seq, Time: e.Time, Type: e.Type, ClientID: e.ClientID, Subject: e.Subject, Actors: e.Actors,
		DelegationID: e.DelegationID, By: e.By, RequestID: e.RequestID, Details: e.Details,
	}
	if len(j.Details) == 0 {
		j.Details = nil
	}
	if e.Hash != nil {
		j.PrevHash, j.Hash = hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash)
	}
	return j
}

func (h *handler) checkDelegations() error {
	if h.delegations == nil || h.audit == nil {
		return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "delegation management is not available: the server's store keeps no delegations or audit trail")
	}
	return nil
}

// audited runs change, which makes exactly one store call with the
// context it is given, with the events committed in that call's
// transaction (store.RunAuditedFunc); build gives the events once change's
// own code has run. Without an audit store the audit is off: change runs
// alone. When the change was made but its events could not be recorded
// (appended on their own after a no-op), the answer is a 500 that says
// what was done all the same.
func (h *handler) audited(ctx context.Context, done string, build func() ([]store.AuditEvent, error), change func(ctx context.Context) error) error {
	if h.audit == nil {
		return change(ctx)
	}
	err := store.RunAuditedFunc(ctx, store.AppendAuditsFunc(h.audit), build, change)
	if errors.Is(err, store.ErrAuditNotRecorded) {
		h.log.ErrorContext(ctx, "admin: audit event not recorded", "error", err)
		return fmt.Errorf("%w: %w", errAuditNotRecorded,
			apiErrorf(http.StatusInternalServerError, CodeServerError, "%s, but the audit event could not be recorded", done))
	}
	return err
}

// errAuditNotRecorded marks audited's error when the change was made (the
// caller still invalidates its caches) but not audited.
var errAuditNotRecorded = errors.New("admin: change not audited")

// events is a build function of audited for fixed events.
func events(e ...store.AuditEvent) func() ([]store.AuditEvent, error) {
	return func() ([]store.AuditEvent, error) { return e, nil }
}

// clientEvent is the audit event of a change of client c made through the
// admin API (By "admin"), with details; an agent's owner is its subject.
func (h *handler) clientEvent(typ string, c *store.Client, details map[string]any) store.AuditEvent {
	e := store.AuditEvent{Time: h.clock(), Type: typ, ClientID: c.ID, By: AuditByAdmin}
	if c.Agent != nil {
		if details == nil {
			details = map[string]any{}
		}
		details["agent_owner"] = c.Agent.Owner
		if _, id, ok := splitOwner(c.Agent.Owner); ok {
			e.Subject = id
		}
	}
	if details != nil {
		e.Details, _ = json.Marshal(details)
	}
	return e
}

// revokeGrants serves POST /admin/clients/{id}/revoke-grants: everything
// the client holds (refresh tokens, delegations, its delegations as an
// actor, and every token issued to it until now) is revoked at once, and
// an agent_revoked audit event recorded.
func (h *handler) revokeGrants(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.clientTarget(r)
	if err != nil {
		return err
	}
	if err := h.checkDelegations(); err != nil {
		return err
	}
	if err := h.emptyBody(w, r); err != nil {
		return err
	}
	c, err := h.store.GetClient(ctx, id)
	if err != nil {
		return h.storeError(ctx, "get client", id, err)
	}
	now := h.clock()
	// The agent_revoked event is committed with the revocation.
	err = h.audited(ctx, "the grants were revoked", events(AgentRevokedEvent(&c, AuditByAdmin, now)),
		func(ctx context.Context) error { return h.delegations.RevokeClientGrants(ctx, id, now) })
	if errors.Is(err, errAuditNotRecorded) {
		h.invalidate(id)
	}
	if err != nil {
		return h.storeError(ctx, "revoke client grants", id, err)
	}
	h.invalidate(id)
	h.log.InfoContext(ctx, "admin: client grants revoked", "client_id", id)
	writeJSON(w, http.StatusOK, RevokeGrantsResponse{ClientID: id, TokensRevokedBefore: now})
	return nil
}

// AgentRevokedEvent is the audit event of revoking everything client c
// holds, by whom ("admin", "user:<id>", "client:<id>"), at now.
func AgentRevokedEvent(c *store.Client, by string, now time.Time) store.AuditEvent {
	details := map[string]any{"tokens_revoked_before": now}
	subject := ""
	if c.Agent != nil {
		details["owner"] = c.Agent.Owner
		// The agent acts for its owner: the user, or the service.
		if _, id, ok := splitOwner(c.Agent.Owner); ok {
			subject = id
		}
	}
	b, _ := json.Marshal(details)
	return store.AuditEvent{Time: now, Type: store.AuditAgentRevoked, ClientID: c.ID, Subject: subject, By: by, Details: b}
}

// DelegationRevokedEvent is the audit event of revoking delegation d (and
// every delegation below it) by whom, at now. It is committed with the
// revocation, so it does not say how many were revoked (the store counts
// them in that transaction).
func DelegationRevokedEvent(d store.Delegation, by string, now time.Time) store.AuditEvent {
	b, _ := json.Marshal(map[string]any{"root_id": d.RootID})
	return store.AuditEvent{
		Time: now, Type: store.AuditDelegationRevoked, ClientID: d.ClientID, Subject: d.Subject,
		Actors: d.Actors, DelegationID: d.ID, By: by, Details: b,
	}
}

// listDelegations serves GET /admin/delegations?subject=&client_id=&actor=&active=&limit=.
func (h *handler) listDelegations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkDelegations(); err != nil {
		return err
	}
	q, err := parseQuery(r, "subject", "client_id", "actor", "active", "limit")
	if err != nil {
		return err
	}
	now := h.clock()
	dq := store.DelegationQuery{Subject: q.Get("subject"), ClientID: q.Get("client_id"), Actor: q.Get("actor")}
	for name, v := range map[string]string{"subject": dq.Subject, "client_id": dq.ClientID, "actor": dq.Actor} {
		if v != "" && store.CheckID(name, v) != nil {
			return badRequest("%s must be at most %d bytes of UTF-8 text", name, store.MaxIDLength)
		}
	}
	switch q.Get("active") {
	case "", "false":
	case "true":
		dq.ActiveAt = now
	default:
		return badRequest("active must be true or false")
	}
	if dq.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return err
	}
	list, err := h.delegations.ListDelegations(ctx, dq)
	if err != nil {
		return h.storeFailure(ctx, "list delegations", "subject", dq.Subject, err)
	}
	resp := DelegationListResponse{Delegations: make([]DelegationJSON, 0, len(list))}
	for _, d := range list {
		resp.Delegations = append(resp.Delegations, DelegationToJSON(d, now))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// revokeDelegation serves POST /admin/delegations/{id}/revoke: the
// delegation and every one below it are revoked, and a delegation_revoked
// audit event recorded.
func (h *handler) revokeDelegation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkDelegations(); err != nil {
		return err
	}
	id := r.PathValue("id")
	notFound := apiErrorf(http.StatusNotFound, CodeNotFound, "no delegation with id %q", clip(id, 128))
	if store.CheckID("id", id) != nil {
		return notFound
	}
	if err := h.emptyBody(w, r); err != nil {
		return err
	}
	d, err := h.delegations.GetDelegation(ctx, id)
	if err == nil {
		now := h.clock()
		var n int
		// The delegation_revoked event is committed with the revocation.
		err = h.audited(ctx, "the delegation was revoked", events(DelegationRevokedEvent(d, AuditByAdmin, now)),
			func(ctx context.Context) error {
				var err error
				n, err = h.delegations.RevokeDelegation(ctx, id, now)
				return err
			})
		if errors.Is(err, errAuditNotRecorded) {
			return err
		}
		if err == nil {
			h.log.InfoContext(ctx, "admin: delegation revoked", "delegation_id", id, "revoked", n)
			writeJSON(w, http.StatusOK, RevokeDelegationResponse{DelegationID: id, Revoked: n})
			return nil
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	return h.storeFailure(ctx, "revoke delegation", "delegation_id", id, err)
}

// listAudit serves
// GET /admin/audit?after=&type=&client_id=&subject=&since=&until=&limit=,
// oldest first; since and until are RFC 3339 times.
func (h *handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkDelegations(); err != nil {
		return err
	}
	q, err := parseQuery(r, "after", "type", "client_id", "subject", "since", "until", "limit")
	if err != nil {
		return err
	}
	aq := store.AuditQuery{Type: q.Get("type"), ClientID: q.Get("client_id"), Subject: q.Get("subject")}
	for name, v := range map[string]string{"type": aq.Type, "client_id": aq.ClientID, "subject": aq.Subject} {
		if v != "" && store.CheckID(name, v) != nil {
			return badRequest("%s must be at most %d bytes of UTF-8 text", name, store.MaxIDLength)
		}
	}
	if v := q.Get("after"); v != "" {
		if aq.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || aq.AfterSeq < 0 {
			return badRequest("after must be a sequence number (the next value of the previous page)")
		}
	}
	for name, dst := range map[string]*time.Time{"since": &aq.Since, "until": &aq.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil || store.CheckTime(name, t) != nil {
				return badRequest("%s must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", name)
			}
			*dst = t
		}
	}
	if aq.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return err
	}
	if h.auditFlush != nil {
		fctx, cancel := context.WithTimeout(ctx, auditFlushTimeout)
		err := h.auditFlush(fctx)
		cancel()
		if err != nil {
			h.log.WarnContext(ctx, "admin: audit journal not flushed", "error", err)
			return apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable,
				"the newest audit events are not in the database yet (is it reachable?); retry in a moment")
		}
	}
	events, err := h.audit.ListAudit(ctx, aq)
	if err != nil {
		return h.storeFailure(ctx, "list audit", "type", aq.Type, err)
	}
	resp := AuditListResponse{Events: make([]AuditEventJSON, 0, len(events)), Next: aq.AfterSeq}
	for _, e := range events {
		resp.Events = append(resp.Events, AuditToJSON(e))
		resp.Next = e.Seq
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// parseQuery parses a query string whose parameters are among allowed,
// each given once.
func parseQuery(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed")
	}
	for name, vs := range q {
		if len(vs) != 1 {
			return nil, badRequest("query parameter %q is repeated", clip(name, 32))
		}
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			return nil, badRequest("unknown query parameter %q; use %v", clip(name, 32), allowed)
		}
	}
	return q, nil
}

// parseLimit parses a limit parameter: empty means the default page size.
func parseLimit(v string) (int, error) {
	if v == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxAuditPage {
		return 0, badRequest("limit must be a whole number from 1 to %d", MaxAuditPage)
	}
	return n, nil
}
