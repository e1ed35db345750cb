package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// TestAdminChangeAudited: a successful change through the admin API is
// recorded (method and path, never the body) before its answer; a refused
// change and a read are not; when the event cannot be recorded the answer
// says so with a 500.
func TestAdminChangeAudited(t *testing.T) {
	e, as := newAgentEnv(t)
	changes := func() []store.AuditEvent {
		ev, err := as.ListAudit(context.Background(), store.AuditQuery{Type: store.AuditAdminChange})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	const password = "correct horse battery staple 42"
	u := e.createUser(t, map[string]any{"username": "alice", "password": password})
	ev := changes()
	if len(ev) != 1 || ev[0].By != "admin" || !strings.Contains(string(ev[0].Details), `"path":"/admin/users"`) ||
		!strings.Contains(string(ev[0].Details), `"method":"POST"`) {
		t.Fatalf("admin_change events after a user creation = %+v", ev)
	}
	if strings.Contains(string(ev[0].Details), password) || strings.Contains(string(ev[0].Details), "alice") {
		t.Fatalf("the request body is in the audit event: %s", ev[0].Details)
	}
	// A read and a refused change record nothing.
	e.call(t, http.MethodGet, "/admin/users/"+u["id"].(string), nil)
	if r := e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice"}); r.status < 400 {
		t.Fatalf("duplicate user: %d", r.status)
	}
	if got := changes(); len(got) != 1 {
		t.Fatalf("admin_change events after a read and a refusal = %d, want 1", len(got))
	}
	// The event is committed with the change: a user created, its event
	// in the same transaction, and none when that transaction fails.
	as.failAudit.Store(true)
	r := e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob"})
	if r.status != http.StatusInternalServerError {
		t.Fatalf("change with a failing audit store: %d %s", r.status, r.body)
	}
	as.failAudit.Store(false)
	if got := changes(); len(got) != 1 {
		t.Fatalf("admin_change events after a failed change = %d, want 1", len(got))
	}
	if _, err := as.GetUserByUsername(context.Background(), "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the user of a change whose event failed: %v", err)
	}
}
