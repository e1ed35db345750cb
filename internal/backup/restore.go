package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite"
)

// RestoreOptions adjust Restore.
type RestoreOptions struct {
	// Progress, when not nil, receives human-readable progress lines.
	Progress io.Writer
	// Now is the clock that names the previous database kept aside; nil
	// means time.Now.
	Now func() time.Time
}

// RestoreResult describes a restore.
type RestoreResult struct {
	// Path is the restored database.
	Path string
	// Bytes is its size.
	Bytes int64
	// Check is what Verify found in the backup.
	Check Check
	// Migrated is how many migrations were applied after the copy.
	Migrated int
	// Aside lists where the previous database and its -wal and -shm files
	// were renamed to; empty when there was none.
	Aside []string
}

// sidecars are the files SQLite keeps beside a database, moved with it.
var sidecars = []string{"", "-wal", "-shm", "-journal"}

// Restore replaces the SQLite database at target with the backup at from.
// It holds the store's exclusive lock throughout, so it fails with ErrLive
// while a server runs on target (and a server cannot start meanwhile). It
// checks the backup (Verify: integrity, schema not newer than this
// binary), copies it beside target (mode 0600), checks the copy, applies
// the migrations it lacks, and then renames the previous database and its
// -wal, -shm and -journal files to <name>.before-restore-<time> before
// moving the copy into place. Nothing is deleted; on error target is
// unchanged.
func Restore(ctx context.Context, from, target string, o RestoreOptions) (RestoreResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	from, err := filepath.Abs(from)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: backup path: %w", err)
	}
	if target, err = filepath.Abs(target); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: database path: %w", err)
	}
	if from == target {
		return RestoreResult{}, errors.New("restore: the backup is the database to replace")
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: create data directory: %w", err)
	}
	lk, err := LockExclusive(target)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: refusing to replace %s: %w", target, err)
	}
	defer lk.Close()

	say(o.Progress, "checking %s", from)
	check, err := Verify(ctx, from)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	tmp, err := createTemp(target)
	if err != nil {
		return RestoreResult{}, err
	}
	keep := false
	defer func() {
		if !keep {
			for _, s := range sidecars {
				os.Remove(tmp + s)
			}
		}
	}()
	n, err := copyFile(tmp, from)
	if err != nil {
		return RestoreResult{}, err
	}
	say(o.Progress, "copied %s; checking the copy", size(n))
	if _, err := Verify(ctx, tmp); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: the copy failed its check: %w", err)
	}
	res := RestoreResult{Path: target, Bytes: n, Check: check}
	if check.Pending > 0 {
		if err := migrateFile(ctx, tmp); err != nil {
			return RestoreResult{}, err
		}
		if _, err := Verify(ctx, tmp); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: the migrated copy failed its check: %w", err)
		}
		res.Migrated = check.Pending
		say(o.Progress, "applied %d migration(s) the backup lacked", check.Pending)
	}
	if err := syncFile(tmp); err != nil {
		return RestoreResult{}, err
	}

	stamp := o.Now().UTC().Format("20060102T150405Z")
	aside := target + ".before-restore-" + stamp
	for _, s := range sidecars {
		if _, err := os.Lstat(target + s); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if _, err := os.Lstat(aside + s); err == nil {
			return RestoreResult{}, fmt.Errorf("restore: %s exists already; try again in a second", aside+s)
		}
		if err := os.Rename(target+s, aside+s); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: keep the previous database aside: %w (%s)", err, undoAside(target, aside, res.Aside))
		}
		res.Aside = append(res.Aside, aside+s)
	}
	if err := os.Rename(tmp, target); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w (%s)", err, undoAside(target, aside, res.Aside))
	}
	keep = true
	syncDir(filepath.Dir(target))
	return res, nil
}

// undoAside moves the files already renamed aside back, and says how it
// went.
func undoAside(target, aside string, moved []string) string {
	for _, s := range sidecars {
		for _, m := range moved {
			if m == aside+s {
				if err := os.Rename(m, target+s); err != nil {
					return fmt.Sprintf("the previous database is at %s: move it back by hand", aside)
				}
			}
		}
	}
	return "the previous database is unchanged"
}

// migrateFile applies this binary's pending migrations to the database
// file at path through the SQLite store, which also sets WAL mode. Closing
// the store checkpoints and removes its -wal and -shm files.
func migrateFile(ctx context.Context, path string) error {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("restore: open the copy: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return fmt.Errorf("restore: migrate the copy: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// copyFile copies src into the existing empty file dst and syncs it.
func copyFile(dst, src string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("restore: copy the backup: %w", err)
	}
	return n, nil
}
