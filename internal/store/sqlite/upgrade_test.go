package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// TestUpgradeFromVersion5 applies the migrations up to version 5 by hand,
// writes a client and a refresh token as version 5 stored them, then
// migrates: they read back with the delegation fields unset.
func TestUpgradeFromVersion5(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "writ.db")
	s := open(t, path) // creates the file; its handles are not used yet
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY,
		name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/000[1-5]_*.sql")
	if err != nil || len(files) != 5 {
		t.Fatalf("migrations 1 to 5: %q, %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".sql")
		v, _ := strconv.Atoi(base[:4])
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, 0)`, v, base[5:]); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hash := make([]byte, 32)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO clients (id, secret_rotated_at, name, redirect_uris, post_logout_redirect_uris, grant_types,
			response_types, scopes, audiences, token_endpoint_auth_method, jwks_uri, access_token_format,
			access_token_ttl, refresh_token_ttl, id_token_ttl, first_party, backchannel_logout_uri, metadata,
			created_at, updated_at) VALUES ('c', 0, 'C', '[]', '[]', '[]', '[]', '[]', '[]', 'none', '', 'jwt',
			0, 0, 0, 0, '', '{}', ?, ?)`, []any{now, now}},
		{`INSERT INTO users (id, username, username_key, password_hash, disabled, name, given_name, family_name,
			middle_name, nickname, preferred_username, profile, picture, website, email, email_verified, gender,
			birthdate, zoneinfo, locale, phone_number, phone_number_verified, address_formatted, address_street,
			address_locality, address_region, address_postal_code, address_country, attributes, created_at,
			updated_at, password_changed_at) VALUES ('u', 'u', 'u', '', 0, '', '', '', '', '', '', '', '', '', '',
			0, '', '', '', '', '', 0, '', '', '', '', '', '', '{}', ?, ?, ?)`, []any{now, now, now}},
		{`INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked) VALUES ('f', 'c', 'u', ?, 0)`, []any{now}},
		{`INSERT INTO refresh_tokens (hash, family_id, session_id, scopes, audience, auth_time, amr, acr, created_at,
			expires_at) VALUES (?, 'f', '', '[]', '[]', ?, '[]', '', ?, ?)`, []any{hash, now, now, now}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 5: %v", err)
	}
	c, err := s.GetClient(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent != nil || c.Exchange != nil || c.Origin != store.OriginAdmin || c.RegistrationTokenHash != nil || !c.TokensRevokedBefore.IsZero() {
		t.Errorf("a version 5 client reads back with delegation fields set: %+v", c)
	}
	r, err := s.GetRefreshToken(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if r.JKT != "" || r.DelegationID != "" || r.Extra != nil {
		t.Errorf("a version 5 refresh token reads back bound: %+v", r)
	}
	// And the new columns take values.
	if _, err := s.UpdateClient(ctx, "c", func(c store.Client) (store.Client, error) {
		c.Agent = &store.AgentPolicy{Owner: store.OwnerUser + "u"}
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
}
