//go:build unix

package cputime

import (
	"crypto/sha256"
	"testing"
)

// burn uses CPU until the process's CPU time has moved past from.
func burn(t testing.TB, from Meter) {
	sum := sha256.Sum256(nil)
	for i := 0; ; i++ {
		sum = sha256.Sum256(sum[:])
		if i%1000 == 0 {
			if now, ok := Process(); !ok {
				t.Fatal("Process: the CPU time cannot be read")
			} else if now > from.start {
				return
			}
		}
	}
}

func TestMeter(t *testing.T) {
	m := Start()
	if !m.ok || m.start <= 0 {
		t.Fatalf("Start() = %+v: no CPU time read", m)
	}
	for _, c := range []struct {
		name   string
		ops    int
		report bool
	}{
		{"per operation", 10, true},
		{"no operations", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := testing.Benchmark(func(b *testing.B) {
				m := Start()
				burn(b, m)
				m.Report(b, c.ops)
			})
			v, ok := r.Extra["cpu-ns/op"]
			if ok != c.report || (ok && v <= 0) {
				t.Errorf("cpu-ns/op = %v (reported: %v), want reported: %v and positive", v, ok, c.report)
			}
		})
	}
}
