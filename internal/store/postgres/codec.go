package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Column encodings: timestamptz for times (returned in UTC), text[] for
// lists (never NULL), jsonb for metadata (never NULL), bytea for byte
// strings (NULL when empty).

// nullBytes stores an empty byte string as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullJSON stores an absent JSON document (nil) as NULL; others are sent
// as text, which a jsonb parameter parses.
func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// nonEmpty reads a NULL or empty bytea back as nil.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// list stores a nil list as an empty array (pgx would send NULL).
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// nonEmptyList reads an empty array back as nil.
func nonEmptyList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// metadata stores a nil map as {} (pgx would send JSON null).
func metadata(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// optionalTime stores the zero time (an instant that has not happened yet)
// as NULL.
func optionalTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromOptionalTime reads NULL back as the zero time, and others in UTC.
func fromOptionalTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// attributes stores user attributes as a jsonb object of strings, each the
// attribute's JSON text, so that values come back byte for byte (jsonb
// would reformat nested documents).
func attributes(attrs map[string]json.RawMessage) map[string]string {
	m := make(map[string]string, len(attrs))
	for k, v := range attrs {
		m[k] = string(v)
	}
	return m
}

// fromAttributes reads the jsonb object back; empty is nil.
func fromAttributes(m map[string]string) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	attrs := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		attrs[k] = json.RawMessage(v)
	}
	return attrs
}

// params returns the placeholders $from to $to, comma-separated.
func params(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if i > from {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// laterOf returns the later of a and b (the zero time is the earliest).
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
