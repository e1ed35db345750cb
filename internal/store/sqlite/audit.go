package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
)

// The audit trail: seq is the table's rowid. The single writer assigns
// max(seq) + 1 to each insert and rows are never deleted, so sequence
// numbers are ascending and gap-free in commit order. The writer also
// reads the chain head (the last event's hash) inside the chaining
// transaction, so the chain has no fork: no other append can run between
// the read and the insert.
//
// Two ways in, as on PostgreSQL. The direct appends (AppendAudit,
// AppendAudits, AppendJournaled: batches, or rare)
// chain at once (chainAudits), after the queued events. Events appended
// inside a redemption's or rotation's transaction are only queued
// (appendAudits: one row in audit_pending, no index), because chaining
// one event costs a redemption several pages of the write-ahead log (the
// head read, audit_events and its four indexes); SealAudit chains the
// queue in batches, where those pages are shared by hundreds of events.

const auditColumns = `seq, time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details, prev_hash, hash`

// AppendAudit stores e, chained, and returns its sequence number.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, []store.AuditEvent{e})
}

// AppendAudits stores the events, chained and in order, in one
// transaction and returns the first sequence number.
func (s *Store) AppendAudits(ctx context.Context, events []store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, events)
}

// appendAudited validates, then appends the events in one transaction.
func (s *Store) appendAudited(ctx context.Context, events []store.AuditEvent) (int64, error) {
	const op = "store/sqlite: append audit events"
	if err := store.ValidateAuditEvents(events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		first, _, err = chainAudits(ctx, tx, events)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return first, nil
}

// auditHeadSQL reads the chain head: the last event's sequence number and
// hash (no row for an empty trail).
const auditHeadSQL = `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`

// chainAudits chains the queued events, then events, inside the writer's
// transaction tx, and returns the sequence number of events' first and
// how many queued events it chained.
func chainAudits(ctx context.Context, tx dbtx, events []store.AuditEvent) (first int64, sealed int, err error) {
	last, head, err := readHead(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	queued, err := takeQueued(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	first, sealed = last+int64(len(queued))+1, len(queued)
	if len(queued) > 0 {
		events = append(queued, events...)
	}
	// Rows go in multi-row INSERTs of at most auditChunk rows: one
	// statement per chunk costs far less than one per row.
	linked := chain.Link(head, last+1, events)
	args := make([]any, 0, auditRowArgs*min(len(linked), auditChunk))
	for i, e := range linked {
		actors, err := encodeList(e.Actors)
		if err != nil {
			return 0, 0, err
		}
		args = append(args, e.Seq, encodeTime(e.Time), e.Type, e.ClientID, e.Subject, actors, e.DelegationID, e.By,
			e.RequestID, nullBytes(e.Details), e.PrevHash, e.Hash)
		if rows := len(args) / auditRowArgs; rows == auditChunk || i == len(linked)-1 {
			if _, err := tx.ExecContext(ctx, insertAuditRows(rows), args...); err != nil {
				return 0, 0, classify(err)
			}
			args = args[:0]
		}
	}
	return first, sealed, nil
}

// takeQueued removes every queued event from audit_pending in tx and
// returns them in id order (commit order: one writer).
func takeQueued(ctx context.Context, tx dbtx) ([]store.AuditEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, `+pendingColumns+` FROM audit_pending ORDER BY id`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var (
		out []store.AuditEvent
		top int64
	)
	for rows.Next() {
		var (
			e       store.AuditEvent
			at      int64
			actors  string
			details []byte
		)
		if err := rows.Scan(&top, &at, &e.Type, &e.ClientID, &e.Subject, &actors, &e.DelegationID, &e.By,
			&e.RequestID, &details); err != nil {
			return nil, classify(err)
		}
		e.Time, e.Details = decodeTime(at), nonEmpty(details)
		if e.Actors, err = decodeList(actors); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	rows.Close()
	if len(out) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_pending WHERE id <= ?`, top); err != nil {
			return nil, classify(err)
		}
	}
	return out, nil
}

// pendingColumns are audit_pending's event columns.
const pendingColumns = `time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details`

// appendAudits queues validated events in the writer's transaction tx
// (SealAudit chains them): one small row each in a table without indexes.
// The events have no sequence number yet: it returns 0.
func appendAudits(ctx context.Context, tx dbtx, events []store.AuditEvent) (int64, error) {
	for _, e := range events {
		actors, err := encodeList(e.Actors)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_pending (`+pendingColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			encodeTime(e.Time), e.Type, e.ClientID, e.Subject, actors, e.DelegationID, e.By, e.RequestID,
			nullBytes(e.Details)); err != nil {
			return 0, classify(err)
		}
	}
	return 0, nil
}

// auditChunk is the most rows of one INSERT of audit events, and
// auditRowArgs the arguments of one row (the columns of auditColumns).
const (
	auditChunk   = 32
	auditRowArgs = 12
)

// insertAuditRows returns the INSERT of n audit event rows.
func insertAuditRows(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO audit_events (` + auditColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// SealAudit chains the queued events in one writer transaction and returns
// how many; an empty queue costs one read.
func (s *Store) SealAudit(ctx context.Context) (int, error) {
	var queued bool
	if err := s.w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_pending)`).Scan(&queued); err != nil {
		return 0, fmt.Errorf("store/sqlite: seal audit events: %w", classify(err))
	}
	if !queued {
		return 0, nil
	}
	var n int
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		_, n, err = chainAudits(ctx, tx, nil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: seal audit events: %w", err)
	}
	return n, nil
}

// readHead reads the chain head (0 and nil for an empty trail) through q,
// a connection or the writer's transaction.
func readHead(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := q.QueryRowContext(ctx, auditHeadSQL).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, classify(err)
	}
	return seq, nonEmpty(hash), nil
}

// AuditHead returns the last event's sequence number and hash.
func (s *Store) AuditHead(ctx context.Context) (int64, []byte, error) {
	if _, err := s.SealAudit(ctx); err != nil {
		return 0, nil, fmt.Errorf("store/sqlite: audit head: %w", err)
	}
	seq, hash, err := readHead(ctx, s.r)
	if err != nil {
		return 0, nil, fmt.Errorf("store/sqlite: audit head: %w", err)
	}
	return seq, hash, nil
}

// PutAuditAnchor stores an anchor.
func (s *Store) PutAuditAnchor(ctx context.Context, a store.AuditAnchor) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: put audit anchor: %w", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_anchors (seq, hash, time, jws) VALUES (?, ?, ?, ?)`,
		a.Seq, a.Hash, encodeTime(a.Time), a.JWS)
	if err != nil {
		return fmt.Errorf("store/sqlite: put audit anchor: %w", classify(err))
	}
	return nil
}

// ListAuditAnchors returns the anchors after afterSeq, in order.
func (s *Store) ListAuditAnchors(ctx context.Context, afterSeq int64, limit int) ([]store.AuditAnchor, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, hash, time, jws FROM audit_anchors WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, store.ListOptions{Limit: limit}.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit anchors: %w", classify(err))
	}
	defer rows.Close()
	var out []store.AuditAnchor
	for rows.Next() {
		var (
			a  store.AuditAnchor
			at int64
		)
		if err := rows.Scan(&a.Seq, &a.Hash, &at, &a.JWS); err != nil {
			return nil, fmt.Errorf("store/sqlite: list audit anchors: %w", classify(err))
		}
		a.Time = decodeTime(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit anchors: %w", classify(err))
	}
	return out, nil
}

// ListAudit returns the events q selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit events: %w", err)
	}
	if _, err := s.SealAudit(ctx); err != nil {
		return nil, fmt.Errorf("store/sqlite: list audit events: %w", err)
	}
	// One query per combination of filters, each prepared once, so that
	// each can use its index.
	conds, args := []string{"seq > ?"}, []any{q.AfterSeq}
	for _, f := range []struct{ column, value string }{
		{"type", q.Type}, {"client_id", q.ClientID}, {"subject", q.Subject},
	} {
		if f.value != "" {
			conds = append(conds, f.column+" = ?")
			args = append(args, f.value)
		}
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, encodeTime(q.Since))
	}
	if !q.Until.IsZero() {
		conds, args = append(conds, "time < ?"), append(args, encodeTime(q.Until))
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
			&e.By, &e.RequestID, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("store/sqlite: list audit events: %w", classify(err))
		}
		e.Time, e.Details = decodeTime(at), nonEmpty(details)
		e.PrevHash, e.Hash = nonEmpty(e.PrevHash), nonEmpty(e.Hash)
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

// AppendJournaled appends events read from an audit journal and moves the
// journal's position to pos, in one transaction.
func (s *Store) AppendJournaled(ctx context.Context, journal string, pos int64, events []store.AuditEvent) (int64, error) {
	const op = "store/sqlite: append journaled audit events"
	if err := store.ValidateJournaled(journal, events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		if first, _, err = chainAudits(ctx, tx, events); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_journals (journal, pos) VALUES (?, ?)
			ON CONFLICT (journal) DO UPDATE SET pos = max(pos, excluded.pos)`, journal, pos)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return first, nil
}

// AuditJournalPosition returns how far journal was applied.
func (s *Store) AuditJournalPosition(ctx context.Context, journal string) (int64, error) {
	var pos int64
	err := s.w.QueryRowContext(ctx, `SELECT pos FROM audit_journals WHERE journal = ?`, journal).Scan(&pos)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store/sqlite: audit journal position: %w", classify(err))
	}
	return pos, nil
}

// ForgetAuditJournal removes journal's position.
func (s *Store) ForgetAuditJournal(ctx context.Context, journal string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM audit_journals WHERE journal = ?`, journal); err != nil {
		return fmt.Errorf("store/sqlite: forget audit journal: %w", classify(err))
	}
	return nil
}
