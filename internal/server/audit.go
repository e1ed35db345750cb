package server

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/writ-dev/writ/internal/store"
)

// recordAudit appends one audit event through Options.AuditRecorder (group
// commit) and returns once it is committed; without a recorder it does
// nothing. Details must never hold a token, secret or password.
func (s *Server) recordAudit(ctx context.Context, typ, clientID, subject string, details map[string]any) error {
	if s.opts.AuditRecorder == nil {
		return nil
	}
	e := store.AuditEvent{Time: s.now(), Type: typ, ClientID: clientID, Subject: subject, RequestID: RequestID(ctx)}
	if len(details) > 0 {
		e.Details, _ = json.Marshal(details) // strings and bools: cannot fail
	}
	if err := s.opts.AuditRecorder.Append(ctx, e); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit event not recorded", slog.String("type", typ), slog.Any("error", err))
		return err
	}
	return nil
}
