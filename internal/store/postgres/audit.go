package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
)

// The audit trail. seq is not a PostgreSQL sequence, which leaves a gap on
// every rolled-back insert and lets concurrent inserts commit out of
// order (a reader following AfterSeq would skip the later-committed lower
// number for ever). Numbers and the chain head come instead from the one
// row of audit_seq, whose row lock is held by whoever chains events until
// it commits: numbers are gap-free, become visible in order, and the
// chain has no fork.
//
// Two ways in. AppendAudit and AppendAudits (the
// group-commit appender, the CLI) chain their events directly under that
// lock, once per batch, after the queued events already committed, and
// return the real sequence number. Events
// appended inside another transaction (a redemption's or rotation's
// Issue.Audit, the one-statement fast paths) would hold the lock through
// that transaction's commit, serialising every redemption of every node on
// one row; they are only inserted into audit_pending (appendAudits: no
// lock, no hash), a durable queue that SealAudit chains in batches off the
// request path, as a log sequencer does. Every node seals every 200 ms
// (internal/audit.RunSealer, started by internal/app), and ListAudit and AuditHead
// seal first, so a reader sees every event committed before it read.

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
	const op = "store/postgres: append audit events"
	if err := store.ValidateAuditEvents(events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		first, err = chainAudits(ctx, tx, events)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return first, nil
}

// chainAudits chains and inserts validated events in tx and returns the
// first sequence number. Under the counter row's lock it first chains the
// queued events already committed (so that an event committed before this
// append precedes it in the chain), then events: two round trips, as
// without a queue (the lock and the queue's rows in one, the inserts and
// the new head in the other).
func chainAudits(ctx context.Context, tx pgx.Tx, events []store.AuditEvent) (int64, error) {
	last, head, queued, err := takeQueued(ctx, tx, true, math.MaxInt64)
	if err != nil {
		return 0, err
	}
	for more := queued; len(more) == sealBatch; {
		if _, _, more, err = takeQueued(ctx, tx, false, math.MaxInt64); err != nil {
			return 0, err
		}
		queued = append(queued, more...)
	}
	if err := chainInsert(ctx, tx, last, head, append(queued, events...)); err != nil {
		return 0, err
	}
	return last + int64(len(queued)) + 1, nil
}

// takeQueued deletes up to sealBatch queued events with ids at most top
// from audit_pending in tx and returns them in id order; with lock, it
// first locks the counter row and returns the chain head (last, head),
// in the same round trip. The DELETE's snapshot is taken after the lock
// is granted, so it sees every row an earlier holder deleted, and a row
// deleted by another transaction is never returned: each queued event is
// taken once.
func takeQueued(ctx context.Context, tx pgx.Tx, lock bool, top int64) (last int64, head []byte, events []store.AuditEvent, err error) {
	var b pgx.Batch
	if lock {
		b.Queue(`SELECT last, head FROM audit_seq WHERE id = 1 FOR UPDATE`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&last, &head)
		})
	}
	b.Queue(`WITH d AS (
		DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending WHERE id <= $1 ORDER BY id LIMIT $2)
		RETURNING id, `+pendingColumns+`
	) SELECT `+pendingColumns+` FROM d ORDER BY id`, top, sealBatch).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var e store.AuditEvent
			if err := rows.Scan(&e.Time, &e.Type, &e.ClientID, &e.Subject, &e.Actors, &e.DelegationID, &e.By,
				&e.RequestID, &e.Details); err != nil {
				return err
			}
			e.Time, e.Actors, e.Details = e.Time.UTC(), nonEmptyList(e.Actors), nonEmpty(e.Details)
			events = append(events, e)
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return 0, nil, nil, classify(err)
	}
	return last, head, events, nil
}

// chainInsert numbers events from last + 1, chains them after head,
// inserts them and writes the new head; tx holds the counter row's lock.
// A few events go in one round trip (a batch of INSERTs); a batch of at
// least copyThreshold (a journal's, the sealer's) goes by COPY, which
// costs the server a fraction of an INSERT per row, then the head.
func chainInsert(ctx context.Context, tx pgx.Tx, last int64, head []byte, events []store.AuditEvent) error {
	linked := chain.Link(head, last+1, events)
	if n := len(linked); n > 0 {
		last, head = linked[n-1].Seq, linked[n-1].Hash
	}
	row := func(e store.AuditEvent) []any {
		return []any{e.Seq, e.Time.Truncate(store.TimePrecision).UTC(), e.Type, e.ClientID, e.Subject, list(e.Actors),
			e.DelegationID, e.By, e.RequestID, nullBytes(e.Details), e.PrevHash, e.Hash}
	}
	if len(linked) >= copyThreshold {
		rows := make([][]any, len(linked))
		for i, e := range linked {
			rows[i] = row(e)
		}
		columns := strings.Split(auditColumns, ", ")
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, columns, pgx.CopyFromRows(rows)); err != nil {
			return classify(err)
		}
		_, err := tx.Exec(ctx, `UPDATE audit_seq SET last = $1, head = $2 WHERE id = 1`, last, head)
		return classify(err)
	}
	var b pgx.Batch
	for _, e := range linked {
		b.Queue(`INSERT INTO audit_events (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, row(e)...)
	}
	b.Queue(`UPDATE audit_seq SET last = $1, head = $2 WHERE id = 1`, last, head)
	return classify(tx.SendBatch(ctx, &b).Close())
}

// copyThreshold is the smallest batch chainInsert writes by COPY.
const copyThreshold = 16

// pendingColumns are audit_pending's event columns (audit_events' without
// seq and the hashes); pendingChunk is the most rows of one INSERT.
const (
	pendingColumns = `time, type, client_id, subject, actors, delegation_id, by_principal, request_id, details`
	pendingChunk   = 100
)

// appendAudits queues validated events in tx, to be chained by SealAudit
// after tx commits: a multi-row INSERT into audit_pending (one per
// pendingChunk events), which takes no lock another transaction waits
// for. The events have no sequence number yet, so the one returned is
// always 0; callers inside a transaction must not expect one (the
// standalone appends, which return it, chain with chainAudits).
func appendAudits(ctx context.Context, tx pgx.Tx, events []store.AuditEvent) (int64, error) {
	for len(events) > 0 {
		n := min(len(events), pendingChunk)
		var sql strings.Builder
		sql.WriteString(`INSERT INTO audit_pending (` + pendingColumns + `) VALUES `)
		args := make([]any, 0, 9*n)
		for i, e := range events[:n] {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(")
			for j := range 9 {
				if j > 0 {
					sql.WriteString(", ")
				}
				sql.WriteString("$" + strconv.Itoa(len(args)+j+1))
			}
			sql.WriteString(")")
			args = append(args, e.Time.Truncate(store.TimePrecision).UTC(), e.Type, e.ClientID, e.Subject,
				list(e.Actors), e.DelegationID, e.By, e.RequestID, nullBytes(e.Details))
		}
		if _, err := tx.Exec(ctx, sql.String(), args...); err != nil {
			return 0, classify(err)
		}
		events = events[n:]
	}
	return 0, nil
}

// sealBatch is the most queued events one sealing transaction chains.
const sealBatch = 1000

// SealAudit chains the queued events (audit_pending) after the chain head,
// in id order, in transactions of up to sealBatch events each holding the
// counter row's lock, until every event committed before the call is
// chained; it returns how many it chained. Finding the queue empty takes
// no lock. Concurrent sealers (of any node) take turns on the lock; each
// deletes the rows it chains in its transaction, so no event is chained
// twice or skipped.
func (s *Store) SealAudit(ctx context.Context) (int, error) {
	n, err := s.seal(ctx)
	if err != nil {
		return n, fmt.Errorf("store/postgres: seal audit events: %w", err)
	}
	return n, nil
}

// seal is SealAudit without the operation in its errors.
func (s *Store) seal(ctx context.Context) (int, error) {
	// Every event committed before now has an id at most top: ids are
	// taken before commit. Later ones are left to the next call, so that
	// a reader sealing first is not kept busy by a stream of appends.
	var top *int64
	if err := s.pool.QueryRow(ctx, `SELECT max(id) FROM audit_pending`).Scan(&top); err != nil {
		return 0, classify(err)
	}
	total := 0
	for top != nil {
		var n int
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			var err error
			n, err = sealAudits(ctx, tx, *top)
			return err
		})
		if err != nil {
			return total, err // this batch rolled back: it chained nothing
		}
		total += n
		if n < sealBatch {
			break
		}
	}
	return total, nil
}

// sealForRead seals before a read of the trail. A connection that may
// not write (a standby: read_only_sql_transaction; a role without the
// privilege) reads the chained events only: the queued ones are left to
// the nodes' sealers.
func (s *Store) sealForRead(ctx context.Context) error {
	_, err := s.seal(ctx)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == readOnlyTransaction || pe.Code == insufficientPrivilege) {
		return nil
	}
	return err
}

// SQLSTATEs that tell a connection that may not write.
const (
	readOnlyTransaction   = "25006"
	insufficientPrivilege = "42501"
)

// sealAudits chains up to sealBatch queued events with ids at most top
// in tx and returns how many.
func sealAudits(ctx context.Context, tx pgx.Tx, top int64) (int, error) {
	last, head, events, err := takeQueued(ctx, tx, true, top)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	if err := chainInsert(ctx, tx, last, head, events); err != nil {
		return 0, err
	}
	return len(events), nil
}

// rowQuerier is what the one-statement fast paths run on: the pool, or a
// transaction when audit events must be appended with them.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// withAudit runs fn, a one-statement fast path reporting whether it
// changed anything, on the pool when there are no events and ctx carries
// no pending audit intent; otherwise in a transaction that queues the
// events (and the intent's, in inTx) after it when it did (appendAudits:
// no lock is held through the commit), and rolls back when it did not.
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

// AuditHead returns the last event's sequence number and hash, after
// sealing the queued events (so that an anchor covers every event
// committed before it).
func (s *Store) AuditHead(ctx context.Context) (int64, []byte, error) {
	if err := s.sealForRead(ctx); err != nil {
		return 0, nil, fmt.Errorf("store/postgres: audit head: seal queued events: %w", err)
	}
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

// ListAudit returns the events q selects, oldest first, after sealing the
// queued events (so that every event committed before the call is
// listed).
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: %w", err)
	}
	if err := s.sealForRead(ctx); err != nil {
		return nil, fmt.Errorf("store/postgres: list audit events: seal queued events: %w", err)
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

// AppendJournaled appends events read from an audit journal and moves the
// journal's position to pos, in one transaction.
func (s *Store) AppendJournaled(ctx context.Context, journal string, pos int64, events []store.AuditEvent) (int64, error) {
	const op = "store/postgres: append journaled audit events"
	if err := store.ValidateJournaled(journal, events); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var first int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_journals (journal, pos) VALUES ($1, $2)
			ON CONFLICT (journal) DO UPDATE SET pos = greatest(audit_journals.pos, excluded.pos)`, journal, pos); err != nil {
			return classify(err)
		}
		// A batch of the journal: chained at once under the head's
		// lock (once per batch), not queued to be copied again.
		var err error
		first, err = chainAudits(ctx, tx, events)
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
	err := s.pool.QueryRow(ctx, `SELECT pos FROM audit_journals WHERE journal = $1`, journal).Scan(&pos)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store/postgres: audit journal position: %w", classify(err))
	}
	return pos, nil
}

// ForgetAuditJournal removes journal's position.
func (s *Store) ForgetAuditJournal(ctx context.Context, journal string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM audit_journals WHERE journal = $1`, journal); err != nil {
		return fmt.Errorf("store/postgres: forget audit journal: %w", classify(err))
	}
	return nil
}
