//go:build unix

package audit_test

import "syscall"

// processCPU returns the CPU time (user+system) the process has used, in
// nanoseconds. Benchmarks report it per operation besides wall time: on a
// shared, loaded machine it is the steadier figure.
func processCPU() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
