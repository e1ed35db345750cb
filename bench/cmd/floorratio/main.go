// Command floorratio reads `go test -bench` output that holds several rounds
// of BenchmarkVerify (each round running every implementation once, as
// bench/run.sh does) and reports, per algorithm, how far an implementation
// is above the floor. It pairs the implementation with the floor run of the
// same round, so that load from other work on a shared machine, which
// changes from one minute to the next, cancels out of each ratio; the
// median and interquartile range of the per-round ratios are printed.
//
//	go run ./cmd/floorratio -metric cpu-ns/op -impl writ < /tmp/bench.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	metric := flag.String("metric", "cpu-ns/op", "benchmark metric to compare (ns/op, cpu-ns/op)")
	impl := flag.String("impl", "writ", "implementation compared with the floor")
	bench := flag.String("bench", "BenchmarkVerify", "benchmark whose sub-benchmarks are <impl>/<alg>")
	flag.Parse()
	res, err := pairs(os.Stdin, *bench, *impl, "floor", *metric)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s vs floor, %s, per-round pairs\n", *impl, *metric)
	fmt.Printf("%-6s %6s %12s %12s %22s %24s\n", "alg", "rounds", *impl, "floor", "ratio median [IQR]", "overhead median [IQR]")
	for _, r := range res {
		fmt.Printf("%-6s %6d %12.0f %12.0f %7.3f [%.3f–%.3f] %9.0f [%.0f–%.0f]\n",
			r.Alg, r.N, r.Impl, r.Floor, r.Ratio[1], r.Ratio[0], r.Ratio[2], r.Over[1], r.Over[0], r.Over[2])
	}
}

// result summarizes one algorithm: medians of the implementation and floor
// values, and quartiles (Q1, median, Q3) of the per-round ratio and
// difference.
type result struct {
	Alg         string
	N           int
	Impl, Floor float64
	Ratio, Over [3]float64
}

// pairs reads benchmark lines and pairs each <bench>/<impl>/<alg> value with
// the next <bench>/<base>/<alg> value that follows it (the same round).
func pairs(r io.Reader, bench, impl, base, metric string) ([]result, error) {
	type pair struct{ a, b float64 }
	pending := map[string][]float64{}
	got := map[string][]pair{}
	var algs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], bench+"/") {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(f[0], bench+"/"), "/")
		if len(parts) != 2 {
			continue
		}
		name, alg := parts[0], parts[1]
		if i := strings.LastIndexByte(alg, '-'); i > 0 { // GOMAXPROCS suffix
			alg = alg[:i]
		}
		v, ok := value(f, metric)
		if !ok {
			continue
		}
		switch name {
		case impl:
			pending[alg] = append(pending[alg], v)
			if !slices.Contains(algs, alg) {
				algs = append(algs, alg)
			}
		case base:
			if q := pending[alg]; len(q) > 0 {
				got[alg] = append(got[alg], pair{q[0], v})
				pending[alg] = q[1:]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	var out []result
	for _, alg := range algs {
		ps := got[alg]
		if len(ps) == 0 {
			continue
		}
		var a, b, ratio, over []float64
		for _, p := range ps {
			a, b = append(a, p.a), append(b, p.b)
			ratio, over = append(ratio, p.a/p.b), append(over, p.a-p.b)
		}
		out = append(out, result{Alg: alg, N: len(ps), Impl: quartiles(a)[1], Floor: quartiles(b)[1], Ratio: quartiles(ratio), Over: quartiles(over)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s/%s and %s/%s pairs with metric %s", bench, impl, bench, base, metric)
	}
	return out, nil
}

// value finds the number before unit in a benchmark line's fields.
func value(f []string, unit string) (float64, bool) {
	for i := 3; i < len(f); i++ {
		if f[i] == unit {
			v, err := strconv.ParseFloat(f[i-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// quartiles returns Q1, the median and Q3 (linear interpolation).
func quartiles(v []float64) [3]float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 {
		x := p * float64(len(s)-1)
		i := int(x)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (x-float64(i))*(s[i+1]-s[i])
	}
	return [3]float64{q(0.25), q(0.5), q(0.75)}
}
