package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// The writer leaves the log to the checkpointer: thousands of commits
// leave the database file as it was (the writer did not checkpoint, as it
// did every 4,000 pages before), and one run of the checkpointer copies
// every page of the log into it.
func TestCheckpointerCopiesTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	s := migrated(t, path)
	// No background runs: the log is only checkpointed here.
	s.ckpt.stop()
	<-s.ckpt.done
	if _, _, err := s.ckpt.checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	const commits = 3000
	for i := range commits {
		if err := s.CreateClient(t.Context(), store.Client{ID: "c" + strconv.Itoa(i)}); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
	}
	if after := fileSize(t, path); after != before {
		t.Errorf("the database file grew from %d to %d bytes without the checkpointer: the writer checkpointed", before, after)
	}
	pages, copied, err := s.ckpt.checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if pages < commits {
		t.Errorf("the log holds %d pages after %d commits, want them all", pages, commits)
	}
	if copied != pages {
		t.Errorf("the checkpoint copied %d of %d pages, want all", copied, pages)
	}
	if after := fileSize(t, path); after <= before {
		t.Errorf("the database file is %d bytes after the checkpoint, want more than %d", after, before)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Close stops the checkpointer with the store.
func TestCloseStopsCheckpointer(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "writ.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ckpt.done:
	default:
		t.Fatal("the checkpointer runs on after Close")
	}
	if err := s.ckpt.db.Ping(); err == nil {
		t.Error("the checkpointer's connection is open after Close")
	}
}

// An in-memory store has no log and no checkpointer.
func TestMemoryStoreHasNoCheckpointer(t *testing.T) {
	s, err := Open(t.Context(), MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ckpt != nil {
		t.Error("an in-memory store started a checkpointer")
	}
}

// The checkpointer's runs are counted by outcome for the metrics: a
// completed run with the log's size, one that gave way to another
// checkpoint, one that failed; a run cut short by the store closing is
// not a failure. A store in memory has no checkpointer.
func TestCheckpointerCounts(t *testing.T) {
	s := migrated(t, filepath.Join(t.TempDir(), "writ.db"))
	s.ckpt.stop()
	<-s.ckpt.done
	c := s.ckpt
	c.ok.Store(0) // runs of the background loop before it stopped
	c.record(c.checkpoint(t.Context()))
	c.record(0, 0, fmt.Errorf("store/sqlite: checkpoint: %w: another checkpoint is running", store.ErrConflict))
	c.record(0, 0, fmt.Errorf("store/sqlite: checkpoint: %w", context.Canceled))
	if err := c.db.Close(); err != nil {
		t.Fatal(err)
	}
	c.record(c.checkpoint(t.Context())) // on a closed connection
	got, ok := s.Checkpoints()
	if !ok || got.OK != 1 || got.Busy != 1 || got.Failed != 1 || got.WALPages <= 0 {
		t.Fatalf("Checkpoints() = %+v, %v; want 1 completed (with the log's pages), 1 busy, 1 failed", got, ok)
	}

	mem, err := Open(t.Context(), MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	if _, ok := mem.Checkpoints(); ok {
		t.Error("a store in memory reports a checkpointer")
	}
}

// migrated opens a migrated store on the file at path, closed when the
// test ends.
func migrated(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}
