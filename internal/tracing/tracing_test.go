package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/tracing"
)

func newTracing(t *testing.T, ratio float64) (*tracing.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr, err := tracing.New(tracing.Options{Exporter: exp, Synchronous: true, SampleRatio: ratio, ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestRequestSpans: a request gets a server span named by its route (not
// its path), with the store and inner spans as its descendants.
func TestRequestSpans(t *testing.T) {
	tr, exp := newTracing(t, 1)
	storeSpan := tr.StoreObserver("sqlite")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/register/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracing.Start(r.Context(), tr.Tracer(), "oauth.grant", attribute.String("oauth.grant_type", "client_credentials"))
		_, end := storeSpan(ctx, "GetClient")
		end(store.ErrNotFound)
		tracing.End(span, errors.New("refused"))
		reqinfo.SetError(r.Context(), "invalid_client")
		w.WriteHeader(http.StatusUnauthorized)
	})
	h := reqinfo.Middleware(tr.Middleware(reqinfo.Patterns(mux)))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/oauth2/register/client-secret-id", nil))

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3: %v", len(spans), spans)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.Emit(), "client-secret-id") {
				t.Errorf("span %s carries the raw path in %s", s.Name, kv.Key)
			}
		}
	}
	srv, ok := byName["HTTP POST /oauth2/register/{id}"]
	if !ok {
		t.Fatalf("no server span named by the route: %v", byName)
	}
	if srv.SpanKind != trace.SpanKindServer || attr(srv, "http.route") != "/oauth2/register/{id}" ||
		attr(srv, "http.response.status_code") != "401" || attr(srv, "oauth.error") != "invalid_client" {
		t.Errorf("server span: kind %v attributes %v", srv.SpanKind, srv.Attributes)
	}
	g := byName["oauth.grant"]
	if g.Parent.SpanID() != srv.SpanContext.SpanID() {
		t.Error("the grant span is not the server span's child")
	}
	st := byName["store.GetClient"]
	if st.Parent.SpanID() != g.SpanContext.SpanID() || attr(st, "error.type") != "not_found" || attr(st, "db.system.name") != "sqlite" {
		t.Errorf("store span: parent %v attributes %v", st.Parent.SpanID(), st.Attributes)
	}
}

// TestRemoteParentDoesNotDecideSampling: a caller's traceparent continues
// its trace, but with a ratio of 0 nothing is recorded, even when the
// caller says sampled.
func TestRemoteParentDoesNotDecideSampling(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		ratio float64
		want  int
	}{{0, 0}, {1, 1}} {
		tr, exp := newTracing(t, tc.ratio)
		h := reqinfo.Middleware(tr.Middleware(http.NotFoundHandler()))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Traceparent", parent)
		h.ServeHTTP(httptest.NewRecorder(), r)
		spans := exp.GetSpans()
		if len(spans) != tc.want {
			t.Fatalf("ratio %v: %d spans, want %d", tc.ratio, len(spans), tc.want)
		}
		if tc.want == 1 && spans[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("the caller's trace was not continued: %s", spans[0].SpanContext.TraceID())
		}
	}
}

// TestStoreSpansNeedARequest: a store call outside a traced request (start
// up, purging) makes no root span.
func TestStoreSpansNeedARequest(t *testing.T) {
	tr, exp := newTracing(t, 1)
	_, end := tr.StoreObserver("postgresql")(context.Background(), "DeleteExpired")
	end(nil)
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for a store call outside any trace", n)
	}
}

func TestOff(t *testing.T) {
	tr, err := tracing.New(tracing.Options{})
	if err != nil || tr != nil {
		t.Fatalf("no endpoint: %v, %v; want tracing off", tr, err)
	}
	next := http.NotFoundHandler()
	if tr.StoreObserver("sqlite") != nil {
		t.Error("off: a store observer")
	}
	_ = tr.Middleware(next)
	_, span := tr.Tracer().Start(context.Background(), "x")
	if span.SpanContext().IsValid() {
		t.Error("off: a recording span")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if tracing.TraceID(context.Background()) != "" {
		t.Error("a trace ID without a span")
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, u := range []string{"127.0.0.1:4318", "ftp://x/v1/traces", "http://user:pw@host/v1/traces", "http:///v1/traces"} {
		if err := tracing.CheckEndpoint(u); err == nil {
			t.Errorf("endpoint %q accepted", u)
		}
	}
	if err := tracing.CheckEndpoint("https://otel.example:4318/v1/traces"); err != nil {
		t.Error(err)
	}
	if _, err := tracing.New(tracing.Options{Exporter: tracetest.NewInMemoryExporter(), SampleRatio: 1.5}); err == nil {
		t.Error("a sample ratio above 1 accepted")
	}
	var _ sdktrace.SpanExporter = tracetest.NewInMemoryExporter()
}
