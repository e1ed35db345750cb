package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// upstreamTransport sends plain HTTP/1.1 requests through h1 and
// everything else (https, upgrades, Expect, CONNECT) through std.
type upstreamTransport struct {
	h1  *h1Transport
	std *http.Transport
}

// newUpstreamTransport returns the gateway's upstream transport with the
// limits of newTransport.
func newUpstreamTransport(dial, responseHeader time.Duration) *upstreamTransport {
	std := newTransport(dial, responseHeader)
	return &upstreamTransport{
		std: std,
		h1: &h1Transport{
			dialer:         &net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second},
			responseHeader: responseHeader,
			maxIdle:        std.MaxIdleConns,
			maxIdlePerHost: std.MaxIdleConnsPerHost,
			idleTimeout:    std.IdleConnTimeout,
			maxHeaderBytes: std.MaxResponseHeaderBytes,
		},
	}
}

// RoundTrip implements http.RoundTripper.
func (u *upstreamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h1Supports(r) {
		return u.h1.RoundTrip(r)
	}
	return u.std.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of both transports.
func (u *upstreamTransport) CloseIdleConnections() {
	u.h1.CloseIdleConnections()
	u.std.CloseIdleConnections()
}

// h1Supports reports whether h1Transport handles r: plain http, an ASCII
// host, and none of the exchanges that need a concurrent reader or writer
// (protocol upgrades, Expect: 100-continue, CONNECT).
func h1Supports(r *http.Request) bool {
	if r.URL == nil || r.URL.Scheme != "http" || r.URL.Host == "" || r.Header == nil || r.Method == http.MethodConnect || r.Cancel != nil {
		return false
	}
	for i := 0; i < len(r.URL.Host); i++ {
		if r.URL.Host[i] >= 0x80 {
			return false // IDNA: std converts the host
		}
	}
	h := r.Header
	return len(h["Upgrade"]) == 0 && len(h["Connection"]) == 0 && len(h["Expect"]) == 0
}

// h1Transport is an HTTP/1.1 client for plain http upstreams that makes
// the exchange on the caller's goroutine: it writes the request, reads the
// response headers and hands the body to the caller, with no reader or
// writer goroutine per connection (net/http's Transport passes every
// request to a write loop and every response back from a read loop). The
// request is written by (*http.Request).Write and the response parsed by
// http.ReadResponse. Idle connections are kept per host.
type h1Transport struct {
	dialer         *net.Dialer
	responseHeader time.Duration // bounds the wait for the response headers; 0 for none
	maxIdle        int
	maxIdlePerHost int
	idleTimeout    time.Duration
	maxHeaderBytes int64
	// now is the clock of idle times; nil means time.Now.
	now func() time.Time

	mu    sync.Mutex
	idle  map[string][]*h1Conn // per address, oldest first
	nIdle int
	sweep *time.Timer // closes connections idle for idleTimeout
	armed bool
}

// clock returns the time idle connections are measured by.
func (t *h1Transport) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// h1Conn is one upstream connection.
type h1Conn struct {
	t      *h1Transport
	addr   string
	conn   net.Conn
	raw    syscall.RawConn // for the idle check; nil when unavailable
	br     *bufio.Reader   // reads through the h1Conn (limit)
	bw     *bufio.Writer
	limit  int64 // bytes that may still be read; the header limit while reading headers
	idleAt time.Time
	abort  func() // sets a past deadline: the request's context is done
	peek   func(fd uintptr) bool
	quiet  bool  // the idle check's answer: nothing to read, not closed
	werr   error // the last error of writing to conn
	reused bool
}

var errH1HeadersTooLarge = errors.New("upstream response headers too large")

// h1TimeoutError is the response header timeout.
type h1TimeoutError struct{ d time.Duration }

// Error implements error.
func (e h1TimeoutError) Error() string {
	return fmt.Sprintf("upstream: no response headers within %s", e.d)
}

// Timeout implements net.Error.
func (h1TimeoutError) Timeout() bool { return true }

// Temporary implements net.Error.
func (h1TimeoutError) Temporary() bool { return true }

// Read implements io.Reader for the bufio.Reader, with the header limit.
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.limit <= 0 {
		return 0, errH1HeadersTooLarge
	}
	if int64(len(p)) > pc.limit {
		p = p[:pc.limit]
	}
	n, err := pc.conn.Read(p)
	pc.limit -= int64(n)
	return n, err
}

// connWriter writes to the connection and keeps its error: (*http.Request).Write
// hides the errors of its body copy, which does both reads and writes.
type connWriter struct{ pc *h1Conn }

// Write implements io.Writer.
func (w connWriter) Write(p []byte) (int, error) {
	n, err := w.pc.conn.Write(p)
	if err != nil {
		w.pc.werr = err
	}
	return n, err
}

// ReadFrom keeps sendfile and splice for request bodies.
func (w connWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.pc.conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	n, err := rf.ReadFrom(r)
	if err != nil {
		w.pc.werr = err // or the body's: trackedBody tells them apart
	}
	return n, err
}

func (t *h1Transport) newConn(addr string, c net.Conn) *h1Conn {
	pc := &h1Conn{t: t, addr: addr, conn: c}
	pc.br = bufio.NewReaderSize(pc, 4096)
	pc.bw = bufio.NewWriterSize(connWriter{pc}, 4096)
	// A deadline in the past fails blocked reads and writes at once.
	pc.abort = func() { _ = c.SetDeadline(time.Unix(1, 0)) }
	if sc, ok := c.(syscall.Conn); ok && h1CanPeek {
		if raw, err := sc.SyscallConn(); err == nil {
			pc.raw = raw
			pc.peek = pc.peekFD
		}
	}
	return pc
}

// usable reports whether an idle connection can carry a request: the
// upstream has neither closed it nor sent anything unasked (which would be
// read as the next request's response).
func (pc *h1Conn) usable() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	if pc.raw == nil {
		return true
	}
	if err := pc.raw.Read(pc.peek); err != nil {
		return false
	}
	return pc.quiet
}

func (pc *h1Conn) close() { _ = pc.conn.Close() }

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := validateH1Request(req); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	pc := t.getIdle(addr)
	if pc == nil {
		var err error
		if pc, err = t.dial(ctx, addr); err != nil {
			closeRequestBody(req)
			return nil, err
		}
	}
	reused := pc.reused
	resp, retry, err := t.exchange(ctx, pc, req)
	if err == nil || !retry || !reused || !replayable(req) {
		return resp, err
	}
	// The idle connection was closed by the upstream before it answered:
	// send the request once more on a new connection, as net/http does.
	if req.Body != nil && req.Body != http.NoBody {
		body, gerr := req.GetBody()
		if gerr != nil {
			return nil, fmt.Errorf("upstream: rewinding the request body: %w", gerr)
		}
		r2 := *req
		r2.Body = body
		req = &r2
	}
	if pc, err = t.dial(ctx, addr); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	resp, _, err = t.exchange(ctx, pc, req)
	return resp, err
}

func validateH1Request(req *http.Request) error {
	if req.Method != "" && !validMethod(req.Method) {
		return fmt.Errorf("upstream: invalid method %q", req.Method)
	}
	for _, hs := range []http.Header{req.Header, req.Trailer} {
		for k, vv := range hs {
			if !httpguts.ValidHeaderFieldName(k) {
				return fmt.Errorf("upstream: invalid header field name %q", k)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					// Not the value: it may be a secret.
					return fmt.Errorf("upstream: invalid header field value for %q", k)
				}
			}
		}
	}
	return nil
}

// validMethod reports whether m is an RFC 9110 token.
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return len(m) > 0
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// replayable is net/http's rule for sending a request again: idempotent
// (or marked so) and a body that is absent or can be had again.
func replayable(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		switch r.Method {
		case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			return true
		}
		return len(r.Header["Idempotency-Key"]) > 0 || len(r.Header["X-Idempotency-Key"]) > 0
	}
	return false
}

func (t *h1Transport) dial(ctx context.Context, addr string) (*h1Conn, error) {
	c, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	return t.newConn(addr, c), nil
}

// trackedBody remembers the error of reading the request body, so that
// it is told apart from an error of writing to the upstream.
type trackedBody struct {
	io.ReadCloser
	err error
}

// Read implements io.Reader.
func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// exchange sends req on pc and reads the response headers. retry reports
// that the upstream closed the connection before any byte of a response.
func (t *h1Transport) exchange(ctx context.Context, pc *h1Conn, req *http.Request) (_ *http.Response, retry bool, _ error) {
	stop := context.AfterFunc(ctx, pc.abort)
	fail := func(err error) (*http.Response, bool, error) {
		stop()
		pc.close()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, err
	}
	orig := req
	// The client's body is tracked, to tell its read errors (such as
	// *http.MaxBytesError) from errors of writing to the upstream. A body
	// that can be had again is in memory (the MCP route's): left as it
	// is, Write sends it with the headers in one write.
	var tb *trackedBody
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		tb = &trackedBody{ReadCloser: req.Body}
		r2 := *req
		r2.Body = tb
		req = &r2
	}
	pc.werr = nil
	werr := req.Write(pc.bw)
	if werr == nil {
		werr = pc.bw.Flush()
	}
	if werr != nil {
		if tb != nil && tb.err != nil {
			return fail(tb.err) // the client's body, such as *http.MaxBytesError
		}
		if pc.werr == nil {
			return fail(fmt.Errorf("upstream: writing the request: %w", werr)) // not the connection's
		}
		werr = fmt.Errorf("upstream: writing the request: %w", pc.werr)
		if t.responseHeader <= 0 {
			resp, _, err := fail(werr)
			return resp, ctx.Err() == nil, err
		}
		// The upstream may have answered before reading the whole body
		// and closed its side: read the answer if there is one (bounded
		// by the response header timeout), as a stale connection ends in
		// EOF or a reset.
	}
	if t.responseHeader > 0 {
		_ = pc.conn.SetReadDeadline(time.Now().Add(t.responseHeader))
		if ctx.Err() != nil { // the abort's past deadline may have been replaced
			return fail(ctx.Err())
		}
	}
	pc.limit = t.maxHeaderBytes
	if _, err := pc.br.Peek(1); err != nil {
		stale := werr != nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
		if isTimeout(err) && ctx.Err() == nil {
			err = h1TimeoutError{t.responseHeader}
			stale = false
		}
		if werr != nil {
			err = werr
		}
		resp, _, err := fail(fmt.Errorf("upstream: %w", err))
		return resp, stale && ctx.Err() == nil, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			if isTimeout(err) && ctx.Err() == nil {
				err = h1TimeoutError{t.responseHeader}
			}
			return fail(fmt.Errorf("upstream: reading the response: %w", err))
		}
		if resp.StatusCode >= 200 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("upstream: switching protocols without an upgrade request"))
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
			pc.limit = t.maxHeaderBytes // as net/http: the caller bounds what it forwards
		}
	}
	pc.limit = 1<<63 - 1
	if t.responseHeader > 0 {
		_ = pc.conn.SetReadDeadline(time.Time{})
		if ctx.Err() != nil {
			return fail(ctx.Err()) // not resp.Body.Close: it would read the rest
		}
	}
	resp.Request = orig
	keep := werr == nil && !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		t.release(pc, stop() && keep)
		return resp, false, nil
	}
	resp.Body = &h1Body{pc: pc, body: resp.Body, ctx: ctx, stop: stop, keep: keep}
	return resp, false, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// h1Body is a response body: its connection goes back to the pool when
// it is read to the end and neither side asked to close, and is closed
// otherwise.
type h1Body struct {
	pc    *h1Conn
	body  io.ReadCloser
	ctx   context.Context
	stop  func() bool
	keep  bool
	state atomic.Int32 // h1Reading, h1EOF, h1Closed
}

const (
	h1Reading = iota
	h1EOF
	h1Closed
)

var errH1BodyClosed = errors.New("http: read on closed response body")

// Read implements io.Reader.
func (b *h1Body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case h1EOF:
		return 0, io.EOF
	case h1Closed:
		return 0, errH1BodyClosed
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		if b.state.CompareAndSwap(h1Reading, h1EOF) {
			keep := b.stop() && b.keep
			b.pc.t.release(b.pc, keep)
		}
	case err != nil:
		if b.state.CompareAndSwap(h1Reading, h1Closed) {
			b.stop()
			b.pc.close()
		}
		if b.ctx.Err() != nil {
			err = b.ctx.Err()
		}
	}
	return n, err
}

// Close implements io.Closer: a body not read to the end closes its
// connection (what is left of it is never read).
func (b *h1Body) Close() error {
	if b.state.CompareAndSwap(h1Reading, h1Closed) {
		b.stop()
		b.pc.close()
	}
	return nil
}

// release puts pc back in the pool when keep holds, and closes it
// otherwise.
func (t *h1Transport) release(pc *h1Conn, keep bool) {
	if !keep || pc.br.Buffered() > 0 || t.maxIdlePerHost <= 0 {
		pc.close()
		return
	}
	pc.reused = true
	t.mu.Lock()
	list := t.idle[pc.addr]
	if len(list) >= t.maxIdlePerHost || (t.maxIdle > 0 && t.nIdle >= t.maxIdle) {
		t.mu.Unlock()
		pc.close()
		return
	}
	if t.idle == nil {
		t.idle = map[string][]*h1Conn{}
	}
	pc.idleAt = t.clock()
	t.idle[pc.addr] = append(list, pc)
	t.nIdle++
	if t.idleTimeout > 0 && !t.armed {
		t.armed = true
		if t.sweep == nil {
			t.sweep = time.AfterFunc(t.idleTimeout, t.closeExpired)
		} else {
			t.sweep.Reset(t.idleTimeout)
		}
	}
	t.mu.Unlock()
}

// getIdle returns the most recently used idle connection to addr that is
// still usable, or nil.
func (t *h1Transport) getIdle(addr string) *h1Conn {
	for {
		t.mu.Lock()
		list := t.idle[addr]
		if len(list) == 0 {
			t.mu.Unlock()
			return nil
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		t.nIdle--
		t.mu.Unlock()
		if (t.idleTimeout <= 0 || t.clock().Sub(pc.idleAt) < t.idleTimeout) && pc.usable() {
			return pc
		}
		pc.close()
	}
}

// closeExpired closes the connections idle for idleTimeout and arms the
// timer again for the next one to expire.
func (t *h1Transport) closeExpired() {
	var expired []*h1Conn
	t.mu.Lock()
	now := t.clock()
	var next time.Time
	for addr, list := range t.idle {
		i := 0
		for i < len(list) && now.Sub(list[i].idleAt) >= t.idleTimeout {
			i++
		}
		expired = append(expired, list[:i]...)
		n := copy(list, list[i:])
		clear(list[n:])
		list = list[:n]
		t.nIdle -= i
		if n == 0 {
			delete(t.idle, addr)
			continue
		}
		t.idle[addr] = list
		if next.IsZero() || list[0].idleAt.Before(next) {
			next = list[0].idleAt
		}
	}
	if next.IsZero() {
		t.armed = false
	} else {
		t.sweep.Reset(next.Add(t.idleTimeout).Sub(now))
	}
	t.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// CloseIdleConnections closes the idle connections.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.nIdle = 0
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
}
