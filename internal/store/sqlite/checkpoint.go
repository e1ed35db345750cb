package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
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
		// and to the writer's own automatic checkpoint.
		_, _, _ = c.checkpoint(ctx)
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
	return walPages, copied, nil
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}
