package cimd_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/clocktest"
)

// docServer is a TLS server on 127.0.0.1 serving client metadata documents
// under several paths, each with its own behaviour.
type docServer struct {
	srv   *httptest.Server
	pool  *x509.CertPool
	hits  atomic.Int64
	block chan struct{}
	// header is added to every good document response.
	mu     sync.Mutex
	header http.Header
	body   func(url string) string
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	ds := &docServer{block: make(chan struct{}), header: http.Header{}}
	ds.body = func(url string) string {
		return `{"client_id":"` + url + `","client_name":"Test app","redirect_uris":["https://app.example.com/cb"]}`
	}
	ds.srv = httptest.NewTLSServer(http.HandlerFunc(ds.serve))
	t.Cleanup(func() { close(ds.block); ds.srv.Close() })
	ds.pool = x509.NewCertPool()
	ds.pool.AddCert(ds.srv.Certificate())
	return ds
}

func (ds *docServer) url(path string) string { return ds.srv.URL + path }

func (ds *docServer) serve(w http.ResponseWriter, r *http.Request) {
	ds.hits.Add(1)
	self := "https://" + r.Host + r.URL.Path
	switch r.URL.Path {
	case "/client.json":
		ds.mu.Lock()
		for k, v := range ds.header {
			w.Header()[k] = v
		}
		body := ds.body(self)
		ds.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	case "/vendor.json":
		w.Header().Set("Content-Type", "application/vnd.example+json; charset=utf-8")
		fmt.Fprint(w, ds.body(self))
	case "/redirect":
		http.Redirect(w, r, "/client.json", http.StatusFound)
	case "/large":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client_id":%q,"redirect_uris":["https://app.example.com/cb"],"pad":%q}`, self, strings.Repeat("x", 6000))
	case "/large-unknown-length":
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush()
		fmt.Fprintf(w, `{"client_id":%q,"redirect_uris":["https://app.example.com/cb"],"pad":%q}`, self, strings.Repeat("x", 6000))
	case "/slow":
		select {
		case <-ds.block:
		case <-r.Context().Done():
		}
	case "/wrong-id":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, ds.body("https://other.example.com/client.json"))
	case "/html":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, ds.body(self))
	case "/missing":
		http.NotFound(w, r)
	default:
		http.Error(w, "no", http.StatusInternalServerError)
	}
}

func allowLoopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

func TestResolveSSRF(t *testing.T) {
	ds := newDocServer(t)
	port := ds.srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	tests := []struct {
		name  string
		url   string
		allow []netip.Prefix
		want  error
		says  string
	}{
		{"allowed test server", ds.url("/client.json"), allowLoopback(), nil, ""},
		{"vendor json type", ds.url("/vendor.json"), allowLoopback(), nil, ""},
		{"loopback without allow-list", ds.url("/client.json"), nil, cimd.ErrBlockedAddress, "loopback"},
		{"localhost name resolves to loopback", fmt.Sprintf("https://localhost:%d/client.json", port), nil, cimd.ErrBlockedAddress, ""},
		{"IPv6 loopback", "https://[::1]/client.json", nil, cimd.ErrBlockedAddress, "loopback"},
		{"private 10/8", "https://10.0.0.1/client.json", nil, cimd.ErrBlockedAddress, "private"},
		{"private 192.168/16", "https://192.168.1.10/client.json", nil, cimd.ErrBlockedAddress, "private"},
		{"private 172.16/12", "https://172.20.0.1/client.json", nil, cimd.ErrBlockedAddress, "private"},
		{"CGNAT", "https://100.64.0.1/client.json", nil, cimd.ErrBlockedAddress, "private"},
		{"metadata service", "https://169.254.169.254/latest/meta-data", nil, cimd.ErrBlockedAddress, "special-use"},
		{"IPv6 link-local", "https://[fe80::1]/client.json", nil, cimd.ErrBlockedAddress, "special-use"},
		{"IPv6 ULA", "https://[fd00:ec2::254]/client.json", nil, cimd.ErrBlockedAddress, "private"},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/client.json", nil, cimd.ErrBlockedAddress, "loopback"},
		{"NAT64 of a private address", "https://[64:ff9b::a00:1]/client.json", nil, cimd.ErrBlockedAddress, "special-use"},
		{"unspecified", "https://0.0.0.0/client.json", nil, cimd.ErrBlockedAddress, "special-use"},
		{"multicast", "https://224.0.0.1/client.json", nil, cimd.ErrBlockedAddress, "special-use"},
		{"http URL", "http://app.example.com/client.json", nil, cimd.ErrInvalidClientID, "https"},
		{"redirect refused", ds.url("/redirect"), allowLoopback(), cimd.ErrFetch, "redirect"},
		{"too large", ds.url("/large"), allowLoopback(), cimd.ErrFetch, "larger than"},
		{"too large, no length", ds.url("/large-unknown-length"), allowLoopback(), cimd.ErrFetch, "larger than"},
		{"slow", ds.url("/slow"), allowLoopback(), cimd.ErrFetch, ""},
		{"wrong client_id", ds.url("/wrong-id"), allowLoopback(), cimd.ErrInvalidDocument, "not the URL"},
		{"not JSON content type", ds.url("/html"), allowLoopback(), cimd.ErrFetch, "content type"},
		{"not found", ds.url("/missing"), allowLoopback(), cimd.ErrFetch, "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cimd.New(cimd.Options{
				Guard:   cimd.Guard{Allow: tt.allow},
				RootCAs: ds.pool,
				Timeout: 500 * time.Millisecond, // /slow never answers: the timeout decides, whatever its length
			})
			before := ds.hits.Load()
			d, err := r.Resolve(context.Background(), tt.url)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if d.ClientID != tt.url || d.ClientName != "Test app" {
					t.Fatalf("document = %+v", d)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Resolve = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %q does not say %q", err, tt.says)
			}
			if errors.Is(tt.want, cimd.ErrBlockedAddress) && ds.hits.Load() != before {
				t.Fatal("a refused address reached the server")
			}
		})
	}
}

func TestAllowPrivate(t *testing.T) {
	g := cimd.Guard{AllowPrivate: true}
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.1", "fd00::1", "::1", "100.64.1.1"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("AllowPrivate: %s refused: %v", a, err)
		}
	}
	// Development never opens link-local (metadata services), multicast or
	// the other special-use ranges.
	for _, a := range []string{"169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "100.100.100.200", "192.0.2.1"} {
		if err := g.Check(netip.MustParseAddr(a)); !errors.Is(err, cimd.ErrBlockedAddress) {
			t.Errorf("AllowPrivate: %s = %v, want refused", a, err)
		}
	}
	var strict cimd.Guard
	for _, a := range []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"} {
		if err := strict.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("public %s refused: %v", a, err)
		}
	}
}

func TestResolveCaching(t *testing.T) {
	ds := newDocServer(t)
	clock := clocktest.Default()
	r := cimd.New(cimd.Options{Guard: cimd.Guard{Allow: allowLoopback()}, RootCAs: ds.pool, Now: clock.Now})
	url := ds.url("/client.json")
	resolve := func() *cimd.Document {
		t.Helper()
		d, err := r.Resolve(context.Background(), url)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		return d
	}
	setHeader := func(k, v string) {
		ds.mu.Lock()
		ds.header = http.Header{}
		if k != "" {
			ds.header.Set(k, v)
		}
		ds.mu.Unlock()
	}

	// max-age=3600 is honoured.
	setHeader("Cache-Control", "public, max-age=3600")
	resolve()
	hits := ds.hits.Load()
	clock.Advance(59 * time.Minute)
	d := resolve()
	d.RedirectURIs[0] = "mutated" // a copy: the cache is not touched
	if ds.hits.Load() != hits {
		t.Fatal("fetched again within max-age")
	}
	if resolve().RedirectURIs[0] != "https://app.example.com/cb" {
		t.Fatal("the cached document was changed through a returned copy")
	}
	clock.Advance(2 * time.Minute)
	resolve()
	if ds.hits.Load() != hits+1 {
		t.Fatal("not fetched again after max-age")
	}

	// no-store is held for the minimum, not refetched on every use.
	setHeader("Cache-Control", "no-store")
	clock.Advance(2 * time.Hour)
	resolve()
	hits = ds.hits.Load()
	clock.Advance(cimd.DefaultMinTTL - time.Second)
	resolve()
	if ds.hits.Load() != hits {
		t.Fatal("no-store: fetched again within the minimum")
	}
	clock.Advance(2 * time.Second)
	resolve()
	if ds.hits.Load() != hits+1 {
		t.Fatal("no-store: not fetched after the minimum")
	}

	// A year of max-age is cut to the maximum.
	setHeader("Cache-Control", "max-age=31536000")
	clock.Advance(time.Hour)
	resolve()
	hits = ds.hits.Load()
	clock.Advance(cimd.DefaultMaxTTL + time.Second)
	resolve()
	if ds.hits.Load() != hits+1 {
		t.Fatal("not fetched again after the maximum")
	}

	// Age counts against max-age.
	setHeader("Cache-Control", "max-age=600")
	ds.mu.Lock()
	ds.header.Set("Age", "540")
	ds.mu.Unlock()
	clock.Advance(cimd.DefaultMaxTTL + time.Second)
	resolve()
	hits = ds.hits.Load()
	clock.Advance(cimd.DefaultMinTTL + time.Second) // 60 s left by max-age and Age: the minimum wins
	resolve()
	if ds.hits.Load() != hits+1 {
		t.Fatal("Age not taken into account")
	}

	// Without headers: the default.
	setHeader("", "")
	clock.Advance(cimd.DefaultMaxTTL)
	resolve()
	hits = ds.hits.Load()
	clock.Advance(cimd.DefaultTTL - time.Second)
	resolve()
	if ds.hits.Load() != hits {
		t.Fatal("fetched again within the default lifetime")
	}
}

func TestResolveFailureBackoff(t *testing.T) {
	ds := newDocServer(t)
	clock := clocktest.Default()
	r := cimd.New(cimd.Options{Guard: cimd.Guard{Allow: allowLoopback()}, RootCAs: ds.pool, Now: clock.Now})
	url := ds.url("/client.json")
	ds.mu.Lock()
	ds.body = func(string) string {
		return `{"client_id":"https://wrong.example/x","redirect_uris":["https://a.example/cb"]}`
	}
	ds.header.Set("Cache-Control", "max-age=86400") // never applied to a failure
	ds.mu.Unlock()
	if _, err := r.Resolve(context.Background(), url); !errors.Is(err, cimd.ErrInvalidDocument) {
		t.Fatalf("Resolve = %v", err)
	}
	hits := ds.hits.Load()
	if _, err := r.Resolve(context.Background(), url); !errors.Is(err, cimd.ErrInvalidDocument) {
		t.Fatalf("Resolve = %v", err)
	}
	if ds.hits.Load() != hits {
		t.Fatal("a failure was fetched again at once")
	}
	ds.mu.Lock()
	ds.body = func(u string) string {
		return `{"client_id":"` + u + `","client_name":"Test app","redirect_uris":["https://app.example.com/cb"]}`
	}
	ds.mu.Unlock()
	clock.Advance(cimd.DefaultFailureTTL + time.Second)
	if _, err := r.Resolve(context.Background(), url); err != nil {
		t.Fatalf("after the backoff: %v", err)
	}
}

func TestResolveSharesOneFetch(t *testing.T) {
	ds := newDocServer(t)
	r := cimd.New(cimd.Options{Guard: cimd.Guard{Allow: allowLoopback()}, RootCAs: ds.pool})
	url := ds.url("/client.json")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Resolve(context.Background(), url); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := ds.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestResolveBounded(t *testing.T) {
	ds := newDocServer(t)
	r := cimd.New(cimd.Options{Guard: cimd.Guard{Allow: allowLoopback()}, RootCAs: ds.pool, MaxEntries: 2})
	for i := range 5 {
		// Each is a different client_id (and a 500 from the server): the
		// cache holds at most two of them.
		if _, err := r.Resolve(context.Background(), ds.url(fmt.Sprintf("/c%d", i))); !errors.Is(err, cimd.ErrFetch) {
			t.Fatalf("Resolve = %v", err)
		}
	}
	hits := ds.hits.Load()
	for i := range 5 {
		_, _ = r.Resolve(context.Background(), ds.url(fmt.Sprintf("/c%d", i)))
	}
	if got := ds.hits.Load() - hits; got < 3 {
		t.Fatalf("%d refetches of 5, want at least 3 (at most 2 cached)", got)
	}
}

func TestHosts(t *testing.T) {
	patterns := []string{"mcp.example.com", "*.clients.example.org"}
	for host, want := range map[string]bool{
		"mcp.example.com": true, "MCP.Example.com": true, "mcp.example.com.": true,
		"a.clients.example.org": true, "a.b.clients.example.org": true,
		"clients.example.org": false, "evilclients.example.org": false, "example.com": false, "x.mcp.example.com": false,
	} {
		if got := cimd.HostAllowed(patterns, host); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	ds := newDocServer(t)
	r := cimd.New(cimd.Options{Guard: cimd.Guard{Allow: allowLoopback()}, RootCAs: ds.pool, Hosts: []string{"mcp.example.com"}})
	if _, err := r.Resolve(context.Background(), ds.url("/client.json")); !errors.Is(err, cimd.ErrHostNotAllowed) {
		t.Fatalf("Resolve = %v, want ErrHostNotAllowed", err)
	}
	if ds.hits.Load() != 0 {
		t.Fatal("a host off the list was fetched")
	}
	r = cimd.New(cimd.Options{Guard: cimd.Guard{Allow: allowLoopback()}, RootCAs: ds.pool, Hosts: []string{"127.0.0.1"}})
	if _, err := r.Resolve(context.Background(), ds.url("/client.json")); err != nil {
		t.Fatalf("listed host: %v", err)
	}
}
