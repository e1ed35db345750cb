package backup

import (
	"errors"
	"fmt"
	"os"
)

// ErrLive reports that a writ server (or another restore) holds the lock
// of a store: restoring over it would pull the database from under a
// running process.
var ErrLive = errors.New("backup: the store is in use by a running writ server")

// ErrRestoring reports that a restore holds the lock of a store, so a
// server must not open it.
var ErrRestoring = errors.New("backup: the store is being restored")

// LockPath is the advisory lock file of the SQLite database at dbPath:
// the database path followed by ".lock", kept beside it (and never
// renamed with it).
func LockPath(dbPath string) string { return dbPath + ".lock" }

// Lock is an advisory lock on a SQLite store, held until Close. Servers
// hold it shared (several may share a file), a restore exclusively.
type Lock struct {
	f *os.File
}

// Close releases the lock. Closing a nil Lock does nothing.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LockServing takes the shared lock a server holds on the SQLite database
// at dbPath for as long as it runs, without waiting. It fails with
// ErrRestoring while a restore holds the exclusive lock.
func LockServing(dbPath string) (*Lock, error) {
	l, err := lock(dbPath, false)
	if errors.Is(err, errWouldBlock) {
		return nil, fmt.Errorf("%w: %s is locked by `writ restore` (%s); wait for it to finish", ErrRestoring, dbPath, LockPath(dbPath))
	}
	return l, err
}

// LockExclusive takes the exclusive lock of the SQLite database at dbPath
// without waiting. It fails with ErrLive while a server (or another
// restore) holds the lock.
func LockExclusive(dbPath string) (*Lock, error) {
	l, err := lock(dbPath, true)
	if errors.Is(err, errWouldBlock) {
		return nil, fmt.Errorf("%w: %s is locked (%s): stop `writ serve` on it first", ErrLive, dbPath, LockPath(dbPath))
	}
	return l, err
}

// errWouldBlock reports that the lock is held in a conflicting mode.
var errWouldBlock = errors.New("backup: lock held")
