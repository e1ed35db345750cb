package sqlite

import (
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriterPragmas checks the writer's connection settings that the
// store's throughput rests on, as SQLite reports them.
func TestWriterPragmas(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "writ.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"temp_store", "2"},  // MEMORY: statement and savepoint journals
		{"wal_autocheckpoint", strconv.Itoa(writerAutoCheckpoint)},
	} {
		var got string
		if err := s.w.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s on the writer, want %s", tc.pragma, got, tc.want)
		}
	}
}
