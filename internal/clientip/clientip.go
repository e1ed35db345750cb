// Package clientip finds a request's client address: the peer address of
// the connection, or, when the peer is a trusted proxy, the right-most
// address of X-Forwarded-For (or, when configured, RFC 7239 Forwarded;
// never both) that is not itself a trusted proxy. It is the one place
// writ computes the source address its rate limits, sign-in throttle,
// logs and audit records use.
//
// With no trusted proxies (the default) the headers are never believed:
// anyone can send them. Only the proxies named are believed, and only for
// the hops to their right, so a client cannot choose its address by
// sending a header of its own: a proxy appends the address it saw, and the
// walk from the right stops at the first address no trusted proxy vouches
// for.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Bounds on the headers read.
const (
	// MaxHops is how many addresses of the forwarding headers are
	// considered, from the right.
	MaxHops = 32
	// maxHeaderBytes bounds the header text parsed.
	maxHeaderBytes = 8 << 10
	// maxProxies bounds the trusted proxy list.
	maxProxies = 256
)

// Resolver finds client addresses. The zero Resolver (or nil) trusts no
// proxy and returns the peer address. A Resolver is immutable and safe for
// concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	// forwarded reads Forwarded (RFC 7239) instead of X-Forwarded-For.
	forwarded bool
}

// Forwarding headers a Resolver reads (UseHeader).
const (
	// HeaderXForwardedFor is X-Forwarded-For, the default.
	HeaderXForwardedFor = "x-forwarded-for"
	// HeaderForwarded is RFC 7239's Forwarded.
	HeaderForwarded = "forwarded"
)

// UseHeader returns a copy of r that reads only the named forwarding
// header (HeaderXForwardedFor or HeaderForwarded): a proxy passes the
// header it does not set through as the client sent it, so reading both
// would let a client choose its address.
func (r *Resolver) UseHeader(name string) (*Resolver, error) {
	out := &Resolver{}
	if r != nil {
		out.trusted = r.trusted
	}
	switch strings.ToLower(name) {
	case "", HeaderXForwardedFor:
	case HeaderForwarded:
		out.forwarded = true
	default:
		return nil, fmt.Errorf("clientip: unknown forwarding header %q (x-forwarded-for or forwarded)", clip(name))
	}
	return out, nil
}

// ParseTrusted reads a comma-separated list of trusted proxies, each a
// CIDR prefix (10.0.0.0/8, fd00::/8) or a single address. An empty list
// trusts none.
func ParseTrusted(list string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(r.trusted) == maxProxies {
			return nil, fmt.Errorf("clientip: at most %d trusted proxies", maxProxies)
		}
		var p netip.Prefix
		if strings.Contains(s, "/") {
			pp, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("clientip: %q is not a CIDR prefix or an address", clip(s))
			}
			p = pp.Masked()
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("clientip: %q is not a CIDR prefix or an address", clip(s))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// Trusted reports whether a is a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Proxies returns the trusted proxy prefixes.
func (r *Resolver) Proxies() []netip.Prefix {
	if r == nil {
		return nil
	}
	return append([]netip.Prefix(nil), r.trusted...)
}

// Addr returns the client address of req, without a port: the peer's,
// or when the peer is a trusted proxy the right-most untrusted address of
// its forwarding header (X-Forwarded-For, or Forwarded after UseHeader;
// never both).
// When every address is trusted it is the left-most one; when an entry
// does not parse (unknown, obfuscated, garbage) the walk stops at the
// trusted hop that sent it, whose address is returned.
func (r *Resolver) Addr(req *http.Request) string {
	peer, ok := peerAddr(req.RemoteAddr)
	if !ok {
		return req.RemoteAddr
	}
	if !r.Trusted(peer) {
		return peer.String()
	}
	var hops []string
	if r.forwarded {
		hops = ForwardedFor(req.Header.Values("Forwarded"))
	} else {
		hops = XForwardedFor(req.Header.Values("X-Forwarded-For"))
	}
	return r.walk(peer, hops).String()
}

// walk returns the right-most untrusted address of hops, peer being the
// hop right of them.
func (r *Resolver) walk(peer netip.Addr, hops []string) netip.Addr {
	cur := peer
	for i := len(hops) - 1; i >= 0 && len(hops)-i <= MaxHops; i-- {
		a, ok := ParseNode(hops[i])
		if !ok {
			return cur
		}
		cur = a
		if !r.Trusted(a) {
			return a
		}
	}
	return cur
}

// peerAddr parses a RemoteAddr (host:port, or a bare address).
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// ParseNode reads one address of a forwarding header: an IPv4 address,
// an IPv6 address (bare or in brackets), either with an optional port.
// "unknown", obfuscated identifiers (_abc) and anything else do not parse.
func ParseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// XForwardedFor splits X-Forwarded-For header values into their entries,
// left to right, keeping at most the last MaxHops.
func XForwardedFor(values []string) []string {
	var hops []string
	for _, v := range bounded(values) {
		for _, e := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(e))
		}
	}
	return lastHops(hops)
}

// ForwardedFor returns the for= parameter of each element of Forwarded
// header values (RFC 7239 §4), left to right, unquoted, keeping at most
// the last MaxHops. An element without for= gives "" (which does not
// parse as an address).
func ForwardedFor(values []string) []string {
	var hops []string
	for _, v := range bounded(values) {
		for _, elem := range splitQuoted(v, ',') {
			f := ""
			for _, pair := range splitQuoted(elem, ';') {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
					f = unquote(strings.TrimSpace(value))
				}
			}
			hops = append(hops, f)
		}
	}
	return lastHops(hops)
}

// bounded keeps header values up to maxHeaderBytes in all, the right-most
// ones (the hops nearest writ); a value cut in two is dropped whole.
func bounded(values []string) []string {
	n := 0
	for i := len(values) - 1; i >= 0; i-- {
		n += len(values[i])
		if n > maxHeaderBytes {
			return values[i+1:]
		}
	}
	return values
}

func lastHops(hops []string) []string {
	if len(hops) > MaxHops {
		return hops[len(hops)-MaxHops:]
	}
	return hops
}

// splitQuoted splits s at sep outside quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes the quotes of a quoted-string and its escapes.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
