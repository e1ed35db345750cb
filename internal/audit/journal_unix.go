//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errLocked reports a journal another process holds.
var errLocked = errors.New("audit: journal in use by another process")

// lockFile takes an exclusive flock(2) on f without waiting; the kernel
// releases it when f is closed or the process ends, even by kill -9.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLocked
		default:
			return fmt.Errorf("audit: lock journal: %w", err)
		}
	}
}
