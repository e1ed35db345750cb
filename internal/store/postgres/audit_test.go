package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/storetest"
)

// TestSealRaceTwoStores: two stores on one database (two nodes) append
// audit events in redemptions and rotations while each seals: every event
// is chained once, in one chain.
func TestSealRaceTwoStores(t *testing.T) {
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	storetest.SealRace(t, migrated(t, dsn), migrated(t, dsn))
}

// TestSealBacklog: a backlog of several sealing batches, sealed by two
// stores at once while a third call appends on its own: each queued event
// is chained once, and the standalone event, appended after they were all
// committed, follows every one of them.
func TestSealBacklog(t *testing.T) {
	pgtest.Require(t)
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	a, b := migrated(t, dsn), migrated(t, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	const backlog = 2500
	if _, err := conn.Exec(ctx, `INSERT INTO audit_pending (time, type, client_id, subject, actors, delegation_id,
		by_principal, request_id, details) SELECT $1, 'token_issued', 'c', 'u' || i, '{}', '', '', '', NULL
		FROM generate_series(1, $2) i`, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), backlog); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		sealed [2]int
		errs   [3]error
		seq    int64
	)
	for i, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); sealed[i], errs[i] = s.SealAudit(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq, errs[2] = a.AppendAudit(ctx, store.AuditEvent{Time: time.Date(2031, 1, 1, 0, 0, 1, 0, time.UTC), Type: store.AuditSignIn})
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if seq != backlog+1 {
		t.Errorf("standalone append after the backlog: sequence number %d, want %d", seq, backlog+1)
	}
	if sealed[0]+sealed[1] > backlog {
		t.Errorf("the sealers chained %d + %d events of a backlog of %d", sealed[0], sealed[1], backlog)
	}
	if n := storetest.WantChain(t, b); n != backlog+1 {
		t.Errorf("trail has %d events, want %d", n, backlog+1)
	}
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_pending`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d events left queued, %v", left, err)
	}
}
