package audit_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/cputime"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

// BenchmarkAppend compares, on SQLite with parallel callers (-cpu sets
// GOMAXPROCS; RunParallel runs that many goroutines times the
// parallelism below), one transaction per event (AppendAudit) with the
// group-commit appender, which the client credentials grant uses:
//
//	go test ./internal/audit/ -run '^$' -bench Append -benchtime 3s
func BenchmarkAppend(b *testing.B) {
	b.Run("transaction-per-event", func(b *testing.B) {
		s := openSQLite(b)
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := s.AppendAudit(context.Background(), event(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("group-commit", func(b *testing.B) {
		s := openSQLite(b)
		a := audit.NewAppender(s, audit.AppenderOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if err := a.Append(context.Background(), event(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAppendJournaled is the journal drain's store write on SQLite:
// batches of 512 events (what the drainer takes at most), each chained
// and inserted with the journal's position in one transaction. ns/op is
// per event:
//
//	go test ./internal/audit/ -run '^$' -bench AppendJournaled -benchtime 20000x
func BenchmarkAppendJournaled(b *testing.B) {
	s := openSQLite(b)
	const batch = 512
	events := make([]store.AuditEvent, 0, batch)
	var pos int64
	flush := func() {
		pos += int64(len(events))
		if _, err := s.AppendJournaled(context.Background(), "bench", pos, events); err != nil {
			b.Fatal(err)
		}
		events = events[:0]
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		events = append(events, event(i))
		if len(events) == batch {
			flush()
		}
	}
	if len(events) > 0 {
		flush()
	}
}

// openSQLite opens and migrates a SQLite store in a temporary directory,
// closed when the benchmark ends.
func openSQLite(b *testing.B) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "writ.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkJournaledEvent is a client credentials JWT's whole audit
// cost, as the server pays it: 16 callers append events like the grant's
// through an appender with a journal on SQLite, and the drainer moves
// them into the chain; the benchmark ends when the store holds them all.
// cpu-ns/op is the process's CPU time (user and system) per event, which
// is what an event takes from the requests on a busy machine:
//
//	go test ./internal/audit/ -run '^$' -bench JournaledEvent -benchtime 100000x -count 6
func BenchmarkJournaledEvent(b *testing.B) {
	s := openSQLite(b)
	j, err := audit.OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	// MaxPending keeps the drainer in the server's steady state, moving
	// full batches while the appends wait for it, instead of a backlog of
	// tens of thousands of events that a server keeping up never has.
	a := audit.NewAppender(s, audit.AppenderOptions{Journal: j, MaxPending: 4 * 512})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	details := `{"grant_type":"client_credentials","scope":"orders:read orders:write","aud":["https://api.example.com"],"jti":"0123456789abcdef0123456789abcdef","source":"127.0.0.1"}`
	b.ReportAllocs()
	b.SetParallelism(8)
	cpu := cputime.Start()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// Built per call, as the grant does.
			e := store.AuditEvent{Time: time.Now(), Type: store.AuditTokenIssued, ClientID: "c_0123456789abcdef01234567",
				Subject: "c_0123456789abcdef01234567", RequestID: "0123456789abcdef01234567", Details: []byte(details)}
			if err := a.Append(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := a.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.Report(b, b.N)
}
