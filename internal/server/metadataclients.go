package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
)

// ClientMetadataOptions turn on Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document): a client_id that is an
// https URL, unknown to the store or known only from its document, is
// resolved by fetching the document and kept as a client registration with
// Origin store.OriginMetadataDocument, so that codes, refresh tokens and
// consents can refer to it. A client an administrator registered under the
// same id wins.
type ClientMetadataOptions struct {
	// Resolver fetches and caches the documents (with its SSRF guards).
	Resolver *cimd.Resolver
	// Scopes are the most such a client may ask for: the document's scope
	// is narrowed to them, and a document without scope gets them all.
	Scopes []string
	// Audiences are the resources (RFC 8707) such a client may ask tokens
	// for; empty means the server's default audience only.
	Audiences []string
}

// MaxNewMetadataClients bounds how many metadata document clients one
// node registers per NewMetadataClientsWindow: each new client_id URL that
// resolves becomes a row of the client table, and anyone can publish
// documents at as many URLs as they like. Clients already registered are
// not affected when the bound is reached.
const (
	MaxNewMetadataClients    = 1000
	NewMetadataClientsWindow = time.Hour
)

// errTooManyNewClients refuses a new metadata document client beyond the
// bound.
var errTooManyNewClients = errors.New("server: too many new metadata document clients; try again later")

// clientWriter is what the client cache needs to keep metadata document
// clients in the store.
type clientWriter interface {
	CreateClient(ctx context.Context, c store.Client) error
	UpdateClient(ctx context.Context, id string, fn func(old store.Client) (store.Client, error)) (store.Client, error)
}

// metadataClients turns resolved documents into stored registrations.
type metadataClients struct {
	opts  ClientMetadataOptions
	store clientWriter
	// audit, when set, records each client created or changed from its
	// document.
	audit store.AuditStore
	now   func() time.Time
	log   *slog.Logger

	// created counts the clients created in the window that started at
	// windowStart.
	mu          sync.Mutex
	windowStart time.Time
	created     int
}

// allowCreate counts one new client and reports whether it is within
// MaxNewMetadataClients.
func (m *metadataClients) allowCreate(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.windowStart) >= NewMetadataClientsWindow || now.Before(m.windowStart) {
		m.windowStart, m.created = now, 0
	}
	if m.created >= MaxNewMetadataClients {
		return false
	}
	m.created++
	return true
}

// errAdminRegistered aborts an update of a metadata document client that
// an administrator registered in the meantime.
var errAdminRegistered = errors.New("server: the client was registered by other means")

// resolve returns the registration of the metadata document client id:
// stored (as found, exists) when it matches the current document, else
// created or updated. A document that cannot be fetched or is refused is
// an error wrapping store.ErrNotFound (the client is unknown) and the cause.
func (m *metadataClients) resolve(ctx context.Context, id string, stored store.Client, exists bool) (store.Client, error) {
	doc, err := m.opts.Resolver.Resolve(ctx, id)
	if err != nil {
		m.log.InfoContext(ctx, "client metadata document refused", "client_id", truncate(id, 200), "error", err)
		return store.Client{}, fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	now := m.now().UTC().Truncate(store.TimePrecision)
	want := m.client(doc, now)
	if exists && sameMetadata(&stored, &want) {
		return stored, nil
	}
	if !exists {
		if !m.allowCreate(now) {
			m.log.WarnContext(ctx, "new metadata document client refused: too many new ones this hour", "client_id", truncate(id, 200), "max", MaxNewMetadataClients)
			return store.Client{}, fmt.Errorf("%w: %w", store.ErrNotFound, errTooManyNewClients)
		}
		// The client_registered event is committed with the record.
		err := m.audited(ctx, store.AuditClientRegistered, &want,
			func(ctx context.Context) error { return m.store.CreateClient(ctx, want) })
		if err == nil {
			m.log.InfoContext(ctx, "client registered from its metadata document", "client_id", truncate(id, 200))
			return want, nil
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			return store.Client{}, fmt.Errorf("server: store metadata document client: %w", err)
		}
		// Another request (or node) stored it first: update that.
	}
	// The client_updated event is committed with the update.
	var updated store.Client
	err = m.audited(ctx, store.AuditClientUpdated, &updated, func(ctx context.Context) error {
		var err error
		updated, err = m.store.UpdateClient(ctx, id, func(old store.Client) (store.Client, error) {
			if old.Origin != store.OriginMetadataDocument {
				return store.Client{}, errAdminRegistered
			}
			c := want
			c.CreatedAt = old.CreatedAt
			c.TokensRevokedBefore = old.TokensRevokedBefore
			// Policies an administrator attached (agent, token exchange) stay.
			c.Agent, c.Exchange = old.Agent, old.Exchange
			updated = c // for the event, before the commit
			return c, nil
		})
		return err
	})
	if errors.Is(err, errAdminRegistered) {
		// The other registration wins: the next lookup reads it.
		return store.Client{}, fmt.Errorf("server: client %q changed while its document was resolved: %w", truncate(id, 200), store.ErrConflict)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("server: update metadata document client: %w", err)
	}
	m.log.InfoContext(ctx, "client metadata document changed", "client_id", truncate(id, 200))
	return updated, nil
}

// audited runs change, which makes exactly one store call with the
// context it is given, with the audit event of type typ for the client *c
// committed in that call's transaction (store.RunAuditedFunc: built once
// change's own code has run). When the change was made but its event,
// appended on its own after a no-op, could not be, the failure is logged.
// Without an audit store change runs alone.
func (m *metadataClients) audited(ctx context.Context, typ string, c *store.Client, change func(ctx context.Context) error) error {
	if m.audit == nil {
		return change(ctx)
	}
	build := func() ([]store.AuditEvent, error) {
		details, _ := json.Marshal(map[string]any{
			"origin":                     c.Origin,
			"client_name":                c.Name,
			"redirect_uris":              c.RedirectURIs,
			"grant_types":                c.GrantTypes,
			"token_endpoint_auth_method": c.TokenEndpointAuthMethod,
			"scope":                      strings.Join(c.Scopes, " "),
		})
		return []store.AuditEvent{{Time: m.now().UTC(), Type: typ, ClientID: c.ID, By: "metadata_document", RequestID: RequestID(ctx), Details: details}}, nil
	}
	err := store.RunAuditedFunc(ctx, store.AppendAuditsFunc(m.audit), build, change)
	if errors.Is(err, store.ErrAuditNotRecorded) {
		m.log.ErrorContext(ctx, "audit event not stored", "type", typ, "client_id", truncate(c.ID, 200), "error", err)
		return nil
	}
	return err
}

// client is the registration a document gives, under the server's policy:
// never first-party, the browser flows only, scopes and audiences bounded
// by the options, the server's token defaults.
func (m *metadataClients) client(d *cimd.Document, now time.Time) store.Client {
	scopes := m.opts.Scopes
	if d.Scopes != nil {
		scopes = nil
		for _, s := range d.Scopes {
			if slices.Contains(m.opts.Scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	c := store.Client{
		ID:                       d.ClientID,
		Name:                     d.ClientName,
		RedirectURIs:             d.RedirectURIs,
		PostLogoutRedirectURIs:   d.PostLogoutRedirectURIs,
		GrantTypes:               d.GrantTypes,
		ResponseTypes:            d.ResponseTypes,
		Scopes:                   slices.Clone(scopes),
		Audiences:                slices.Clone(m.opts.Audiences),
		TokenEndpointAuthMethod:  d.TokenEndpointAuthMethod,
		JWKS:                     d.JWKS,
		JWKSURI:                  d.JWKSURI,
		DPoPBoundAccessTokens:    d.DPoPBoundAccessTokens,
		AccessTokenFormat:        store.AccessTokenJWT,
		IDTokenSignedResponseAlg: string(oidc.DefaultSigningAlgorithm),
		Origin:                   store.OriginMetadataDocument,
		CreatedAt:                now,
		UpdatedAt:                now,
	}
	if len(c.PostLogoutRedirectURIs) == 0 {
		c.PostLogoutRedirectURIs = nil
	}
	if len(c.JWKS) == 0 {
		c.JWKS = nil
	}
	return c
}

// jsonEqual compares two JSON values by meaning: a backend may store a key
// set in another spelling (PostgreSQL jsonb reorders and respaces).
func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// sameMetadata reports whether the stored registration already says what
// the document says (the times aside).
func sameMetadata(a, b *store.Client) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Origin == b.Origin &&
		slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) &&
		slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.ResponseTypes, b.ResponseTypes) &&
		slices.Equal(a.Scopes, b.Scopes) &&
		slices.Equal(a.Audiences, b.Audiences) &&
		a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod &&
		jsonEqual(a.JWKS, b.JWKS) && a.JWKSURI == b.JWKSURI &&
		a.DPoPBoundAccessTokens == b.DPoPBoundAccessTokens &&
		a.AccessTokenFormat == b.AccessTokenFormat &&
		a.IDTokenSignedResponseAlg == b.IDTokenSignedResponseAlg &&
		!a.FirstParty && len(a.SecretHash) == 0
}
