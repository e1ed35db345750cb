package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

// The audit trail: seq is the table's rowid. The single writer assigns
// max(seq) + 1 to each insert and rows are never deleted, so sequence
// numbers are ascending and gap-free in commit order.

const auditColumns = `seq, time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details`

// AppendAudit stores e and returns its sequence number.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("store/sqlite: append audit event: %w", err)
	}
	actors, err := encodeList(e.Actors)
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: append audit event: %w", err)
	}
	var seq int64
	err = s.w.QueryRowContext(ctx, `INSERT INTO audit_events
		(time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		encodeTime(e.Time), e.Type, e.ClientID, e.Subject, actors, e.DelegationID, e.By, e.RequestID,
		nullBytes(e.Details)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: append audit event: %w", classify(err))
	}
	return seq, nil
}

// ListAudit returns the events q selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit events: %w", err)
	}
	// One query per combination of filters (at most eight, each prepared
	// once), so that each can use its index.
	conds, args := []string{"seq > ?"}, []any{q.AfterSeq}
	for _, f := range []struct{ column, value string }{
		{"type", q.Type}, {"client_id", q.ClientID}, {"subject", q.Subject},
	} {
		if f.value != "" {
			conds = append(conds, f.column+" = ?")
			args = append(args, f.value)
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE `+
		strings.Join(conds, " AND ")+` ORDER BY seq LIMIT ?`, append(args, q.EffectiveLimit())...)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit events: %w", classify(err))
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var (
			e       store.AuditEvent
			at      int64
			actors  string
			details []byte
		)
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.ClientID, &e.Subject, &actors, &e.DelegationID,
			&e.By, &e.RequestID, &details); err != nil {
			return nil, fmt.Errorf("store/sqlite: list audit events: %w", classify(err))
		}
		e.Time, e.Details = decodeTime(at), nonEmpty(details)
		if e.Actors, err = decodeList(actors); err != nil {
			return nil, fmt.Errorf("store/sqlite: list audit events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit events: %w", classify(err))
	}
	return out, nil
}
