package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// memTrustStore is an in-memory store.TrustStore (CreatedAt kept on
// replace, as the contract says).
type memTrustStore struct {
	mu sync.Mutex
	m  map[string]store.TrustedIssuer
}

func (s *memTrustStore) PutTrustedIssuer(_ context.Context, t store.TrustedIssuer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[t.Issuer]; ok {
		t.CreatedAt = old.CreatedAt
	}
	s.m[t.Issuer] = t
	return nil
}

func (s *memTrustStore) GetTrustedIssuer(_ context.Context, iss string) (store.TrustedIssuer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[iss]
	if !ok {
		return t, store.ErrNotFound
	}
	return t, nil
}

func (s *memTrustStore) ListTrustedIssuers(context.Context) ([]store.TrustedIssuer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.TrustedIssuer, 0, len(s.m))
	for _, t := range s.m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Issuer < out[j].Issuer })
	return out, nil
}

func (s *memTrustStore) DeleteTrustedIssuer(_ context.Context, iss string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[iss]; !ok {
		return store.ErrNotFound
	}
	delete(s.m, iss)
	return nil
}

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
	ts := &memTrustStore{m: map[string]store.TrustedIssuer{}}
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
	got := ts.m[iss]
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
	got = ts.m[iss]
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
	ts := &memTrustStore{m: map[string]store.TrustedIssuer{}}
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
	if len(ts.m) != 0 {
		t.Fatalf("a refused registration was stored: %+v", ts.m)
	}
}

func TestTrustedIssuersUnavailable(t *testing.T) {
	e := newEnv(t)
	e.call(t, http.MethodGet, admin.PathTrustedIssuers, nil).wantError(t, http.StatusServiceUnavailable, admin.CodeServerError, "trusted issuers")
}
