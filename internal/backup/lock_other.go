//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package backup

import "errors"

// lock is not available without flock(2): a server runs without it, and a
// restore refuses, since it cannot tell whether a server is running.
func lock(dbPath string, exclusive bool) (*Lock, error) {
	if exclusive {
		return nil, errors.New("backup: restore needs advisory file locks, which this platform lacks")
	}
	return &Lock{}, nil
}
