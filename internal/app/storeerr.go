package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/writ-dev/writ/internal/store/storeopen"
)

// StoreError says that the store a DSN names could not be opened or
// migrated. Its message names the store without its password and says what
// to check; the cause stays in the chain for errors.Is and errors.As.
type StoreError struct {
	// Op is what failed: "open" or "migrate".
	Op string
	// Store names the store: the DSN with any password removed.
	Store string
	// Hint says what to check, in one sentence.
	Hint string
	// Err is the cause.
	Err error
}

// Error names the operation, the store (without password), the cause and
// the hint.
func (e *StoreError) Error() string {
	msg := fmt.Sprintf("%s database %s: %v", e.Op, e.Store, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *StoreError) Unwrap() error { return e.Err }

// storeError wraps err, the failure to open or migrate the store dsn names.
func storeError(op, dsn string, err error) error {
	return &StoreError{Op: op, Store: RedactDSN(dsn), Hint: storeHint(dsn, err), Err: err}
}

// RedactDSN returns dsn without its password, for messages and logs: the
// password of a postgres:// URL (user info or "password" query parameter)
// becomes "xxxxx". A SQLite DSN is a path and is returned unchanged.
func RedactDSN(dsn string) string {
	backend, _, err := storeopen.Parse(dsn)
	if err == nil && backend == storeopen.SQLite {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	if i := strings.Index(dsn, "://"); i >= 0 {
		// A URL that does not parse: keep only the scheme.
		return dsn[:i+3] + "(unparsable DSN withheld)"
	}
	return "(DSN withheld)"
}

// storeHint says what to check for the usual ways a store fails to open.
func storeHint(dsn string, err error) string {
	backend, _, perr := storeopen.Parse(dsn)
	if perr != nil {
		return `use postgres://USER@HOST:PORT/DATABASE or sqlite:PATH in --database (WRIT_DATABASE)`
	}
	if backend == storeopen.SQLite {
		switch {
		case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
			return "check that the directory of the database file is writable by this user, or choose another --data-dir or --database"
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			return "check that the directory of the database file exists, or choose another --data-dir or --database"
		}
		return "check the path in --database (WRIT_DATABASE) or --data-dir and that the file is a writ SQLite database"
	}
	var dnsErr *net.DNSError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &dnsErr):
		return "the host name in the DSN does not resolve: check its spelling and DNS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing accepts connections at that host and port: check that PostgreSQL is running and listening there"
	case errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000"):
		return "PostgreSQL refused the login: check that the role exists (CREATE ROLE ... LOGIN), the password, and pg_hba.conf"
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		return "the database does not exist: create it (createdb, or CREATE DATABASE) and grant the user access"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "the connection timed out: check the host, the port and any firewall in between"
	}
	return "check that PostgreSQL is reachable at the DSN's host and port and that the user, password and database are right"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
