package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Column encodings: times as Unix microseconds in UTC, lists and maps as
// JSON text, booleans as 0/1, absent byte strings as NULL.

func encodeTime(t time.Time) int64 { return t.UnixMicro() }

func decodeTime(v int64) time.Time { return time.UnixMicro(v).UTC() }

func encodeList(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	if s, ok := encodePlainList(list); ok {
		return s, nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

func decodeList(s string) ([]string, error) {
	if list, ok := decodePlainList(s); ok {
		return list, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

// plainJSON reports whether c stands for itself inside a JSON string as
// encoding/json writes it: printable ASCII other than the quote, the
// backslash and the HTML characters it escapes.
func plainJSON(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// encodePlainList writes list as encoding/json does when no string needs
// an escape (scopes, audiences, methods: the common case), and reports
// false otherwise.
func encodePlainList(list []string) (string, bool) {
	n := 1
	for _, v := range list {
		for i := 0; i < len(v); i++ {
			if !plainJSON(v[i]) {
				return "", false
			}
		}
		n += len(v) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, v := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(v)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String(), true
}

// decodePlainList reads what encodePlainList writes; anything else (an
// escape, a space, another value) reports false for encoding/json to
// decode.
func decodePlainList(s string) ([]string, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return nil, true
	}
	list := make([]string, 0, strings.Count(body, ",")+1)
	for {
		if len(body) < 2 || body[0] != '"' {
			return nil, false
		}
		end := 1
		for end < len(body) && plainJSON(body[end]) {
			end++
		}
		if end == len(body) || body[end] != '"' {
			return nil, false
		}
		list = append(list, body[1:end])
		body = body[end+1:]
		if body == "" {
			return list, true
		}
		if body[0] != ',' {
			return nil, false
		}
		body = body[1:]
	}
}

func encodeMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode map: %w", err)
	}
	return string(b), nil
}

func decodeMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode map: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// nullBytes stores an empty byte string as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullText stores an absent JSON document (nil) as NULL, others as TEXT.
func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// nonEmpty reads a NULL or empty BLOB back as nil.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// encodeOptionalTime stores the zero time (an instant that has not happened
// yet) as NULL.
func encodeOptionalTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return encodeTime(t)
}

// decodeOptionalTime reads NULL back as the zero time.
func decodeOptionalTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return decodeTime(v.Int64)
}

// encodeAttributes stores user attributes as a JSON object of strings, each
// the attribute's JSON text, so that values come back byte for byte
// (json.Marshal would compact a json.RawMessage).
func encodeAttributes(attrs map[string]json.RawMessage) (string, error) {
	m := make(map[string]string, len(attrs))
	for k, v := range attrs {
		m[k] = string(v)
	}
	s, err := encodeMap(m)
	if err != nil {
		return "", fmt.Errorf("encode attributes: %w", err)
	}
	return s, nil
}

func decodeAttributes(s string) (map[string]json.RawMessage, error) {
	m, err := decodeMap(s)
	if err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	attrs := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		attrs[k] = json.RawMessage(v)
	}
	return attrs, nil
}

// params returns n comma-separated placeholders.
func params(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// laterOf returns the later of a and b (the zero time is the earliest).
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
