// Package route normalises request paths and matches them to the routes of
// the gateway: host, method and path (exact, template with named
// parameters, or prefix), the most specific route first.
//
// A path is normalised once, before matching, and the upstream receives the
// same normalised path, so that a rule written for /admin can only ever be
// reached as /admin: dot segments are resolved, empty segments collapsed,
// percent-encoded unreserved characters decoded (/%61dmin is /admin), and
// every encoding that would let two components disagree on the path is
// refused (an encoded slash, backslash, dot, percent sign or control
// character, a literal backslash, a ";" path parameter).
package route

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPathLength bounds the length of a path the normaliser accepts.
const MaxPathLength = 8 << 10

// ErrInvalidPath is wrapped by every error of Normalize: the request is
// refused with 400 Bad Request.
var ErrInvalidPath = errors.New("invalid request path")

// Normalize returns the normal form of an escaped request path (as in the
// request line, without the query). The normal form starts with "/", has no
// empty, "." or ".." segment, keeps a trailing slash, has every
// percent-encoded unreserved character (RFC 3986 §2.3) decoded, and every
// other escape in upper case. Errors wrap ErrInvalidPath.
func Normalize(escaped string) (string, error) {
	if escaped == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidPath)
	}
	if len(escaped) > MaxPathLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPath, MaxPathLength)
	}
	if escaped[0] != '/' {
		return "", fmt.Errorf("%w: does not start with /", ErrInvalidPath)
	}
	// Decode what can be decoded safely; refuse what cannot.
	var b strings.Builder
	b.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return "", fmt.Errorf("%w: invalid percent-encoding", ErrInvalidPath)
			}
			d := unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
			switch {
			case isUnreserved(d) && d != '.':
				b.WriteByte(d)
			case d == '/' || d == '\\' || d == '.' || d == '%' || d < 0x20 || d == 0x7f:
				return "", fmt.Errorf("%w: encoded %s is not accepted", ErrInvalidPath, special(d))
			default:
				b.WriteByte('%')
				b.WriteByte(upperHex[d>>4])
				b.WriteByte(upperHex[d&15])
			}
		case c == '\\':
			return "", fmt.Errorf("%w: backslash is not accepted", ErrInvalidPath)
		case c == ';':
			// Tomcat, Jetty and Spring drop ";params" from each segment, so
			// that /admin;x would reach /admin behind a route for another
			// path; an encoded %3B is a plain character everywhere.
			return "", fmt.Errorf("%w: a path parameter (;) is not accepted", ErrInvalidPath)
		case c < 0x21 || c >= 0x7f || c == '#' || c == '?':
			return "", fmt.Errorf("%w: character %q must be percent-encoded", ErrInvalidPath, rune(c))
		default:
			b.WriteByte(c)
		}
	}
	return resolveSegments(b.String())
}

// resolveSegments collapses empty segments and resolves "." and "..". A
// ".." above the root, or a segment that is a dot segment followed by a
// path parameter (";"), which some servers resolve, is refused.
func resolveSegments(p string) (string, error) {
	trailing := strings.HasSuffix(p, "/")
	// Fast path: nothing to resolve.
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p, nil
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s == "":
			continue
		case s == ".":
			if last {
				trailing = true
			}
			continue
		case s == "..":
			if len(out) == 0 {
				return "", fmt.Errorf("%w: .. above the root", ErrInvalidPath)
			}
			out = out[:len(out)-1]
			if last {
				trailing = true
			}
			continue
		case strings.HasPrefix(s, ".;") || strings.HasPrefix(s, "..;"):
			return "", fmt.Errorf("%w: dot segment with a path parameter", ErrInvalidPath)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "/", nil
	}
	n := "/" + strings.Join(out, "/")
	if trailing {
		n += "/"
	}
	return n, nil
}

// Unescape decodes the escapes Normalize kept (a normal form has no invalid
// escape), for path parameters and the decoded path of the upstream URL.
func Unescape(normal string) string {
	if !strings.Contains(normal, "%") {
		return normal
	}
	var b strings.Builder
	b.Grow(len(normal))
	for i := 0; i < len(normal); i++ {
		if normal[i] == '%' && i+2 < len(normal) && isHex(normal[i+1]) && isHex(normal[i+2]) {
			b.WriteByte(unhex(normal[i+1])<<4 | unhex(normal[i+2]))
			i += 2
			continue
		}
		b.WriteByte(normal[i])
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func special(d byte) string {
	switch d {
	case '/':
		return "slash"
	case '\\':
		return "backslash"
	case '.':
		return "dot"
	case '%':
		return "percent sign"
	}
	return "control character"
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
