package clientip_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/clientip"
)

func TestAddr(t *testing.T) {
	proxies, err := clientip.ParseTrusted("10.0.0.0/8, 192.0.2.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	none, _ := clientip.ParseTrusted("")
	fwd, err := proxies.UseHeader(clientip.HeaderForwarded)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		r      *clientip.Resolver
		remote string
		xff    []string
		fwd    []string
		want   string
	}{
		{"no proxy trusted: header ignored", none, "10.1.1.1:5000", []string{"203.0.113.9"}, nil, "10.1.1.1"},
		{"nil resolver", nil, "203.0.113.9:1", []string{"1.2.3.4"}, nil, "203.0.113.9"},
		{"untrusted peer: header ignored", proxies, "198.51.100.7:443", []string{"203.0.113.9"}, nil, "198.51.100.7"},
		{"trusted peer, one hop", proxies, "10.0.0.5:443", []string{"203.0.113.9"}, nil, "203.0.113.9"},
		{"right-most untrusted wins over a spoofed left", proxies, "10.0.0.5:443", []string{"6.6.6.6, 203.0.113.9"}, nil, "203.0.113.9"},
		{"trusted hops skipped", proxies, "10.0.0.5:443", []string{"203.0.113.9, 10.2.2.2", "192.0.2.1"}, nil, "203.0.113.9"},
		{"all trusted: left-most", proxies, "10.0.0.5:443", []string{"10.9.9.9, 10.2.2.2"}, nil, "10.9.9.9"},
		{"garbage stops at the trusted hop", proxies, "10.0.0.5:443", []string{"203.0.113.9, nonsense"}, nil, "10.0.0.5"},
		{"garbage left of an untrusted hop is never reached", proxies, "10.0.0.5:443", []string{"nonsense, 203.0.113.9"}, nil, "203.0.113.9"},
		{"empty header: the proxy", proxies, "10.0.0.5:443", nil, nil, "10.0.0.5"},
		{"xff with port", proxies, "10.0.0.5:443", []string{"203.0.113.9:1234"}, nil, "203.0.113.9"},
		{"xff IPv6", proxies, "[fd00::1]:443", []string{"2001:db8::7"}, nil, "2001:db8::7"},
		{"xff IPv6 in brackets with port", proxies, "[fd00::1]:443", []string{"[2001:db8::7]:80"}, nil, "2001:db8::7"},
		{"IPv4-mapped peer", proxies, "[::ffff:10.0.0.5]:443", []string{"203.0.113.9"}, nil, "203.0.113.9"},
		{"Forwarded", fwd, "10.0.0.5:443", nil, []string{`for=203.0.113.9;proto=https`}, "203.0.113.9"},
		{"Forwarded configured: X-Forwarded-For not read", fwd, "10.0.0.5:443", []string{"6.6.6.6"}, []string{`for=203.0.113.9`}, "203.0.113.9"},
		{"X-Forwarded-For (the default): Forwarded not read", proxies, "10.0.0.5:443", []string{"203.0.113.9"}, []string{`for=6.6.6.6`}, "203.0.113.9"},
		{"Forwarded quoted IPv6 with port", fwd, "10.0.0.5:443", nil, []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded several elements", fwd, "10.0.0.5:443", nil, []string{`for=6.6.6.6, for=203.0.113.9;by=10.0.0.5, For=10.3.3.3`}, "203.0.113.9"},
		{"Forwarded unknown stops", fwd, "10.0.0.5:443", nil, []string{`for=unknown`}, "10.0.0.5"},
		{"Forwarded obfuscated stops", fwd, "10.0.0.5:443", nil, []string{`for=_hidden`}, "10.0.0.5"},
		{"Forwarded without for", fwd, "10.0.0.5:443", nil, []string{`proto=https`}, "10.0.0.5"},
		{"Forwarded quoted comma", fwd, "10.0.0.5:443", nil, []string{`for=203.0.113.9;x="a,b"`}, "203.0.113.9"},
		{"zone refused", proxies, "[fd00::1]:443", []string{"fe80::1%eth0"}, nil, "fd00::1"},
		{"unparsable peer kept", proxies, "@", nil, nil, "@"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://x/", nil)
			req.RemoteAddr = c.remote
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range c.fwd {
				req.Header.Add("Forwarded", v)
			}
			if got := c.r.Addr(req); got != c.want {
				t.Fatalf("Addr = %q, want %q", got, c.want)
			}
		})
	}
}

func TestAddrBounded(t *testing.T) {
	r, _ := clientip.ParseTrusted("10.0.0.0/8")
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.RemoteAddr = "10.0.0.1:1"
	// 100 trusted hops after the client: only MaxHops are walked, so the
	// answer is a trusted address, never the far-left spoofable one.
	req.Header.Set("X-Forwarded-For", "203.0.113.9"+strings.Repeat(", 10.1.1.1", 100))
	if got := r.Addr(req); got != "10.1.1.1" {
		t.Fatalf("Addr = %q, want the left-most of the last %d hops", got, clientip.MaxHops)
	}
}

func TestParseTrusted(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{"10.1.2.3/8, 192.0.2.1 ,::1", []string{"10.0.0.0/8", "192.0.2.1/32", "::1/128"}, false},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}, false},
		{"10.0.0.0/33", nil, true},
		{"example.com", nil, true},
		{"fe80::1%eth0", nil, true},
	} {
		r, err := clientip.ParseTrusted(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseTrusted(%q) error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		var got []string
		for _, p := range r.Proxies() {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("ParseTrusted(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if _, err := clientip.ParseTrusted(strings.Repeat("10.0.0.1,", 300)); err == nil {
		t.Error("300 proxies accepted")
	}
	r, _ := clientip.ParseTrusted("10.0.0.0/8")
	if !r.Trusted(netip.MustParseAddr("::ffff:10.1.1.1")) || r.Trusted(netip.MustParseAddr("11.0.0.1")) {
		t.Error("Trusted misjudges")
	}
}

// FuzzAddr: whatever the headers, Addr never panics, returns the peer when
// the peer is untrusted, and otherwise an address that parses and is
// either untrusted or trusted (never a header's garbage).
func FuzzAddr(f *testing.F) {
	f.Add("203.0.113.9, 10.0.0.2", `for=203.0.113.9;proto=https`)
	f.Add("nonsense", `for="[2001:db8::1]:80", for=unknown`)
	f.Add("", `for="a\"b,c";by=x`)
	f.Add("[::1]:1, 1.2.3.4:5", `For=_x;FOR=1.1.1.1`)
	r, _ := clientip.ParseTrusted("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		for _, peer := range []string{"10.0.0.1:1", "203.0.113.1:1"} {
			req, _ := http.NewRequest("GET", "http://x/", nil)
			req.RemoteAddr = peer
			req.Header["X-Forwarded-For"] = []string{xff}
			if len(fwd)%2 == 0 {
				req.Header["Forwarded"] = []string{fwd}
			}
			got := r.Addr(req)
			a, err := netip.ParseAddr(got)
			if err != nil {
				t.Fatalf("Addr = %q, not an address", got)
			}
			if peer == "203.0.113.1:1" && got != "203.0.113.1" {
				t.Fatalf("untrusted peer: Addr = %q", got)
			}
			_ = a
		}
		clientip.ForwardedFor([]string{fwd})
		clientip.XForwardedFor([]string{xff})
	})
}

func TestMiddlewareAndOf(t *testing.T) {
	r, _ := clientip.ParseTrusted("10.0.0.0/8")
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.RemoteAddr = "10.0.0.1:1"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := clientip.Of(req); got != "10.0.0.1" {
		t.Fatalf("Of outside the middleware = %q, want the peer", got)
	}
	var got, inner string
	h := r.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		got = clientip.Of(req)
		// A second resolver inside (trusting nothing) keeps the first answer.
		var none *clientip.Resolver
		none.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) { inner = clientip.Of(req) })).ServeHTTP(nil, req)
	}))
	h.ServeHTTP(nil, req)
	if got != "203.0.113.9" || inner != "203.0.113.9" {
		t.Fatalf("Of inside = %q, inner %q; want 203.0.113.9", got, inner)
	}
}
