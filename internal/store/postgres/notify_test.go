package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

type change struct{ topic, key string }

// TestListen: a committed change to a client, a trusted issuer or the key
// ring arrives as a notification with its table and key; a change that
// rolls back sends nothing; a listener whose connection is killed returns
// an error (and the caller subscribes again).
func TestListen(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := migrated(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan change, 16)
	subscribed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Listen(ctx, func() { close(subscribed) }, func(topic, key string) { got <- change{topic, key} })
	}()
	select {
	case <-subscribed:
	case err := <-done:
		t.Fatalf("Listen returned %v before subscribing", err)
	case <-time.After(30 * time.Second): // a guard against a hang
		t.Fatal("Listen did not subscribe")
	}
	next := func(want change) {
		t.Helper()
		select {
		case c := <-got:
			if c != want {
				t.Fatalf("notification %+v, want %+v", c, want)
			}
		case err := <-done:
			t.Fatalf("Listen returned %v, waiting for %+v", err, want)
		case <-time.After(30 * time.Second): // a guard against a hang
			t.Fatalf("no notification %+v", want)
		}
	}

	now := time.Now().UTC().Truncate(time.Second)
	c := store.Client{
		ID: "billing", Name: "billing", SecretHash: make([]byte, 32), SecretRotatedAt: now,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders:read"},
		TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: store.AccessTokenJWT,
	}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	next(change{"clients", "billing"})

	// A change that rolls back is never announced: the key ring update
	// after it is the next notification.
	boom := errors.New("changed my mind")
	if _, err := s.UpdateClient(ctx, "billing", func(c store.Client) (store.Client, error) { return c, boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateClient: %v, want %v", err, boom)
	}
	if err := s.UpdateKeyRing(ctx, func([]byte) ([]byte, error) { return []byte("sealed"), nil }); err != nil {
		t.Fatalf("UpdateKeyRing: %v", err)
	}
	next(change{"key_ring", ""})

	if _, err := s.UpdateClient(ctx, "billing", func(c store.Client) (store.Client, error) { c.Name = "Billing"; return c, nil }); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	next(change{"clients", "billing"})
	if err := s.DeleteClient(ctx, "billing"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	next(change{"clients", "billing"})

	if err := s.PutTrustedIssuer(ctx, store.TrustedIssuer{
		Issuer: "https://idp.example", JWKSURI: "https://idp.example/jwks", Uses: []string{store.TrustJWTBearer},
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatalf("PutTrustedIssuer: %v", err)
	}
	next(change{"trusted_issuers", "https://idp.example"})

	// Kill the listener's connection from another session: Listen fails.
	// Every other connection to the test database goes with it: the
	// listener's last statement is LISTEN or, after a quiet listenPing, its
	// ping, so it cannot be picked out by its query.
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Listen after its connection was killed: %v, want an error", err)
		}
	case <-time.After(30 * time.Second): // a guard against a hang
		t.Fatal("Listen did not notice that its connection was killed")
	}
}
