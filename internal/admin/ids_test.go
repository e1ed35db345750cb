package admin_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
)

// TestAdminClientIDIsNoUserID: RFC 9068 §5 — a token's sub is a client_id
// or a user id, so a client_id may not equal an existing user's id.
func TestAdminClientIDIsNoUserID(t *testing.T) {
	e, _ := newUserEnv(t)
	u := e.createUser(t, map[string]any{"username": "alice"})
	uid, _ := u["id"].(string)
	if uid == "" {
		t.Fatalf("no id in %v", u)
	}
	r := e.call(t, http.MethodPost, "/admin/clients", m2m(map[string]any{"client_id": uid}))
	r.wantError(t, http.StatusConflict, admin.CodeConflict, "may not equal a user id")
	if _, err := e.store.GetClient(context.Background(), uid); err == nil {
		t.Fatal("the client was stored")
	}
	// Any other client_id is fine, and a generated one never collides.
	e.create(t, m2m(map[string]any{"client_id": "billing"}))
	c := e.create(t, m2m(nil))
	if c["client_id"] == uid {
		t.Fatal("a generated client_id equals a user id")
	}
}

// clientsClaimingIDs is a ClientStore that reports the first n ids it is
// asked about as registered clients, as if a generated id had collided.
type clientsClaimingIDs struct {
	store.ClientStore
	mu      sync.Mutex
	n       int
	claimed []string
}

func (c *clientsClaimingIDs) GetClient(ctx context.Context, id string) (store.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.claimed) < c.n {
		c.claimed = append(c.claimed, id)
		return store.Client{ID: id}, nil
	}
	return c.ClientStore.GetClient(ctx, id)
}

// TestAdminUserIDIsNoClientID: a user id the API generates that is a
// registered client_id is drawn again.
func TestAdminUserIDIsNoClientID(t *testing.T) {
	claim := &clientsClaimingIDs{n: 1}
	e, _ := newUserEnv(t, func(o *admin.Options) {
		claim.ClientStore = o.Store
		o.Store = claim
	})
	u := e.createUser(t, map[string]any{"username": "bob"})
	if len(claim.claimed) != 1 {
		t.Fatalf("user ids checked against clients: %v, want one", claim.claimed)
	}
	if u["id"] == claim.claimed[0] {
		t.Fatalf("the user got the id %v of a client", u["id"])
	}
}
