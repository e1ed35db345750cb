package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// KeyJSON is one signing key in GET /admin/keys: its rotation state and
// history and its public JWK. Private key material is never included.
type KeyJSON struct {
	KeyID       string         `json:"kid"`
	Algorithm   jose.Algorithm `json:"alg"`
	State       string         `json:"state"`
	CreatedAt   time.Time      `json:"created_at,omitzero"`
	ActivatedAt time.Time      `json:"activated_at,omitzero"`
	RetiredAt   time.Time      `json:"retired_at,omitzero"`
	NotAfter    time.Time      `json:"not_after,omitzero"`
	PublicJWK   *jose.Key      `json:"public_jwk,omitempty"`
}

// KeysResponse is the body of GET /admin/keys and POST /admin/keys/rotate.
type KeysResponse struct {
	Keys []KeyJSON `json:"keys"`
}

// RotateRequest is the optional body of POST /admin/keys/rotate.
type RotateRequest struct {
	// Force promotes the next key even if it was published only recently.
	Force bool `json:"force"`
}

func (h *handler) checkKeys() error {
	if h.keys == nil {
		return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "key management is not available on this server")
	}
	return nil
}

// keyListing renders the key manager's entries.
func (h *handler) keyListing() KeysResponse {
	entries := h.keys.KeyEntries()
	out := KeysResponse{Keys: make([]KeyJSON, 0, len(entries))}
	for _, e := range entries {
		k := KeyJSON{
			KeyID: e.KeyID(), State: e.State.String(),
			CreatedAt: e.CreatedAt, ActivatedAt: e.ActivatedAt, RetiredAt: e.RetiredAt, NotAfter: e.NotAfter,
		}
		if e.Key != nil {
			k.Algorithm = e.Key.Algorithm()
			k.PublicJWK = e.Key.Public() // nil for a symmetric key
		}
		out.Keys = append(out.Keys, k)
	}
	return out
}

// listKeys serves GET /admin/keys.
func (h *handler) listKeys(w http.ResponseWriter, _ *http.Request) error {
	if err := h.checkKeys(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.keyListing())
	return nil
}

// rotateKeys serves POST /admin/keys/rotate.
func (h *handler) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkKeys(); err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	var req RotateRequest
	if body != nil {
		if err := decodeOnly(body, "force", func(raw json.RawMessage) (err error) {
			req.Force, err = decodeBool(badRequest, "force", raw)
			return err
		}); err != nil {
			return err
		}
	}
	if err := h.keys.RotateKeys(ctx, req.Force); err != nil {
		switch {
		case errors.Is(err, keys.ErrTooEarly):
			return apiErrorf(http.StatusConflict, CodeConflict, "the next key has been published for less than the minimum publication time, so relying parties with a cached JWKS may not know it yet; retry later or use --force (force: true)")
		case errors.Is(err, keys.ErrRingFull):
			return apiErrorf(http.StatusConflict, CodeConflict, "the key ring is full (%d keys): wait until retired keys expire and are pruned", keys.MaxEntries)
		case errors.Is(err, keys.ErrInvalidTransition), errors.Is(err, keys.ErrNoActiveKey):
			return apiErrorf(http.StatusConflict, CodeConflict, "the keys cannot be rotated in their current state: %s", clip(err.Error(), 200))
		case errors.Is(err, store.ErrConflict):
			return apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, "another node changed the keys at the same time; retry")
		}
		h.log.ErrorContext(ctx, "admin: rotate signing keys", "error", err)
		return err
	}
	listing := h.keyListing()
	var active string
	for _, k := range listing.Keys {
		if k.State == keys.Active.String() {
			active = k.KeyID
		}
	}
	h.log.InfoContext(ctx, "admin: signing keys rotated", "force", req.Force, "active_kid", active)
	writeJSON(w, http.StatusOK, listing)
	return nil
}
