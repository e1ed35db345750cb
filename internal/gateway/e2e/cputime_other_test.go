//go:build !unix

package e2e

// processCPU is not measured on this platform.
func processCPU() (int64, bool) { return 0, false }
