package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/writ-dev/writ/internal/store"
)

// Client ids and user ids share one namespace: the sub of an access token is
// the client_id for a client acting for itself and the user id otherwise,
// so no client_id may equal a user id (RFC 9068 §5), nor a user id a
// client_id. The store keeps the two apart, so the check is made here, before
// each is created; ids the API generates are drawn again on a collision.

// isUserID reports whether id is an existing user's id. Without user
// management there are no users.
func (h *handler) isUserID(ctx context.Context, id string) (bool, error) {
	if h.users == nil {
		return false, nil
	}
	_, err := h.users.GetUser(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, h.storeFailure(ctx, "check client_id against user ids", "client_id", id, err)
}

// isClientID reports whether id is a registered client's id.
func (h *handler) isClientID(ctx context.Context, id string) (bool, error) {
	if h.store == nil {
		return false, nil
	}
	_, err := h.store.GetClient(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, h.storeFailure(ctx, "check user id against client ids", "user_id", id, err)
}

// clientIDIsUser is the refusal of a chosen client_id that a user has.
func clientIDIsUser(id string) *apiError {
	return apiErrorf(http.StatusConflict, CodeConflict,
		"client_id %q is the id of an existing user; a client_id may not equal a user id, since a token's sub names either (RFC 9068 section 5): choose another or leave it out to have one generated", clip(id, 128))
}
