package postgres

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
