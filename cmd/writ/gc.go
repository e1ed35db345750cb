package main

import "strconv"

// defaultGCPercent is the collector target of writ's servers (writ serve
// and writ gateway) when neither their own setting nor GOGC gives one. A
// server keeps little live memory and allocates per request, so the
// runtime's default of 100 collects every few thousand requests: under
// load that was about a fifth of the CPU of a token grant
// (docs/PERFORMANCE.md). 400 spends a fraction of that for a few more
// megabytes; GOMEMLIMIT still caps the heap when it is set.
const defaultGCPercent = 400

// collectorTarget returns the Go collector's target, as
// debug.SetGCPercent takes it (-1: off): writ's own setting when it is
// given ("off" or a percentage), else the GOGC environment variable when
// it is set (one the runtime cannot read counts as its 100), else def.
func collectorTarget(setting, gogc string, def int) int {
	v := setting
	if v == "" {
		if gogc == "" {
			return def
		}
		v = gogc
	}
	if v == "off" {
		return -1
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return 100
}
