//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPUTime returns the user plus system CPU time the process has used
// so far, on every thread (the benchmark, the garbage collector, and any
// other goroutine).
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
