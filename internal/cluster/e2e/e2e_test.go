// Package e2e tests change notifications between two real writ nodes
// started in-process (internal/apptest) on one PostgreSQL database. Their
// clock stands still and their key ring poll interval is longer than any
// wait of the test, so that neither a cache lifetime nor a poll can make a
// change visible: only the notification can.
package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/jose"
)

// guard bounds every wait: a guard against a hang, shorter than the poll
// interval so that only a notification can end a wait in time.
const guard = 30 * time.Second

func start(t *testing.T, clock *clocktest.Clock, dsn, master, adminToken string) *app.App {
	t.Helper()
	return apptest.Start(t, map[string]string{
		"WRIT_DATA_DIR":              filepath.Join(t.TempDir(), "data"),
		"WRIT_DATABASE":              dsn,
		"WRIT_ADDR":                  "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":            "127.0.0.1:0",
		"WRIT_MASTER_KEY":            master,
		"WRIT_ADMIN_TOKEN":           adminToken,
		"WRIT_CLUSTER_POLL_INTERVAL": "1m",
		"WRIT_KEY_MIN_PUBLISH":       "2m",
		"WRIT_KEY_ROTATION":          "0",
	}, app.Options{Announce: io.Discard, Now: clock.Now})
}

// token asks a's token endpoint for a client_credentials token with scope
// and returns the status and error code.
func token(t *testing.T, a *app.App, id, secret, scope string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, "http://"+a.PublicAddr().String()+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	return resp.StatusCode, body.Error
}

// eventually calls cond until it holds, failing after guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %v", what, guard)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jwksKids(t *testing.T, a *app.App) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + a.PublicAddr().String() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	set, err := jose.ParseKeySet(b)
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys() {
		kids[k.KeyID()] = true
	}
	return kids
}

func TestChangesReachOtherNode(t *testing.T) {
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	master := base64.StdEncoding.EncodeToString(make([]byte, 32))
	adminToken := strings.Repeat("a", 40)
	clock := clocktest.Default() // stands still: no cache ever expires
	a := start(t, clock, dsn, master, adminToken)
	b := start(t, clock, dsn, master, adminToken)

	// A client registered at A, used at B: B caches it.
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	apptest.Admin(t, a, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "billing", "grant_types": []string{"client_credentials"}, "scope": "orders:read orders:write",
	}, &c, http.StatusCreated)
	if status, code := token(t, b, c.ID, c.Secret, "orders:read"); status != http.StatusOK {
		t.Fatalf("token at B: %d %s", status, code)
	}
	// A narrows its scopes: B follows.
	apptest.Admin(t, a, http.MethodPatch, "/admin/clients/"+c.ID, map[string]any{"scope": "orders:read"}, nil, http.StatusOK)
	eventually(t, "scope change at A refused at B", func() bool {
		status, _ := token(t, b, c.ID, c.Secret, "orders:write")
		return status == http.StatusBadRequest
	})
	// A rotates the secret: the old one stops working at B.
	var rotated struct {
		Secret string `json:"client_secret"`
	}
	apptest.Admin(t, a, http.MethodPost, "/admin/clients/"+c.ID+"/rotate-secret", nil, &rotated, http.StatusOK)
	eventually(t, "new secret accepted at B", func() bool {
		status, _ := token(t, b, c.ID, rotated.Secret, "orders:read")
		return status == http.StatusOK
	})
	// A deletes it: B forgets it.
	apptest.Admin(t, a, http.MethodDelete, "/admin/clients/"+c.ID, nil, nil, http.StatusNoContent)
	eventually(t, "deleted client refused at B", func() bool {
		status, code := token(t, b, c.ID, rotated.Secret, "orders:read")
		return status == http.StatusUnauthorized && code == "invalid_client"
	})

	// A rotates the signing keys (forced: the clock stands still, so no
	// next key is old enough): B publishes and signs with the new key.
	before := a.Ring.Entries()[0].KeyID()
	apptest.Admin(t, a, http.MethodPost, "/admin/keys/rotate", map[string]any{"force": true}, nil, http.StatusOK)
	after, err := a.Ring.Signer()
	if err != nil || after.KeyID() == before {
		t.Fatalf("rotation at A: signer %v, %v (was %s)", after, err, before)
	}
	eventually(t, "A's new signing key at B", func() bool {
		k, err := b.Ring.Signer()
		return err == nil && k.KeyID() == after.KeyID() && jwksKids(t, b)[after.KeyID()]
	})
}

// readyz returns a's /readyz status and checks.
func readyz(t *testing.T, a *app.App) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + a.PublicAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var checks map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&checks); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, checks
}

// TestDatabaseUnreachable: while the database refuses connections the node
// is not ready and a token request that must write is answered 503
// temporarily_unavailable, never 200; when the database is back, the node
// is ready again and its change listener resubscribes, so that changes
// made by another node reach it through notifications again.
func TestDatabaseUnreachable(t *testing.T) {
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	master := base64.StdEncoding.EncodeToString(make([]byte, 32))
	adminToken := strings.Repeat("u", 40)
	clock := clocktest.Default()
	a := start(t, clock, dsn, master, adminToken)
	b := start(t, clock, dsn, master, adminToken)
	eventually(t, "A ready with notifications", func() bool {
		status, checks := readyz(t, a)
		return status == http.StatusOK && checks["change_notifications"] == "ok" && checks["key_ring"] == "ok"
	})
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	apptest.Admin(t, a, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "opaque", "grant_types": []string{"client_credentials"}, "scope": "r s", "access_token_format": "opaque",
	}, &c, http.StatusCreated)
	if status, code := token(t, a, c.ID, c.Secret, "r"); status != http.StatusOK {
		t.Fatalf("token: %d %s", status, code)
	}

	admin, err := pgx.Connect(t.Context(), pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	ident := pgx.Identifier{name}.Sanitize()
	setAllow := func(allow bool) {
		if _, err := admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", ident, allow)); err != nil {
			t.Fatal(err)
		}
	}
	setAllow(false)
	t.Cleanup(func() { setAllow(true) })
	if _, err := admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A not ready without its database", func() bool {
		status, checks := readyz(t, a)
		return status == http.StatusServiceUnavailable && checks["database"] == "unavailable" && checks["change_notifications"] == "degraded"
	})
	// An opaque token is a row: without the database, 503 and no token.
	if status, code := token(t, a, c.ID, c.Secret, "r"); status != http.StatusServiceUnavailable || code != "temporarily_unavailable" {
		t.Fatalf("token without the database: %d %s, want 503 temporarily_unavailable", status, code)
	}

	setAllow(true)
	eventually(t, "A ready again, notifications restored", func() bool {
		status, checks := readyz(t, a)
		return status == http.StatusOK && checks["change_notifications"] == "ok"
	})
	if status, code := token(t, a, c.ID, c.Secret, "s"); status != http.StatusOK {
		t.Fatalf("token after the database came back: %d %s", status, code)
	}
	// The clock stands still: only a notification can tell A that B
	// narrowed the client.
	apptest.Admin(t, b, http.MethodPatch, "/admin/clients/"+c.ID, map[string]any{"scope": "r"}, nil, http.StatusOK)
	eventually(t, "B's change at A after the outage", func() bool {
		status, _ := token(t, a, c.ID, c.Secret, "s")
		return status == http.StatusBadRequest
	})
}
