package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// The writer does not checkpoint the write-ahead log in its commits: a
// checkpoint copies every page changed since the last one into the
// database file and fsyncs both files, and in the writer's commit that
// work (about 40 µs of CPU per code redemption, and the fsyncs) held up
// every writer queued behind it. A checkpointer goroutine on a connection
// of its own checkpoints instead, every checkpointInterval, in PASSIVE
// mode: it never blocks the writer or a reader, and the writer keeps
// appending while it copies. The writer's own automatic checkpoint stays,
// at writerAutoCheckpoint pages, as the safety net should the checkpointer
// fall behind or fail.
const (
	// checkpointInterval is how often the checkpointer runs: about 12,000
	// pages (48 MB) of log at 3,900 redemptions per second. A page that
	// many commits rewrite is copied once per checkpoint: every second
	// rather than every 250 ms cost 20–40 µs less CPU per redemption
	// (two alternated rounds of three); every 2 s made no difference.
	checkpointInterval = time.Second
	// writerAutoCheckpoint is the log size, in pages (about 160 MB of
	// 4 KiB pages), at which the writer checkpoints itself.
	writerAutoCheckpoint = 40000
)

// checkpointer checkpoints db's write-ahead log until stopped.
type checkpointer struct {
	db   *sql.DB
	stop context.CancelFunc
	done chan struct{}
	// Counts of the runs by outcome and the log's size at the last one
	// that completed (Store.Checkpoints).
	ok, busy, failed atomic.Uint64
	walPages         atomic.Int64
}

// CheckpointStats is what the store's checkpointer has done since the
// store was opened: its runs by outcome and the write-ahead log's size
// when the last one completed. A log that keeps growing, or runs that
// keep failing, leave the work to the writer's own checkpoint at
// writerAutoCheckpoint pages, in the commits.
type CheckpointStats struct {
	// OK counts the runs that completed; Busy those that gave way to a
	// checkpoint another connection or process was running; Failed those
	// that ended with any other error (an I/O error the writer meets too).
	OK, Busy, Failed uint64
	// WALPages is the number of pages the log held at the last completed
	// run (the pages after the last reader's snapshot stay in it).
	WALPages int64
}

// Checkpoints reports the checkpointer's runs; ok is false for a store
// without one (in memory).
func (s *Store) Checkpoints() (stats CheckpointStats, ok bool) {
	c := s.ckpt
	if c == nil {
		return CheckpointStats{}, false
	}
	return CheckpointStats{OK: c.ok.Load(), Busy: c.busy.Load(), Failed: c.failed.Load(), WALPages: c.walPages.Load()}, true
}

// startCheckpointer opens the checkpointer's connection to name (a
// "file:" URI) and starts it.
func startCheckpointer(name string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", checkpointerDSN(name))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

// checkpointerDSN is the checkpointer's connection: it writes nothing but
// the database file's pages, and gives way at once to a checkpoint that
// another connection (or process) runs.
func checkpointerDSN(name string) string {
	return name + "?_pragma=busy_timeout(0)"
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An error (SQLITE_BUSY while another checkpoint runs, or an I/O
		// error the writer will meet too) leaves the log to the next run
		// and to the writer's own automatic checkpoint; it is counted
		// (Store.Checkpoints, in the metrics) for an operator to see.
		c.record(c.checkpoint(ctx))
	}
}

// record counts one run's outcome.
func (c *checkpointer) record(walPages, _ int64, err error) {
	switch {
	case err == nil:
		c.ok.Add(1)
		c.walPages.Store(walPages)
	case errors.Is(err, store.ErrConflict):
		c.busy.Add(1)
	case errors.Is(err, context.Canceled):
		// Stopped with the store.
	default:
		c.failed.Add(1)
	}
}

// checkpoint runs one PASSIVE checkpoint and returns how many pages the
// log holds and how many of them are in the database file now.
func (c *checkpointer) checkpoint(ctx context.Context) (walPages, copied int64, err error) {
	var busy int64
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walPages, &copied)
	if err != nil {
		return 0, 0, fmt.Errorf("store/sqlite: checkpoint: %w", classify(err))
	}
	if busy != 0 {
		return walPages, copied, fmt.Errorf("store/sqlite: checkpoint: %w: another checkpoint is running", store.ErrConflict)
	}
	return walPages, copied, nil
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}
