// Package cputime measures the CPU time a benchmark costs the whole
// process (user and system, every thread: the code measured, the garbage
// collector, servers the benchmark runs in process). On a shared, loaded
// machine that is a steadier figure than wall time, which other
// processes' load inflates; benchmarks report it as cpu-ns/op.
package cputime

import (
	"testing"
	"time"
)

// Meter holds the process's CPU time when it was started.
type Meter struct {
	start time.Duration
	ok    bool
}

// Start reads the process's CPU time so far.
func Start() Meter {
	d, ok := Process()
	return Meter{start: d, ok: ok}
}

// Report reports the CPU time since Start divided by ops as cpu-ns/op,
// unless the time could not be read (a system without getrusage) or ops
// is not positive.
func (m Meter) Report(b *testing.B, ops int) {
	end, ok := Process()
	if m.ok && ok && ops > 0 {
		b.ReportMetric(float64(end-m.start)/float64(ops), "cpu-ns/op")
	}
}
