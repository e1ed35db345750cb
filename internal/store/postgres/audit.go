package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
)

// The audit trail. seq is not a PostgreSQL sequence, which leaves a gap on
// every rolled-back insert and lets concurrent inserts commit out of
// order (a reader following AfterSeq would skip the later-committed lower
// number for ever). Each append instead takes the next numbers and the
// chain head from the one row of audit_seq, and writes the new head back,
// in its transaction: the row lock holds concurrent appends (of every
// node) back until it commits, so numbers are gap-free, become visible in
// order, and the chain has no fork. The append is the last thing its
// transaction does, so the lock is held for one round trip and the
// commit.

const auditColumns = `seq, time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details, prev_hash, hash`

// AppendAudit stores e, chained, and returns its sequence number.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, "store/postgres: append audit events", nil, []store.AuditEvent{e})
}

// AppendAudits stores the events, chained and in order, in one
// transaction and returns the first sequence number.
func (s *Store) AppendAudits(ctx context.Context, events []store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, "store/postgres: append audit events", nil, events)
}

// CreateTokensAudited stores the token records and appends the events, in
// one transaction.
func (s *Store) CreateTokensAudited(ctx context.Context, tokens []store.TokenRecord, events []store.AuditEvent) (int64, error) {
	return s.appendAudited(ctx, "store/postgres: create audited tokens", tokens, events)
}

// appendAudited validates, then stores the token records and appends the
// events in one transaction; op names the operation in errors.
func (s *Store) appendAudited(ctx context.Context, op string, tokens []store.TokenRecord, events []store.AuditEvent) (int64, error) {
	if err := store.ValidateAudited(tokens, events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
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

// appendAudits chains and inserts validated events in tx and returns the
// first sequence number: one statement to take the numbers and the head
// (locking the counter row), then the inserts and the new head in one
// batch.
func appendAudits(ctx context.Context, tx pgx.Tx, events []store.AuditEvent) (int64, error) {
	var (
		last int64
		head []byte
	)
	if err := tx.QueryRow(ctx, `UPDATE audit_seq SET last = last + $1 WHERE id = 1 RETURNING last, head`,
		len(events)).Scan(&last, &head); err != nil {
		return 0, classify(err)
	}
	first := last - int64(len(events)) + 1
	var b pgx.Batch
	for _, e := range chain.Link(head, first, events) {
		b.Queue(`INSERT INTO audit_events (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.Seq, e.Time.Truncate(store.TimePrecision).UTC(), e.Type, e.ClientID, e.Subject, list(e.Actors),
			e.DelegationID, e.By, e.RequestID, nullBytes(e.Details), e.PrevHash, e.Hash)
		head = e.Hash
	}
	b.Queue(`UPDATE audit_seq SET head = $1 WHERE id = 1`, head)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return 0, classify(err)
	}
	return first, nil
}

// rowQuerier is what the one-statement fast paths run on: the pool, or a
// transaction when audit events must be appended with them.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// withAudit runs fn, a one-statement fast path reporting whether it
// changed anything, on the pool when there are no events and ctx carries
// no pending audit intent; otherwise in a transaction that appends the
// events (and the intent's, in inTx) after it when it did, and rolls back
// when it did not.
func (s *Store) withAudit(ctx context.Context, events []store.AuditEvent, fn func(q rowQuerier) (bool, error)) (bool, error) {
	if len(events) == 0 && !store.AuditPending(ctx) {
		return fn(s.pool)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ok, err := fn(tx)
		if err != nil {
			return err
		}
		if !ok {
			return errUnchanged
		}
		if len(events) > 0 {
			_, err = appendAudits(ctx, tx, events)
		}
		return err
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// errUnchanged rolls back withAudit's transaction when its fast path
// changed nothing: an audit intent must not be committed without a change.
var errUnchanged = errors.New("store/postgres: nothing changed")

// AuditHead returns the last event's sequence number and hash.
func (s *Store) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	if err := s.pool.QueryRow(ctx, `SELECT last, head FROM audit_seq WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, nil, fmt.Errorf("store/postgres: audit head: %w", classify(err))
	}
	return seq, nonEmpty(hash), nil
}

// PutAuditAnchor stores an anchor.
func (s *Store) PutAuditAnchor(ctx context.Context, a store.AuditAnchor) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("store/postgres: put audit anchor: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_anchors (seq, hash, time, jws) VALUES ($1, $2, $3, $4)`,
		a.Seq, a.Hash, a.Time, a.JWS); err != nil {
		return fmt.Errorf("store/postgres: put audit anchor: %w", classify(err))
	}
	return nil
}

// ListAuditAnchors returns the anchors after afterSeq, in order.
func (s *Store) ListAuditAnchors(ctx context.Context, afterSeq int64, limit int) ([]store.AuditAnchor, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, hash, time, jws FROM audit_anchors WHERE seq > $1 ORDER BY seq LIMIT $2`,
		afterSeq, store.ListOptions{Limit: limit}.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list audit anchors: %w", classify(err))
	}
	defer rows.Close()
	var out []store.AuditAnchor
	for rows.Next() {
		var (
			a  store.AuditAnchor
			at time.Time
		)
		if err := rows.Scan(&a.Seq, &a.Hash, &at, &a.JWS); err != nil {
			return nil, fmt.Errorf("store/postgres: list audit anchors: %w", classify(err))
		}
		a.Time = at.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit anchors: %w", classify(err))
	}
	return out, nil
}

// ListAudit returns the events q selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: %w", err)
	}
	// One query per combination of filters, so that each can use its
	// index.
	conds, args := []string{"seq > $1"}, []any{q.AfterSeq}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, cond+" $"+strconv.Itoa(len(args)))
	}
	for _, f := range []struct{ column, value string }{
		{"type", q.Type}, {"client_id", q.ClientID}, {"subject", q.Subject},
	} {
		if f.value != "" {
			add(f.column+" =", f.value)
		}
	}
	if !q.Since.IsZero() {
		add("time >=", q.Since)
	}
	if !q.Until.IsZero() {
		add("time <", q.Until)
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
			&e.By, &e.RequestID, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("store/postgres: list audit events: %w", classify(err))
		}
		e.Time, e.Actors, e.Details = e.Time.UTC(), nonEmptyList(e.Actors), nonEmpty(details)
		e.PrevHash, e.Hash = nonEmpty(e.PrevHash), nonEmpty(e.Hash)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: %w", classify(err))
	}
	return out, nil
}
