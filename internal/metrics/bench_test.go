package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/reqinfo"
)

// BenchmarkMiddleware is the cost the metrics add to a request: the
// request record, the route lookup, the counter and the histogram, against
// the bare mux.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {})
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", mux},
		{"instrumented", reqinfo.Middleware(m.Middleware(reqinfo.Patterns(mux)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}
