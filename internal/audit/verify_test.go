package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storetest"
	"github.com/writ-dev/writ/jose"
)

// backend is a store with a back door: SQL run directly on its database,
// as an attacker with write access would.
type backend struct {
	name string
	open func(t *testing.T) (store.Store, func(query string, args ...any))
	// second opens another handle on the same database (a second node),
	// or is nil.
	second func(t *testing.T) store.Store
}

func backends(t *testing.T) []backend {
	lite := backend{name: "sqlite", open: func(t *testing.T) (store.Store, func(string, ...any)) {
		path := filepath.Join(t.TempDir(), "writ.db")
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return s, func(q string, args ...any) {
			t.Helper()
			q = strings.NewReplacer("$1", "?", "$2", "?", "$3", "?").Replace(q)
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}}
	out := []backend{lite}
	if testing.Short() {
		return out
	}
	var dsn string
	pg := backend{name: "postgres", open: func(t *testing.T) (store.Store, func(string, ...any)) {
		pgtest.Require(t)
		dsn = pgtest.NewDatabase(t)
		s := openPG(t, dsn)
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return s, func(q string, args ...any) {
			t.Helper()
			if _, err := conn.Exec(context.Background(), q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}, second: func(t *testing.T) store.Store { return openPG(t, dsn) }}
	return append(out, pg)
}

func openPG(t *testing.T, dsn string) store.Store {
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func baseTime() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }

func event(i int) store.AuditEvent {
	return store.AuditEvent{
		Time: baseTime().Add(time.Duration(i) * time.Second), Type: store.AuditTokenIssued,
		ClientID: "svc", Subject: fmt.Sprintf("user-%d", i), RequestID: fmt.Sprintf("req-%d", i),
		Details: []byte(`{"grant_type":"client_credentials"}`),
	}
}

type signer struct{ k *jose.Key }

func (s signer) Signer() (*jose.Key, error) { return s.k, nil }

// fixture appends six events with anchors at 3 and 6.
func fixture(t *testing.T, s store.Store, key *jose.Key) {
	t.Helper()
	ctx := t.Context()
	var last int64
	for i := 1; i <= 6; i++ {
		if _, err := s.AppendAudit(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			var err error
			if last, err = audit.Anchor(ctx, s, signer{key}, baseTime().Add(time.Hour), last); err != nil || last != int64(i) {
				t.Fatalf("Anchor = %d, %v", last, err)
			}
		}
	}
	// Nothing new: no anchor.
	if got, err := audit.Anchor(ctx, s, signer{key}, baseTime().Add(time.Hour), last); err != nil || got != last {
		t.Fatalf("Anchor with nothing new = %d, %v", got, err)
	}
}

func newKey(t *testing.T) *jose.Key {
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rewrite recomputes the chain from seq on with the stored contents, as
// an attacker who changed an event would, so that only anchors catch it.
func rewrite(t *testing.T, s store.Store, exec func(string, ...any), from int64, pg bool) {
	events, err := s.ListAudit(t.Context(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	prev := chain.Genesis()
	for _, e := range events {
		if e.Seq >= from {
			h := chain.Hash(prev, e)
			exec(`UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3`, prev, h, e.Seq)
			e.Hash = h
		}
		prev = e.Hash
	}
	if pg {
		exec(`UPDATE audit_seq SET head = $1`, prev)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	key := newKey(t)
	keys := jose.NewKeySet(key.Public())
	tests := []struct {
		name   string
		tamper func(t *testing.T, s store.Store, exec func(string, ...any), pg bool)
		seq    int64
		kind   string
	}{
		{name: "intact", tamper: func(*testing.T, store.Store, func(string, ...any), bool) {}},
		{name: "changed", seq: 4, kind: audit.BreakChanged, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`UPDATE audit_events SET subject = 'mallory' WHERE seq = 4`)
		}},
		{name: "changed details", seq: 2, kind: audit.BreakChanged, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`UPDATE audit_events SET details = $1 WHERE seq = 2`, []byte(`{"grant_type":"authorization_code"}`))
		}},
		{name: "hash removed", seq: 5, kind: audit.BreakChanged, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`UPDATE audit_events SET hash = NULL, prev_hash = NULL WHERE seq = 5`)
		}},
		{name: "deleted", seq: 5, kind: audit.BreakDeleted, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`DELETE FROM audit_events WHERE seq = 4`)
		}},
		{name: "deleted first", seq: 2, kind: audit.BreakDeleted, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`DELETE FROM audit_events WHERE seq = 1`)
		}},
		{name: "deleted last", seq: 6, kind: audit.BreakDeleted, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`DELETE FROM audit_events WHERE seq = 6`)
		}},
		{name: "reordered", seq: 3, kind: audit.BreakReordered, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`UPDATE audit_events SET seq = -1 WHERE seq = 3`)
			exec(`UPDATE audit_events SET seq = 3 WHERE seq = 4`)
			exec(`UPDATE audit_events SET seq = 4 WHERE seq = -1`)
		}},
		{name: "rewritten chain", seq: 3, kind: audit.BreakAnchor, tamper: func(t *testing.T, s store.Store, exec func(string, ...any), pg bool) {
			exec(`UPDATE audit_events SET subject = 'mallory' WHERE seq = 2`)
			rewrite(t, s, exec, 2, pg)
		}},
		{name: "forged anchor", seq: 4, kind: audit.BreakAnchor, tamper: func(t *testing.T, s store.Store, exec func(string, ...any), _ bool) {
			events, err := s.ListAudit(t.Context(), store.AuditQuery{AfterSeq: 3, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			a, err := audit.SignAnchor(newKey(t), 4, events[0].Hash, baseTime())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutAuditAnchor(t.Context(), a); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "anchor moved", seq: 3, kind: audit.BreakAnchor, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), _ bool) {
			exec(`UPDATE audit_anchors SET hash = (SELECT hash FROM audit_events WHERE seq = 2) WHERE seq = 3`)
		}},
		{name: "anchor deleted, tail deleted", seq: 6, kind: audit.BreakDeleted, tamper: func(_ *testing.T, _ store.Store, exec func(string, ...any), pg bool) {
			// Without the tail's anchor only PostgreSQL's counter row
			// tells; on SQLite the anchor at 6 is what catches the
			// deletion, so keep it there (or a head kept outside the
			// store: TestVerifyExpectedHead).
			exec(`DELETE FROM audit_events WHERE seq = 6`)
			if pg {
				exec(`DELETE FROM audit_anchors WHERE seq = 6`)
			}
		}},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s, exec := b.open(t)
					fixture(t, s, key)
					tt.tamper(t, s, exec, b.name == "postgres")
					r, err := audit.Verify(t.Context(), s, keys)
					if tt.kind == "" {
						if err != nil || r.Events != 6 || r.Anchors != 2 || r.LastAnchor != 6 || r.Head != 6 {
							t.Fatalf("Verify of an intact trail = %+v, %v", r, err)
						}
						return
					}
					var br *audit.BreakError
					if !errors.As(err, &br) {
						t.Fatalf("Verify = %+v, %v; want a break", r, err)
					}
					if br.Seq != tt.seq || br.Kind != tt.kind {
						t.Fatalf("Verify: %v; want %s at %d", br, tt.kind, tt.seq)
					}
				})
			}
		})
	}
}

// TestVerifyExpectedHead: a head kept outside the store catches what the
// store alone cannot show, the end of the trail deleted together with the
// anchors after what is left (and, on PostgreSQL, the counter row set back),
// and a trail rewritten and re-anchored up to it by someone holding the key.
func TestVerifyExpectedHead(t *testing.T) {
	key := newKey(t)
	keys := jose.NewKeySet(key.Public())
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			pg := b.name == "postgres"
			setup := func(t *testing.T) (store.Store, func(string, ...any), audit.Head) {
				s, exec := b.open(t)
				fixture(t, s, key)
				r, err := audit.Verify(t.Context(), s, keys)
				if err != nil {
					t.Fatal(err)
				}
				return s, exec, audit.Head{Seq: r.Head, Hash: r.HeadHash}
			}
			t.Run("intact", func(t *testing.T) {
				s, _, head := setup(t)
				if _, err := s.AppendAudit(t.Context(), event(7)); err != nil {
					t.Fatal(err)
				}
				// The trail went on after the head was kept: still intact.
				r, err := audit.Verify(t.Context(), s, keys, head, head)
				if err != nil || r.Head != 7 {
					t.Fatalf("Verify with a kept head = %+v, %v", r, err)
				}
			})
			t.Run("tail and its anchor deleted", func(t *testing.T) {
				s, exec, head := setup(t)
				exec(`DELETE FROM audit_events WHERE seq > 4`)
				exec(`DELETE FROM audit_anchors WHERE seq > 4`)
				if pg {
					exec(`UPDATE audit_seq SET last = 4, head = (SELECT hash FROM audit_events WHERE seq = 4)`)
				}
				// Without the kept head the store shows nothing wrong.
				if r, err := audit.Verify(t.Context(), s, keys); err != nil || r.Head != 4 {
					t.Fatalf("Verify without the head = %+v, %v (the attack this test models no longer works: rewrite it)", r, err)
				}
				_, err := audit.Verify(t.Context(), s, keys, head)
				var br *audit.BreakError
				if !errors.As(err, &br) || br.Kind != audit.BreakDeleted || br.Seq != 5 || !strings.Contains(br.Reason, "sequence number 6") {
					t.Fatalf("Verify with the head = %v; want deleted at 5", err)
				}
			})
			t.Run("rewritten and re-anchored", func(t *testing.T) {
				s, exec, head := setup(t)
				exec(`UPDATE audit_events SET subject = 'mallory' WHERE seq = 2`)
				rewrite(t, s, exec, 2, pg)
				exec(`DELETE FROM audit_anchors`)
				if _, err := audit.Anchor(t.Context(), s, signer{key}, baseTime().Add(2*time.Hour), 0); err != nil {
					t.Fatal(err)
				}
				if _, err := audit.Verify(t.Context(), s, keys); err != nil {
					t.Fatalf("Verify without the head = %v (the attack this test models no longer works: rewrite it)", err)
				}
				_, err := audit.Verify(t.Context(), s, keys, head)
				var br *audit.BreakError
				if !errors.As(err, &br) || br.Kind != audit.BreakChanged || br.Seq != 6 {
					t.Fatalf("Verify with the head = %v; want changed at 6", err)
				}
			})
		})
	}
	t.Run("bad heads", func(t *testing.T) {
		s, _ := backends(t)[0].open(t)
		fixture(t, s, key)
		h := make([]byte, 32)
		for _, bad := range [][]audit.Head{
			{{Seq: 0, Hash: h}},
			{{Seq: 3, Hash: h[:31]}},
			{{Seq: 3, Hash: h}, {Seq: 3, Hash: append([]byte{1}, h[1:]...)}},
		} {
			var br *audit.BreakError
			if _, err := audit.Verify(t.Context(), s, keys, bad...); err == nil || errors.As(err, &br) {
				t.Errorf("Verify with heads %v = %v; want an error that is not a break", bad, err)
			}
		}
	})
}

// TestVerifyWithoutKeys: the chain alone is checked; a rewritten chain
// then passes, which is why anchors exist.
func TestVerifyWithoutKeys(t *testing.T) {
	b := backends(t)[0]
	s, _ := b.open(t)
	fixture(t, s, newKey(t))
	r, err := audit.Verify(t.Context(), s, nil)
	if err != nil || r.Anchors != 0 || r.Events != 6 {
		t.Fatalf("Verify without keys = %+v, %v", r, err)
	}
	// An anchor by a key not in the set is a bad anchor.
	_, err = audit.Verify(t.Context(), s, jose.NewKeySet(newKey(t).Public()))
	var br *audit.BreakError
	if !errors.As(err, &br) || br.Kind != audit.BreakAnchor || br.Seq != 3 {
		t.Fatalf("Verify with another key = %v", err)
	}
}

// TestConcurrentAppendsKeepChain: many goroutines through the group-commit
// appender and direct appends, on PostgreSQL from two store handles (two
// nodes) as well.
func TestConcurrentAppendsKeepChain(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			stores := []store.Store{s}
			if b.second != nil {
				stores = append(stores, b.second(t))
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var apps []*audit.Appender
			var runs sync.WaitGroup
			for _, st := range stores {
				a := audit.NewAppender(st, audit.AppenderOptions{MaxBatch: 16})
				apps = append(apps, a)
				runs.Add(1)
				go func() { defer runs.Done(); a.Run(ctx) }()
			}
			const workers, each = 16, 10
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						e := event(w*each + i)
						var err error
						if i%3 == 0 {
							_, err = stores[w%len(stores)].AppendAudit(ctx, e)
						} else {
							err = apps[w%len(apps)].Append(ctx, e)
						}
						if err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := storetest.WantChain(t, s); n != workers*each {
				t.Fatalf("trail has %d events, want %d", n, workers*each)
			}
			if r, err := audit.Verify(t.Context(), s, nil); err != nil || r.Events != workers*each {
				t.Fatalf("Verify = %+v, %v", r, err)
			}
			cancel()
			runs.Wait()
			if err := apps[0].Append(context.Background(), event(1)); !errors.Is(err, audit.ErrClosed) {
				t.Fatalf("Append after Run ended = %v, want ErrClosed", err)
			}
		})
	}
}

// anchorStore is an AnchorStore at head 5 whose PutAuditAnchor fails
// with err.
type anchorStore struct{ err error }

func (anchorStore) AuditHead(context.Context) (int64, []byte, error) {
	return 5, make([]byte, chain.Size), nil
}

func (a anchorStore) PutAuditAnchor(context.Context, store.AuditAnchor) error { return a.err }

// TestAnchorRace: another node anchoring the same head first is not an
// error; any other failure to store the anchor is, and anchors nothing.
func TestAnchorRace(t *testing.T) {
	key := newKey(t)
	dup := fmt.Errorf("put: %w", store.ErrAlreadyExists)
	if got, err := audit.Anchor(t.Context(), anchorStore{dup}, signer{key}, baseTime(), 2); err != nil || got != 5 {
		t.Errorf("Anchor when another node anchored first = %d, %v; want 5, nil", got, err)
	}
	broken := errors.New("disk full")
	if got, err := audit.Anchor(t.Context(), anchorStore{broken}, signer{key}, baseTime(), 2); !errors.Is(err, broken) || got != 2 {
		t.Errorf("Anchor with a failing store = %d, %v; want 2 and the error", got, err)
	}
}

// TestVerifySealsQueued: on PostgreSQL, events committed in a redemption's
// transaction wait in audit_pending until sealed; Verify seals them first
// and checks them with the rest, and a change to a sealed one is caught.
func TestVerifySealsQueued(t *testing.T) {
	for _, b := range backends(t) {
		if b.name != "postgres" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			key := newKey(t)
			s, exec := b.open(t)
			fixture(t, s, key)
			for i := 7; i <= 8; i++ {
				e := event(i)
				exec(`INSERT INTO audit_pending (time, type, client_id, subject, actors, delegation_id, by_principal,
					request_id, details) VALUES ($1, $2, $3, $4, '{}', '', '', $5, $6)`,
					e.Time, e.Type, e.ClientID, e.Subject, e.RequestID, e.Details)
			}
			keys := jose.NewKeySet(key.Public())
			r, err := audit.Verify(t.Context(), s, keys)
			if err != nil || r.Sealed != 2 || r.Events != 8 || r.Head != 8 || r.LastAnchor != 6 {
				t.Fatalf("Verify with two queued events = %+v, %v", r, err)
			}
			exec(`UPDATE audit_events SET subject = 'mallory' WHERE seq = 7`)
			_, err = audit.Verify(t.Context(), s, keys)
			var br *audit.BreakError
			if !errors.As(err, &br) || br.Kind != audit.BreakChanged || br.Seq != 7 {
				t.Fatalf("Verify after a sealed event changed = %v", err)
			}
		})
	}
}
