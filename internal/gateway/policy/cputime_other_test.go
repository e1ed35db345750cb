//go:build !unix

package policy

func processCPU() (int64, bool) { return 0, false }
