package app

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/writ-dev/writ/internal/backup"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

// lockStore takes the shared advisory lock of a SQLite store (see
// backup.LockServing), which `writ restore` needs exclusively: a restore
// cannot replace the database under a running node, nor a node open one
// being restored. Other stores need no lock; nil is returned for them. A
// database whose directory does not exist, or where the lock file cannot
// be created, is not locked: opening it fails with the store's own
// message.
func lockStore(dsn string) (io.Closer, error) {
	backend, path, err := storeopen.Parse(dsn)
	if err != nil || backend != storeopen.SQLite || path == sqlite.MemoryPath {
		return nil, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Dir(abs)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	l, err := backup.LockServing(abs)
	switch {
	case errors.Is(err, backup.ErrRestoring):
		return nil, err
	case err != nil:
		// The lock file cannot be made where the database lives: opening
		// the database fails too, with a message that says what to check.
		return nil, nil
	}
	return l, nil
}
