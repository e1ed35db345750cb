//go:build !unix

package rs

import "time"

// benchCPUTime is not available here; benchmarks then report wall time only.
func benchCPUTime() (time.Duration, bool) { return 0, false }
