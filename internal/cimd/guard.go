package cimd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlockedAddress reports that a URL's host is, or resolved to, an
// address writ does not fetch from: a special-use address (RFC 6890) that
// could reach the server's own network.
var ErrBlockedAddress = errors.New("cimd: address not allowed")

// blocked are the special-use ranges (RFC 6890 and its successors) that a
// fetch may never reach, whatever the settings: nothing on the public
// internet lives there, and some (link-local, where cloud metadata services
// answer) are dangerous even in development.
var blocked = mustPrefixes(
	"0.0.0.0/8",          // "this network", unspecified
	"169.254.0.0/16",     // link-local (cloud metadata at 169.254.169.254)
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // TEST-NET-1
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // TEST-NET-2
	"203.0.113.0/24",     // TEST-NET-3
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved, and the limited broadcast address
	"::/96",              // unspecified, IPv4-compatible (deprecated)
	"64:ff9b::/96",       // NAT64: may embed a private IPv4 address
	"64:ff9b:1::/48",     // local-use NAT64
	"100::/64",           // discard-only
	"2001::/23",          // IETF protocol assignments (Teredo, ORCHID, ...)
	"2001:db8::/32",      // documentation
	"2002::/16",          // 6to4: may embed a private IPv4 address
	"fe80::/10",          // link-local
	"fec0::/10",          // site-local (deprecated)
	"ff00::/8",           // multicast
	"3fff::/20",          // documentation (RFC 9637)
	"5f00::/16",          // segment routing SIDs (RFC 9602)
	"2620:4f:8000::/48",  // AS112 (direct delegation)
	"192.31.196.0/24",    // AS112
	"192.52.193.0/24",    // AMT
	"192.175.48.0/24",    // AS112 (direct delegation)
	"2001:4:112::/48",    // AS112
	"100.100.100.200/32", // a cloud metadata service inside CGNAT space
)

// private are the ranges of private networks: refused unless the operator
// allows them for development (Guard.AllowPrivate).
var private = mustPrefixes(
	"10.0.0.0/8",     // RFC 1918
	"172.16.0.0/12",  // RFC 1918
	"192.168.0.0/16", // RFC 1918
	"100.64.0.0/10",  // shared address space (CGNAT, RFC 6598)
	"127.0.0.0/8",    // loopback
	"::1/128",        // loopback
	"fc00::/7",       // unique local (ULA)
)

func mustPrefixes(list ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which addresses an outgoing fetch may connect to, and
// checks every connection as it is made: the address dialled, after name
// resolution, so that a host name resolving (or re-resolving, DNS
// rebinding) to a private address is caught as well as an IP literal.
type Guard struct {
	// AllowPrivate lets fetches reach private networks and loopback
	// (development only; configuration refuses it in production).
	// Link-local, multicast and the other special-use ranges stay
	// refused.
	AllowPrivate bool
	// Allow lists addresses allowed whatever else says, e.g. the loopback
	// address of a test server. Empty in production.
	Allow []netip.Prefix
}

// Check reports an error wrapping ErrBlockedAddress unless a connection to
// addr is allowed.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return fmt.Errorf("%w: not an IP address", ErrBlockedAddress)
	}
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	if addr.IsUnspecified() || addr.IsMulticast() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() {
		return fmt.Errorf("%w: %s is a special-use address", ErrBlockedAddress, addr)
	}
	if addr.IsLoopback() {
		// ::1 lies inside ::/96 of the blocked list; loopback is judged
		// as private.
		if g.AllowPrivate {
			return nil
		}
		return fmt.Errorf("%w: %s is a private or loopback address", ErrBlockedAddress, addr)
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s is a special-use address", ErrBlockedAddress, addr)
		}
	}
	for _, p := range private {
		if p.Contains(addr) {
			if g.AllowPrivate {
				return nil
			}
			return fmt.Errorf("%w: %s is a private or loopback address", ErrBlockedAddress, addr)
		}
	}
	return nil
}

// control is the net.Dialer Control hook: it runs after name resolution,
// just before each connection attempt, with the address actually dialled.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %q", ErrBlockedAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an address and port", ErrBlockedAddress, address)
	}
	return g.Check(ap.Addr())
}

// HTTPClientOptions shape the HTTP client of NewHTTPClient.
type HTTPClientOptions struct {
	// Timeout bounds a whole request, body included.
	Timeout time.Duration
	// RootCAs are the trusted roots; nil means the system's.
	RootCAs *x509.CertPool
}

// NewHTTPClient returns an HTTP client for fetching URLs that untrusted
// parties chose: every connection goes through g (no proxy from the
// environment, which would bypass it), redirects are not followed (the
// 3xx response is returned as is), TLS is at least 1.2, and response
// headers are bounded.
func (g *Guard) NewHTTPClient(o HTTPClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	d := &net.Dialer{Timeout: o.Timeout, Control: g.control}
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: t,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
