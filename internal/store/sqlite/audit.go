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
// reads the chain head (the last event's hash) inside the append's
// transaction, so the chain has no fork: no other append can run between
// the read and the insert.

const auditColumns = `seq, time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details, prev_hash, hash`

// AppendAudit stores e, chained, and returns its sequence number.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, "store/sqlite: append audit events", nil, []store.AuditEvent{e})
}

// AppendAudits stores the events, chained and in order, in one
// transaction and returns the first sequence number.
func (s *Store) AppendAudits(ctx context.Context, events []store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, "store/sqlite: append audit events", nil, events)
}

// CreateTokensAudited stores the token records and appends the events, in
// one transaction.
func (s *Store) CreateTokensAudited(ctx context.Context, tokens []store.TokenRecord, events []store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, "store/sqlite: create audited tokens", tokens, events)
}

// appendAudited validates, then stores the token records and appends the
// events in one transaction; op names the operation in errors.
func (s *Store) appendAudited(ctx context.Context, op string, tokens []store.TokenRecord, events []store.AuditEvent) (int64, error) {
	if err := store.ValidateAudited(tokens, events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx dbtx) error {
		for _, r := range tokens {
			if err := insertToken(ctx, tx, r); err != nil {
				return err
			}
		}
		var err error
		first, err = appendAudits(ctx, tx, events)
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

// appendAudits chains and inserts validated events inside the writer's
// transaction tx and returns the first sequence number.
func appendAudits(ctx context.Context, tx dbtx, events []store.AuditEvent) (int64, error) {
	var (
		last int64
		head []byte
	)
	err := tx.QueryRowContext(ctx, auditHeadSQL).Scan(&last, &head)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, classify(err)
	}
	// Rows go in multi-row INSERTs of at most auditChunk rows: one
	// statement per chunk costs far less than one per row.
	linked := chain.Link(head, last+1, events)
	args := make([]any, 0, auditRowArgs*min(len(linked), auditChunk))
	for i, e := range linked {
		actors, err := encodeList(e.Actors)
		if err != nil {
			return 0, err
		}
		args = append(args, e.Seq, encodeTime(e.Time), e.Type, e.ClientID, e.Subject, actors, e.DelegationID, e.By,
			e.RequestID, nullBytes(e.Details), e.PrevHash, e.Hash)
		if rows := len(args) / auditRowArgs; rows == auditChunk || i == len(linked)-1 {
			if _, err := tx.ExecContext(ctx, insertAuditRows(rows), args...); err != nil {
				return 0, classify(err)
			}
			args = args[:0]
		}
	}
	return last + 1, nil
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

// SealAudit returns 0: the single writer chains every event inside its
// append's transaction, which costs it no more than queueing would, so
// nothing is ever queued.
func (s *Store) SealAudit(context.Context) (int, error) { return 0, nil }

// AuditHead returns the last event's sequence number and hash.
func (s *Store) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := s.r.QueryRowContext(ctx, auditHeadSQL).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store/sqlite: audit head: %w", classify(err))
	}
	return seq, nonEmpty(hash), nil
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
	if err := store.ValidateJournalName(journal); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.ValidateAudited(nil, events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		if first, err = appendAudits(ctx, tx, events); err != nil {
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
