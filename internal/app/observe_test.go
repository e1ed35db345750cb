package app_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/protobuf/proto"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// span is what the test keeps of an exported span.
type span struct {
	name, traceID, parentID, spanID string
	attrs                           map[string]string
}

// otlpReceiver is an OTLP/HTTP traces endpoint on loopback that decodes
// the protobuf export requests it receives.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []span
	res   map[string]string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{res: map[string]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(io.LimitReader(body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ex collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &ex); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range ex.ResourceSpans {
			for k, v := range attrMap(rs.GetResource().GetAttributes()) {
				r.res[k] = v
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, span{
						name: s.Name, traceID: fmt.Sprintf("%x", s.TraceId), spanID: fmt.Sprintf("%x", s.SpanId),
						parentID: fmt.Sprintf("%x", s.ParentSpanId), attrs: attrMap(s.Attributes),
					})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.Key] = v.GetStringValue()
		default:
			m[kv.Key] = fmt.Sprint(v.GetIntValue())
		}
	}
	return m
}

func (r *otlpReceiver) all() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]span(nil), r.spans...)
}

// TestObservability runs token traffic through a real node with tracing to
// a loopback OTLP/HTTP receiver, debug JSON logs and the access log, then
// checks the admin listener's /metrics (and promtool's verdict on it),
// the exported spans, and that no secret or token reached the logs, the
// spans or the metrics.
func TestObservability(t *testing.T) {
	recv := newOTLPReceiver(t)
	logs := &syncBuffer{}
	a := apptest.Start(t, map[string]string{
		"WRIT_DATA_DIR":             t.TempDir(),
		"WRIT_ADDR":                 "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":           "127.0.0.1:0",
		"WRIT_ACCESS_LOG":           "true",
		"WRIT_TRACING_ENDPOINT":     recv.URL + "/v1/traces",
		"WRIT_TRACING_SERVICE_NAME": "writ-test",
	}, app.Options{
		Announce: io.Discard,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx := t.Context()

	var created struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	apptest.Admin(t, a, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "billing", "grant_types": []string{"client_credentials"}, "scope": "orders:read",
	}, &created, http.StatusCreated)
	secrets := []string{created.Secret, a.AdminToken}

	cc := clientcredentials.Config{ClientID: created.ID, ClientSecret: created.Secret, TokenURL: a.Issuer + "/oauth2/token", Scopes: []string{"orders:read"}}
	var tokens []string
	for range 3 {
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client credentials: %v", err)
		}
		tokens = append(tokens, tok.AccessToken)
	}
	secrets = append(secrets, tokens...)

	// A wrong secret: invalid_client, and the wrong secret is a secret too.
	wrong := "wrong-secret-" + created.Secret[:8]
	secrets = append(secrets, wrong)
	bad := clientcredentials.Config{ClientID: created.ID, ClientSecret: wrong, TokenURL: cc.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := bad.Token(ctx); err == nil {
		t.Fatal("a wrong secret got a token")
	}

	// Introspection, with a caller's traceparent: its trace continues.
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	form := url.Values{"token": {tokens[0]}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.Issuer+"/oauth2/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-00")
	req.SetBasicAuth(created.ID, created.Secret)
	resp := do(t, req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `"active":true`) {
		t.Fatalf("introspection: %d %s", resp.StatusCode, resp.body)
	}

	// The JWKS, then again with its ETag: 304.
	resp = do(t, mustRequest(t, ctx, http.MethodGet, a.Issuer+"/.well-known/jwks.json"))
	req = mustRequest(t, ctx, http.MethodGet, a.Issuer+"/.well-known/jwks.json")
	req.Header.Set("If-None-Match", resp.header.Get("ETag"))
	if r := do(t, req); r.StatusCode != http.StatusNotModified {
		t.Fatalf("JWKS with its ETag: %d, want 304", r.StatusCode)
	}
	// A path no route matches.
	do(t, mustRequest(t, ctx, http.MethodGet, a.Issuer+"/no/such/path"))
	// The admin listener's requests count too, by the admin API's route
	// pattern and error code.
	for path, want := range map[string]int{"/admin/clients": http.StatusOK, "/admin/clients/no-such-client": http.StatusNotFound} {
		req := mustRequest(t, ctx, http.MethodGet, "http://"+a.AdminAddr().String()+path)
		req.Header.Set("Authorization", "Bearer "+a.AdminToken)
		if r := do(t, req); r.StatusCode != want {
			t.Fatalf("GET %s on the admin listener: %d, want %d", path, r.StatusCode, want)
		}
	}

	// The metrics, scraped like Prometheus does: no credentials.
	scrape := do(t, mustRequest(t, ctx, http.MethodGet, "http://"+a.AdminAddr().String()+app.MetricsPath))
	if scrape.StatusCode != http.StatusOK || !strings.HasPrefix(scrape.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", scrape.StatusCode, scrape.header.Get("Content-Type"))
	}
	for _, want := range []string{
		fmt.Sprintf(`writ_tokens_issued_total{client=%q,grant_type="client_credentials"} 3`, created.ID),
		`writ_http_requests_total{endpoint="/oauth2/token",error="none",status="2xx"} 3`,
		`writ_http_requests_total{endpoint="/oauth2/token",error="invalid_client",status="4xx"} 1`,
		`writ_http_requests_total{endpoint="/oauth2/introspect",error="none",status="2xx"} 1`,
		`writ_http_requests_total{endpoint="unmatched",error="none",status="4xx"} 1`,
		`writ_http_request_duration_seconds_count{endpoint="/oauth2/token"} 4`,
		`writ_http_requests_total{endpoint="/admin/clients",error="none",status="2xx"} 1`,
		`writ_http_requests_total{endpoint="/admin/clients/{id}",error="not_found",status="4xx"} 1`,
		`writ_jwks_requests_total{result="served"} 1`,
		`writ_jwks_requests_total{result="not_modified"} 1`,
		`writ_login_failures_total{reason="throttled"} 0`,
		`writ_token_reuse_detected_total{grant_type="refresh_token"} 0`,
		`writ_signing_key_age_seconds{alg="ES256",kid=`,
		`state="active"}`,
		`writ_store_operation_duration_seconds_count{operation="GetClient"}`,
		`writ_store_operation_duration_seconds_count{operation="Ping"} 0`,
		`writ_sqlite_checkpoints_total{result="failed"} 0`,
		"writ_sqlite_wal_pages ",
		"writ_store_group_commits_total ",
		"writ_store_group_commit_writes_total ",
		"writ_store_group_commit_reruns_total 0",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(scrape.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	checkMetricsWithPromtool(t, scrape.body)

	// The spans: flush the batch, then look.
	if err := a.Tracing.ForceFlush(ctx); err != nil {
		t.Fatalf("flush spans: %v", err)
	}
	spans := recv.all()
	byName := map[string][]span{}
	for _, s := range spans {
		byName[s.name] = append(byName[s.name], s)
	}
	for _, name := range []string{"HTTP POST /oauth2/token", "oauth.client_authentication", "oauth.grant", "mint.access_token",
		"HTTP POST /oauth2/introspect", "HTTP GET /.well-known/jwks.json", "store.GetClient"} {
		if len(byName[name]) == 0 {
			t.Errorf("no span %q among %d spans", name, len(spans))
		}
	}
	if recv.res["service.name"] != "writ-test" {
		t.Errorf("service.name = %q, want writ-test", recv.res["service.name"])
	}
	// Every grant span is the child of a token request's server span.
	server := map[string]span{}
	for _, s := range byName["HTTP POST /oauth2/token"] {
		server[s.spanID] = s
		if s.attrs["http.route"] != "/oauth2/token" {
			t.Errorf("token span attributes %v lack http.route", s.attrs)
		}
	}
	for _, g := range byName["oauth.grant"] {
		p, ok := server[g.parentID]
		if !ok || p.traceID != g.traceID {
			t.Errorf("grant span %+v is not a child of a token request span", g)
		}
		if g.attrs["oauth.grant_type"] != "client_credentials" {
			t.Errorf("grant span attributes %v", g.attrs)
		}
	}
	if in := byName["HTTP POST /oauth2/introspect"]; len(in) != 1 || in[0].traceID != callerTrace {
		t.Errorf("introspection spans %+v: want one in the caller's trace %s", in, callerTrace)
	}
	var failed bool
	for _, s := range byName["HTTP POST /oauth2/token"] {
		if s.attrs["oauth.error"] == "invalid_client" {
			failed = true
		}
	}
	if !failed {
		t.Error("no token request span records oauth.error invalid_client")
	}

	// Nothing secret anywhere.
	var spanText strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&spanText, "%s %v\n", s.name, s.attrs)
	}
	logText := logs.String()
	for _, secret := range secrets {
		for what, text := range map[string]string{"logs": logText, "spans": spanText.String(), "metrics": scrape.body} {
			if leaks(text, secret) {
				t.Errorf("%s contain a secret or token (%.6s…):\n%s", what, secret, text)
			}
		}
	}

	// Every line logged while serving a request carries its request ID;
	// the access log's lines do.
	sc := bufio.NewScanner(strings.NewReader(logText))
	var accessLines int
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if m["msg"] == "http request" {
			accessLines++
			if id, _ := m["request_id"].(string); len(id) != 16 {
				t.Errorf("access log line without request_id: %s", sc.Text())
			}
		}
		if m["msg"] == "request rejected" {
			if _, ok := m["request_id"].(string); !ok {
				t.Errorf("a request's log line without request_id: %s", sc.Text())
			}
			if _, ok := m["trace_id"].(string); !ok {
				t.Errorf("a traced request's log line without trace_id: %s", sc.Text())
			}
		}
	}
	if accessLines < 8 {
		t.Errorf("%d access log lines, want one per request", accessLines)
	}
}

// TestMetricsRequireToken: with metrics_require_token, /metrics answers
// only with the admin token.
func TestMetricsRequireToken(t *testing.T) {
	a := apptest.Start(t, map[string]string{
		"WRIT_DATA_DIR":              t.TempDir(),
		"WRIT_ADDR":                  "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":            "127.0.0.1:0",
		"WRIT_METRICS_REQUIRE_TOKEN": "true",
	}, app.Options{Announce: io.Discard})
	u := "http://" + a.AdminAddr().String() + app.MetricsPath
	if r := do(t, mustRequest(t, t.Context(), http.MethodGet, u)); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", r.StatusCode)
	}
	req := mustRequest(t, t.Context(), http.MethodGet, u)
	req.Header.Set("Authorization", "Bearer "+a.AdminToken)
	if r := do(t, req); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "writ_http_requests_total") && !strings.Contains(r.body, "go_goroutines") {
		t.Errorf("with the token: %d", r.StatusCode)
	}
}

// TestSetLogLevel: the level changes while the node runs, when Options.Level
// was given.
func TestSetLogLevel(t *testing.T) {
	logs := &syncBuffer{}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	a := apptest.Start(t, map[string]string{
		"WRIT_DATA_DIR":   t.TempDir(),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_ACCESS_LOG": "true",
	}, app.Options{Announce: io.Discard, Level: level, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))})
	get := func() { do(t, mustRequest(t, t.Context(), http.MethodGet, a.Issuer+"/healthz")) }
	get()
	if strings.Contains(logs.String(), `"http request"`) {
		t.Fatal("an info line logged at warn")
	}
	if err := a.SetLogLevel(slog.LevelInfo); err != nil {
		t.Fatal(err)
	}
	get()
	if !strings.Contains(logs.String(), `"http request"`) {
		t.Error("no access log line after the level went to info")
	}
}

// leaks reports whether text holds secret or a telling part of it: for a
// JWT its signature, for another value its first 16 characters.
func leaks(text, secret string) bool {
	if strings.Contains(text, secret) {
		return true
	}
	if parts := strings.Split(secret, "."); len(parts) == 3 {
		return strings.Contains(text, parts[2])
	}
	return len(secret) >= 16 && strings.Contains(text, secret[:16])
}

type response struct {
	StatusCode int
	header     http.Header
	body       string
}

func mustRequest(t *testing.T, ctx context.Context, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	return response{StatusCode: resp.StatusCode, header: resp.Header, body: string(b)}
}

// checkMetricsWithPromtool pipes an exposition to `promtool check metrics`
// (Debian's prometheus package). Without promtool the check is skipped,
// except in CI (CI=true), where that fails.
func checkMetricsWithPromtool(t *testing.T, exposition string) {
	t.Helper()
	t.Run("promtool", func(t *testing.T) {
		path, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("promtool is not installed (apt-get install prometheus); CI requires it")
			}
			t.Skip("promtool not found (apt-get install prometheus): `promtool check metrics` not run")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, "check", "metrics")
		cmd.Stdin = strings.NewReader(exposition)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
}
