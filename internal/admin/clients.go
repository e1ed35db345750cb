package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// Page sizes of GET /admin/clients.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// ListResponse is the body of GET /admin/clients. Next, when not empty, is
// the after value of the following page.
type ListResponse struct {
	// Clients are the clients of the page, each a ClientResponse without
	// secret.
	Clients []json.RawMessage `json:"clients"`
	// Next is the after value of the next page, or "" on the last page.
	Next string `json:"next"`
}

// clock returns the current time at the precision the store keeps.
func (h *handler) clock() time.Time {
	return h.now().UTC().Truncate(store.TimePrecision)
}

// invalidate tells the cache that id changed.
func (h *handler) invalidate(id string) {
	if h.clients != nil {
		h.clients.Invalidate(id)
	}
}

// issueSecret generates a secret and returns it with its keyed hash.
func (h *handler) issueSecret() (string, []byte, error) {
	if h.hasher == nil {
		return "", nil, apiErrorf(http.StatusServiceUnavailable, CodeServerError, "the server cannot issue client secrets: it has no secret hasher configured")
	}
	secret, err := oauth.GenerateSecret()
	if err != nil {
		return "", nil, err
	}
	return secret, h.hasher.Hash(secret), nil
}

// checkStore fails when the handler has no client store.
func (h *handler) checkStore() error {
	if h.store == nil {
		return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "client management is not available: the server has no client store")
	}
	return nil
}

// clientTarget checks that client management is available and returns
// the {id} of the route, or a 404 for a value that no client can have.
func (h *handler) clientTarget(r *http.Request) (string, error) {
	if err := h.checkStore(); err != nil {
		return "", err
	}
	id := r.PathValue("id")
	if store.CheckID("client_id", id) != nil {
		return "", noClient(id)
	}
	return id, nil
}

func noClient(id string) *apiError {
	return apiErrorf(http.StatusNotFound, CodeNotFound, "no client with client_id %q", clip(id, 128))
}

// createClient serves POST /admin/clients.
func (h *handler) createClient(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkStore(); err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	fields, err := decodeFields(body)
	if err != nil {
		return err
	}
	now := h.clock()
	c := store.Client{CreatedAt: now, UpdatedAt: now}
	if err := applyFields(&c, fields); err != nil {
		return err
	}
	defaults(&c, fields)
	h.fapiDefaults(&c, fields)
	if _, ok := fields["grant_types"]; !ok && len(c.RedirectURIs) == 0 {
		return badRedirect("grant_types defaults to authorization_code, which needs at least one redirect_uri; services that get tokens for themselves register grant_types [\"client_credentials\"]")
	}
	generated := true
	if raw, ok := fields["client_id"]; ok && !isNull(raw) {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return badMetadata("client_id must be a string")
		}
		c.ID, generated = id, false
	} else if c.ID, err = randomID("client_id"); err != nil {
		return err
	}
	if err := h.judgeClient(&c, true); err != nil {
		return err
	}
	if err := h.checkOwnerExists(ctx, c.Agent); err != nil {
		return err
	}
	var secret string
	if hasSecret(c.TokenEndpointAuthMethod) {
		if secret, c.SecretHash, err = h.issueSecret(); err != nil {
			return err
		}
		c.SecretRotatedAt = now
	}
	// A generated identifier that collides (2^-128), with a client or a
	// user, is simply drawn again.
	for attempt := 1; ; attempt++ {
		isUser, uerr := h.isUserID(ctx, c.ID)
		switch {
		case uerr != nil:
			return uerr
		case isUser && !generated:
			return clientIDIsUser(c.ID)
		case isUser:
			err = store.ErrAlreadyExists
		default:
			// The client_registered event is committed with the record.
			err = h.audited(ctx, "the client was registered",
				events(h.clientEvent(store.AuditClientRegistered, &c, map[string]any{"grant_types": c.GrantTypes})),
				func(ctx context.Context) error { return h.store.CreateClient(ctx, c) })
		}
		if err == nil {
			break
		}
		if errors.Is(err, errAuditNotRecorded) {
			h.invalidate(c.ID)
		}
		if !generated || !errors.Is(err, store.ErrAlreadyExists) || attempt == 3 {
			return h.storeError(ctx, "create client", c.ID, err)
		}
		if c.ID, err = randomID("client_id"); err != nil {
			return err
		}
	}
	h.invalidate(c.ID) // a lookup may have cached "not found"
	h.log.InfoContext(ctx, "admin: client registered", "client_id", c.ID,
		"token_endpoint_auth_method", c.TokenEndpointAuthMethod, "grant_types", c.GrantTypes)
	w.Header().Set("Location", PathClients+"/"+url.PathEscape(c.ID))
	writeJSON(w, http.StatusCreated, toJSON(c, secret))
	return nil
}

// listClients serves GET /admin/clients?limit=&after=.
func (h *handler) listClients(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkStore(); err != nil {
		return err
	}
	_, p, err := parseListQuery(r, "a client_id")
	if err != nil {
		return err
	}
	list, next, err := fetchPage(ctx, p, h.store.ListClients, func(c store.Client) string { return c.ID })
	if err != nil {
		return h.storeError(ctx, "list clients", "", err)
	}
	resp := ListResponse{Clients: make([]json.RawMessage, 0, len(list)), Next: next}
	for _, c := range list {
		b, err := json.Marshal(toJSON(c, ""))
		if err != nil {
			return fmt.Errorf("admin: encode client: %w", err)
		}
		resp.Clients = append(resp.Clients, b)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getClient serves GET /admin/clients/{id}.
func (h *handler) getClient(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.clientTarget(r)
	if err != nil {
		return err
	}
	c, err := h.store.GetClient(ctx, id)
	if err != nil {
		return h.storeError(ctx, "get client", id, err)
	}
	writeJSON(w, http.StatusOK, toJSON(c, ""))
	return nil
}

// patchClient serves PATCH /admin/clients/{id}: the members present
// replace the stored values (null resets one to its default), and the
// result is validated as a whole, all in one store transaction.
func (h *handler) patchClient(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.clientTarget(r)
	if err != nil {
		return err
	}
	fields, scratch, err := readPatch(h, w, r, id, mergePatch[store.Client]{
		bad:     badMetadata,
		decode:  decodeFields,
		idField: "client_id",
		idFixed: "client_id cannot change; register a new client instead",
		apply:   applyFields,
	})
	if err != nil {
		return err
	}
	// An owner the patch names must exist; one it leaves alone was checked
	// when it was set.
	if err := h.checkOwnerExists(ctx, scratch.Agent); err != nil {
		return err
	}
	now := h.clock()
	var secret string
	// The client_updated event is committed with the update; it names
	// what the update function computed.
	var updated store.Client
	build := func() ([]store.AuditEvent, error) {
		return []store.AuditEvent{h.clientEvent(store.AuditClientUpdated, &updated,
			map[string]any{"fields": changedFields(fields), "secret_issued": secret != ""})}, nil
	}
	err = h.audited(ctx, "the client was updated", build, func(ctx context.Context) error {
		stored, err := h.store.UpdateClient(ctx, id, func(old store.Client) (store.Client, error) {
			c := old
			secret = ""
			if err := applyFields(&c, fields); err != nil {
				return store.Client{}, err
			}
			_, algSent := fields["id_token_signed_response_alg"]
			if err := h.judgeClient(&c, algSent); err != nil {
				return store.Client{}, err
			}
			switch {
			case !hasSecret(c.TokenEndpointAuthMethod):
				c.SecretHash, c.SecretRotatedAt = nil, time.Time{}
			case len(old.SecretHash) == 0 || !hasSecret(old.TokenEndpointAuthMethod):
				// Switching to a secret method needs a secret: issue one, shown
				// once in this response.
				s, hash, err := h.issueSecret()
				if err != nil {
					return store.Client{}, err
				}
				secret, c.SecretHash, c.SecretRotatedAt = s, hash, now
			}
			c.UpdatedAt = now
			updated = c // for build, before the commit
			return c, nil
		})
		if err == nil {
			updated = stored
		}
		return err
	})
	if errors.Is(err, errAuditNotRecorded) {
		h.invalidate(id)
	}
	if err != nil {
		return h.storeError(ctx, "update client", id, err)
	}
	h.invalidate(id)
	h.log.InfoContext(ctx, "admin: client updated", "client_id", id, "fields", changedFields(fields), "secret_issued", secret != "")
	writeJSON(w, http.StatusOK, toJSON(updated, secret))
	return nil
}

// deleteClient serves DELETE /admin/clients/{id}.
func (h *handler) deleteClient(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.clientTarget(r)
	if err != nil {
		return err
	}
	// The client_deleted event is committed with the deletion.
	err = h.audited(ctx, "the client was deleted", events(h.clientEvent(store.AuditClientDeleted, &store.Client{ID: id}, nil)),
		func(ctx context.Context) error { return h.store.DeleteClient(ctx, id) })
	if errors.Is(err, errAuditNotRecorded) {
		h.invalidate(id)
	}
	if err != nil {
		return h.storeError(ctx, "delete client", id, err)
	}
	h.invalidate(id)
	h.log.InfoContext(ctx, "admin: client deleted", "client_id", id)
	writeNoContent(w)
	return nil
}

// rotateSecret serves POST /admin/clients/{id}/rotate-secret: a new secret
// replaces the old one at once and is returned in this response only.
func (h *handler) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.clientTarget(r)
	if err != nil {
		return err
	}
	if err := h.emptyBody(w, r); err != nil {
		return err
	}
	secret, hash, err := h.issueSecret()
	if err != nil {
		return err
	}
	now := h.clock()
	updated, err := h.store.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		if !hasSecret(c.TokenEndpointAuthMethod) {
			return store.Client{}, badRequest("client %q uses token_endpoint_auth_method %s and has no secret; only client_secret_basic and client_secret_post clients do", clip(id, 128), c.TokenEndpointAuthMethod)
		}
		c.SecretHash, c.SecretRotatedAt, c.UpdatedAt = hash, now, now
		return c, nil
	})
	if err != nil {
		return h.storeError(ctx, "rotate client secret", id, err)
	}
	h.invalidate(id)
	h.log.InfoContext(ctx, "admin: client secret rotated", "client_id", id)
	writeJSON(w, http.StatusOK, toJSON(updated, secret))
	return nil
}

// emptyBody accepts a request without a body, or with an empty JSON object.
func (h *handler) emptyBody(w http.ResponseWriter, r *http.Request) error {
	body, err := h.readBody(w, r)
	if err != nil || body == nil {
		return err
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || len(m) != 0 {
		return badRequest("this request takes no body (or an empty JSON object)")
	}
	return nil
}
