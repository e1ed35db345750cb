// Package storeopen opens the store a DSN names, choosing the backend by
// the DSN's form.
//
// It is a package of its own because it imports both backends, and the
// backends import internal/store for its types: putting Open in
// internal/store would be an import cycle, and having the backends register
// themselves in a global table would be hidden mutable state. Code that
// knows its backend can call sqlite.Open or postgres.Open directly.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

// ErrUnsupportedDSN reports a DSN of a form Open does not recognize.
var ErrUnsupportedDSN = errors.New(`storeopen: unsupported DSN; use "postgres://..." or "postgresql://..." for PostgreSQL, "sqlite:PATH" or a plain file path for SQLite ("sqlite::memory:" for an in-memory database)`)

// Backend names the store a DSN selects.
type Backend string

// The backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Parse tells which backend dsn selects and what it passes on to it (the
// PostgreSQL DSN unchanged, or the SQLite file path):
//
//	postgres://... or postgresql://...   PostgreSQL
//	sqlite:PATH or sqlite://PATH         SQLite file PATH ("sqlite:///abs" is "/abs")
//	sqlite::memory:                      SQLite in memory (tests)
//	PATH                                 SQLite file PATH (anything without a scheme)
//
// Any other "scheme://" is ErrUnsupportedDSN, as is an empty DSN and a
// PostgreSQL keyword/value string ("host=db user=writ ..."), which would
// otherwise name an SQLite file (carrying the password in its name).
func Parse(dsn string) (Backend, string, error) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, dsn, nil
	case strings.HasPrefix(lower, "sqlite:"):
		path := dsn[len("sqlite:"):]
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", ErrUnsupportedDSN
		}
		return SQLite, path, nil
	case dsn == "", strings.Contains(dsn, "://"):
		return "", "", ErrUnsupportedDSN
	case looksLikeKeywordDSN(dsn):
		return "", "", fmt.Errorf("%w (a keyword/value string such as \"host=... dbname=...\" is not accepted: write it as postgres://USER:PASSWORD@HOST:PORT/DB)", ErrUnsupportedDSN)
	default:
		return SQLite, dsn, nil
	}
}

// Open opens the store dsn names (see Parse). It connects but does not
// migrate; call Migrate on the result when asked to.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	backend, target, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	// Each backend returns a concrete pointer: return a nil interface, not
	// a typed nil inside a non-nil one, when it fails.
	switch backend {
	case Postgres:
		st, err := postgres.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		return st, nil
	case SQLite:
		st, err := sqlite.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		return st, nil
	default:
		return nil, fmt.Errorf("storeopen: backend %q: %w", backend, ErrUnsupportedDSN)
	}
}

// looksLikeKeywordDSN reports whether dsn starts like a libpq keyword/value
// connection string: a lower-case keyword directly followed by '='.
func looksLikeKeywordDSN(dsn string) bool {
	key, _, ok := strings.Cut(dsn, "=")
	if !ok || key == "" {
		return false
	}
	for _, r := range key {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}
