#!/usr/bin/env bash
# Runs the token benchmarks the way docs/PERFORMANCE.md records them and
# prints the benchstat tables, one column per implementation.
#
#   bash bench/run.sh                      # every benchmark, 6 rounds
#   BENCH='Verify/(writ|floor)/' ROUNDS=12 BENCHTIME=0.5s OUT=/tmp/floor.txt bash bench/run.sh
#
# The test binary is built once, so the code measured cannot change between
# rounds, and run ROUNDS times with one run of each benchmark per round
# (-count=1): every round runs every implementation, so load from other
# work on a shared machine is spread over all of them instead of landing on
# whichever ran at that moment. Raw results go to OUT.
set -euo pipefail

out=${OUT:-/tmp/bench.txt}
rounds=${ROUNDS:-6}
pattern=${BENCH:-.}
benchtime=${BENCHTIME:-1s}

cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) writ $(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)"
	for ((i = 1; i <= rounds; i++)); do
		"$tmp/bench.test" -test.run '^$' -test.bench "$pattern" -test.benchmem -test.benchtime "$benchtime"
	done
} >"$out"

# benchstat groups by key=value name parts: BenchmarkVerify/impl=writ/alg=HS256.
sed -E 's#^Benchmark(Verify|VerifyScope|Sign)/([^/]+)/([A-Za-z0-9]+)#Benchmark\1/impl=\2/alg=\3#' "$out" >"$tmp/pivot.txt"
for name in Verify VerifyScope Sign; do
	if grep -q "^Benchmark$name/" "$out"; then
		echo "== $name"
		go run golang.org/x/perf/cmd/benchstat@latest -filter ".name:$name" -row /alg -col /impl "$tmp/pivot.txt"
	fi
done
if grep -q '^BenchmarkVerify/floor/' "$out"; then
	echo "== writ vs floor, paired by round"
	go run ./cmd/floorratio <"$out"
fi
