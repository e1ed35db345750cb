package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

// The audit trail. seq is not a PostgreSQL sequence, which leaves a gap on
// every rolled-back insert and lets concurrent inserts commit out of
// order (a reader following AfterSeq would skip the later-committed lower
// number for ever). Each append instead takes the next number from the
// one row of audit_seq, in the same statement as its insert: the row lock
// holds concurrent appends back until the statement commits, so numbers
// are gap-free and become visible in order. Appends are serialized; they
// are one short statement each.

const auditColumns = `seq, time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details`

const appendAudit = `WITH n AS (UPDATE audit_seq SET last = last + 1 WHERE id = 1 RETURNING last)
INSERT INTO audit_events (` + auditColumns + `)
SELECT n.last, $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM n
RETURNING seq`

// AppendAudit stores e and returns its sequence number.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("store/postgres: append audit event: %w", err)
	}
	var seq int64
	err := s.pool.QueryRow(ctx, appendAudit, e.Time, e.Type, e.ClientID, e.Subject, list(e.Actors),
		e.DelegationID, e.By, e.RequestID, nullBytes(e.Details)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("store/postgres: append audit event: %w", classify(err))
	}
	return seq, nil
}

// ListAudit returns the events q selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: %w", err)
	}
	// One query per combination of filters (at most eight), so that each
	// can use its index.
	conds, args := []string{"seq > $1"}, []any{q.AfterSeq}
	for _, f := range []struct{ column, value string }{
		{"type", q.Type}, {"client_id", q.ClientID}, {"subject", q.Subject},
	} {
		if f.value != "" {
			args = append(args, f.value)
			conds = append(conds, f.column+" = $"+strconv.Itoa(len(args)))
		}
	}
	args = append(args, q.EffectiveLimit())
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE `+
		strings.Join(conds, " AND ")+` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: %w", classify(err))
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		var details []byte
		if err := rows.Scan(&e.Seq, &e.Time, &e.Type, &e.ClientID, &e.Subject, &e.Actors, &e.DelegationID,
			&e.By, &e.RequestID, &details); err != nil {
			return nil, fmt.Errorf("store/postgres: list audit events: %w", classify(err))
		}
		e.Time, e.Actors, e.Details = e.Time.UTC(), nonEmptyList(e.Actors), nonEmpty(details)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: %w", classify(err))
	}
	return out, nil
}
