package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/gateway/config"
)

// countedServer is an httptest upstream that counts the connections it
// accepted.
type countedServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newCountedServer(t *testing.T, h http.Handler) *countedServer {
	t.Helper()
	s := &countedServer{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func testH1(t *testing.T, responseHeader time.Duration) *h1Transport {
	t.Helper()
	tr := newUpstreamTransport(5*time.Second, responseHeader).h1
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// onlyReader hides the type of its reader: a body without GetBody.
type onlyReader struct{ io.Reader }

func TestH1Exchanges(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		request func(url string) *http.Request
		read    int // bytes of the body to read before closing; -1 for all
		body    string
		status  int
		conns   int64 // after three requests
	}{
		{
			name:    "keep-alive",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok "+r.Host) },
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url+"/a", nil); return r },
			read:    -1, body: "ok " + "HOST", status: 200, conns: 1,
		},
		{
			name:    "client asks to close",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") },
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); r.Close = true; return r },
			read:    -1, body: "ok", status: 200, conns: 3,
		},
		{
			name: "upstream asks to close",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				_, _ = io.WriteString(w, "ok")
			},
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			read:    -1, body: "ok", status: 200, conns: 3,
		},
		{
			name: "chunked response",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for _, s := range []string{"one ", "two ", "three"} {
					_, _ = io.WriteString(w, s)
					_ = http.NewResponseController(w).Flush()
				}
			},
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			read:    -1, body: "one two three", status: 200, conns: 1,
		},
		{
			name: "chunked response with trailer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Sum")
				_, _ = io.WriteString(w, "body")
				_ = http.NewResponseController(w).Flush()
				w.Header().Set("X-Sum", "42")
			},
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			read:    -1, body: "body", status: 200, conns: 1,
		},
		{
			name: "chunked request",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, _ = fmt.Fprintf(w, "%v %d %s", r.TransferEncoding, r.ContentLength, b)
			},
			request: func(url string) *http.Request {
				r, _ := http.NewRequest("POST", url, onlyReader{strings.NewReader("hello")})
				r.ContentLength = -1
				return r
			},
			read: -1, body: "[chunked] -1 hello", status: 200, conns: 1,
		},
		{
			name: "request with a length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, _ = fmt.Fprintf(w, "%d %s", r.ContentLength, b)
			},
			request: func(url string) *http.Request {
				r, _ := http.NewRequest("PUT", url, strings.NewReader("hello"))
				return r
			},
			read: -1, body: "5 hello", status: 200, conns: 1,
		},
		{
			name: "HEAD",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
			},
			request: func(url string) *http.Request { r, _ := http.NewRequest("HEAD", url, nil); return r },
			read:    -1, body: "", status: 200, conns: 1,
		},
		{
			name:    "204",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			request: func(url string) *http.Request { r, _ := http.NewRequest("DELETE", url, nil); return r },
			read:    -1, body: "", status: 204, conns: 1,
		},
		{
			name: "304",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"v1"`)
				w.WriteHeader(304)
			},
			request: func(url string) *http.Request {
				r, _ := http.NewRequest("GET", url, nil)
				r.Header.Set("If-None-Match", `"v1"`)
				return r
			},
			read: -1, body: "", status: 304, conns: 1,
		},
		{
			name: "103 early hints",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</style.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				_, _ = io.WriteString(w, "ok")
			},
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			read:    -1, body: "ok", status: 200, conns: 1,
		},
		{
			name:    "body closed early",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) },
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			read:    10, body: big[:10], status: 200, conns: 3,
		},
		{
			name: "body closed before the end of a chunked stream",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "abc")
				_ = http.NewResponseController(w).Flush()
				<-r.Context().Done() // the last chunk never comes
			},
			request: func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			read:    3, body: "abc", status: 200, conns: 3,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := newCountedServer(t, c.handler)
			tr := testH1(t, 5*time.Second)
			for i := range 3 {
				req := c.request(up.URL)
				var hints []int
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
					Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { hints = append(hints, code); return nil },
				}))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				var got []byte
				if c.read < 0 {
					got, err = io.ReadAll(resp.Body)
				} else {
					got = make([]byte, c.read)
					_, err = io.ReadFull(resp.Body, got)
				}
				if err != nil {
					t.Fatalf("request %d: body: %v", i, err)
				}
				_ = resp.Body.Close()
				want := strings.ReplaceAll(c.body, "HOST", strings.TrimPrefix(up.URL, "http://"))
				if resp.StatusCode != c.status || string(got) != want {
					t.Fatalf("request %d: %d %q, want %d %q", i, resp.StatusCode, got, c.status, want)
				}
				if c.name == "chunked response with trailer" && resp.Trailer.Get("X-Sum") != "42" {
					t.Fatalf("trailer %v", resp.Trailer)
				}
				if c.name == "103 early hints" && (len(hints) != 1 || hints[0] != 103) {
					t.Fatalf("1xx responses %v", hints)
				}
			}
			if n := up.conns.Load(); n != c.conns {
				t.Fatalf("%d connections accepted, want %d", n, c.conns)
			}
		})
	}
}

// rawUpstream serves each connection with serve, counting them.
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newRawUpstream(t *testing.T, serve func(n int64, c net.Conn, br *bufio.Reader)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := u.conns.Add(1)
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); u.wg.Wait() })
	return u
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

// TestH1RetriesStaleConnection: the upstream reads a second request on a
// connection and closes it without an answer, the way a keep-alive
// connection closed by the upstream's idle timeout fails. A request that
// can be sent again goes out once more on a new connection; one whose body
// cannot be had again, or that is not idempotent, fails.
func TestH1RetriesStaleConnection(t *testing.T) {
	for _, c := range []struct {
		name    string
		request func(url string) *http.Request
		retried bool
	}{
		{"GET", func(url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r }, true},
		{"idempotent POST with GetBody", func(url string) *http.Request {
			r, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, true},
		{"idempotent POST without GetBody", func(url string) *http.Request {
			r, _ := http.NewRequest("POST", url, onlyReader{strings.NewReader("payload")})
			r.ContentLength = 7
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, false},
		{"POST with GetBody", func(url string) *http.Request {
			r, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
			return r
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := newRawUpstream(t, func(_ int64, conn net.Conn, br *bufio.Reader) {
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					if i == 1 {
						return // a second request: close without an answer
					}
					_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 3+len(body), "ok "+string(body))
				}
			})
			tr := testH1(t, 5*time.Second)
			for i := range 2 {
				resp, err := tr.RoundTrip(c.request(up.url()))
				if i == 1 && !c.retried {
					if err == nil {
						t.Fatal("a request that cannot be sent again was retried")
					}
					if n := up.conns.Load(); n != 1 {
						t.Fatalf("%d connections, want 1", n)
					}
					return
				}
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if !strings.HasPrefix(string(b), "ok") {
					t.Fatalf("body %q", b)
				}
				if c.name == "idempotent POST with GetBody" && string(b) != "ok payload" {
					t.Fatalf("retried body %q", b)
				}
			}
			if n := up.conns.Load(); n != 2 {
				t.Fatalf("%d connections, want 2", n)
			}
		})
	}
}

// TestH1IdleConnectionClosedByUpstream: the upstream answers one request
// per connection with keep-alive and then closes; the next request gets a
// new connection (found closed when taken from the pool, or retried).
func TestH1IdleConnectionClosedByUpstream(t *testing.T) {
	up := newRawUpstream(t, func(_ int64, conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := testH1(t, 5*time.Second)
	for i := range 3 {
		req, _ := http.NewRequest("GET", up.url(), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
		_ = resp.Body.Close()
	}
	if n := up.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

// TestH1UnsolicitedBytes: bytes after a response are never read as the
// next request's response.
func TestH1UnsolicitedBytes(t *testing.T) {
	up := newRawUpstream(t, func(n int64, conn net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if n == 1 {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+
					"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
				continue
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
		}
	})
	tr := testH1(t, 5*time.Second)
	for i, want := range []string{"ok", "fresh"} {
		req, _ := http.NewRequest("GET", up.url(), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != want {
			t.Fatalf("request %d: body %q, want %q", i, b, want)
		}
		_ = resp.Body.Close()
	}
}

func TestH1ContextCancelMidResponse(t *testing.T) {
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "HEAD" {
			return
		}
		_, _ = io.WriteString(w, "first")
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done() // until the gateway drops the connection
	}))
	tr := testH1(t, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", up.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("%q %v", buf, err)
	}
	cancel()
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
	_ = resp.Body.Close()
	tr.mu.Lock()
	idle := tr.nIdle
	tr.mu.Unlock()
	if idle != 0 {
		t.Fatalf("%d idle connections after a cancelled response", idle)
	}
	// The pool still works.
	req, _ = http.NewRequest("HEAD", up.URL, nil)
	if resp, err := tr.RoundTrip(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestH1ContextCancelWhileWaitingForHeaders(t *testing.T) {
	arrived := make(chan struct{})
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	tr := testH1(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, "GET", up.URL, nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}

// TestH1ResponseHeaderTimeout: an upstream that never answers meets the
// response header timeout; one that answers its headers at once and
// then streams slowly does not.
func TestH1ResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			_, _ = io.WriteString(w, "head ")
			_ = http.NewResponseController(w).Flush()
		}
		select {
		case <-release:
			_, _ = io.WriteString(w, "tail")
		case <-r.Context().Done():
		}
	}))
	defer close(release)

	req, _ := http.NewRequest("GET", up.URL+"/never", nil)
	_, err := testH1(t, 50*time.Millisecond).RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v, want a timeout", err)
	}

	// The headers come at once (well within the timeout, even on a busy
	// machine), the rest of the body after the timeout.
	const timeout = 300 * time.Millisecond
	req, _ = http.NewRequest("GET", up.URL+"/slow-body", nil)
	resp, err := testH1(t, timeout).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	// The body may take longer than the header timeout.
	time.AfterFunc(timeout+timeout/2, func() { release <- struct{}{} })
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "tail" {
		t.Fatalf("%q %v", rest, err)
	}
}

func TestH1ResponseHeadersTooLarge(t *testing.T) {
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("b", 8<<10))
	}))
	tr := testH1(t, 5*time.Second)
	tr.maxHeaderBytes = 4 << 10
	req, _ := http.NewRequest("GET", up.URL, nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("error %v", err)
	}
}

// TestH1EarlyAnswerToLargeUpload: the upstream refuses a large body
// without reading it and closes; the answer still reaches the caller.
func TestH1EarlyAnswerToLargeUpload(t *testing.T) {
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	tr := testH1(t, 5*time.Second)
	req, _ := http.NewRequest("POST", up.URL, onlyReader{bytes.NewReader(make([]byte, 16<<20))})
	req.ContentLength = 16 << 20
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatal(resp.Status)
	}
}

func TestH1LargeStreamingResponse(t *testing.T) {
	const size = 16 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 2048)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", fmt.Sprint(size))
				}
				for sent := 0; sent < size; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}))
			tr := testH1(t, 5*time.Second)
			want := sha256.New()
			for sent := 0; sent < size; sent += len(chunk) {
				want.Write(chunk)
			}
			for i := range 2 {
				req, _ := http.NewRequest("GET", up.URL, nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				n, err := io.Copy(h, resp.Body)
				_ = resp.Body.Close()
				if err != nil || n != size || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
					t.Fatalf("request %d: %d bytes, %v", i, n, err)
				}
			}
			if n := up.conns.Load(); n != 1 {
				t.Fatalf("%d connections, want 1", n)
			}
		})
	}
}

func TestH1Concurrent(t *testing.T) {
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("chunked") != "" {
			_ = http.NewResponseController(w).Flush()
		}
		_, _ = fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	}))
	tr := testH1(t, 5*time.Second)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				path := fmt.Sprintf("/w%d/%d", w, i)
				var req *http.Request
				switch i % 3 {
				case 0:
					req, _ = http.NewRequest("GET", up.URL+path, nil)
				case 1:
					req, _ = http.NewRequest("POST", up.URL+path+"?chunked=1", strings.NewReader("body"))
				default:
					req, _ = http.NewRequest("POST", up.URL+path, onlyReader{strings.NewReader("body")})
					req.ContentLength = -1
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				want := path + " "
				if i%3 != 0 {
					want += "body"
				}
				if err != nil || string(b) != want {
					errs <- fmt.Errorf("%s: %q %v", path, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := up.conns.Load(); n > workers {
		t.Fatalf("%d connections for %d workers", n, workers)
	}
}

func TestH1IdleTimeout(t *testing.T) {
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := testH1(t, 5*time.Second)
	clock := clocktest.Default()
	tr.now, tr.idleTimeout = clock.Now, time.Hour
	req, _ := http.NewRequest("GET", up.URL, nil)
	get := func() {
		t.Helper()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	get()
	clock.Advance(30 * time.Minute)
	get() // within the idle timeout: reused
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d connections after a reuse within the idle timeout, want 1", n)
	}
	// Past the idle timeout, the connection taken from the pool is closed
	// and a new one dialled.
	clock.Advance(time.Hour)
	get()
	if n := up.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	// The sweep closes what expired while nobody asked.
	clock.Advance(2 * time.Hour)
	tr.closeExpired()
	tr.mu.Lock()
	n := tr.nIdle
	tr.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle connections after the sweep, want 0", n)
	}
}

func TestH1Supports(t *testing.T) {
	for _, c := range []struct {
		url    string
		header http.Header
		method string
		want   bool
	}{
		{"http://127.0.0.1:8080/x", nil, "GET", true},
		{"http://upstream/x", nil, "POST", true},
		{"https://127.0.0.1/x", nil, "GET", false},
		{"http://127.0.0.1/x", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, "GET", false},
		{"http://127.0.0.1/x", http.Header{"Expect": {"100-continue"}}, "POST", false},
		{"http://127.0.0.1/x", nil, "CONNECT", false},
		{"http://bücher.example/x", nil, "GET", false},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		for k, v := range c.header {
			req.Header[k] = v
		}
		if got := h1Supports(req); got != c.want {
			t.Errorf("%s %s %v: %v, want %v", c.method, c.url, c.header, got, c.want)
		}
	}
}

func TestH1RefusesInvalidRequests(t *testing.T) {
	tr := testH1(t, 5*time.Second)
	for _, mod := range []func(r *http.Request){
		func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} },
		func(r *http.Request) { r.Header["X-Ok"] = []string{"a\r\nInjected: 1"} },
		func(r *http.Request) { r.Method = "GE T" },
	} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		mod(req)
		if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("error %v", err)
		}
	}
}

// TestH1RawResponses: framings a Go upstream does not produce.
func TestH1RawResponses(t *testing.T) {
	for _, c := range []struct {
		name, response, body string
		conns                int64 // after two requests
	}{
		{"HTTP/1.0 without a length", "HTTP/1.0 200 OK\r\n\r\nuntil close", "until close", 2},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", "ok", 1},
		{"HTTP/1.1 without a length", "HTTP/1.1 200 OK\r\n\r\nuntil close", "until close", 2},
		{"chunked wins over a length, as in net/http", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok", 1},
		{"keep-alive with chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := newRawUpstream(t, func(_ int64, conn net.Conn, br *bufio.Reader) {
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					_, _ = io.WriteString(conn, c.response)
					if strings.Contains(c.name, "without a length") {
						return // the end of the body
					}
				}
			})
			tr := testH1(t, 5*time.Second)
			for i := range 2 {
				req, _ := http.NewRequest("GET", up.url(), nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err != nil || string(b) != c.body {
					t.Fatalf("request %d: %q %v", i, b, err)
				}
			}
			if n := up.conns.Load(); n != c.conns {
				t.Fatalf("%d connections, want %d", n, c.conns)
			}
		})
	}
}

// TestGatewayReusesUpstreamConnections: the gateway's proxy keeps its
// upstream connection across requests and still streams a request body.
func TestGatewayReusesUpstreamConnections(t *testing.T) {
	up := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	f, err := config.Parse([]byte("listen: 127.0.0.1:0\nroutes:\n  - path: /api/\n    upstream: "+up.URL+"\n    anonymous: true\n"), "reuse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(context.Background(), f, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		var body io.Reader
		method := "GET"
		if i%2 == 1 {
			method, body = "POST", strings.NewReader("data")
		}
		req := httptest.NewRequest(method, "/api/x", body)
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		want := method + " /api/x "
		if body != nil {
			want += "data"
		}
		if rec.Code != 200 || rec.Body.String() != want {
			t.Fatalf("request %d: %d %q", i, rec.Code, rec.Body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections, want 1", n)
	}
}

// TestH1IdleCheck: a pooled connection that the upstream closed, or on
// which it sent bytes nobody asked for, is not used again; a request
// whose body cannot be sent twice then goes out on a new connection.
func TestH1IdleCheck(t *testing.T) {
	if !h1CanPeek {
		t.Skip("the idle check sees only buffered bytes on this platform")
	}
	for _, junk := range []string{"", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"} {
		t.Run(fmt.Sprintf("junk=%t", junk != ""), func(t *testing.T) {
			proceed := make(chan struct{})
			up := newRawUpstream(t, func(n int64, conn net.Conn, br *bufio.Reader) {
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n > 1 {
						_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
						continue
					}
					_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					<-proceed
					if junk == "" {
						return // close the idle connection
					}
					_, _ = io.WriteString(conn, junk)
				}
			})
			tr := testH1(t, 5*time.Second)
			req, _ := http.NewRequest("GET", up.url(), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
				t.Fatalf("body %q", b)
			}
			tr.mu.Lock()
			pooled := tr.idle[up.ln.Addr().String()]
			tr.mu.Unlock()
			if len(pooled) != 1 || !pooled[0].usable() {
				t.Fatalf("pool %v", pooled)
			}
			close(proceed)
			// Wait for the close or the bytes to reach this side.
			for deadline := time.Now().Add(10 * time.Second); pooled[0].usable(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the idle check does not see what the upstream did")
				}
			}
			req, _ = http.NewRequest("POST", up.url(), onlyReader{strings.NewReader("once")})
			req.ContentLength = 4
			resp, err = tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != "fresh" {
				t.Fatalf("body %q", b)
			}
			if n := up.conns.Load(); n != 2 {
				t.Fatalf("%d connections, want 2", n)
			}
		})
	}
}
