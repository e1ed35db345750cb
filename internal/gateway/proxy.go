package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/gateway/route"
)

type proxyKey struct{}

// proxyInfo is what the proxy needs of the request's decision.
type proxyInfo struct {
	upstream prometheus.Observer // the route's upstream response time
	set      []headerPair
}

// newTransport returns net/http's upstream transport: bounded dial, TLS
// handshake, response headers and idle connections. newUpstreamTransport
// uses it for what h1Transport does not handle (https, upgrades, Expect).
func newTransport(dial, responseHeader time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // never an environment proxy
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		ResponseHeaderTimeout:  responseHeader,
		MaxResponseHeaderBytes: 1 << 20,
		// The client's Accept-Encoding goes upstream as sent: the
		// transport neither adds gzip nor decompresses on the way back.
		DisableCompression: true,
	}
}

// timedTransport observes the time to the upstream's response headers.
type timedTransport struct {
	next http.RoundTripper
	m    *metrics
}

// RoundTrip implements http.RoundTripper.
func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if pi, ok := r.Context().Value(proxyKey{}).(*proxyInfo); ok {
		pi.upstream.Observe(time.Since(start).Seconds())
	} else {
		t.m.upstream.WithLabelValues("").Observe(time.Since(start).Seconds())
	}
	return resp, err
}

func (st *state) transport(timeout time.Duration) http.RoundTripper {
	if rt, ok := st.transports[timeout]; ok {
		return rt
	}
	var next http.RoundTripper
	if st.g.deps.Transport != nil {
		next = st.g.deps.Transport
	} else {
		next = newUpstreamTransport(st.file.Timeouts.Dial, timeout)
	}
	t := timedTransport{next: next, m: st.g.metrics}
	st.transports[timeout] = t
	return t
}

// newProxy returns the reverse proxy of a route. The outgoing request
// carries the normalised path under the upstream's base path, the
// X-Forwarded-* headers of this hop only, and no hop-by-hop header.
func (st *state) newProxy(cr *compiledRoute, timeout time.Duration) http.Handler {
	target := cr.upstream
	log := st.g.log
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			if pi, ok := pr.In.Context().Value(proxyKey{}).(*proxyInfo); ok {
				// One backing array for all the values: a header each.
				vals := make([]string, len(pi.set))
				for i, h := range pi.set {
					vals[i] = h.value
					pr.Out.Header[h.name] = vals[i : i+1 : i+1]
				}
			}
		},
		Transport:  st.transport(timeout),
		BufferPool: st.g.buffers,
		// 0: httputil.ReverseProxy flushes each write at once for
		// text/event-stream and for bodies of unknown length (chunked MCP
		// streams), and buffers a body of known length (one write, not a
		// flush per copy).
		FlushInterval: 0,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var tooLarge *http.MaxBytesError
			o := outcome{status: http.StatusBadGateway, err: "bad_gateway", description: "the upstream could not be reached"}
			var ne net.Error
			switch {
			case errors.As(err, &tooLarge):
				o = outcome{status: http.StatusRequestEntityTooLarge, err: "request_too_large"}
			case r.Context().Err() != nil:
				// The client went away; nobody reads this answer.
				o = outcome{status: http.StatusBadGateway, err: "client_closed"}
			case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
				o = outcome{status: http.StatusGatewayTimeout, err: "gateway_timeout", description: "the upstream did not answer in time"}
			}
			log.LogAttrs(r.Context(), levelFor(o.status), "upstream request failed", slogRoute(cr.name), slogErr(err))
			o.write(w)
		},
	}
}

// proxy sends the request upstream with the normalised path.
func (st *state) proxy(w http.ResponseWriter, r *http.Request, rt *compiledRoute, p string, set []headerPair) {
	r.URL.Path = route.Unescape(p)
	r.URL.RawPath = p
	ctx := context.WithValue(r.Context(), proxyKey{}, &proxyInfo{upstream: rt.m.upstream, set: set})
	rt.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// bufferPool lends the proxy its 32 KiB copy buffers. It pools the
// arrays, so that putting a buffer back allocates nothing.
type bufferPool struct{ p sync.Pool }

const proxyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([proxyBufferSize]byte) }}}
}

// Get implements httputil.BufferPool.
func (b *bufferPool) Get() []byte { return b.p.Get().(*[proxyBufferSize]byte)[:] }

// Put implements httputil.BufferPool.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == proxyBufferSize {
		b.p.Put((*[proxyBufferSize]byte)(buf[:proxyBufferSize]))
	}
}
