package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/jose"
)

const cliAdminToken = "cli-test-admin-token-0123456789"

// ringManager is an admin.KeyManager over a real key ring, rotated the way
// the server rotates it.
type ringManager struct {
	mu   sync.Mutex
	ring *keys.Ring
}

func (m *ringManager) RotateKeys(_ context.Context, force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if force {
		for _, e := range m.ring.Entries() {
			if e.State == keys.Next {
				if err := m.ring.ForceActivate(e.KeyID()); err != nil {
					return err
				}
				return m.ring.Rotate()
			}
		}
	}
	return m.ring.Rotate()
}

func (m *ringManager) KeyEntries() []keys.Entry { return m.ring.Entries() }

// adminEnv is an admin API over a real SQLite store, served on loopback.
type adminEnv struct {
	url    string
	store  store.Store
	hasher *oauth.SecretHasher
	keys   *ringManager
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, "sqlite:"+t.TempDir()+"/writ.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := oauth.NewSecretHasher(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewRing(keys.Options{MinPublish: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // publish A, then activate A and publish B
		if err := ring.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	e := &adminEnv{store: st, hasher: hasher, keys: &ringManager{ring: ring}}
	srv := httptest.NewServer(admin.NewHandler(admin.Options{
		Token: cliAdminToken, Store: st, Hasher: hasher, Keys: e.keys,
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	t.Setenv(envAdminToken, cliAdminToken)
	t.Setenv(envAdminEndpoint, "")
	return e
}

// writAdmin runs a command line in-process through run, the whole
// program, so that the wiring of the commands into the root is tested too.
func writAdmin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return writ(t, stdin, args...)
}

// createJSON creates a client with -o json and decodes the output.
func (e *adminEnv) createJSON(t *testing.T, args ...string) admin.ClientResponse {
	t.Helper()
	r := writAdmin(t, "", append([]string{"client", "create", "--endpoint", e.url, "-o", "json"}, args...)...).mustSucceed(t)
	var c admin.ClientResponse
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("create -o json printed no client: %v\n%s", err, r.stdout)
	}
	return c
}

func TestClientCreateJSON(t *testing.T) {
	e := newAdminEnv(t)
	r := writAdmin(t, "", "client", "create", "--endpoint", e.url, "--name", "billing",
		"--grant-type", "client_credentials", "--scope", "orders:read orders:write", "-o", "json").mustSucceed(t)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	id, _ := got["client_id"].(string)
	secret, _ := got["client_secret"].(string)
	if id == "" || secret == "" || got["client_name"] != "billing" || got["scope"] != "orders:read orders:write" {
		t.Fatalf("unexpected client: %s", r.stdout)
	}
	if got["client_secret_expires_at"] != float64(0) {
		t.Fatalf("client_secret_expires_at %v", got["client_secret_expires_at"])
	}
	stored, err := e.store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !e.hasher.Verify(secret, stored.SecretHash) {
		t.Fatal("the printed secret does not match the stored hash")
	}
	if !strings.Contains(r.stderr, "only time") {
		t.Fatalf("no one-time warning on stderr: %q", r.stderr)
	}
	if strings.Contains(r.stderr, secret) {
		t.Fatal("the secret was printed on stderr")
	}
	// get never shows it again.
	g := writAdmin(t, "", "client", "get", id, "--endpoint", e.url, "-o", "json").mustSucceed(t)
	if strings.Contains(g.stdout, secret) || strings.Contains(g.stdout, "client_secret\"") {
		t.Fatalf("get shows the secret: %s", g.stdout)
	}
}

func TestClientCreateTable(t *testing.T) {
	e := newAdminEnv(t)
	t.Setenv(envAdminEndpoint, e.url) // the endpoint from the environment
	r := writAdmin(t, "", "client", "create", "--id", "reports", "--name", "reports",
		"--grant-type", "client_credentials",
		"--scope", "reports:read", "--audience", "https://reports.example.com",
		"--token-format", "opaque", "--access-token-ttl", "5m", "--metadata", "team=data").mustSucceed(t)
	for _, want := range []string{"CLIENT ID", "reports", "client_credentials", "client_secret_basic",
		"reports:read", "https://reports.example.com", "opaque", "5m0s", "METADATA team", "CLIENT SECRET"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "cannot be shown again") && !strings.Contains(r.stderr, "only time") {
		t.Fatalf("no warning that the secret is shown once: %q", r.stderr)
	}
	c, err := e.store.GetClient(context.Background(), "reports")
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokenTTL != 5*time.Minute || c.AccessTokenFormat != "opaque" || !slices.Equal(c.GrantTypes, []string{admin.GrantClientCredentials}) || c.Metadata["team"] != "data" {
		t.Fatalf("stored %v %v %v %v", c.AccessTokenTTL, c.AccessTokenFormat, c.GrantTypes, c.Metadata)
	}
	// The secret in the table verifies.
	var secret string
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLIENT" && f[1] == "SECRET" {
			secret = f[2]
		}
	}
	if !e.hasher.Verify(secret, c.SecretHash) {
		t.Fatalf("the secret in the table (%q) does not verify", secret)
	}
}

func TestClientCreateKinds(t *testing.T) {
	e := newAdminEnv(t)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.NewKeySet(key))
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o644); err != nil {
		t.Fatal(err)
	}

	pub := e.createJSON(t, "--public", "--grant-type", "authorization_code", "--grant-type", "refresh_token",
		"--redirect-uri", "https://spa.example.com/cb", "--redirect-uri", "http://127.0.0.1:8400/cb",
		"--post-logout-redirect-uri", "https://spa.example.com/bye", "--first-party", "--refresh-token-ttl", "720h", "--id-token-ttl", "3600")
	if pub.TokenEndpointAuthMethod != "none" || pub.ClientSecret != "" || len(pub.RedirectURIs) != 2 || !pub.FirstParty || pub.RefreshTokenTTL != 720*3600 || pub.IDTokenTTL != 3600 {
		t.Fatalf("public client %+v", pub)
	}
	if pub.IDTokenSignedResponseAlg != "RS256" {
		t.Fatalf("default id_token_signed_response_alg %q, want RS256", pub.IDTokenSignedResponseAlg)
	}
	par := e.createJSON(t, "--grant-type", "authorization_code", "--redirect-uri", "https://par.example.com/cb", "--require-pushed-authorization-requests")
	if !par.RequirePushedAuthorizationRequests {
		t.Fatalf("--require-pushed-authorization-requests not registered: %+v", par)
	}
	es := e.createJSON(t, "--grant-type", "authorization_code", "--redirect-uri", "https://es.example.com/cb", "--id-token-signed-response-alg", "ES256")
	if es.IDTokenSignedResponseAlg != "ES256" {
		t.Fatalf("--id-token-signed-response-alg ES256 registered %q", es.IDTokenSignedResponseAlg)
	}
	fromFile := e.createJSON(t, "--grant-type", "client_credentials", "--auth-method", "private_key_jwt", "--jwks", "@"+file)
	if fromFile.ClientSecret != "" || len(fromFile.JWKS) == 0 {
		t.Fatalf("private_key_jwt client %+v", fromFile)
	}
	r := writAdmin(t, string(jwks), "client", "create", "--endpoint", e.url, "-o", "json",
		"--grant-type", "client_credentials", "--auth-method", "private_key_jwt", "--jwks", "@-").mustSucceed(t)
	if !strings.Contains(r.stdout, `"jwks"`) {
		t.Fatalf("--jwks @- did not register the key set: %s", r.stdout)
	}
	uri := e.createJSON(t, "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
		"--jwks-uri", "https://batch.example.com/jwks", "--backchannel-logout-uri", "https://batch.example.com/logout")
	if uri.JWKSURI != "https://batch.example.com/jwks" || uri.BackchannelLogoutURI != "https://batch.example.com/logout" {
		t.Fatalf("jwks_uri client %+v", uri)
	}
}

func TestClientListGetUpdateDelete(t *testing.T) {
	e := newAdminEnv(t)
	for i := range 5 {
		e.createJSON(t, "--id", fmt.Sprintf("svc-%d", i), "--name", fmt.Sprintf("service %d", i), "--grant-type", "client_credentials", "--scope", "a b")
	}

	// One page, with a note that more follow.
	r := writAdmin(t, "", "client", "list", "--endpoint", e.url, "--limit", "2").mustSucceed(t)
	if !strings.Contains(r.stdout, "CLIENT ID") || !strings.Contains(r.stdout, "svc-0") || strings.Contains(r.stdout, "svc-2") {
		t.Fatalf("first page:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "--after svc-1") {
		t.Fatalf("no note about the next page: %q", r.stderr)
	}
	r = writAdmin(t, "", "client", "list", "--endpoint", e.url, "--limit", "2", "--after", "svc-1", "-o", "json").mustSucceed(t)
	var page admin.ListResponse
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Clients) != 2 || page.Next != "svc-3" {
		t.Fatalf("second page: %v %s", err, r.stdout)
	}
	// --all follows the pages.
	r = writAdmin(t, "", "client", "list", "--endpoint", e.url, "--limit", "2", "--all", "-o", "json").mustSucceed(t)
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Clients) != 5 || page.Next != "" {
		t.Fatalf("--all: %v %s", err, r.stdout)
	}
	r = writAdmin(t, "", "client", "list", "--endpoint", e.url, "--limit", "2", "--all").mustSucceed(t)
	if strings.Count(r.stdout, "svc-") != 5 || r.stderr != "" {
		t.Fatalf("--all table:\n%s\nstderr %q", r.stdout, r.stderr)
	}

	// get, as a table.
	r = writAdmin(t, "", "client", "get", "svc-3", "--endpoint", e.url).mustSucceed(t)
	if !strings.Contains(r.stdout, "service 3") || strings.Contains(r.stdout, "SECRET") {
		t.Fatalf("get:\n%s", r.stdout)
	}

	// update changes only what is given; --id works like the argument.
	r = writAdmin(t, "", "client", "update", "--id", "svc-3", "--endpoint", e.url, "--scope", "a", "--access-token-ttl", "90s", "-o", "json").mustSucceed(t)
	var c admin.ClientResponse
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.Scope != "a" || c.AccessTokenTTL != 90 || c.ClientName != "service 3" {
		t.Fatalf("update: %v %s", err, r.stdout)
	}
	writAdmin(t, "", "client", "update", "svc-3", "--endpoint", e.url, "--audience", "https://x.example.com").mustSucceed(t)
	r = writAdmin(t, "", "client", "update", "svc-3", "--endpoint", e.url, "--audience", "", "--name", "", "-o", "json").mustSucceed(t)
	c = admin.ClientResponse{}
	json.Unmarshal([]byte(r.stdout), &c)
	if len(c.Audiences) != 0 || c.ClientName != "" {
		t.Fatalf("empty values did not clear: %s", r.stdout)
	}

	// delete says what it deleted and asks nothing.
	r = writAdmin(t, "", "client", "delete", "svc-3", "--endpoint", e.url).mustSucceed(t)
	if r.stdout != "deleted client svc-3\n" {
		t.Fatalf("delete printed %q", r.stdout)
	}
	writAdmin(t, "", "client", "get", "svc-3", "--endpoint", e.url).mustFail(t, exitUsage, "no client with client_id", "not_found", "404")
	r = writAdmin(t, "", "client", "delete", "svc-4", "--endpoint", e.url, "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"deleted": true`) {
		t.Fatalf("delete -o json printed %q", r.stdout)
	}
}

func TestClientRotateSecret(t *testing.T) {
	e := newAdminEnv(t)
	created := e.createJSON(t, "--id", "svc", "--grant-type", "client_credentials")
	r := writAdmin(t, "", "client", "rotate-secret", "svc", "--endpoint", e.url, "-o", "json").mustSucceed(t)
	var c admin.ClientResponse
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.ClientSecret == "" || c.ClientSecret == created.ClientSecret {
		t.Fatalf("rotate-secret: %v %s", err, r.stdout)
	}
	stored, _ := e.store.GetClient(context.Background(), "svc")
	if !e.hasher.Verify(c.ClientSecret, stored.SecretHash) || e.hasher.Verify(created.ClientSecret, stored.SecretHash) {
		t.Fatal("the new secret does not verify, or the old one still does")
	}
	if !strings.Contains(r.stderr, "only time") {
		t.Fatalf("no one-time warning: %q", r.stderr)
	}
	e.createJSON(t, "--id", "spa", "--public", "--grant-type", "authorization_code", "--redirect-uri", "https://spa.example.com/cb")
	writAdmin(t, "", "client", "rotate-secret", "spa", "--endpoint", e.url).mustFail(t, exitUsage, "has no secret", "invalid_request", "400")
}

func TestClientCredentialErrors(t *testing.T) {
	e := newAdminEnv(t)
	t.Run("missing token", func(t *testing.T) {
		t.Setenv(envAdminToken, "")
		writAdmin(t, "", "client", "list", "--endpoint", e.url).mustFail(t, exitUsage, "WRIT_ADMIN_TOKEN is not set", "export WRIT_ADMIN_TOKEN")
	})
	t.Run("wrong token", func(t *testing.T) {
		t.Setenv(envAdminToken, "not-the-admin-token")
		r := writAdmin(t, "", "client", "create", "--endpoint", e.url, "--grant-type", "client_credentials")
		r.mustFail(t, exitUsage, "the admin credential is not valid", "invalid_token", "401")
		if r.stdout != "" {
			t.Fatalf("stdout %q", r.stdout)
		}
	})
	t.Run("wrong token on keys", func(t *testing.T) {
		t.Setenv(envAdminToken, "not-the-admin-token")
		writAdmin(t, "", "key", "list", "--endpoint", e.url).mustFail(t, exitUsage, "invalid_token")
	})
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		down := srv.URL
		srv.Close()
		writAdmin(t, "", "client", "list", "--endpoint", down).mustFail(t, exitUsage, "cannot reach the admin API", "--endpoint")
	})
	t.Run("not the admin API", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		writAdmin(t, "", "client", "list", "--endpoint", srv.URL).mustFail(t, exitUsage, "404", "admin listener")
	})
	t.Run("redirect is not followed", func(t *testing.T) {
		srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusFound))
		defer srv.Close()
		writAdmin(t, "", "client", "list", "--endpoint", srv.URL).mustFail(t, exitUsage, "redirect")
	})
	t.Run("huge answer", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write(bytes.Repeat([]byte("x"), maxAdminResponse+10))
		}))
		defer srv.Close()
		writAdmin(t, "", "client", "list", "--endpoint", srv.URL).mustFail(t, exitUsage, "more than 1048576 bytes")
	})
}

func TestClientBadFlags(t *testing.T) {
	e := newAdminEnv(t)
	ep := []string{"--endpoint", e.url}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"client", "create", "--nmae", "x"}, []string{"unknown flag", "--nmae"}},
		{"bad output", []string{"client", "list", "-o", "yaml"}, []string{"-o \"yaml\"", "table or json"}},
		{"bad endpoint scheme", []string{"client", "list", "--endpoint", "ftp://127.0.0.1"}, []string{"http or https"}},
		{"endpoint with user", []string{"client", "list", "--endpoint", "http://u:p@127.0.0.1"}, []string{"user information"}},
		{"no grant and no redirect", append([]string{"client", "create", "--name", "x"}, ep...), []string{"--grant-type"}},
		{"unknown grant", append([]string{"client", "create", "--grant-type", "password"}, ep...), []string{"--grant-type \"password\""}},
		{"bad auth method", append([]string{"client", "create", "--grant-type", "client_credentials", "--auth-method", "mtls"}, ep...), []string{"--auth-method"}},
		{"public and auth method", append([]string{"client", "create", "--grant-type", "client_credentials", "--public", "--auth-method", "client_secret_post"}, ep...), []string{"--public"}},
		{"bad token format", append([]string{"client", "create", "--grant-type", "client_credentials", "--token-format", "paseto"}, ep...), []string{"jwt or opaque"}},
		{"bad ttl", append([]string{"client", "create", "--grant-type", "client_credentials", "--access-token-ttl", "soon"}, ep...), []string{"--access-token-ttl"}},
		{"ttl too long", append([]string{"client", "create", "--grant-type", "client_credentials", "--access-token-ttl", "48h"}, ep...), []string{"24h0m0s"}},
		{"fractional ttl", append([]string{"client", "create", "--grant-type", "client_credentials", "--id-token-ttl", "1500ms"}, ep...), []string{"whole number of seconds"}},
		{"bad metadata", append([]string{"client", "create", "--grant-type", "client_credentials", "--metadata", "novalue"}, ep...), []string{"KEY=VALUE"}},
		{"private jwks", append([]string{"client", "create", "--grant-type", "client_credentials", "--jwks", `{"keys":[{"kty":"oct","k":"AAAA"}]}`}, ep...), []string{"--jwks"}},
		{"missing jwks file", append([]string{"client", "create", "--grant-type", "client_credentials", "--jwks", "@/nonexistent/jwks.json"}, ep...), []string{"JWK Set file"}},
		{"empty id", append([]string{"client", "create", "--grant-type", "client_credentials", "--id", ""}, ep...), []string{"--id must not be empty"}},
		{"get without id", append([]string{"client", "get"}, ep...), []string{"needs the client_id"}},
		{"get two ids", append([]string{"client", "get", "a", "b"}, ep...), []string{"too many arguments"}},
		{"update nothing", append([]string{"client", "update", "svc"}, ep...), []string{"nothing to change"}},
		{"update id mismatch", append([]string{"client", "update", "a", "--id", "b", "--name", "x"}, ep...), []string{"different clients"}},
		{"bad limit", append([]string{"client", "list", "--limit", "0"}, ep...), []string{"--limit 0"}},
		{"list args", append([]string{"client", "list", "extra"}, ep...), []string{"takes no arguments"}},
		{"unknown subcommand", []string{"client", "craete"}, []string{"unknown command", "create"}},
		{"key rotate args", []string{"key", "rotate", "now"}, []string{"takes no arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := writAdmin(t, "", tt.args...)
			r.mustFail(t, exitUsage, tt.want...)
			if r.stdout != "" {
				t.Fatalf("stdout %q", r.stdout)
			}
		})
	}
	// The server's own validation errors come through with its description.
	writAdmin(t, "", append([]string{"client", "create", "--grant-type", "authorization_code", "--redirect-uri", "http://app.example.com/cb"}, ep...)...).
		mustFail(t, exitUsage, "loopback", "invalid_redirect_uri", "400")
	writAdmin(t, "", append([]string{"client", "create", "--id", "dup", "--grant-type", "client_credentials"}, ep...)...).mustSucceed(t)
	writAdmin(t, "", append([]string{"client", "create", "--id", "dup", "--grant-type", "client_credentials"}, ep...)...).
		mustFail(t, exitUsage, "already registered", "conflict", "409")
}

func TestKeyListRotate(t *testing.T) {
	e := newAdminEnv(t)
	before := e.keys.KeyEntries()
	r := writAdmin(t, "", "key", "list", "--endpoint", e.url).mustSucceed(t)
	for _, want := range []string{"KID", "STATE", "active", "next", before[0].KeyID(), "ES256"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("key list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = writAdmin(t, "", "key", "list", "--endpoint", e.url, "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"public_jwk"`) || strings.Contains(r.stdout, `"d"`) {
		t.Fatalf("key list -o json:\n%s", r.stdout)
	}

	// The next key was published just now: a plain rotation is refused.
	writAdmin(t, "", "key", "rotate", "--endpoint", e.url).mustFail(t, exitUsage, "retry later or use --force", "409")
	r = writAdmin(t, "", "key", "rotate", "--force", "--endpoint", e.url, "-o", "json").mustSucceed(t)
	var listing admin.KeysResponse
	if err := json.Unmarshal([]byte(r.stdout), &listing); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, k := range listing.Keys {
		states[k.KeyID] = k.State
	}
	var nextKID string
	for _, k := range before {
		if k.State == keys.Next {
			nextKID = k.KeyID()
		}
	}
	if states[nextKID] != "active" || len(listing.Keys) != 3 {
		t.Fatalf("after --force, the former next key %s is %q; listing %s", nextKID, states[nextKID], r.stdout)
	}
	if !strings.Contains(r.stderr, nextKID+" is now the active ES256 key") {
		t.Fatalf("stderr %q", r.stderr)
	}
}
