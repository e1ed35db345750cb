package app

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/writ-dev/writ/internal/config"
)

// testConfig is a development configuration in a temporary directory on
// ports chosen by the kernel, with the given settings added.
func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	all := map[string]string{
		"WRIT_DATA_DIR":   t.TempDir(),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return all[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fakePostgres answers every connection like a PostgreSQL server that
// refuses the password, and returns its address.
func fakePostgres(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				be := pgproto3.NewBackend(conn, conn)
				if _, err := be.ReceiveStartupMessage(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "writ"`})
				_ = be.Flush()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestOpenStoreFailures: every way the store can fail to open ends in an
// error (not a panic) that names the store without its password and says
// what to check.
func TestOpenStoreFailures(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "s3cretpw"
	tests := []struct {
		name     string
		database string
		store    string // what the message names
		hint     string
	}{
		{"unreachable postgres", "postgres://writ:" + secret + "@" + closedPort(t) + "/writ?sslmode=disable",
			"postgres://writ:xxxxx@", "check that PostgreSQL is running"},
		{"wrong password", "postgres://writ:" + secret + "@" + fakePostgres(t) + "/writ?sslmode=disable",
			"postgres://writ:xxxxx@", "check that the role exists"},
		{"password in query", "postgres://writ@" + fakePostgres(t) + "/writ?sslmode=disable&password=" + secret,
			"password=xxxxx", "check that the role exists"},
		{"unresolvable host", "postgres://writ:" + secret + "@writ-db.invalid:5432/writ?sslmode=disable&connect_timeout=5",
			"postgres://writ:xxxxx@writ-db.invalid:5432/writ", "does not resolve"},
		{"unwritable sqlite path", "sqlite:" + filepath.Join(notDir, "writ.db"),
			"sqlite:" + filepath.Join(notDir, "writ.db"), "directory of the database file exists"},
		{"unsupported DSN", "mysql://writ:" + secret + "@h/db", "mysql://", "use postgres://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, map[string]string{"WRIT_DATABASE": tt.database})
			a, err := Open(context.Background(), cfg, Options{})
			if err == nil {
				a.Close()
				t.Fatal("Open succeeded")
			}
			var se *StoreError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StoreError", err)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Fatalf("message carries the password: %s", msg)
			}
			if !strings.Contains(msg, tt.store) || !strings.Contains(msg, tt.hint) {
				t.Fatalf("message %q\nwant it to name %q and say %q", msg, tt.store, tt.hint)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://writ:pw@db:5432/writ", "postgres://writ:xxxxx@db:5432/writ"},
		{"postgres://writ@db/writ", "postgres://writ@db/writ"},
		{"postgresql://db/writ?password=pw&sslmode=disable", "postgresql://db/writ?password=xxxxx&sslmode=disable"},
		{"sqlite:writ-data/writ.db", "sqlite:writ-data/writ.db"},
		{"postgres://writ:p%zz@db/writ", "postgres://(unparsable DSN withheld)"},
	}
	for _, tt := range tests {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCloseAfterFailedOpen: Close on an App whose store never opened does
// not panic.
func TestCloseAfterFailedOpen(t *testing.T) {
	a := &App{}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenStoreMissingDatabase: on a real PostgreSQL, a database that does
// not exist is named as such.
func TestOpenStoreMissingDatabase(t *testing.T) {
	c, err := net.Dial("tcp", "127.0.0.1:5432")
	if err != nil {
		t.Skip("no PostgreSQL on 127.0.0.1:5432")
	}
	c.Close()
	_, err = OpenStore(context.Background(), "postgres://postgres@127.0.0.1:5432/writ_h5_no_such_database?sslmode=disable", false)
	if err == nil || !strings.Contains(err.Error(), "the database does not exist: create it") {
		t.Fatalf("error %v", err)
	}
}
