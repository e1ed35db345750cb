package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storetest"
	"github.com/writ-dev/writ/jose"
)

func publicJWKS(t *testing.T, alg jose.Algorithm) json.RawMessage {
	t.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.NewKeySet(k.Public()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTrustedIssuers(t *testing.T) {
	ts := storetest.NewTrustMap()
	cache := &fakeCache{}
	e := newEnv(t, func(o *admin.Options) { o.TrustedIssuers = ts; o.TrustCache = cache })
	const iss = "https://idp.example.test"
	path := admin.PathTrustedIssuers + "/" + url.PathEscape(iss)
	jwks := publicJWKS(t, jose.ES256)
	body := map[string]any{
		"issuer": iss, "jwks": jwks, "uses": []string{"id_jag", "jwt_bearer"},
		"rules": []map[string]any{{"client_id": "svc", "audiences": []string{"https://api.example.test"}, "scopes": []string{"read"}}, {"client_id": "*"}},
	}
	r := e.call(t, http.MethodPost, admin.PathTrustedIssuers, body)
	if r.status != http.StatusCreated || r.header.Get("Location") != path {
		t.Fatalf("create: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	got, _ := ts.GetTrustedIssuer(t.Context(), iss)
	if !slices.Equal(got.Uses, []string{"id_jag", "jwt_bearer"}) || len(got.Rules) != 2 || got.Rules[0].ClientID != "svc" ||
		got.CreatedAt.IsZero() || len(got.JWKS) == 0 {
		t.Fatalf("stored %+v", got)
	}
	if cache.count(iss) != 1 {
		t.Errorf("invalidations %q", cache.calls())
	}
	e.call(t, http.MethodPost, admin.PathTrustedIssuers, body).wantError(t, http.StatusConflict, admin.CodeConflict, "already registered")

	r = e.call(t, http.MethodGet, path, nil)
	if r.status != http.StatusOK || r.json(t)["issuer"] != iss {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodGet, admin.PathTrustedIssuers, nil)
	var list admin.TrustedIssuersResponse
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.TrustedIssuers) != 1 || list.TrustedIssuers[0].Rules[1].ClientID != "*" {
		t.Fatalf("list: %s", r.body)
	}

	created := got.CreatedAt
	e.advance(time.Minute)
	r = e.call(t, http.MethodPut, path, map[string]any{"jwks_uri": "https://idp.example.test/jwks", "uses": []string{"jwt_bearer"}})
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	got, _ = ts.GetTrustedIssuer(t.Context(), iss)
	if got.JWKSURI == "" || len(got.JWKS) != 0 || len(got.Rules) != 0 || !got.CreatedAt.Equal(created) || !got.UpdatedAt.After(created) {
		t.Fatalf("replaced %+v", got)
	}
	e.call(t, http.MethodPut, path, map[string]any{"issuer": "https://other.example", "jwks": jwks, "uses": []string{"jwt_bearer"}}).
		wantError(t, http.StatusBadRequest, admin.CodeInvalidRequest, "path")
	e.call(t, http.MethodPut, admin.PathTrustedIssuers+"/"+url.PathEscape("https://nope.example"), map[string]any{"jwks": jwks, "uses": []string{"jwt_bearer"}}).
		wantError(t, http.StatusNotFound, admin.CodeNotFound, "no trusted issuer")

	if r := e.call(t, http.MethodDelete, path, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.call(t, http.MethodDelete, path, nil).wantError(t, http.StatusNotFound, admin.CodeNotFound, "no trusted issuer")
	e.call(t, http.MethodGet, path, nil).wantError(t, http.StatusNotFound, admin.CodeNotFound, "no trusted issuer")
	if cache.count(iss) != 3 {
		t.Errorf("invalidations %q", cache.calls())
	}
}

func TestTrustedIssuerValidation(t *testing.T) {
	ts := storetest.NewTrustMap()
	e := newEnv(t, func(o *admin.Options) { o.TrustedIssuers = ts })
	jwks := publicJWKS(t, jose.ES256)
	priv, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	privJWKS, _ := json.Marshal(map[string]any{"keys": []any{priv}})
	hsJWKS, _ := json.Marshal(map[string]any{"keys": []any{json.RawMessage(`{"kty":"oct","alg":"HS256","k":"` + strings.Repeat("A", 43) + `"}`)}})
	base := func(over map[string]any) map[string]any {
		m := map[string]any{"issuer": "https://idp.example.test", "jwks": jwks, "uses": []string{"jwt_bearer"}}
		for k, v := range over {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name string
		body any
		desc string
	}{
		{"no issuer", base(map[string]any{"issuer": nil}), "issuer is required"},
		{"relative issuer", base(map[string]any{"issuer": "idp"}), "absolute URI"},
		{"neither keys", base(map[string]any{"jwks": nil}), "exactly one"},
		{"both keys", base(map[string]any{"jwks_uri": "https://idp.example.test/jwks"}), "exactly one"},
		{"http jwks_uri", base(map[string]any{"jwks": nil, "jwks_uri": "http://idp.example.test/jwks"}), "https"},
		{"bad jwks", base(map[string]any{"jwks": map[string]any{"keys": "x"}}), "JWK Set"},
		{"private jwks", base(map[string]any{"jwks": json.RawMessage(privJWKS)}), "private"},
		{"symmetric jwks", base(map[string]any{"jwks": json.RawMessage(hsJWKS)}), "JWK Set"},
		{"no uses", base(map[string]any{"uses": []string{}}), "at least one"},
		{"unknown use", base(map[string]any{"uses": []string{"everything"}}), "unknown"},
		{"repeated use", base(map[string]any{"uses": []string{"id_jag", "id_jag"}}), "repeats"},
		{"unknown field", base(map[string]any{"colour": "red"}), "unknown field"},
		{"server field", base(map[string]any{"created_at": "2020-01-01T00:00:00Z"}), "cannot be set"},
		{"rule without client", base(map[string]any{"rules": []map[string]any{{"scopes": []string{"a"}}}}), "client_id"},
		{"rule unknown member", base(map[string]any{"rules": []map[string]any{{"client_id": "a", "scope": "a"}}}), "rules must be"},
		{"rule bad audience", base(map[string]any{"rules": []map[string]any{{"client_id": "a", "audiences": []string{"/rel"}}}}), "absolute URI"},
		{"rule bad scope", base(map[string]any{"rules": []map[string]any{{"client_id": "a", "scopes": []string{"a b"}}}}), "scopes"},
		{"duplicate member", `{"issuer":"https://a.example","issuer":"https://b.example"}`, "repeats"},
		{"not an object", `[]`, "JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, http.MethodPost, admin.PathTrustedIssuers, tc.body).wantError(t, http.StatusBadRequest, admin.CodeInvalidRequest, tc.desc)
		})
	}
	if n := ts.Len(); n != 0 {
		t.Fatalf("%d refused registrations were stored", n)
	}
}

func TestTrustedIssuersUnavailable(t *testing.T) {
	e := newEnv(t)
	e.call(t, http.MethodGet, admin.PathTrustedIssuers, nil).wantError(t, http.StatusServiceUnavailable, admin.CodeServerError, "trusted issuers")
}

// barrierTrust holds every GetTrustedIssuer's answer until all the racers
// have read, so that a check-then-write handler is caught in its window.
type barrierTrust struct {
	store.TrustStore
	arrived *sync.WaitGroup
}

func (b barrierTrust) GetTrustedIssuer(ctx context.Context, iss string) (store.TrustedIssuer, error) {
	t, err := b.TrustStore.GetTrustedIssuer(ctx, iss)
	b.arrived.Done()
	b.arrived.Wait()
	return t, err
}

// TestTrustedIssuerCreateRace: registrations of one issuer at once on the
// real store give one 201 and conflicts, and what is stored is the
// winner's. A handler that checks for the issuer and then writes it lets
// every racer pass the check (the barrier holds them all there) and the
// last write silently replace the others.
func TestTrustedIssuerCreateRace(t *testing.T) {
	const racers = 6
	var arrived sync.WaitGroup
	arrived.Add(racers)
	e := newEnv(t, func(o *admin.Options) {
		o.TrustedIssuers = barrierTrust{TrustStore: o.Store.(store.TrustStore), arrived: &arrived}
	})
	const iss = "https://race.example.test"
	statuses := make([]int, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			r, err := e.do(http.MethodPost, admin.PathTrustedIssuers, map[string]any{
				"issuer": iss, "jwks_uri": fmt.Sprintf("https://race.example.test/jwks-%d", i), "uses": []string{"jwt_bearer"}},
				map[string]string{"Authorization": "Bearer " + testToken})
			if err != nil {
				t.Error(err)
			}
			statuses[i] = r.status
		})
	}
	wg.Wait()
	winner := -1
	for i, s := range statuses {
		switch {
		case s == http.StatusCreated && winner < 0:
			winner = i
		case s != http.StatusConflict:
			t.Fatalf("statuses %v: want one 201 and the rest 409", statuses)
		}
	}
	if winner < 0 {
		t.Fatalf("statuses %v: no registration succeeded", statuses)
	}
	got, err := e.store.GetTrustedIssuer(t.Context(), iss)
	if err != nil || got.JWKSURI != fmt.Sprintf("https://race.example.test/jwks-%d", winner) {
		t.Fatalf("stored %+v, %v; want registration %d's", got, err, winner)
	}
}
