package postgres

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// TestQueuedAuditTakesNoLock: a redemption's audit event is queued, not
// chained, so the redemption commits while another transaction holds the
// chain head's row lock; the event is chained by SealAudit once the lock
// is released, and queued events are chained in id order.
func TestQueuedAuditTakesNoLock(t *testing.T) {
	pgtest.Require(t)
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, now := openWithCode(t, dsn)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	holder, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT 1 FROM audit_seq WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	// Were the append to wait for the lock, this would time out.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	issue := store.Issue{Access: store.IssuedAccess{JTI: "j1", ExpiresAt: now.Add(time.Hour)},
		Audit: []store.AuditEvent{
			{Time: now, Type: store.AuditTokenIssued, ClientID: "c", Subject: "first", Details: []byte(`{"a":1}`)},
			{Time: now, Type: store.AuditTokenIssued, ClientID: "c", Subject: "second", Actors: []string{"x", "y"}},
		}}
	if _, err := s.RedeemAuthCode(wctx, h("code"), now, issue); err != nil {
		t.Fatalf("RedeemAuthCode while the chain head is locked: %v", err)
	}
	var pending, chained int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_pending), (SELECT count(*) FROM audit_events)`).Scan(&pending, &chained); err != nil {
		t.Fatal(err)
	}
	if pending != 2 || chained != 0 {
		t.Fatalf("after the redemption: %d queued, %d chained; want 2, 0", pending, chained)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// A read-only connection (a standby) cannot seal: it reads the chained
	// events only, and SealAudit says why.
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	ro, err := Open(ctx, dsn+sep+"default_transaction_read_only=on")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.ListAudit(ctx, store.AuditQuery{}); err != nil || len(got) != 0 {
		t.Fatalf("read-only ListAudit = %d events, %v; want none, no error", len(got), err)
	}
	if seq, _, err := ro.AuditHead(ctx); err != nil || seq != 0 {
		t.Fatalf("read-only AuditHead = %d, %v", seq, err)
	}
	if _, err := ro.SealAudit(ctx); err == nil {
		t.Fatal("read-only SealAudit succeeded")
	}

	if n, err := s.SealAudit(ctx); err != nil || n != 2 {
		t.Fatalf("SealAudit = %d, %v; want 2", n, err)
	}
	if n, err := s.SealAudit(ctx); err != nil || n != 0 {
		t.Fatalf("SealAudit of an empty queue = %d, %v", n, err)
	}
	got, err := s.ListAudit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Subject != "first" || got[1].Subject != "second" || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("trail = %+v", got)
	}
	if !bytes.Equal(got[0].PrevHash, chain.Genesis()) || !chain.Valid(got[0]) || !bytes.Equal(got[1].PrevHash, got[0].Hash) ||
		!chain.Valid(got[1]) || string(got[0].Details) != `{"a":1}` || len(got[1].Actors) != 2 {
		t.Fatalf("trail is not chained as queued: %+v", got)
	}
	seq, head, err := s.AuditHead(ctx)
	if err != nil || seq != 2 || !bytes.Equal(head, got[1].Hash) {
		t.Fatalf("AuditHead = %d, %x, %v", seq, head, err)
	}
	// A standalone append chains at once, after the sealed events.
	if seq, err := s.AppendAudit(ctx, store.AuditEvent{Time: now, Type: store.AuditSignIn}); err != nil || seq != 3 {
		t.Fatalf("AppendAudit = %d, %v; want 3", seq, err)
	}
}
