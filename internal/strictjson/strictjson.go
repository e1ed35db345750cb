// Package strictjson is a small, allocation-free JSON validator used on the
// token hot path. It accepts exactly one RFC 8259 value and rejects what a
// lenient decoder lets through: duplicate member names at any depth, invalid
// UTF-8, lone surrogate escapes, nesting deeper than a bound, and trailing
// bytes. Top-level object members are returned as raw substrings so that
// callers can decode only the members they need.
package strictjson

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// DefaultMaxDepth is the nesting bound used when a caller passes zero.
const DefaultMaxDepth = 32

// maxMembersLinear is the number of members of one object below which
// duplicate names are detected with a linear scan instead of a map.
const maxMembersLinear = 16

// Errors returned by the scanner. They never contain input bytes.
var (
	ErrSyntax    = errors.New("strictjson: invalid JSON")
	ErrDuplicate = errors.New("strictjson: duplicate member name")
	ErrDepth     = errors.New("strictjson: nesting too deep")
	ErrNotObject = errors.New("strictjson: not a JSON object")
	ErrType      = errors.New("strictjson: unexpected JSON type")
)

// Member is one member of a JSON object: its name (unescaped) and its raw
// value exactly as it appears in the input.
type Member struct {
	Name  string
	Value string
}

type scanner struct {
	s        string
	i        int
	maxDepth int
	// fold makes member names that are equal under Unicode simple case
	// folding duplicates of each other.
	fold bool
}

// ParseObject validates data as one JSON object and appends its top-level
// members to dst, in input order. Nested values are fully validated
// (duplicates, depth) but returned raw. maxDepth <= 0 means DefaultMaxDepth.
func ParseObject(data string, maxDepth int, dst []Member) ([]Member, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	sc := scanner{s: data, maxDepth: maxDepth}
	sc.skipSpace()
	if sc.i >= len(sc.s) || sc.s[sc.i] != '{' {
		return dst, ErrNotObject
	}
	dst, err := sc.object(1, dst, true)
	if err != nil {
		return dst, err
	}
	sc.skipSpace()
	if sc.i != len(sc.s) {
		return dst, ErrSyntax
	}
	return dst, nil
}

// Validate reports whether data is exactly one strict JSON value.
func Validate(data string, maxDepth int) error {
	return validate(data, maxDepth, false)
}

// ValidateBytes is Validate of data held in a byte slice, without copying
// it into a string: the scanner keeps no reference to data past the call.
func ValidateBytes(data []byte, maxDepth int) error {
	return validate(unsafe.String(unsafe.SliceData(data), len(data)), maxDepth, false)
}

// ValidateFold is Validate with a stricter duplicate rule: two member names
// of one object that are equal under Unicode simple case folding (as
// strings.EqualFold compares them, "iss", "ISS" and "iſs") are duplicates.
// encoding/json matches object members to struct fields that way, and the
// last match wins, so a document that passes only Validate can decode to a
// different value than an exact-name reader saw. Check data with
// ValidateFold before handing it to json.Unmarshal with a struct target.
func ValidateFold(data string, maxDepth int) error {
	return validate(data, maxDepth, true)
}

func validate(data string, maxDepth int, fold bool) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	sc := scanner{s: data, maxDepth: maxDepth, fold: fold}
	sc.skipSpace()
	if err := sc.value(1); err != nil {
		return err
	}
	sc.skipSpace()
	if sc.i != len(sc.s) {
		return ErrSyntax
	}
	return nil
}

func (sc *scanner) skipSpace() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

func (sc *scanner) value(depth int) error {
	if sc.i >= len(sc.s) {
		return ErrSyntax
	}
	switch c := sc.s[sc.i]; {
	case c == '{':
		_, err := sc.object(depth, nil, false)
		return err
	case c == '[':
		return sc.array(depth)
	case c == '"':
		_, _, err := sc.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number()
	case strings.HasPrefix(sc.s[sc.i:], "true"):
		sc.i += 4
	case strings.HasPrefix(sc.s[sc.i:], "false"):
		sc.i += 5
	case strings.HasPrefix(sc.s[sc.i:], "null"):
		sc.i += 4
	default:
		return ErrSyntax
	}
	return nil
}

// object scans an object starting at '{'. When collect is true, top-level
// members are appended to dst.
func (sc *scanner) object(depth int, dst []Member, collect bool) ([]Member, error) {
	if depth > sc.maxDepth {
		return dst, ErrDepth
	}
	sc.i++ // '{'
	var small [maxMembersLinear]string
	names := small[:0]
	var seen map[string]struct{}
	sc.skipSpace()
	if sc.i < len(sc.s) && sc.s[sc.i] == '}' {
		sc.i++
		return dst, nil
	}
	for {
		sc.skipSpace()
		if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
			return dst, ErrSyntax
		}
		raw, escaped, err := sc.str()
		if err != nil {
			return dst, err
		}
		name := raw[1 : len(raw)-1]
		if escaped {
			if name, err = unescape(name); err != nil {
				return dst, err
			}
		}
		key := name
		if sc.fold {
			key = foldKey(name)
		}
		if seen == nil {
			for _, n := range names {
				if n == key {
					return dst, ErrDuplicate
				}
			}
			if len(names) < maxMembersLinear {
				names = append(names, key)
			} else {
				seen = make(map[string]struct{}, 2*maxMembersLinear)
				for _, n := range names {
					seen[n] = struct{}{}
				}
				seen[key] = struct{}{}
			}
		} else {
			if _, dup := seen[key]; dup {
				return dst, ErrDuplicate
			}
			seen[key] = struct{}{}
		}
		sc.skipSpace()
		if sc.i >= len(sc.s) || sc.s[sc.i] != ':' {
			return dst, ErrSyntax
		}
		sc.i++
		sc.skipSpace()
		start := sc.i
		if err := sc.value(depth + 1); err != nil {
			return dst, err
		}
		if collect {
			dst = append(dst, Member{Name: name, Value: sc.s[start:sc.i]})
		}
		sc.skipSpace()
		if sc.i >= len(sc.s) {
			return dst, ErrSyntax
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return dst, nil
		default:
			return dst, ErrSyntax
		}
	}
}

func (sc *scanner) array(depth int) error {
	if depth > sc.maxDepth {
		return ErrDepth
	}
	sc.i++ // '['
	sc.skipSpace()
	if sc.i < len(sc.s) && sc.s[sc.i] == ']' {
		sc.i++
		return nil
	}
	for {
		sc.skipSpace()
		if err := sc.value(depth + 1); err != nil {
			return err
		}
		sc.skipSpace()
		if sc.i >= len(sc.s) {
			return ErrSyntax
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return nil
		default:
			return ErrSyntax
		}
	}
}

// str scans a string token starting at '"' and returns it with its quotes,
// and whether it contains escapes. It rejects control characters, invalid
// UTF-8, unknown escapes and unpaired surrogate escapes.
func (sc *scanner) str() (raw string, escaped bool, err error) {
	start := sc.i
	sc.i++
	for sc.i < len(sc.s) {
		// Fast path: skip a run of plain printable ASCII, the common case,
		// with the index in a local so the loop stays in registers.
		s, k := sc.s, sc.i
		for k < len(s) {
			c := s[k]
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				break
			}
			k++
		}
		sc.i = k
		if k >= len(s) {
			break
		}
		c := s[k]
		switch {
		case c == '"':
			sc.i++
			return sc.s[start:sc.i], escaped, nil
		case c == '\\':
			escaped = true
			if sc.i+1 >= len(sc.s) {
				return "", false, ErrSyntax
			}
			switch sc.s[sc.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				sc.i += 2
			case 'u':
				r, ok := hex4(sc.s, sc.i+2)
				if !ok {
					return "", false, ErrSyntax
				}
				sc.i += 6
				if utf16.IsSurrogate(r) {
					// A high surrogate must be followed by an escaped low one.
					if r >= 0xDC00 || sc.i+1 >= len(sc.s) || sc.s[sc.i] != '\\' || sc.s[sc.i+1] != 'u' {
						return "", false, ErrSyntax
					}
					r2, ok := hex4(sc.s, sc.i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return "", false, ErrSyntax
					}
					sc.i += 6
				}
			default:
				return "", false, ErrSyntax
			}
		case c < 0x20:
			return "", false, ErrSyntax
		case c < utf8.RuneSelf:
			sc.i++
		default:
			r, size := utf8.DecodeRuneInString(sc.s[sc.i:])
			if r == utf8.RuneError && size <= 1 {
				return "", false, ErrSyntax
			}
			sc.i += size
		}
	}
	return "", false, ErrSyntax
}

// foldKey maps name to a string that is equal for two names exactly when
// strings.EqualFold reports them equal: every rune is replaced by the
// smallest rune of its simple case folding orbit.
func foldKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (sc *scanner) number() error {
	s, i := sc.s, sc.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return ErrSyntax
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return ErrSyntax
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return ErrSyntax
		}
	}
	sc.i = i
	return nil
}

// unescape decodes the body of a JSON string (without quotes). The body is
// normally already validated; on any other input unescape reports
// ErrSyntax for a malformed escape instead of panicking.
func unescape(body string) (string, error) {
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(body) {
			return "", ErrSyntax
		}
		switch body[i+1] {
		case '"', '\\', '/':
			b.WriteByte(body[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(body, i+2)
			if !ok {
				return "", ErrSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || i+1 >= len(body) || body[i] != '\\' || body[i+1] != 'u' {
					return "", ErrSyntax
				}
				r2, ok := hex4(body, i+2)
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return "", ErrSyntax
				}
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			b.WriteRune(r)
			continue
		default:
			return "", ErrSyntax
		}
		i += 2
	}
	return b.String(), nil
}

// String decodes a raw JSON value that must be a string, as found in a
// document that ParseObject or Validate accepted. Without escapes it
// returns a substring of raw and does not allocate. It never panics; on a
// value that was not validated it may return ErrSyntax.
func String(raw string) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", ErrType
	}
	body := raw[1 : len(raw)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body, nil
	}
	return unescape(body)
}

// Number decodes a raw JSON value that must be a number.
func Number(raw string) (float64, error) {
	// Check the JSON number grammar: strconv.ParseFloat alone would take
	// "-Inf", "0x1p4" or "1_0".
	sc := scanner{s: raw}
	if sc.number() != nil || sc.i != len(raw) {
		return 0, ErrType
	}
	// Fast path: a plain non-negative integer of up to 15 digits is exact.
	if len(raw) <= 15 {
		var n int64
		integer := true
		for i := 0; i < len(raw); i++ {
			c := raw[i]
			if c < '0' || c > '9' {
				integer = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if integer {
			return float64(n), nil
		}
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		// Only overflow reaches here: the scanner validated the grammar.
		return 0, ErrType
	}
	return f, nil
}

// Bool decodes a raw JSON value that must be true or false.
func Bool(raw string) (bool, error) {
	switch raw {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, ErrType
}

// AppendStrings appends the elements of a raw JSON array, which must all be
// strings, to dst. raw must already have been validated.
func AppendStrings(dst []string, raw string) ([]string, error) {
	if len(raw) < 2 || raw[0] != '[' {
		return dst, ErrType
	}
	sc := scanner{s: raw, i: 1}
	sc.skipSpace()
	if sc.i < len(sc.s) && sc.s[sc.i] == ']' {
		return dst, nil
	}
	for {
		sc.skipSpace()
		if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
			return dst, ErrType
		}
		tok, _, err := sc.str()
		if err != nil {
			return dst, err
		}
		v, err := String(tok)
		if err != nil {
			return dst, err
		}
		dst = append(dst, v)
		sc.skipSpace()
		if sc.i >= len(sc.s) {
			return dst, ErrSyntax
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
		case ']':
			return dst, nil
		default:
			return dst, ErrSyntax
		}
	}
}

// AppendStringArray appends ss to dst as a JSON array of string literals
// (AppendString each): ["a","b"], or [] for none.
func AppendStringArray(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}

// AppendString appends s to dst as a JSON string literal: quotes and
// backslashes escaped, control characters as \u00XX, everything else
// (including UTF-8) as is. It is the encoder the hot paths use to build
// token headers and payloads without reflection.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
