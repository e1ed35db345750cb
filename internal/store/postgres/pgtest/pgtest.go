// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server comes from WRIT_TEST_POSTGRES_DSN (default DefaultDSN). When it
// cannot be reached the test is skipped, unless CI=true, where it fails: CI
// must run the PostgreSQL tests, not silently skip them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the server tests use when WRIT_TEST_POSTGRES_DSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// EnvDSN names the environment variable that points tests at a server.
const EnvDSN = "WRIT_TEST_POSTGRES_DSN"

const (
	connectTimeout = 5 * time.Second
	adminTimeout   = 60 * time.Second
)

// AdminDSN returns the DSN of the test server's maintenance database.
func AdminDSN() string {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// NewDatabase creates a database named writ_test_<random> on the test
// server and returns a DSN for it. The database is dropped when the test
// ends (connections to it are terminated first), so whatever uses it must
// be closed by an earlier-registered cleanup or before the test returns.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminDSN()
	cctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn := connect(cctx, t, admin)
	defer conn.Close(context.Background())
	// CREATE DATABASE can be slow on a loaded machine: give it longer than
	// the connection, so that a timeout does not leave a database behind.
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()

	b := make([]byte, 8)
	rand.Read(b)
	name := "writ_test_" + hex.EncodeToString(b)
	// CREATE DATABASE takes no parameters; name is generated here from hex
	// digits only, and quoted all the same.
	ident := pgx.Identifier{name}.Sanitize()
	// Registered first: even a CREATE that fails after the server
	// committed it is dropped (DROP ... IF EXISTS).
	t.Cleanup(func() { dropDatabase(t, admin, name) })
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create test database: %v", err)
	}

	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// Require skips the test (fails it when CI=true) unless the test server is
// reachable. Call it before starting subtests that each create a database,
// so that an absent server gives one message, not one per subtest.
func Require(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	connect(ctx, t, AdminDSN()).Close(context.Background())
}

func connect(ctx context.Context, t testing.TB, admin string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := "PostgreSQL is not reachable (set " + EnvDSN + "; default " + DefaultDSN + "): %v"
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: "+msg, err)
		}
		t.Skipf(msg, err)
	}
	return conn
}

func dropDatabase(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("drop test database %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
		name); err != nil {
		t.Errorf("terminate connections to %s: %v", name, err)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop test database %s: %v", name, err)
	}
}

// withDatabase returns admin with its database replaced by name. admin is a
// postgres:// URL or a key=value string.
func withDatabase(admin, name string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			// The error would quote the DSN, password included.
			return "", errors.New("pgtest: cannot parse " + EnvDSN + " as a URL")
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// In a key=value string a later key overrides an earlier one.
	return admin + " dbname=" + name, nil
}
