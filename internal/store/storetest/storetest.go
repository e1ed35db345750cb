// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a constructor:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "writ.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			if err := s.Migrate(t.Context()); err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The constructor returns an empty, migrated store and arranges for it to be
// closed when the test ends. Every subtest gets its own store.
//
// A new aggregate adds its group of subtests here, so that both backends are
// held to the same contract.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// Run runs the conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Migrations", testMigrations},
		{"Ping", testPing},
		{"Fixtures/SetEveryField", testFixturesComplete},
		{"Client/RoundTrip", testClientRoundTrip},
		{"Client/ZeroValues", testClientZeroValues},
		{"Client/Duplicate", testClientDuplicate},
		{"Client/NotFound", testClientNotFound},
		{"Client/List", testClientList},
		{"Client/Update", testClientUpdate},
		{"Client/UpdateAborts", testClientUpdateAborts},
		{"Client/UpdateConcurrent", testClientUpdateConcurrent},
		{"Client/Delete", testClientDelete},
		{"Client/Verbatim", testClientVerbatim},
		{"Client/Invalid", testClientInvalid},
		{"Token/RoundTrip", testTokenRoundTrip},
		{"Token/Duplicate", testTokenDuplicate},
		{"Token/NotFound", testTokenNotFound},
		{"Token/UnknownClient", testTokenUnknownClient},
		{"Token/Revoke", testTokenRevoke},
		{"Token/Invalid", testTokenInvalid},
		{"JTI/Revoke", testJTIRevoke},
		{"JTI/List", testJTIList},
		{"JTI/Use", testJTIUse},
		{"JTI/UseConcurrent", testJTIUseConcurrent},
		{"DeleteExpired", testDeleteExpired},
		{"KeyRing/Empty", testKeyRingEmpty},
		{"KeyRing/Update", testKeyRingUpdate},
		{"KeyRing/UpdateConcurrent", testKeyRingUpdateConcurrent},
	}
	tests = append(tests, signInTests()...)
	tests = append(tests, delegationTests()...)
	tests = append(tests, samlTests()...)
	tests = append(tests, createUpdateTests()...)
	tests = append(tests, deviceTests()...)
	tests = append(tests, auditIntentTests()...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// base is a fixed instant with nanoseconds and a non-UTC zone, to check
// that stores truncate to store.TimePrecision and return UTC.
const (
	baseUnixNano = 1772597167123456789 // 2026-03-04T04:06:07.123456789Z
	baseOffset   = 3600
)

func baseTime() time.Time {
	return time.Unix(0, baseUnixNano).In(time.FixedZone("UTC+1", baseOffset))
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// fullClient sets every field of a client to a distinctive value.
func fullClient(id string) store.Client {
	base := baseTime()
	return store.Client{
		ID:                                 id,
		SecretHash:                         hashOf("secret of " + id),
		SecretRotatedAt:                    base.Add(-time.Hour),
		Name:                               "Billing service «β»",
		RedirectURIs:                       []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:             []string{"https://app.example/bye"},
		GrantTypes:                         []string{"client_credentials", "authorization_code", "refresh_token"},
		ResponseTypes:                      []string{"code"},
		Scopes:                             []string{"orders:read", "orders:write", "openid"},
		Audiences:                          []string{"https://api.example", "https://other.example"},
		TokenEndpointAuthMethod:            "client_secret_basic",
		JWKS:                               []byte(`{"keys": [ {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"} ]}`),
		JWKSURI:                            "https://app.example/jwks.json",
		AccessTokenFormat:                  store.AccessTokenOpaque,
		AccessTokenTTL:                     5*time.Minute + 1,
		RefreshTokenTTL:                    30 * 24 * time.Hour,
		IDTokenTTL:                         time.Hour,
		IDTokenSignedResponseAlg:           "ES256",
		FirstParty:                         true,
		BackchannelLogoutURI:               "https://app.example/backchannel",
		Metadata:                           map[string]string{"team": "billing", "counter": "0", "": "empty key"},
		DPoPBoundAccessTokens:              true,
		RequirePushedAuthorizationRequests: true,
		TLSClientAuth: &store.TLSClientAuth{SubjectDN: "CN=billing «β»,O=Example",
			SANDNS: "billing.example", SANURI: "spiffe://example/billing", SANIP: "192.0.2.7", SANEmail: "billing@example.com"},
		TLSClientCertificateBoundAccessTokens: true,
		IDTokenEncryptedResponseAlg:           "ECDH-ES+A256KW",
		IDTokenEncryptedResponseEnc:           "A256GCM",
		UserinfoSignedResponseAlg:             "ES256",
		UserinfoEncryptedResponseAlg:          "RSA-OAEP-256",
		UserinfoEncryptedResponseEnc:          "A128CBC-HS256",
		Profile:                               store.ProfileFAPI2,
		Agent: &store.AgentPolicy{Owner: store.OwnerUser + "user-42", MaxTokenTTL: 10*time.Minute + 1,
			AllowRefresh: true, RequireDPoP: true},
		Exchange: &store.ExchangePolicy{
			SubjectIssuers:   []string{"https://idp.example", "https://other-idp.example"},
			SubjectAudiences: []string{"https://gateway.example"},
			Actors:           []string{"agent-1", "svc «β»"},
			MaxChain:         3,
			Impersonation:    true,
			RefreshTokens:    true,
			IDJAGAudiences:   []string{"https://as.partner.example"},
		},
		Origin:                store.OriginDynamic,
		RegistrationTokenHash: hashOf("registration token of " + id),
		TokensRevokedBefore:   base.Add(-2 * time.Hour),
		CreatedAt:             base,
		UpdatedAt:             base.Add(time.Second),
	}
}

func fullToken(clientID, token string) store.TokenRecord {
	base := baseTime()
	return store.TokenRecord{
		Hash:      hashOf(token),
		Kind:      store.KindAccessToken,
		ClientID:  clientID,
		Subject:   "user-42",
		Scopes:    []string{"orders:read", "openid"},
		Audience:  []string{"https://api.example"},
		IssuedAt:  base,
		ExpiresAt: base.Add(15 * time.Minute),
		Revoked:   false,
		Extra:     []byte(`{"cnf": {"jkt": "abc"}, "n": 1.50}`),
	}
}

// sameTime compares at the stored precision and requires UTC.
func sameTime(want, got time.Time) bool {
	return want.Truncate(store.TimePrecision).Equal(got) && got.Location() == time.UTC
}

// clientDiff lists the fields in which got differs from want (recordDiff).
func clientDiff(want, got store.Client) []string { return recordDiff(want, got) }

func wantClient(t *testing.T, want, got store.Client) {
	t.Helper()
	if d := clientDiff(want, got); len(d) > 0 {
		t.Errorf("client %q: fields differ: %s\nwant %+v\ngot  %+v", want.ID, strings.Join(d, ", "), want, got)
	}
}

// tokenDiff lists the fields in which got differs from want (recordDiff).
func tokenDiff(want, got store.TokenRecord) []string { return recordDiff(want, got) }

func wantToken(t *testing.T, want, got store.TokenRecord) {
	t.Helper()
	if d := tokenDiff(want, got); len(d) > 0 {
		t.Errorf("token: fields differ: %s\nwant %+v\ngot  %+v", strings.Join(d, ", "), want, got)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustCreateClient(t *testing.T, s store.Store, c store.Client) {
	t.Helper()
	must(t, "CreateClient "+strconv.Quote(c.ID), s.CreateClient(t.Context(), c))
}

func testMigrations(t *testing.T, s store.Store) {
	ctx := t.Context()
	before, err := s.MigrationStatus(ctx)
	must(t, "MigrationStatus", err)
	if len(before) == 0 {
		t.Fatal("MigrationStatus: no migrations")
	}
	// Versions increase; a gap is allowed (branches number their
	// migrations independently and merge).
	for i, m := range before {
		if (i == 0 && m.Version != 1) || (i > 0 && m.Version <= before[i-1].Version) || m.Name == "" || !m.Applied || m.AppliedAt.IsZero() {
			t.Errorf("migration %d: %+v, want increasing versions from 1, named, applied", i, m)
		}
	}
	must(t, "Migrate again", s.Migrate(ctx))
	must(t, "Migrate a third time", s.Migrate(ctx))
	after, err := s.MigrationStatus(ctx)
	must(t, "MigrationStatus", err)
	if !slices.EqualFunc(before, after, func(a, b store.Migration) bool {
		return a.Version == b.Version && a.Name == b.Name && a.Applied == b.Applied && a.AppliedAt.Equal(b.AppliedAt)
	}) {
		t.Errorf("Migrate changed the status:\nbefore %+v\nafter  %+v", before, after)
	}
}

func testPing(t *testing.T, s store.Store) {
	must(t, "Ping", s.Ping(t.Context()))
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullClient("billing")
	mustCreateClient(t, s, want)
	got, err := s.GetClient(ctx, want.ID)
	must(t, "GetClient", err)
	wantClient(t, want, got)

	// The store keeps no reference to the caller's slices and maps.
	want.Scopes[0] = "changed"
	want.Metadata["team"] = "changed"
	again, err := s.GetClient(ctx, want.ID)
	must(t, "GetClient", err)
	if again.Scopes[0] != "orders:read" || again.Metadata["team"] != "billing" {
		t.Errorf("stored client aliases the caller's data: %+v", again)
	}
}

func testClientZeroValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := store.Client{ID: "public"}
	mustCreateClient(t, s, want)
	got, err := s.GetClient(ctx, want.ID)
	must(t, "GetClient", err)
	wantClient(t, want, got)
	if !got.CreatedAt.IsZero() || !got.SecretRotatedAt.IsZero() {
		t.Errorf("zero times came back as %v, %v", got.CreatedAt, got.SecretRotatedAt)
	}
	if len(got.SecretHash) != 0 || len(got.JWKS) != 0 || len(got.Metadata) != 0 || len(got.Scopes) != 0 {
		t.Errorf("empty fields came back non-empty: %+v", got)
	}

	// Empty but non-nil values read back as empty too.
	empty := store.Client{ID: "empty", SecretHash: []byte{}, Scopes: []string{}, Metadata: map[string]string{}}
	mustCreateClient(t, s, empty)
	got, err = s.GetClient(ctx, empty.ID)
	must(t, "GetClient", err)
	wantClient(t, empty, got)
}

func testClientDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := fullClient("dup")
	mustCreateClient(t, s, first)
	second := fullClient("dup")
	second.Name = "impostor"
	second.SecretHash = hashOf("SECRET-MARKER")
	err := s.CreateClient(ctx, second)
	wantErr(t, "CreateClient duplicate", err, store.ErrAlreadyExists)
	if strings.Contains(err.Error(), "SECRET-MARKER") || strings.Contains(err.Error(), string(second.SecretHash)) {
		t.Errorf("error reveals the secret hash: %v", err)
	}
	got, err := s.GetClient(ctx, "dup")
	must(t, "GetClient", err)
	wantClient(t, first, got)
}

func testClientNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, store.Client{ID: "present"})
	for _, id := range []string{"absent", "", "PRESENT", "present ", strings.Repeat("x", store.MaxIDLength+1), "bad\xffutf8", "nul\x00"} {
		_, err := s.GetClient(ctx, id)
		wantErr(t, fmt.Sprintf("GetClient(%q)", id), err, store.ErrNotFound)
		called := false
		_, err = s.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
			called = true
			return c, nil
		})
		wantErr(t, fmt.Sprintf("UpdateClient(%q)", id), err, store.ErrNotFound)
		if called {
			t.Errorf("UpdateClient(%q) called fn for a missing client", id)
		}
		wantErr(t, fmt.Sprintf("DeleteClient(%q)", id), s.DeleteClient(ctx, id), store.ErrNotFound)
	}
}

func testClientList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListClients(ctx, store.ListOptions{})
	must(t, "ListClients on an empty store", err)
	if len(list) != 0 {
		t.Fatalf("ListClients on an empty store: %d clients", len(list))
	}

	// IDs whose byte order differs from case-insensitive or locale order.
	var ids []string
	for i := range 23 {
		ids = append(ids, fmt.Sprintf("c-%02d", (i*7)%23))
	}
	ids = append(ids, "B", "a", "Z", "_", "é", "e", "z~", "%")
	for _, id := range ids {
		c := fullClient(id)
		mustCreateClient(t, s, c)
	}
	want := slices.Clone(ids)
	slices.Sort(want) // byte order

	for _, limit := range []int{1, 7, len(want) - 1, len(want), len(want) + 5} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("limit %d: pagination does not end", limit)
			}
			page, err := s.ListClients(ctx, store.ListOptions{Limit: limit, After: after})
			must(t, "ListClients", err)
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, c := range page {
				got = append(got, c.ID)
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: listed\n%q\nwant\n%q", limit, got, want)
		}
	}

	// Default limit, full records, and a cursor past the end.
	page, err := s.ListClients(ctx, store.ListOptions{})
	must(t, "ListClients", err)
	if len(page) != len(want) {
		t.Fatalf("default limit listed %d, want %d", len(page), len(want))
	}
	wantClient(t, fullClient(page[0].ID), page[0])
	page, err = s.ListClients(ctx, store.ListOptions{After: want[len(want)-1]})
	must(t, "ListClients after the last", err)
	if len(page) != 0 {
		t.Errorf("after the last ID: %d clients", len(page))
	}
	// A cursor that is not itself an ID starts after it.
	page, err = s.ListClients(ctx, store.ListOptions{After: "c-10x", Limit: 2})
	must(t, "ListClients", err)
	if len(page) != 2 || page[0].ID != "c-11" || page[1].ID != "c-12" {
		t.Errorf("after %q: got %d clients starting %q, want c-11, c-12", "c-10x", len(page), page[0].ID)
	}
}

func testClientUpdate(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	orig := fullClient("upd")
	mustCreateClient(t, s, orig)

	var seen store.Client
	updated, err := s.UpdateClient(ctx, "upd", func(c store.Client) (store.Client, error) {
		seen = c
		c.Name = "renamed"
		c.SecretHash = hashOf("rotated")
		c.SecretRotatedAt = base.Add(time.Hour)
		c.Scopes = append(c.Scopes, "orders:admin")
		c.Audiences = nil
		c.JWKS = nil
		c.FirstParty = false
		c.AccessTokenFormat = store.AccessTokenJWT
		c.AccessTokenTTL = time.Minute
		c.Metadata = map[string]string{"new": "value"}
		c.UpdatedAt = base.Add(time.Hour)
		return c, nil
	})
	must(t, "UpdateClient", err)
	wantClient(t, orig, seen)

	want := orig
	want.Name = "renamed"
	want.SecretHash = hashOf("rotated")
	want.SecretRotatedAt = base.Add(time.Hour)
	want.Scopes = append(slices.Clone(orig.Scopes), "orders:admin")
	want.Audiences = nil
	want.JWKS = nil
	want.FirstParty = false
	want.AccessTokenFormat = store.AccessTokenJWT
	want.AccessTokenTTL = time.Minute
	want.Metadata = map[string]string{"new": "value"}
	want.UpdatedAt = base.Add(time.Hour)
	wantClient(t, want, updated)
	got, err := s.GetClient(ctx, "upd")
	must(t, "GetClient", err)
	wantClient(t, want, got)
}

func testClientUpdateAborts(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullClient("abort")
	mustCreateClient(t, s, orig)
	unchanged := func(what string) {
		t.Helper()
		got, err := s.GetClient(ctx, "abort")
		must(t, "GetClient", err)
		if d := clientDiff(orig, got); len(d) > 0 {
			t.Errorf("%s changed the client: %v", what, d)
		}
	}

	errStop := errors.New("stop")
	_, err := s.UpdateClient(ctx, "abort", func(c store.Client) (store.Client, error) {
		c.Name = "half-done"
		return c, fmt.Errorf("policy says no: %w", errStop)
	})
	wantErr(t, "UpdateClient with fn error", err, errStop)
	unchanged("an fn error")

	_, err = s.UpdateClient(ctx, "abort", func(c store.Client) (store.Client, error) {
		c.ID = "other"
		c.Name = "moved"
		return c, nil
	})
	wantErr(t, "UpdateClient changing the ID", err, store.ErrInvalid)
	unchanged("an ID change")
	_, err = s.GetClient(ctx, "other")
	wantErr(t, "GetClient of the would-be ID", err, store.ErrNotFound)

	_, err = s.UpdateClient(ctx, "abort", func(c store.Client) (store.Client, error) {
		c.Name = "bad\xff"
		return c, nil
	})
	wantErr(t, "UpdateClient to an invalid client", err, store.ErrInvalid)
	unchanged("an invalid result")

	// A cancelled context aborts too.
	cctx, cancel := context.WithCancel(ctx)
	_, err = s.UpdateClient(cctx, "abort", func(c store.Client) (store.Client, error) {
		cancel()
		c.Name = "cancelled"
		return c, nil
	})
	if err == nil {
		t.Error("UpdateClient with a context cancelled in fn: no error")
	}
	unchanged("a cancelled context")

	// The store is still usable (locks released, connection returned).
	_, err = s.UpdateClient(ctx, "abort", func(c store.Client) (store.Client, error) { return c, nil })
	must(t, "UpdateClient after aborts", err)
}

func testClientUpdateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := fullClient("counter")
	mustCreateClient(t, s, c)
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				_, err := s.UpdateClient(ctx, "counter", func(c store.Client) (store.Client, error) {
					n, err := strconv.Atoi(c.Metadata["counter"])
					if err != nil {
						return c, err
					}
					c.Metadata["counter"] = strconv.Itoa(n + 1)
					return c, nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateClient: %v", err)
	}
	got, err := s.GetClient(ctx, "counter")
	must(t, "GetClient", err)
	if want := strconv.Itoa(workers * perWorker); got.Metadata["counter"] != want {
		t.Errorf("counter = %s after %s increments: updates were lost", got.Metadata["counter"], want)
	}
}

func testClientDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("gone"))
	mustCreateClient(t, s, fullClient("kept"))
	must(t, "CreateToken", s.CreateToken(ctx, fullToken("gone", "t-gone")))
	must(t, "CreateToken", s.CreateToken(ctx, fullToken("kept", "t-kept")))

	must(t, "DeleteClient", s.DeleteClient(ctx, "gone"))
	_, err := s.GetClient(ctx, "gone")
	wantErr(t, "GetClient after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteClient again", s.DeleteClient(ctx, "gone"), store.ErrNotFound)
	_, err = s.GetToken(ctx, hashOf("t-gone"))
	wantErr(t, "GetToken of a deleted client's token", err, store.ErrNotFound)

	_, err = s.GetClient(ctx, "kept")
	must(t, "GetClient of the other client", err)
	_, err = s.GetToken(ctx, hashOf("t-kept"))
	must(t, "GetToken of the other client's token", err)

	// The ID can be registered again.
	mustCreateClient(t, s, store.Client{ID: "gone"})
}

// hostileStrings are strings that break queries built by concatenation,
// LIKE patterns, JSON encoders or unescaped output.
func hostileStrings() []string {
	return []string{
		`'; DROP TABLE clients; --`,
		`" OR "1"="1`,
		`' OR '1'='1`,
		`x'); DELETE FROM tokens; --`,
		`%`,
		`_`,
		`\`,
		`\'`,
		`$1`,
		`?`,
		`:name`,
		`{"a":1}`,
		`["x"]`,
		`null`,
		`<script>alert(1)</script>`,
		"line\nbreak\ttab\r",
		"emoji 🔑 and RTL \u202e",
		"quote \" backslash \\ unicode \u2028",
		`/*comment*/`,
		`E'\x41'`,
	}
}

func testClientVerbatim(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	hostile := hostileStrings()
	var ids []string
	for i, h := range hostile {
		c := fullClient(h)
		c.Name = h
		c.RedirectURIs = []string{h, h + h}
		c.Scopes = []string{h}
		c.Metadata = map[string]string{h: h, "i": strconv.Itoa(i)}
		c.JWKSURI = h
		mustCreateClient(t, s, c)
		ids = append(ids, h)
	}
	for _, h := range hostile {
		want := fullClient(h)
		want.Name = h
		want.RedirectURIs = []string{h, h + h}
		want.Scopes = []string{h}
		want.Metadata = map[string]string{h: h}
		got, err := s.GetClient(ctx, h)
		must(t, fmt.Sprintf("GetClient(%q)", h), err)
		want.Metadata["i"] = got.Metadata["i"]
		want.JWKSURI = h
		wantClient(t, want, got)
	}
	list, err := s.ListClients(ctx, store.ListOptions{})
	must(t, "ListClients", err)
	var listed []string
	for _, c := range list {
		listed = append(listed, c.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(listed, ids) {
		t.Errorf("listed %q\nwant %q", listed, ids)
	}
	// Wildcards match only themselves.
	_, err = s.GetClient(ctx, "anything")
	wantErr(t, "GetClient of a non-existent ID", err, store.ErrNotFound)
	must(t, "DeleteClient(%)", s.DeleteClient(ctx, "%"))
	list, err = s.ListClients(ctx, store.ListOptions{})
	must(t, "ListClients", err)
	if len(list) != len(ids)-1 {
		t.Errorf("deleting %q removed %d clients", "%", len(ids)-len(list))
	}

	// The same hostile text in token and JTI fields.
	for i, h := range hostile {
		r := fullToken(h, "tok-"+strconv.Itoa(i))
		if h == "%" {
			r.ClientID = "_"
		}
		r.Kind, r.Subject, r.Scopes, r.Audience = h, h, []string{h}, []string{h}
		must(t, "CreateToken", s.CreateToken(ctx, r))
		got, err := s.GetToken(ctx, r.Hash)
		must(t, "GetToken", err)
		wantToken(t, r, got)
		must(t, "RevokeJTI", s.RevokeJTI(ctx, h, base.Add(time.Hour)))
		must(t, "UseJTI", s.UseJTI(ctx, h, h, base.Add(time.Hour)))
	}
	for _, h := range hostile {
		revoked, err := s.IsJTIRevoked(ctx, h)
		must(t, "IsJTIRevoked", err)
		if !revoked {
			t.Errorf("IsJTIRevoked(%q) = false", h)
		}
	}
	revoked, err := s.IsJTIRevoked(ctx, "not revoked")
	must(t, "IsJTIRevoked", err)
	if revoked {
		t.Error("IsJTIRevoked of an unknown jti = true")
	}
}

func testClientInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]func(*store.Client){
		"empty ID":               func(c *store.Client) { c.ID = "" },
		"long ID":                func(c *store.Client) { c.ID = strings.Repeat("i", store.MaxIDLength+1) },
		"ID not UTF-8":           func(c *store.Client) { c.ID = "id\xc3" },
		"ID with NUL":            func(c *store.Client) { c.ID = "id\x00x" },
		"name not UTF-8":         func(c *store.Client) { c.Name = "n\xff" },
		"name with NUL":          func(c *store.Client) { c.Name = "n\x00" },
		"redirect URI with NUL":  func(c *store.Client) { c.RedirectURIs = []string{"https://a/\x00"} },
		"scope not UTF-8":        func(c *store.Client) { c.Scopes = []string{"ok", "\xfe"} },
		"metadata key not UTF-8": func(c *store.Client) { c.Metadata = map[string]string{"\xff": "v"} },
		"metadata value NUL":     func(c *store.Client) { c.Metadata = map[string]string{"k": "\x00"} },
		"JWKS not JSON":          func(c *store.Client) { c.JWKS = []byte(`{"keys":[`) },
		"negative TTL":           func(c *store.Client) { c.AccessTokenTTL = -time.Second },
		"time before year 1":     func(c *store.Client) { c.CreatedAt = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) },
		"time after 9999":        func(c *store.Client) { c.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"agent owner not UTF-8":  func(c *store.Client) { c.Agent.Owner = "user:\xff" },
		"long agent owner":       func(c *store.Client) { c.Agent.Owner = store.OwnerUser + strings.Repeat("o", store.MaxIDLength+8) },
		"negative agent TTL":     func(c *store.Client) { c.Agent.MaxTokenTTL = -1 },
		"exchange actor NUL":     func(c *store.Client) { c.Exchange.Actors = []string{"a\x00"} },
		"long exchange issuer":   func(c *store.Client) { c.Exchange.SubjectIssuers = []string{strings.Repeat("i", store.MaxURILength+1)} },
		"too many audiences": func(c *store.Client) {
			c.Exchange.IDJAGAudiences = make([]string, store.MaxPolicyEntries+1)
		},
		"negative max chain":      func(c *store.Client) { c.Exchange.MaxChain = -1 },
		"max chain too long":      func(c *store.Client) { c.Exchange.MaxChain = store.MaxDelegationDepth + 1 },
		"unknown origin":          func(c *store.Client) { c.Origin = "elsewhere" },
		"short registration hash": func(c *store.Client) { c.RegistrationTokenHash = []byte("short") },
		"revoked-before after 9999": func(c *store.Client) {
			c.TokensRevokedBefore = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"TLS client auth naming nothing": func(c *store.Client) { c.TLSClientAuth = &store.TLSClientAuth{} },
		// The value reads like a lost connection's error: an invalid
		// record is never taken for an unreachable database.
		"unknown profile": func(c *store.Client) { c.Profile = "conn closed" },
	}
	for name, mutate := range cases {
		c := fullClient("valid")
		mutate(&c)
		err := s.CreateClient(ctx, c)
		wantErr(t, "CreateClient with "+name, err, store.ErrInvalid)
		if strings.Contains(err.Error(), "\xff") || strings.Contains(err.Error(), "\x00") || strings.Contains(err.Error(), "conn closed") {
			t.Errorf("%s: error quotes the invalid value: %q", name, err)
		}
		if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: an invalid record is %v", name, err)
		}
	}
	list, err := s.ListClients(ctx, store.ListOptions{})
	must(t, "ListClients", err)
	if len(list) != 0 {
		t.Errorf("invalid clients were stored: %d", len(list))
	}
	_, err = s.ListClients(ctx, store.ListOptions{After: "bad\xff"})
	wantErr(t, "ListClients with an invalid cursor", err, store.ErrInvalid)
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	want := fullToken("c", "opaque-1")
	must(t, "CreateToken", s.CreateToken(ctx, want))
	got, err := s.GetToken(ctx, want.Hash)
	must(t, "GetToken", err)
	wantToken(t, want, got)

	minimal := store.TokenRecord{Hash: hashOf("opaque-2"), Kind: store.KindAccessToken, ClientID: "c", ExpiresAt: base, Revoked: true}
	must(t, "CreateToken", s.CreateToken(ctx, minimal))
	got, err = s.GetToken(ctx, minimal.Hash)
	must(t, "GetToken", err)
	wantToken(t, minimal, got)
}

func testTokenDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	first := fullToken("c", "same")
	must(t, "CreateToken", s.CreateToken(ctx, first))
	second := fullToken("c", "same")
	second.Subject = "someone else"
	wantErr(t, "CreateToken duplicate", s.CreateToken(ctx, second), store.ErrAlreadyExists)
	got, err := s.GetToken(ctx, first.Hash)
	must(t, "GetToken", err)
	wantToken(t, first, got)
}

func testTokenNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	must(t, "CreateToken", s.CreateToken(ctx, fullToken("c", "present")))
	for _, h := range [][]byte{hashOf("absent"), nil, {}, hashOf("present")[:31], append(hashOf("present"), 0)} {
		_, err := s.GetToken(ctx, h)
		wantErr(t, fmt.Sprintf("GetToken(%x)", h), err, store.ErrNotFound)
		wantErr(t, fmt.Sprintf("RevokeToken(%x)", h), s.RevokeToken(ctx, h), store.ErrNotFound)
	}
}

func testTokenUnknownClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantErr(t, "CreateToken for an unknown client", s.CreateToken(ctx, fullToken("nobody", "x")), store.ErrNotFound)
	_, err := s.GetToken(ctx, hashOf("x"))
	wantErr(t, "GetToken", err, store.ErrNotFound)
}

func testTokenRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	r := fullToken("c", "to-revoke")
	other := fullToken("c", "other")
	must(t, "CreateToken", s.CreateToken(ctx, r))
	must(t, "CreateToken", s.CreateToken(ctx, other))
	must(t, "RevokeToken", s.RevokeToken(ctx, r.Hash))
	got, err := s.GetToken(ctx, r.Hash)
	must(t, "GetToken", err)
	r.Revoked = true
	wantToken(t, r, got)
	must(t, "RevokeToken again", s.RevokeToken(ctx, r.Hash))
	got, err = s.GetToken(ctx, r.Hash)
	must(t, "GetToken", err)
	wantToken(t, r, got)
	got, err = s.GetToken(ctx, other.Hash)
	must(t, "GetToken", err)
	if got.Revoked {
		t.Error("revoking one token revoked another")
	}
}

func testTokenInvalid(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	cases := map[string]func(*store.TokenRecord){
		"short hash":        func(r *store.TokenRecord) { r.Hash = r.Hash[:16] },
		"no hash":           func(r *store.TokenRecord) { r.Hash = nil },
		"empty kind":        func(r *store.TokenRecord) { r.Kind = "" },
		"empty client":      func(r *store.TokenRecord) { r.ClientID = "" },
		"subject not UTF-8": func(r *store.TokenRecord) { r.Subject = "\xff" },
		"scope with NUL":    func(r *store.TokenRecord) { r.Scopes = []string{"a\x00"} },
		"no expiry":         func(r *store.TokenRecord) { r.ExpiresAt = time.Time{} },
		"extra not JSON":    func(r *store.TokenRecord) { r.Extra = []byte("{") },
	}
	for name, mutate := range cases {
		r := fullToken("c", "tok")
		mutate(&r)
		wantErr(t, "CreateToken with "+name, s.CreateToken(ctx, r), store.ErrInvalid)
	}
	_, err := s.GetToken(ctx, hashOf("tok"))
	wantErr(t, "GetToken after invalid creates", err, store.ErrNotFound)

	wantErr(t, "RevokeJTI with empty jti", s.RevokeJTI(ctx, "", base), store.ErrInvalid)
	wantErr(t, "RevokeJTI with no expiry", s.RevokeJTI(ctx, "j", time.Time{}), store.ErrInvalid)
	wantErr(t, "UseJTI with empty client", s.UseJTI(ctx, "", "j", base), store.ErrInvalid)
	wantErr(t, "UseJTI with NUL jti", s.UseJTI(ctx, "c", "j\x00", base), store.ErrInvalid)
	wantErr(t, "UseJTI with no expiry", s.UseJTI(ctx, "c", "j", time.Time{}), store.ErrInvalid)
	revoked, err := s.IsJTIRevoked(ctx, "bad\xff")
	if err != nil || revoked {
		t.Errorf("IsJTIRevoked of an invalid jti = %v, %v; want false, nil", revoked, err)
	}
}

func testJTIRevoke(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	revoked, err := s.IsJTIRevoked(ctx, "jti-1")
	must(t, "IsJTIRevoked", err)
	if revoked {
		t.Fatal("IsJTIRevoked before RevokeJTI = true")
	}
	must(t, "RevokeJTI", s.RevokeJTI(ctx, "jti-1", base.Add(time.Hour)))
	must(t, "RevokeJTI again (idempotent)", s.RevokeJTI(ctx, "jti-1", base.Add(time.Hour)))
	// An earlier expiry does not shorten the revocation.
	must(t, "RevokeJTI with an earlier expiry", s.RevokeJTI(ctx, "jti-1", base))
	for _, c := range []struct {
		jti  string
		want bool
	}{{"jti-1", true}, {"jti-2", false}, {"JTI-1", false}, {"jti-", false}} {
		revoked, err := s.IsJTIRevoked(ctx, c.jti)
		must(t, "IsJTIRevoked", err)
		if revoked != c.want {
			t.Errorf("IsJTIRevoked(%q) = %v, want %v", c.jti, revoked, c.want)
		}
	}
	n, err := s.DeleteExpired(ctx, base.Add(time.Minute))
	must(t, "DeleteExpired", err)
	if n != 0 {
		t.Errorf("DeleteExpired before the latest expiry removed %d records", n)
	}
	revoked, err = s.IsJTIRevoked(ctx, "jti-1")
	must(t, "IsJTIRevoked", err)
	if !revoked {
		t.Error("a later RevokeJTI with an earlier expiry shortened the revocation")
	}
}

func testJTIUse(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	exp := base.Add(5 * time.Minute)
	must(t, "UseJTI", s.UseJTI(ctx, "client-a", "jti", exp))
	wantErr(t, "UseJTI replay", s.UseJTI(ctx, "client-a", "jti", exp), store.ErrAlreadyExists)
	wantErr(t, "UseJTI replay with another expiry", s.UseJTI(ctx, "client-a", "jti", exp.Add(time.Hour)), store.ErrAlreadyExists)
	must(t, "UseJTI of the same jti by another client", s.UseJTI(ctx, "client-b", "jti", exp))
	must(t, "UseJTI of another jti", s.UseJTI(ctx, "client-a", "jti2", exp))
	// A JTI is not a revocation.
	revoked, err := s.IsJTIRevoked(ctx, "jti")
	must(t, "IsJTIRevoked", err)
	if revoked {
		t.Error("UseJTI revoked the jti")
	}
}

func testJTIUseConcurrent(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	const workers = 16
	for round := range 3 {
		jti := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		results := make(chan error, workers)
		start := make(chan struct{})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results <- s.UseJTI(ctx, "client", jti, base.Add(time.Hour))
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrAlreadyExists):
			default:
				t.Errorf("concurrent UseJTI: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("round %d: %d of %d concurrent UseJTI calls succeeded, want exactly 1", round, ok, workers)
		}
	}
}

func testDeleteExpired(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	now := base.Add(time.Hour)
	tok := func(name string, exp time.Time) store.TokenRecord {
		r := fullToken("c", name)
		r.ExpiresAt = exp
		return r
	}
	expired := []store.TokenRecord{tok("old", now.Add(-time.Minute)), tok("exactly-now", now)}
	live := []store.TokenRecord{tok("live", now.Add(time.Microsecond)), tok("later", now.Add(time.Hour))}
	for _, r := range append(slices.Clone(expired), live...) {
		must(t, "CreateToken", s.CreateToken(ctx, r))
	}
	must(t, "RevokeJTI", s.RevokeJTI(ctx, "jti-old", now.Add(-time.Second)))
	must(t, "RevokeJTI", s.RevokeJTI(ctx, "jti-live", now.Add(time.Second)))
	must(t, "UseJTI", s.UseJTI(ctx, "c", "assert-old", now))
	must(t, "UseJTI", s.UseJTI(ctx, "c", "assert-live", now.Add(time.Minute)))

	n, err := s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired", err)
	if want := int64(len(expired) + 2); n != want {
		t.Errorf("DeleteExpired removed %d records, want %d", n, want)
	}
	for _, r := range expired {
		_, err := s.GetToken(ctx, r.Hash)
		wantErr(t, "GetToken of an expired token", err, store.ErrNotFound)
	}
	for _, r := range live {
		got, err := s.GetToken(ctx, r.Hash)
		must(t, "GetToken of a live token", err)
		wantToken(t, r, got)
	}
	for jti, want := range map[string]bool{"jti-old": false, "jti-live": true} {
		revoked, err := s.IsJTIRevoked(ctx, jti)
		must(t, "IsJTIRevoked", err)
		if revoked != want {
			t.Errorf("IsJTIRevoked(%q) after DeleteExpired = %v, want %v", jti, revoked, want)
		}
	}
	// A purged assertion JTI can be used again; a live one cannot.
	must(t, "UseJTI of a purged jti", s.UseJTI(ctx, "c", "assert-old", now.Add(time.Minute)))
	wantErr(t, "UseJTI of a live jti", s.UseJTI(ctx, "c", "assert-live", now.Add(time.Minute)), store.ErrAlreadyExists)

	n, err = s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired again removed %d records", n)
	}
}

func testKeyRingEmpty(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, err := s.GetKeyRing(ctx)
	wantErr(t, "GetKeyRing on an empty store", err, store.ErrNotFound)
}

func testKeyRingUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	var seen []byte
	called := false
	must(t, "UpdateKeyRing (first)", s.UpdateKeyRing(ctx, func(old []byte) ([]byte, error) {
		called, seen = true, old
		return []byte("sealed ring v1\x00\xff"), nil
	}))
	if !called || seen != nil {
		t.Fatalf("first UpdateKeyRing: fn called %v with %q, want nil", called, seen)
	}
	data, v1, err := s.GetKeyRing(ctx)
	must(t, "GetKeyRing", err)
	if string(data) != "sealed ring v1\x00\xff" {
		t.Errorf("GetKeyRing = %q", data)
	}

	must(t, "UpdateKeyRing (second)", s.UpdateKeyRing(ctx, func(old []byte) ([]byte, error) {
		seen = old
		return append(slices.Clone(old), " + v2"...), nil
	}))
	if string(seen) != "sealed ring v1\x00\xff" {
		t.Errorf("second UpdateKeyRing saw %q", seen)
	}
	data, v2, err := s.GetKeyRing(ctx)
	must(t, "GetKeyRing", err)
	if string(data) != "sealed ring v1\x00\xff + v2" || v2 <= v1 {
		t.Errorf("after the second update: %q version %d (was %d)", data, v2, v1)
	}

	errStop := errors.New("stop")
	err = s.UpdateKeyRing(ctx, func(old []byte) ([]byte, error) { return []byte("nope"), errStop })
	wantErr(t, "UpdateKeyRing with an fn error", err, errStop)
	err = s.UpdateKeyRing(ctx, func(old []byte) ([]byte, error) { return nil, nil })
	wantErr(t, "UpdateKeyRing to an empty ring", err, store.ErrInvalid)
	data, v3, err := s.GetKeyRing(ctx)
	must(t, "GetKeyRing", err)
	if string(data) != "sealed ring v1\x00\xff + v2" || v3 != v2 {
		t.Errorf("aborted updates changed the ring: %q version %d (was %d)", data, v3, v2)
	}
}

func testKeyRingUpdateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, perWorker = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				err := s.UpdateKeyRing(ctx, func(old []byte) ([]byte, error) {
					return fmt.Appendf(old, "k%d.%d;", w, i), nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateKeyRing: %v", err)
	}
	data, version, err := s.GetKeyRing(ctx)
	must(t, "GetKeyRing", err)
	keys := strings.Split(strings.TrimSuffix(string(data), ";"), ";")
	if len(keys) != workers*perWorker {
		t.Errorf("key ring holds %d keys after %d concurrent additions: updates were lost", len(keys), workers*perWorker)
	}
	for w := range workers {
		for i := range perWorker {
			if !slices.Contains(keys, fmt.Sprintf("k%d.%d", w, i)) {
				t.Errorf("key k%d.%d lost", w, i)
			}
		}
	}
	if version != workers*perWorker {
		t.Errorf("version = %d after %d updates", version, workers*perWorker)
	}
}
