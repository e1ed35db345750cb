// Package tracing is writ's OpenTelemetry tracing, off unless an OTLP/HTTP
// endpoint is configured: one tracer provider per node (never the global
// one), a server span per HTTP request named by its route, spans that the
// server opens for client authentication, the grant and minting, and a
// span per store call.
//
// Spans carry names and outcomes, never a token, a secret, a request's
// parameters or SQL: the HTTP span has the method, the route pattern (not
// the path), the status and the OAuth error code; a store span has the
// operation's name and its error kind.
//
// An incoming W3C traceparent continues the caller's trace, but the
// sampling decision is always writ's own (the configured ratio), so that
// a client cannot make every one of its requests traced.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/store/storeobs"
)

// InstrumentationName names writ's tracer.
const InstrumentationName = "github.com/writ-dev/writ"

// exportTimeout bounds one export to the collector.
const exportTimeout = 10 * time.Second

// Options configure New.
type Options struct {
	// Endpoint is the OTLP/HTTP traces URL of the collector, e.g.
	// http://127.0.0.1:4318/v1/traces; empty turns tracing off.
	Endpoint string
	// SampleRatio is the fraction of traces recorded, from 0 to 1.
	SampleRatio float64
	// ServiceName is the service.name resource attribute; empty means
	// "writ".
	ServiceName string
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string
	// Exporter replaces the OTLP/HTTP exporter (tests: an in-memory
	// one); when set, Endpoint may be empty.
	Exporter sdktrace.SpanExporter
	// Synchronous exports each span as it ends instead of in batches
	// (tests).
	Synchronous bool
}

// Tracing is a node's tracer provider. A nil *Tracing is tracing off:
// its tracer records nothing and its middleware passes requests through.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// CheckEndpoint reports whether u is a usable OTLP/HTTP endpoint: an
// absolute http or https URL with a host.
func CheckEndpoint(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return errors.New("must be an http:// or https:// URL with a host and no user information, such as http://127.0.0.1:4318/v1/traces")
	}
	return nil
}

// New starts tracing as o says; with neither an Endpoint nor an Exporter
// it returns nil (tracing off) and no error. Call Shutdown to flush.
func New(o Options) (*Tracing, error) {
	exp := o.Exporter
	if exp == nil {
		if o.Endpoint == "" {
			return nil, nil
		}
		if err := CheckEndpoint(o.Endpoint); err != nil {
			return nil, fmt.Errorf("tracing endpoint: %w", err)
		}
		var err error
		exp, err = otlptracehttp.New(context.Background(),
			otlptracehttp.WithEndpointURL(o.Endpoint),
			otlptracehttp.WithTimeout(exportTimeout))
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/HTTP exporter: %w", err)
		}
	}
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing: sample ratio %v is not between 0 and 1", o.SampleRatio)
	}
	name := o.ServiceName
	if name == "" {
		name = "writ"
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if o.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(o.ServiceVersion))
	}
	ratio := sdktrace.TraceIDRatioBased(o.SampleRatio)
	var proc sdktrace.TracerProviderOption
	if o.Synchronous {
		proc = sdktrace.WithSyncer(exp)
	} else {
		proc = sdktrace.WithBatcher(exp)
	}
	tp := sdktrace.NewTracerProvider(
		proc,
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		// A local parent's decision is followed; a remote one's is not.
		sdktrace.WithSampler(sdktrace.ParentBased(ratio,
			sdktrace.WithRemoteParentSampled(ratio),
			sdktrace.WithRemoteParentNotSampled(ratio))),
	)
	return &Tracing{tp: tp, tracer: tp.Tracer(InstrumentationName), prop: propagation.TraceContext{}}, nil
}

// Tracer returns the tracer of writ's spans; for a nil Tracing one that
// records nothing.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(InstrumentationName)
	}
	return t.tracer
}

// Shutdown exports the spans still buffered and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// ForceFlush exports the spans still buffered.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Middleware opens a server span for every request next serves, named
// when it ends by the route that reqinfo recorded, with the status and
// OAuth error recorded there. It must run inside reqinfo.Middleware.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(methodLabel(r.Method))))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
		i := reqinfo.From(r.Context())
		if i == nil {
			i = &reqinfo.Info{}
		}
		status := i.Status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if i.Route != "" {
			span.SetName("HTTP " + methodLabel(r.Method) + " " + i.Route)
			span.SetAttributes(semconv.HTTPRoute(i.Route))
		}
		if i.Error != "" {
			span.SetAttributes(attribute.String("oauth.error", i.Error))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// methodLabel is the request method, or _OTHER for one that is not
// standard (the semantic conventions' bound on it).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// StoreObserver opens a client span per store call, named store.<Method>,
// for storeobs.Wrap; nil when tracing is off.
func (t *Tracing) StoreObserver(system string) func(ctx context.Context, op string) (context.Context, func(error)) {
	if t == nil {
		return nil
	}
	sys := attribute.String("db.system.name", system)
	return func(ctx context.Context, op string) (context.Context, func(error)) {
		// Calls outside a traced request (start-up, purging) make no
		// root spans of their own.
		if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
			return ctx, func(error) {}
		}
		ctx, span := t.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(sys, attribute.String("db.operation.name", op)))
		return ctx, func(err error) {
			if err != nil {
				kind := storeobs.ErrorKind(err)
				span.SetAttributes(attribute.String("error.type", kind))
				if kind == "other" {
					span.SetStatus(codes.Error, "store error")
				}
			}
			span.End()
		}
	}
}

// Start opens an internal span named name under ctx's span with tracer
// (a nil tracer records nothing). End it with End.
func Start(ctx context.Context, tracer trace.Tracer, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tracer == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// End ends span, marking it failed when err is not nil. Only the error's
// kind is recorded, never its message, which could carry client input.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "failed")
	}
	span.End()
}

// TraceID returns the trace ID of ctx's span as hex, or "" when there is
// none (for log lines).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
