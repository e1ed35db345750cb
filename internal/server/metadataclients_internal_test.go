package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

const testJWK = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","alg":"ES256","use":"sig"}`

type metaFixture struct {
	st    store.Store
	clock *clocktest.Clock
	cache *ClientCache
	meta  *metadataClients
	url   string
	hits  *atomic.Int64
	name  *atomic.Value
	fail  *atomic.Bool
}

func newMetaFixture(t *testing.T) *metaFixture {
	t.Helper()
	return newMetaFixtureOn(t, "sqlite:"+t.TempDir()+"/writ.db")
}

func newMetaFixtureOn(t *testing.T, dsn string) *metaFixture {
	t.Helper()
	var hits atomic.Int64
	var name atomic.Value
	var fail atomic.Bool
	name.Store("App")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":%q,"redirect_uris":["https://app.example.com/cb"],"scope":"openid profile admin","token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[%s]}}`,
			"https://"+r.Host+r.URL.Path, name.Load(), testJWK)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	st, err := storeopen.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock := clocktest.Default()
	res := cimd.New(cimd.Options{Guard: cimd.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, RootCAs: pool, Now: clock.Now})
	f := &metaFixture{st: st, clock: clock, url: srv.URL + "/client.json", hits: &hits, name: &name, fail: &fail}
	f.meta = &metadataClients{opts: ClientMetadataOptions{Resolver: res, Scopes: []string{"openid", "profile"}, Audiences: []string{"https://mcp.example.com"}},
		store: st, audit: st, now: clock.Now, log: slog.New(slog.DiscardHandler)}
	f.cache = NewClientCache(st, -1, clock.Now)
	f.cache.meta = f.meta
	return f
}

func TestMetadataClientLifecycle(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testMetadataClientLifecycle(t, newMetaFixture(t)) })
	t.Run("postgres", func(t *testing.T) {
		pgtest.Require(t)
		testMetadataClientLifecycle(t, newMetaFixtureOn(t, pgtest.NewDatabase(t)))
	})
}

func testMetadataClientLifecycle(t *testing.T, f *metaFixture) {
	ctx := context.Background()
	c, err := f.cache.GetClient(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin != store.OriginMetadataDocument || c.FirstParty || c.Name != "App" || len(c.Scopes) != 2 || c.Audiences[0] != "https://mcp.example.com" || len(c.JWKS) == 0 {
		t.Fatalf("client %+v", c)
	}
	stored, err := f.st.GetClient(ctx, f.url)
	if err != nil || stored.Origin != store.OriginMetadataDocument {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	// The same document again: no write (UpdatedAt stays), even when the
	// store spells the key set differently.
	f.clock.Advance(2 * time.Minute)
	if _, err := f.st.UpdateClient(ctx, f.url, func(old store.Client) (store.Client, error) {
		old.JWKS = []byte(`{ "keys" : [ ` + testJWK + ` ] }`)
		return old, nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := f.st.GetClient(ctx, f.url)
	if _, err := f.cache.GetClient(ctx, f.url); err != nil {
		t.Fatal(err)
	}
	if f.hits.Load() != 2 {
		t.Fatalf("%d fetches, want 2 (cache expired once)", f.hits.Load())
	}
	after, _ := f.st.GetClient(ctx, f.url)
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatal("an unchanged document rewrote the registration")
	}

	// A changed document updates it, keeping CreatedAt.
	f.name.Store("App 2")
	f.clock.Advance(2 * time.Minute)
	c, err = f.cache.GetClient(ctx, f.url)
	if err != nil || c.Name != "App 2" || !c.CreatedAt.Equal(stored.CreatedAt) {
		t.Fatalf("after a change: %+v, %v", c, err)
	}

	// Two nodes creating at once: the loser updates.
	c, err = f.meta.resolve(ctx, f.url, store.Client{}, false)
	if err != nil || c.Name != "App 2" {
		t.Fatalf("create over an existing record: %+v, %v", c, err)
	}

	// The client's site is down once the document expired: no new sign-in
	// or token request, but what it holds is still seen (introspection,
	// the account page).
	f.fail.Store(true)
	f.clock.Advance(2 * time.Minute)
	if _, err := f.cache.GetClient(ctx, f.url); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("document down: GetClient = %v, want not found", err)
	}
	if c, err := f.cache.Registered(ctx, f.url); err != nil || c.Name != "App 2" {
		t.Fatalf("document down: Registered = %+v, %v", c, err)
	}
	f.fail.Store(false)

	// Metadata documents turned off: the client is unknown.
	off := NewClientCache(f.st, -1, f.clock.Now)
	if _, err := off.GetClient(ctx, f.url); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("with documents off: %v", err)
	}
	if _, err := off.Registered(ctx, f.url); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("with documents off: Registered = %v", err)
	}
}

func TestMetadataClientAdminWins(t *testing.T) {
	f := newMetaFixture(t)
	ctx := context.Background()
	now := f.clock.Now().UTC().Truncate(store.TimePrecision)
	admin := store.Client{ID: f.url, Name: "Vetted", RedirectURIs: []string{"https://vetted.example/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none",
		AccessTokenFormat: store.AccessTokenJWT, IDTokenSignedResponseAlg: "RS256", FirstParty: true, CreatedAt: now, UpdatedAt: now}
	if err := f.st.CreateClient(ctx, admin); err != nil {
		t.Fatal(err)
	}
	c, err := f.cache.GetClient(ctx, f.url)
	if err != nil || c.Name != "Vetted" || !c.FirstParty {
		t.Fatalf("%+v, %v", c, err)
	}
	if f.hits.Load() != 0 {
		t.Fatal("the document of an admin-registered client was fetched")
	}
	// A resolution racing an admin registration never overwrites it.
	if _, err := f.meta.resolve(ctx, f.url, store.Client{}, false); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("resolve over an admin client: %v", err)
	}
	if c, _ := f.st.GetClient(ctx, f.url); c.Name != "Vetted" || c.Origin != store.OriginAdmin {
		t.Fatalf("admin client overwritten: %+v", c)
	}
}

func TestMetadataClientRefused(t *testing.T) {
	f := newMetaFixture(t)
	for _, id := range []string{"https://10.1.2.3/client.json", "https://127.0.0.1/c?x=1", "https://169.254.169.254/latest"} {
		_, err := f.cache.GetClient(context.Background(), id)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want not found", id, err)
		}
		if _, err := f.st.GetClient(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s stored", id)
		}
	}
}

func TestJSONEqual(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		eq   bool
	}{
		{`{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1 }`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{``, ``, true},
		{`{"a":1}`, ``, false},
		{`not json`, `{"a":1}`, false},
	} {
		if got := jsonEqual([]byte(tt.a), []byte(tt.b)); got != tt.eq {
			t.Errorf("jsonEqual(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestOriginKeysGuardUntrusted(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keys":[%s]}`, testJWK)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	trusting := srv.Client() // the admin side: trusts the server, no address rule
	var strict cimd.Guard    // the untrusted side: loopback refused
	guarded := strict.NewHTTPClient(cimd.HTTPClientOptions{RootCAs: pool})
	keys := originKeys{
		admin:     NewClientKeyCache(0, rs.WithHTTPClient(trusting)),
		untrusted: NewClientKeyCache(0, rs.WithHTTPClient(guarded)),
	}
	h := &jose.Header{Algorithm: jose.ES256}
	admin := &store.Client{ID: "svc", JWKSURI: srv.URL + "/jwks"}
	if _, err := keys.ClientKeys(context.Background(), admin, h); err != nil {
		t.Fatalf("admin client: %v", err)
	}
	for _, origin := range []string{store.OriginDynamic, store.OriginMetadataDocument} {
		c := &store.Client{ID: "c-" + origin, JWKSURI: srv.URL + "/jwks?" + origin, Origin: origin}
		_, err := keys.ClientKeys(context.Background(), c, h)
		if err == nil || !strings.Contains(err.Error(), "address not allowed") {
			t.Errorf("%s client: %v, want the loopback jwks_uri refused", origin, err)
		}
	}
}

func TestMetadataClientsBounded(t *testing.T) {
	m := &metadataClients{}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for i := range MaxNewMetadataClients {
		if !m.allowCreate(now.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("new client %d refused", i+1)
		}
	}
	if m.allowCreate(now.Add(time.Minute)) {
		t.Fatal("one more new client within the window")
	}
	if !m.allowCreate(now.Add(NewMetadataClientsWindow)) {
		t.Fatal("refused in the next window")
	}
}
