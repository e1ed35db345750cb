package admin_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
)

// TestAuditListFlushesFirst: the trail is listed only after the node's
// journaled events are in the store (AuditFlush); when they cannot be,
// the answer is 503 and says to retry.
func TestAuditListFlushesFirst(t *testing.T) {
	flushErr := error(nil)
	flushed := 0
	e, _ := newUserEnv(t, func(o *admin.Options) {
		st := o.Store.(store.Store)
		o.Delegations, o.Audit = st, st
		o.AuditFlush = func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("AuditFlush was called without a deadline")
			}
			flushed++
			return flushErr
		}
	})
	if r := e.call(t, http.MethodGet, "/admin/audit", nil); r.status != http.StatusOK || flushed != 1 {
		t.Fatalf("audit list: %d, flushed %d times; want 200 after one flush", r.status, flushed)
	}
	flushErr = errors.New("database down")
	e.call(t, http.MethodGet, "/admin/audit", nil).wantError(t, http.StatusServiceUnavailable, admin.CodeTemporarilyUnavailable,
		"the newest audit events are not in the database yet")
}
