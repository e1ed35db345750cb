package main

import (
	"strings"
	"testing"
)

func TestPairs(t *testing.T) {
	in := `goos: linux
BenchmarkVerify/writ/HS256-2   100  3000 ns/op  2000 cpu-ns/op  2304 B/op  3 allocs/op
BenchmarkVerify/jwx/HS256-2    100  9000 ns/op  9000 cpu-ns/op  2304 B/op  3 allocs/op
BenchmarkVerify/floor/HS256-2  100  1000 ns/op  1000 cpu-ns/op   512 B/op  6 allocs/op
BenchmarkVerify/writ/RS256-2   100  33000 ns/op 33000 cpu-ns/op
BenchmarkVerify/floor/RS256-2  100  30000 ns/op 30000 cpu-ns/op
BenchmarkSign/writ/HS256-2     100  1 ns/op 1 cpu-ns/op
BenchmarkVerify/writ/HS256-2   100  5000 ns/op  4000 cpu-ns/op
BenchmarkVerify/floor/HS256-2  100  2000 ns/op  2000 cpu-ns/op
BenchmarkVerify/writ/HS256-2   100  5000 ns/op  3000 cpu-ns/op
`
	res, err := pairs(strings.NewReader(in), "BenchmarkVerify", "writ", "floor", "cpu-ns/op")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Alg != "HS256" || res[1].Alg != "RS256" {
		t.Fatalf("results %+v", res)
	}
	hs := res[0]
	// Two complete pairs: (2000, 1000) and (4000, 2000); the last writ line
	// has no floor and is left out.
	if hs.N != 2 || hs.Ratio[1] != 2 || hs.Over[1] != 1500 || hs.Impl != 3000 || hs.Floor != 1500 {
		t.Errorf("HS256 %+v", hs)
	}
	if rs := res[1]; rs.N != 1 || rs.Ratio[1] != 1.1 {
		t.Errorf("RS256 %+v", rs)
	}
	if _, err := pairs(strings.NewReader(in), "BenchmarkVerify", "writ", "floor", "bogus/op"); err == nil {
		t.Error("no error for a missing metric")
	}
}

func TestQuartiles(t *testing.T) {
	if q := quartiles([]float64{4, 1, 3, 2, 5}); q != [3]float64{2, 3, 4} {
		t.Errorf("quartiles %v", q)
	}
}
