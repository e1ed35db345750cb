//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package backup

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lock opens (creating, mode 0600) the lock file of dbPath and takes a
// flock(2) on it without waiting. The kernel releases it when the process
// ends, even by kill -9, so a crash never leaves a stale lock.
func lock(dbPath string, exclusive bool) (*Lock, error) {
	f, err := os.OpenFile(LockPath(dbPath), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: open lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errWouldBlock
		}
		return nil, fmt.Errorf("backup: lock %s: %w", LockPath(dbPath), err)
	}
	return &Lock{f: f}, nil
}
