package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsRequestsAndErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "nope", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		Target:      srv.URL,
		Concurrency: 4,
		Duration:    10 * time.Second,
		MaxRequests: 200,
		Request: func(ctx context.Context, _, _ int) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 200 || res.Requests > 204 {
		t.Fatalf("requests = %d, want about 200 (bounded by MaxRequests)", res.Requests)
	}
	if res.Errors != res.Statuses[http.StatusServiceUnavailable] || res.Errors == 0 {
		t.Fatalf("errors = %d, 503s = %d", res.Errors, res.Statuses[503])
	}
	if !strings.Contains(res.FirstError, "503") {
		t.Fatalf("first error %q", res.FirstError)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Fatalf("percentiles out of order: %v %v %v", res.P50, res.P99, res.Max)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080/x", true},
		{"http://127.3.4.5/", true},
		{"http://[::1]:80/", true},
		{"http://localhost:8080", true},
		{"http://10.0.0.1/", false},
		{"http://192.168.1.1/", false},
		{"https://example.com/", false},
		{"not a url", false},
	}
	for _, tt := range tests {
		if err := CheckLoopback(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
	_, err := Run(context.Background(), Config{Target: "http://10.1.2.3/", Concurrency: 1, Duration: time.Second,
		Request: func(context.Context, int, int) (*http.Request, error) { t.Fatal("request built"); return nil, nil }})
	if err == nil {
		t.Fatal("Run loaded a non-loopback target")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	req := func(context.Context, int, int) (*http.Request, error) { return nil, nil }
	for _, cfg := range []Config{
		{Target: "http://127.0.0.1/", Concurrency: 0, Duration: time.Second, Request: req},
		{Target: "http://127.0.0.1/", Concurrency: 1, Duration: 0, Request: req},
		{Target: "http://127.0.0.1/", Concurrency: 1, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted", cfg)
		}
	}
}
