package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/writ-dev/writ/internal/store"
)

// auditEvent is the event of type typ for this request. Details must
// never hold a token, secret or password.
func (s *Server) auditEvent(ctx context.Context, typ, clientID, subject string, details map[string]any) store.AuditEvent {
	e := store.AuditEvent{Time: s.now(), Type: typ, ClientID: clientID, Subject: subject, RequestID: RequestID(ctx)}
	if len(details) > 0 {
		e.Details, _ = json.Marshal(details) // strings and bools: cannot fail
	}
	return e
}

// recordAudit appends one audit event that has no store change of its own
// (a failed sign-in) through Options.AuditRecorder (group commit) and
// returns once it is committed; without a recorder it does nothing.
func (s *Server) recordAudit(ctx context.Context, typ, clientID, subject string, details map[string]any) error {
	if s.opts.AuditRecorder == nil {
		return nil
	}
	if err := s.opts.AuditRecorder.Append(ctx, s.auditEvent(ctx, typ, clientID, subject, details)); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit event not recorded", slog.String("type", typ), slog.Any("error", err))
		return err
	}
	return nil
}

// auditedChange runs change, which makes exactly one store call with the
// context it is given, with the audit event in that call's transaction
// (store.RunAudited; a call that changed nothing has the event appended
// through the recorder). Without Options.AuditRecorder the audit is off:
// change runs alone.
func (s *Server) auditedChange(ctx context.Context, typ, clientID, subject string, details map[string]any, change func(ctx context.Context) error) error {
	if s.opts.AuditRecorder == nil {
		return change(ctx)
	}
	return store.RunAudited(ctx, s.opts.AuditRecorder.Append,
		[]store.AuditEvent{s.auditEvent(ctx, typ, clientID, subject, details)}, change)
}

// ignoreNotFound is err, or nil for store.ErrNotFound (gone already: a
// concurrent change won, with the same outcome).
func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
