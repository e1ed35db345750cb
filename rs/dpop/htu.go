package dpop

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// MaxURLLength bounds the URLs NormalizeURL accepts, the htu claim and the
// request URL alike.
const MaxURLLength = 8 << 10

// errURL is the reason NormalizeURL gives; it never quotes the input.
var errURL = errors.New("dpop: not an absolute http(s) URL")

// NormalizeURL returns the form of an http or https URL that htu is compared
// in (RFC 9449 §4.3, RFC 3986 §6.2.2 and §6.2.3): the query and fragment
// removed, scheme and host in lower case, the scheme's default port and an
// empty port removed, an empty path written "/", percent-encodings in upper
// case, percent-encoded unreserved characters decoded, characters that must
// be encoded encoded, and the dot segments of the path removed. A URL with
// user information, an invalid host or port, a malformed percent-encoding,
// or longer than MaxURLLength is refused.
func NormalizeURL(raw string) (string, error) {
	if len(raw) > MaxURLLength {
		return "", errURL
	}
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if isNormal(raw) {
		return raw, nil
	}
	return normalize(raw)
}

// normalize is NormalizeURL for a URL without query and fragment.
func normalize(raw string) (string, error) {
	sep := strings.Index(raw, "://")
	if sep < 0 {
		return "", errURL
	}
	var scheme, defPort string
	switch {
	case strings.EqualFold(raw[:sep], "https"):
		scheme, defPort = "https", "443"
	case strings.EqualFold(raw[:sep], "http"):
		scheme, defPort = "http", "80"
	default:
		return "", errURL
	}
	rest := raw[sep+3:]
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	host, port, err := splitHostPort(authority)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(raw) + 8)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	if port != "" && port != defPort {
		b.WriteByte(':')
		b.WriteString(port)
	}
	p, err := normalizePath(path)
	if err != nil {
		return "", err
	}
	b.WriteString(p)
	return b.String(), nil
}

// isNormal reports whether raw, without query and fragment, is already in
// the form NormalizeURL returns, the common case, which then costs no
// allocation. It may say false of a normal URL; never true of another.
func isNormal(raw string) bool {
	var rest, defPort string
	switch {
	case strings.HasPrefix(raw, "https://"):
		rest, defPort = raw[8:], "443"
	case strings.HasPrefix(raw, "http://"):
		rest, defPort = raw[7:], "80"
	default:
		return false
	}
	slash := strings.IndexByte(rest, '/')
	if slash <= 0 {
		return false
	}
	host, path := rest[:slash], rest[slash:]
	if i := strings.IndexByte(host, ':'); i >= 0 {
		port := host[i+1:]
		host = host[:i]
		if port == "" || port == defPort || len(port) > 5 || port[0] == '0' {
			return false
		}
		n := 0
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return false
			}
			n = n*10 + int(port[j]-'0')
		}
		if n > 65535 {
			return false
		}
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !isUnreserved(c) && !isPathSubDelim(c) && c != '/' {
			return false
		}
		if c == '.' && path[i-1] == '/' {
			// "." or ".." as a whole segment
			j := i + 1
			if j < len(path) && path[j] == '.' {
				j++
			}
			if j == len(path) || path[j] == '/' {
				return false
			}
		}
	}
	return true
}

// splitHostPort checks an authority without user information and returns
// its host in lower case and its port as a decimal number without leading
// zeros ("" when absent or empty).
func splitHostPort(authority string) (host, port string, err error) {
	if authority == "" || strings.IndexByte(authority, '@') >= 0 {
		return "", "", errURL
	}
	if authority[0] == '[' {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", "", errURL
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" && port[0] != ':' {
			return "", "", errURL
		}
		for i := 1; i < len(host)-1; i++ {
			c := host[i]
			if !isHex(c) && c != ':' && c != '.' {
				return "", "", errURL
			}
		}
		if len(host) < 4 {
			return "", "", errURL
		}
	} else {
		host, port = authority, ""
		if i := strings.IndexByte(authority, ':'); i >= 0 {
			host, port = authority[:i], authority[i:]
		}
		if host == "" {
			return "", "", errURL
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !isAlnum(c) && c != '-' && c != '.' && c != '_' && c != '~' {
				return "", "", errURL
			}
		}
	}
	host = strings.ToLower(host)
	if port != "" {
		port = port[1:]
	}
	if port == "" {
		return host, "", nil
	}
	if len(port) > 5 {
		return "", "", errURL
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || port[0] == '+' {
		return "", "", errURL
	}
	return host, strconv.FormatUint(n, 10), nil
}

// normalizePath normalises percent-encodings and removes dot segments.
func normalizePath(path string) (string, error) {
	if path == "" {
		return "/", nil
	}
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return "", errURL
			}
			v := unhex(path[i+1])<<4 | unhex(path[i+2])
			if isUnreserved(v) {
				b.WriteByte(v)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex[v>>4])
				b.WriteByte(upperHex[v&15])
			}
			i += 2
		case isUnreserved(c) || isPathSubDelim(c) || c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return removeDotSegments(b.String()), nil
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

const upperHex = "0123456789ABCDEF"

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isUnreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3).
func isUnreserved(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathSubDelim: the sub-delims and ":" and "@", allowed unencoded in a
// path segment (RFC 3986 §3.3).
func isPathSubDelim(c byte) bool {
	return strings.IndexByte("!$&'()*+,;=:@", c) >= 0
}

// RequestURL returns the URL a client used for r as it reached this server,
// the default of Config.URL: "https" when the connection is TLS, "http"
// otherwise; the Host header; the path exactly as the client sent it in
// the request line (r.RequestURI), or r.URL's path when r did not come from
// a server. Use it when clients talk to this server directly; behind a
// proxy, see ForwardedURL and OriginURL. The Host header is the client's
// to choose: a server that answers under several names, or that an
// attacker can reach with a Host of another server's name, should use
// OriginURL so that a proof made for another server never matches it.
func RequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + requestPath(r)
}

// ForwardedURL is like RequestURL but takes the scheme and host from the
// first X-Forwarded-Proto and X-Forwarded-Host values when present. Use it
// only behind a proxy that always sets (or strips) both headers: a client
// that reaches the server directly chooses them freely.
func ForwardedURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if v := firstForwarded(r.Header.Get("X-Forwarded-Proto")); v != "" {
		scheme = v
	}
	host := r.Host
	if v := firstForwarded(r.Header.Get("X-Forwarded-Host")); v != "" {
		host = v
	}
	return scheme + "://" + host + requestPath(r)
}

// OriginURL returns a Config.URL function for a server whose public origin
// is fixed (for example "https://api.example.com"), whatever the scheme and
// Host of the request that reaches it: the URL is origin followed by the
// request's path. It is the safest choice behind a proxy or load balancer.
func OriginURL(origin string) func(*http.Request) string {
	origin = strings.TrimRight(origin, "/")
	return func(r *http.Request) string { return origin + requestPath(r) }
}

func firstForwarded(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// requestPath returns the path of the request target as the client sent
// it; routers that rewrite r.URL (http.StripPrefix) leave RequestURI alone.
func requestPath(r *http.Request) string {
	uri := r.RequestURI
	switch {
	case strings.HasPrefix(uri, "/"):
		return uri
	case uri != "" && uri != "*":
		// absolute-form (RFC 9112 §3.2.2): keep what follows the authority.
		if i := strings.Index(uri, "://"); i >= 0 {
			rest := uri[i+3:]
			if j := strings.IndexAny(rest, "/?#"); j >= 0 {
				return rest[j:]
			}
			return ""
		}
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.EscapedPath()
}
