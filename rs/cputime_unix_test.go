//go:build unix

package rs

import (
	"syscall"
	"time"
)

// benchCPUTime returns the user plus system CPU time the process has used
// so far, on every thread, so that benchmarks can report CPU time per
// operation, which load on a shared machine does not inflate as it does
// wall time.
func benchCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
