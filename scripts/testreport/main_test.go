package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"p"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB/sub","Output":"    b_test.go:9: no PostgreSQL: set WRIT_TEST_POSTGRES_DSN\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB/sub","Output":"--- SKIP: TestB/sub (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB/sub"}`,
		`{"Action":"pass","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"fail","Package":"p"}`,
		`# a line that is not JSON`,
	}, "\n")
	var out strings.Builder
	c, ok, err := report(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("ok with a failed test")
	}
	if c != (counts{passed: 2, failed: 1, skipped: 1}) {
		t.Errorf("counts %+v", c)
	}
	for _, want := range []string{
		"--- FAIL p TestC\n    c_test.go:3: got 1, want 2\n",
		"SKIP p TestB/sub: b_test.go:9: no PostgreSQL: set WRIT_TEST_POSTGRES_DSN",
		"FAIL\tp\t0.1s\n",
		"# a line that is not JSON\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
