package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

// serveAudited serves an authenticated request; a change (any method but
// GET and HEAD) that succeeds is recorded in the audit trail as
// store.AuditAdminChange (method and path, never the body: it may hold a
// password or a secret). The event is committed in the transaction of the
// handler's change: the request's context carries it (store.RunAudited) to
// the handler's first store call that commits. A handler that answers 2xx
// without such a call (nothing to change) has the event appended on its
// own before the answer, which is held back until then; if it cannot be,
// the answer is a 500 saying the change was made but not audited. A
// refused change records nothing.
func (h *handler) serveAudited(w http.ResponseWriter, r *http.Request) {
	if h.audit == nil || r.Method == http.MethodGet || r.Method == http.MethodHead || auditedElsewhere(r.URL.Path) {
		h.mux.ServeHTTP(w, r)
		return
	}
	rec := &heldResponse{header: w.Header(), status: http.StatusOK}
	details, _ := json.Marshal(map[string]string{"method": r.Method, "path": clip(r.URL.Path, 512)})
	e := store.AuditEvent{Time: h.clock(), Type: store.AuditAdminChange, By: AuditByAdmin, Details: details}
	err := store.RunAudited(r.Context(), store.AppendAuditsFunc(h.audit), []store.AuditEvent{e}, func(ctx context.Context) error {
		h.mux.ServeHTTP(rec, r.WithContext(ctx))
		if rec.status < 200 || rec.status >= 300 {
			return errRefused
		}
		return nil
	})
	if errors.Is(err, store.ErrAuditNotRecorded) {
		h.log.ErrorContext(r.Context(), "admin: audit event not recorded", "type", e.Type, "path", clip(r.URL.Path, 128), "error", err)
		for k := range w.Header() {
			delete(w.Header(), k)
		}
		writeError(w, apiErrorf(http.StatusInternalServerError, CodeServerError, "the change was made, but its audit event could not be recorded"))
		return
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// errRefused tells store.RunAudited that the handler answered with an
// error: no admin_change event.
var errRefused = errors.New("admin: change refused")

// auditedElsewhere reports whether the changes under path record their
// own, more specific, events: clients (client_registered, ...,
// agent_revoked), delegations (delegation_revoked) and keys (key_rotated,
// by the key ring's owner).
func auditedElsewhere(path string) bool {
	for _, p := range []string{PathClients, PathDelegations, PathKeys} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// heldResponse holds an answer (status and body; headers go to the real
// writer's map, sent with the status) until serveAudited releases it.
type heldResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if !h.wrote {
		h.status, h.wrote = status, true
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.wrote = true
	return h.body.Write(b)
}
