package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/store"
)

func newMetrics(t *testing.T, o metrics.Options) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

// TestClientLabelsBounded: admin-registered clients get their own label up
// to the bound, then "other"; dynamic and metadata document clients never
// get their client_id as a label.
func TestClientLabelsBounded(t *testing.T) {
	m := newMetrics(t, metrics.Options{MaxClients: 2})
	for i := range 5 {
		m.TokenIssued("client_credentials", &store.Client{ID: fmt.Sprintf("c%d", i)})
	}
	m.TokenIssued("client_credentials", &store.Client{ID: "c0"})
	m.TokenIssued("authorization_code", &store.Client{ID: "https://app.example/cimd.json", Origin: store.OriginMetadataDocument})
	m.TokenIssued("authorization_code", &store.Client{ID: "dyn-1", Origin: store.OriginDynamic})
	m.TokenIssued("client_credentials", &store.Client{ID: strings.Repeat("x", 200)})
	body := scrape(t, m)
	for _, want := range []string{
		`writ_tokens_issued_total{client="c0",grant_type="client_credentials"} 2`,
		`writ_tokens_issued_total{client="c1",grant_type="client_credentials"} 1`,
		`writ_tokens_issued_total{client="other",grant_type="client_credentials"} 4`,
		`writ_tokens_issued_total{client="metadata_document",grant_type="authorization_code"} 1`,
		`writ_tokens_issued_total{client="dynamic",grant_type="authorization_code"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, leak := range []string{`client="c2"`, "dyn-1", "cimd.json", "xxxx"} {
		if strings.Contains(body, leak) {
			t.Errorf("label %s should not be there", leak)
		}
	}
	none := newMetrics(t, metrics.Options{MaxClients: -1})
	none.TokenIssued("client_credentials", &store.Client{ID: "c0"})
	if b := scrape(t, none); !strings.Contains(b, `client="other"`) || strings.Contains(b, `client="c0"`) {
		t.Error("with MaxClients < 0 every client should be other")
	}
}

func TestMiddleware(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		reqinfo.SetError(r.Context(), "invalid_grant")
		w.WriteHeader(http.StatusBadRequest)
	})
	mux.HandleFunc("GET /x/{id}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		reqinfo.SetError(r.Context(), "Not A Code\n")
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := reqinfo.Middleware(m.Middleware(reqinfo.Patterns(mux)))
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/oauth2/token", nil),
		httptest.NewRequest(http.MethodGet, "/x/secret-value-1", nil),
		httptest.NewRequest(http.MethodGet, "/x/secret-value-2", nil),
		httptest.NewRequest(http.MethodGet, "/nowhere/secret-value-3", nil),
		httptest.NewRequest(http.MethodGet, "/boom", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`writ_http_requests_total{endpoint="/oauth2/token",error="invalid_grant",status="4xx"} 1`,
		`writ_http_requests_total{endpoint="/x/{id}",error="none",status="2xx"} 2`,
		`writ_http_requests_total{endpoint="unmatched",error="none",status="4xx"} 1`,
		`writ_http_requests_total{endpoint="/boom",error="other",status="5xx"} 1`,
		`writ_http_request_duration_seconds_count{endpoint="/x/{id}"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	if strings.Contains(body, "secret-value") {
		t.Error("a raw path reached a label")
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "2xx", 200: "2xx", 304: "3xx", 429: "4xx", 503: "5xx", 99: "other", 600: "other"} {
		if got := metrics.StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestCounters(t *testing.T) {
	m := newMetrics(t, metrics.Options{
		StoreOperations: []string{"GetClient"},
		Keys: func() []metrics.Key {
			return []metrics.Key{{KeyID: "k1", Algorithm: "ES256", State: "active", CreatedAt: time.Unix(1000, 0)}}
		},
		Now: func() time.Time { return time.Unix(1090, 0) },
	})
	m.JWKSServed(false)
	m.JWKSServed(true)
	m.JWKSServed(true)
	m.LoginFailed(metrics.LoginThrottled)
	m.LoginFailed("anything else")
	m.ReuseDetected("refresh_token")
	m.ReuseDetected("authorization_code")
	m.ObserveStore("GetClient", time.Millisecond, nil)
	m.ObserveStore("GetClient", time.Millisecond, fmt.Errorf("wrapped: %w", store.ErrNotFound))
	m.ObserveStore("Unlisted", time.Millisecond, errors.New("boom"))
	end := func() func(error) { _, e := m.StoreObserver()(t.Context(), "GetClient"); return e }()
	end(nil)
	body := scrape(t, m)
	for _, want := range []string{
		`writ_jwks_requests_total{result="served"} 1`,
		`writ_jwks_requests_total{result="not_modified"} 2`,
		`writ_login_failures_total{reason="throttled"} 1`,
		`writ_login_failures_total{reason="invalid_credentials"} 1`,
		`writ_token_reuse_detected_total{grant_type="refresh_token"} 1`,
		`writ_token_reuse_detected_total{grant_type="authorization_code"} 1`,
		`writ_store_operation_duration_seconds_count{operation="GetClient"} 3`,
		`writ_store_operation_errors_total{error="not_found",operation="GetClient"} 1`,
		`writ_store_operation_errors_total{error="other",operation="Unlisted"} 1`,
		`writ_signing_key_age_seconds{alg="ES256",kid="k1",state="active"} 90`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "writ_signing_key_age_seconds"); err != nil || n != 1 {
		t.Errorf("key age series: %d, %v", n, err)
	}
}

// TestWAL: the SQLite checkpointer's runs and log size are read at each
// scrape; without the option (PostgreSQL) the series are not there.
func TestWAL(t *testing.T) {
	wal := metrics.WAL{OK: 7, Busy: 2, Failed: 1, Pages: 134}
	m := newMetrics(t, metrics.Options{WAL: func() metrics.WAL { return wal }})
	body := scrape(t, m)
	for _, want := range []string{
		`writ_sqlite_checkpoints_total{result="ok"} 7`,
		`writ_sqlite_checkpoints_total{result="busy"} 2`,
		`writ_sqlite_checkpoints_total{result="failed"} 1`,
		`writ_sqlite_wal_pages 134`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	wal.OK, wal.Pages = 8, 12
	if body := scrape(t, m); !strings.Contains(body, `writ_sqlite_checkpoints_total{result="ok"} 8`) || !strings.Contains(body, `writ_sqlite_wal_pages 12`) {
		t.Error("a second scrape did not read the checkpointer again")
	}
	if strings.Contains(scrape(t, newMetrics(t, metrics.Options{})), "writ_sqlite_") {
		t.Error("SQLite series without the WAL option")
	}
}

// TestGroupCommits: the store's group commit is read at each scrape;
// without the option the series are not there.
func TestGroupCommits(t *testing.T) {
	g := metrics.GroupCommits{Commits: 10, Writes: 85, Reruns: 3}
	m := newMetrics(t, metrics.Options{GroupCommits: func() metrics.GroupCommits { return g }})
	body := scrape(t, m)
	for _, want := range []string{
		"writ_store_group_commits_total 10\n",
		"writ_store_group_commit_writes_total 85\n",
		"writ_store_group_commit_reruns_total 3\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	g.Commits = 11
	if body := scrape(t, m); !strings.Contains(body, "writ_store_group_commits_total 11\n") {
		t.Error("a second scrape did not read the group commit again")
	}
	if strings.Contains(scrape(t, newMetrics(t, metrics.Options{})), "writ_store_group_") {
		t.Error("group commit series without the option")
	}
}

func TestNilMetrics(t *testing.T) {
	var m *metrics.Metrics
	m.TokenIssued("client_credentials", &store.Client{ID: "c"})
	m.JWKSServed(true)
	m.LoginFailed(metrics.LoginThrottled)
	m.ReuseDetected("refresh_token")
	m.ObserveStore("GetClient", time.Second, nil)
	next := http.NotFoundHandler()
	if m.Middleware(next) == nil || m.Registry() != nil {
		t.Error("a nil Metrics should pass requests through and have no registry")
	}
}

func TestRequireBearer(t *testing.T) {
	h := metrics.RequireBearer("the-admin-token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic the-admin-token", http.StatusUnauthorized},
		{"Bearer the-admin-token", http.StatusOK},
		{"bearer the-admin-token", http.StatusOK},
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, rec.Code, tc.want)
		}
	}
	empty := metrics.RequireBearer("", http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	empty.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("an empty token should refuse everyone: %d", rec.Code)
	}
}
