package portable_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/portable"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

var base = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

func masterKey(t *testing.T) keys.MasterKey {
	t.Helper()
	mk, err := keys.GenerateMasterKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// sqliteStore is a migrated SQLite store in a temporary directory.
func sqliteStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "writ.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// postgresStore is a migrated PostgreSQL store on a database of its own.
func postgresStore(t *testing.T) *postgres.Store {
	t.Helper()
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	st, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func fullClient(id string) store.Client {
	return store.Client{
		ID: id, SecretHash: []byte("0123456789abcdef0123456789abcdef"), SecretRotatedAt: base.Add(-time.Hour),
		Name: "Billing «β»", RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "orders:read"}, Audiences: []string{"https://api.example"},
		TokenEndpointAuthMethod: "client_secret_basic",
		JWKS:                    []byte(`{"keys": [ {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"} ]}`),
		JWKSURI:                 "https://app.example/jwks.json", AccessTokenFormat: store.AccessTokenOpaque,
		AccessTokenTTL: 5*time.Minute + 1, RefreshTokenTTL: 24 * time.Hour, IDTokenTTL: time.Hour,
		IDTokenSignedResponseAlg: "ES256", FirstParty: true, BackchannelLogoutURI: "https://app.example/bc",
		Metadata: map[string]string{"team": "billing"}, DPoPBoundAccessTokens: true, RequirePushedAuthorizationRequests: true,
		TLSClientAuth:                         &store.TLSClientAuth{SubjectDN: "CN=billing", SANDNS: "b.example", SANURI: "spiffe://b", SANIP: "192.0.2.7", SANEmail: "b@example.com"},
		TLSClientCertificateBoundAccessTokens: true,
		IDTokenEncryptedResponseAlg:           "ECDH-ES+A256KW", IDTokenEncryptedResponseEnc: "A256GCM",
		UserinfoSignedResponseAlg: "ES256", UserinfoEncryptedResponseAlg: "RSA-OAEP-256", UserinfoEncryptedResponseEnc: "A128CBC-HS256",
		Profile: store.ProfileFAPI2,
		Agent:   &store.AgentPolicy{Owner: store.OwnerUser + "u1", MaxTokenTTL: 10 * time.Minute, AllowRefresh: true, RequireDPoP: true},
		Exchange: &store.ExchangePolicy{SubjectIssuers: []string{"https://idp.example"}, SubjectAudiences: []string{"https://gw.example"},
			Actors: []string{"agent-1"}, MaxChain: 3, Impersonation: true, RefreshTokens: true, IDJAGAudiences: []string{"https://as.example"}},
		Origin: store.OriginDynamic, RegistrationTokenHash: []byte("0123456789abcdef0123456789abcdef"),
		TokensRevokedBefore: base.Add(-2 * time.Hour), CreatedAt: base, UpdatedAt: base.Add(time.Second),
	}
}

func fullUser(id, username string) store.User {
	return store.User{
		ID: id, Username: username, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Disabled: true, Name: "Zoë Å", GivenName: "Zoë", FamilyName: "Å", MiddleName: "Q.", Nickname: "zo",
		PreferredUsername: "zoe.a", Profile: "https://p.example/zoe", Picture: "https://p.example/zoe.png",
		Website: "https://zoe.example", Email: "Zoe@Example.org", EmailVerified: true, Gender: "female",
		Birthdate: "0000-03-04", Zoneinfo: "Europe/Stockholm", Locale: "sv-SE", PhoneNumber: "+46 8 123",
		PhoneNumberVerified: true,
		Address: store.Address{Formatted: "Storgatan 1\nStockholm", StreetAddress: "Storgatan 1", Locality: "Stockholm",
			Region: "Stockholms län", PostalCode: "111 22", Country: "Sweden"},
		Attributes: map[string]json.RawMessage{"roles": json.RawMessage(`["admin","ops"]`), "level": json.RawMessage(`1.5`)},
		CreatedAt:  base, UpdatedAt: base.Add(time.Second), PasswordChangedAt: base.Add(-time.Hour),
	}
}

func fullConsent(userID, clientID string) store.Consent {
	return store.Consent{UserID: userID, ClientID: clientID, Scopes: []string{"profile", "email"}, GrantedAt: base.Add(-time.Hour), UpdatedAt: base}
}

func fullIssuer(iss string) store.TrustedIssuer {
	return store.TrustedIssuer{Issuer: iss,
		JWKS:    []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
		JWKSURI: iss + "/jwks.json", Uses: []string{store.TrustJWTBearer, store.TrustIDJAG},
		Rules:     []store.TrustRule{{ClientID: "c1", Audiences: []string{"https://api.example"}, Scopes: []string{"orders:read"}}},
		CreatedAt: base, UpdatedAt: base.Add(time.Second)}
}

// unset lists the fields of the struct v left at their zero value.
func unset(v any) []string {
	rv := reflect.ValueOf(v)
	var out []string
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			out = append(out, rv.Type().Field(i).Name)
		}
	}
	return out
}

// TestFixturesComplete keeps the fixtures full, so that a field added to
// a record and forgotten by a backend or by the document fails the round
// trip.
func TestFixturesComplete(t *testing.T) {
	for name, v := range map[string]any{"Client": fullClient("c"), "User": fullUser("u", "U"),
		"Consent": fullConsent("u", "c"), "TrustedIssuer": fullIssuer("https://idp.example")} {
		if u := unset(v); len(u) > 0 {
			t.Errorf("the full %s fixture leaves %v unset", name, u)
		}
	}
}

// seed fills st with two of each record and a key ring sealed under mk.
func seed(t *testing.T, st portable.Store, mk keys.MasterKey) {
	t.Helper()
	ctx := t.Context()
	for _, c := range []store.Client{fullClient("c1"), {ID: "c2", CreatedAt: base, UpdatedAt: base}} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []store.User{fullUser("u1", "Zoe"), {ID: "u2", Username: "bob", CreatedAt: base, UpdatedAt: base}} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []store.Consent{fullConsent("u1", "c1"), fullConsent("u2", "c1"), {UserID: "u1", ClientID: "c2", GrantedAt: base, UpdatedAt: base}} {
		if err := st.PutConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []store.TrustedIssuer{fullIssuer("https://idp.example"), {Issuer: "https://b.example", JWKSURI: "https://b.example/k", Uses: []string{store.TrustSubjectToken}, CreatedAt: base, UpdatedAt: base}} {
		if err := st.PutTrustedIssuer(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i, jti := range []string{"jti-b", "jti-a"} {
		if err := st.RevokeJTI(ctx, jti, base.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeJTI(ctx, "jti-expired", base.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewRing(keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	sealed, err := ring.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateKeyRing(ctx, func([]byte) ([]byte, error) { return sealed, nil }); err != nil {
		t.Fatal(err)
	}
}

// exportJSON exports st and encodes the document, exported_at set to a
// fixed instant so that two exports compare.
func exportJSON(t *testing.T, st portable.Store, mk keys.MasterKey) []byte {
	t.Helper()
	d, err := portable.Export(t.Context(), st, mk, base)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	var buf bytes.Buffer
	if err := portable.Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func importJSON(t *testing.T, st portable.Store, mk keys.MasterKey, data []byte, mode portable.Mode) (portable.Result, error) {
	t.Helper()
	d, err := portable.Read(bytes.NewReader(data), 0)
	if err != nil {
		return portable.Result{}, err
	}
	return portable.Import(t.Context(), st, mk, d, mode)
}

// An export of SQLite, imported into PostgreSQL and exported again, is the
// same document: every record and the sealed key ring moved whole. The
// schema_version member is the only one allowed to differ (the backends
// number their migrations alike today).
func TestSQLiteToPostgresRoundTrip(t *testing.T) {
	mk := masterKey(t)
	src := sqliteStore(t)
	seed(t, src, mk)
	first := exportJSON(t, src, mk)

	dst := postgresStore(t)
	res, err := importJSON(t, dst, mk, first, portable.ModeCreate)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	want := portable.Counts{Clients: 2, Users: 2, Consents: 3, TrustedIssuers: 2, RevokedJTIs: 2, KeyRing: true}
	if res.Created != want {
		t.Errorf("created %v, want %v", res.Created, want)
	}
	second := exportJSON(t, dst, mk)
	if !bytes.Equal(first, second) {
		t.Errorf("the second export differs from the first:\n%s\n----\n%s", first, second)
	}
	// And back into a new SQLite store.
	back := sqliteStore(t)
	if _, err := importJSON(t, back, mk, second, portable.ModeCreate); err != nil {
		t.Fatalf("import into SQLite: %v", err)
	}
	if third := exportJSON(t, back, mk); !bytes.Equal(first, third) {
		t.Errorf("the export after PostgreSQL → SQLite differs from the first")
	}
	for _, jti := range []string{"jti-a", "jti-b"} {
		if ok, err := dst.IsJTIRevoked(t.Context(), jti); !ok || err != nil {
			t.Errorf("%s is not revoked in PostgreSQL: %v", jti, err)
		}
	}
	if ok, _ := dst.IsJTIRevoked(t.Context(), "jti-expired"); ok {
		t.Error("an expired revocation was exported")
	}
	// The records themselves, compared whole.
	got, err := dst.GetClient(t.Context(), "c1")
	if err != nil || !reflect.DeepEqual(got, fullClient("c1")) {
		t.Errorf("client c1 in PostgreSQL: %v\n%+v\nwant %+v", err, got, fullClient("c1"))
	}
}

// The target's master key must be the one of the exported store, checked
// before anything is written.
func TestImportWrongMasterKey(t *testing.T) {
	mk := masterKey(t)
	src := sqliteStore(t)
	seed(t, src, mk)
	data := exportJSON(t, src, mk)
	dst := sqliteStore(t)
	_, err := importJSON(t, dst, masterKey(t), data, portable.ModeCreate)
	if !errors.Is(err, portable.ErrWrongMasterKey) {
		t.Fatalf("import with another master key: %v, want ErrWrongMasterKey", err)
	}
	if cs, _ := dst.ListClients(t.Context(), store.ListOptions{}); len(cs) != 0 {
		t.Errorf("a refused import wrote %d clients", len(cs))
	}
	// A check value copied from elsewhere does not help: the sealed ring
	// must open under the key too.
	other := masterKey(t)
	check, _ := portable.MasterKeyCheck(other)
	var doc map[string]any
	json.Unmarshal(data, &doc)
	doc["master_key_check"] = check
	forged, _ := json.Marshal(doc)
	if _, err := importJSON(t, dst, other, forged, portable.ModeCreate); !errors.Is(err, portable.ErrWrongMasterKey) {
		t.Fatalf("import of a ring sealed under another key: %v, want ErrWrongMasterKey", err)
	}
	if err := portable.CheckKeyRing(t.Context(), src, other); !errors.Is(err, portable.ErrWrongMasterKey) {
		t.Errorf("CheckKeyRing with another key: %v", err)
	}
	if err := portable.CheckKeyRing(t.Context(), src, mk); err != nil {
		t.Errorf("CheckKeyRing with the key: %v", err)
	}
	// Export also refuses a master key that does not open the ring.
	if _, err := portable.Export(t.Context(), src, other, base); !errors.Is(err, portable.ErrWrongMasterKey) {
		t.Errorf("export with another master key: %v", err)
	}
}

// The three modes on a target that holds some of the records.
func TestImportModes(t *testing.T) {
	mk := masterKey(t)
	src := sqliteStore(t)
	seed(t, src, mk)
	data := exportJSON(t, src, mk)

	prepare := func(t *testing.T) *sqlite.Store {
		dst := sqliteStore(t)
		c := store.Client{ID: "c1", Name: "already here", CreatedAt: base, UpdatedAt: base}
		if err := dst.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	t.Run("create refuses", func(t *testing.T) {
		dst := prepare(t)
		_, err := importJSON(t, dst, mk, data, portable.ModeCreate)
		if !errors.Is(err, portable.ErrConflict) || !strings.Contains(err.Error(), "client c1") {
			t.Fatalf("import: %v, want ErrConflict naming client c1", err)
		}
		if us, _ := dst.ListUsers(t.Context(), store.ListOptions{}); len(us) != 0 {
			t.Errorf("a refused import wrote %d users", len(us))
		}
	})
	t.Run("merge keeps", func(t *testing.T) {
		dst := prepare(t)
		res, err := importJSON(t, dst, mk, data, portable.ModeMerge)
		if err != nil {
			t.Fatal(err)
		}
		if res.Kept.Clients != 1 || res.Created.Clients != 1 || res.Created.Users != 2 {
			t.Errorf("result %+v", res)
		}
		if c, _ := dst.GetClient(t.Context(), "c1"); c.Name != "already here" {
			t.Errorf("merge changed c1: %q", c.Name)
		}
	})
	t.Run("replace overwrites", func(t *testing.T) {
		dst := prepare(t)
		res, err := importJSON(t, dst, mk, data, portable.ModeReplace)
		if err != nil {
			t.Fatal(err)
		}
		if res.Replaced.Clients != 1 || res.Created.Clients != 1 {
			t.Errorf("result %+v", res)
		}
		if c, _ := dst.GetClient(t.Context(), "c1"); !reflect.DeepEqual(c, fullClient("c1")) {
			t.Errorf("replace left c1 as %+v", c)
		}
	})
	t.Run("username taken by another user", func(t *testing.T) {
		dst := sqliteStore(t)
		if err := dst.CreateUser(t.Context(), store.User{ID: "other", Username: "ZOE", CreatedAt: base, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
		for _, m := range []portable.Mode{portable.ModeCreate, portable.ModeMerge, portable.ModeReplace} {
			if _, err := importJSON(t, dst, mk, data, m); !errors.Is(err, portable.ErrConflict) {
				t.Errorf("%v: %v, want ErrConflict", m, err)
			}
		}
		if cs, _ := dst.ListClients(t.Context(), store.ListOptions{}); len(cs) != 0 {
			t.Errorf("a refused import wrote %d clients", len(cs))
		}
	})
}

// failing fails CreateUser for one user, after the writes before it.
type failing struct {
	portable.Store
	userID string
}

var errInjected = errors.New("injected failure")

func (f failing) CreateUser(ctx context.Context, u store.User) error {
	if u.ID == f.userID {
		return errInjected
	}
	return f.Store.CreateUser(ctx, u)
}

// A write failing halfway undoes the writes before it.
func TestImportUndoesOnFailure(t *testing.T) {
	mk := masterKey(t)
	src := sqliteStore(t)
	seed(t, src, mk)
	data := exportJSON(t, src, mk)
	dst := sqliteStore(t)
	_, err := importJSON(t, failing{Store: dst, userID: "u2"}, mk, data, portable.ModeCreate)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("import: %v", err)
	}
	ctx := t.Context()
	cs, _ := dst.ListClients(ctx, store.ListOptions{})
	us, _ := dst.ListUsers(ctx, store.ListOptions{})
	is, _ := dst.ListTrustedIssuers(ctx)
	if len(cs)+len(us)+len(is) != 0 {
		t.Errorf("after the undo: %d clients, %d users, %d issuers", len(cs), len(us), len(is))
	}
	if _, _, err := dst.GetKeyRing(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key ring written: %v", err)
	}
}

// TestExportPagesAndEmptyLists: a store with more clients than one page
// exports them all, in order, and the lists it has none of are [], not
// null.
func TestExportPagesAndEmptyLists(t *testing.T) {
	st := sqliteStore(t)
	mk := masterKey(t)
	n := store.MaxListLimit + 3
	for i := range n {
		c := store.Client{ID: fmt.Sprintf("c%05d", i), Name: "c", CreatedAt: base, UpdatedAt: base}
		if err := st.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	d, err := portable.Export(t.Context(), st, mk, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clients) != n || d.Clients[0].ID != "c00000" || d.Clients[n-1].ID != fmt.Sprintf("c%05d", n-1) {
		t.Fatalf("%d clients exported, want %d in order", len(d.Clients), n)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(exportJSON(t, st, mk), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"users", "consents", "trusted_issuers", "revoked_jtis"} {
		if string(doc[k]) != "[]" {
			t.Errorf("%s = %s, want []", k, doc[k])
		}
	}
}
