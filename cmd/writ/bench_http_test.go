package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestBenchHTTPFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no url", nil, "--url is required"},
		{"remote", []string{"--url", "http://192.0.2.1/"}, "not a loopback address"},
		{"scheme", []string{"--url", "ftp://127.0.0.1/"}, "http or https"},
		{"header", []string{"--url", "http://127.0.0.1/", "-H", "NoColon"}, `want "Name: value"`},
		{"status", []string{"--url", "http://127.0.0.1/", "--expect-status", "42"}, "between 100 and 599"},
		{"output", []string{"--url", "http://127.0.0.1/", "-o", "xml"}, "table or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writ(t, "", append([]string{"bench", "http"}, tc.args...)...).mustFail(t, 2, tc.want)
		})
	}
}

func TestBenchHTTPSendsHeadersAndChecksStatus(t *testing.T) {
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Trace") != "on" || r.Method != http.MethodPost {
			bad.Add(1)
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	t.Setenv("WRIT_BENCH_TOKEN", "tok")

	run := func(status string) map[string]any {
		r := writ(t, "", "bench", "http", "--url", srv.URL+"/x", "-X", "post", "-H", "x-trace: on",
			"--expect-status", status, "-c", "2", "-d", "200ms", "-o", "json").mustSucceed(t)
		var res map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("output %q: %v", r.stdout, err)
		}
		return res
	}
	res := run("202")
	if res["requests"].(float64) < 1 || res["errors"].(float64) != 0 || bad.Load() != 0 {
		t.Fatalf("result %v, %d malformed requests", res, bad.Load())
	}
	// A request that completes as the run ends is counted but not judged,
	// so the errors are the requests less at most one per connection.
	res = run("200")
	if errs, reqs := res["errors"].(float64), res["requests"].(float64); errs < 1 || errs < reqs-2 {
		t.Fatalf("every answer had 202 but --expect-status 200: result %v", res)
	}
}
