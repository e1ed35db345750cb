package admin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// ringEntries returns an active and a next key, with their private halves
// (the listing must never show them).
func ringEntries(t *testing.T) []keys.Entry {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []keys.Entry
	for i, st := range []keys.State{keys.Active, keys.Next} {
		k, err := jose.GenerateKey(jose.ES256, jose.WithKeyID(fmt.Sprint("kid-", i)))
		if err != nil {
			t.Fatal(err)
		}
		e := keys.Entry{Key: k, State: st, CreatedAt: t0}
		if st == keys.Active {
			e.ActivatedAt = t0.Add(time.Hour)
		}
		out = append(out, e)
	}
	return out
}

func TestAdminKeyList(t *testing.T) {
	e := newEnv(t)
	e.keys.entries = ringEntries(t)
	r := e.call(t, http.MethodGet, "/admin/keys", nil)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`} {
		if strings.Contains(string(r.body), private) {
			t.Fatalf("the listing holds private member %s: %s", private, r.body)
		}
	}
	var got admin.KeysResponse
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 2 {
		t.Fatalf("%d keys, want 2", len(got.Keys))
	}
	a := got.Keys[0]
	if a.KeyID != "kid-0" || a.Algorithm != jose.ES256 || a.State != "active" || a.PublicJWK == nil || a.PublicJWK.IsPrivate() {
		t.Fatalf("active key %+v", a)
	}
	if !a.ActivatedAt.Equal(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("activated_at %v", a.ActivatedAt)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(r.body, &raw)
	if _, ok := raw.Keys[1]["activated_at"]; ok {
		t.Fatalf("a next key shows activated_at: %v", raw.Keys[1])
	}
	for _, k := range []string{"kid", "alg", "state", "created_at", "public_jwk"} {
		if _, ok := raw.Keys[1][k]; !ok {
			t.Fatalf("key listing lacks %s: %v", k, raw.Keys[1])
		}
	}
}

func TestAdminKeyRotate(t *testing.T) {
	tests := []struct {
		name   string
		body   any
		err    error
		status int
		code   string
		desc   string
		force  []bool
	}{
		{"no body", nil, nil, 200, "", "", []bool{false}},
		{"empty object", "{}", nil, 200, "", "", []bool{false}},
		{"force", `{"force":true}`, nil, 200, "", "", []bool{true}},
		{"force false", `{"force":false}`, nil, 200, "", "", []bool{false}},
		{"too early", nil, fmt.Errorf("rotate: %w", keys.ErrTooEarly), 409, "conflict", "retry later or use --force", []bool{false}},
		{"ring full", nil, keys.ErrRingFull, 409, "conflict", "full", []bool{false}},
		{"store conflict", nil, fmt.Errorf("x: %w", store.ErrConflict), 503, "temporarily_unavailable", "retry", []bool{false}},
		{"unexpected", nil, errors.New("disk on fire"), 500, "server_error", "could not complete", []bool{false}},
		{"unknown field", `{"forse":true}`, nil, 400, "invalid_request", "unknown field", nil},
		{"force not bool", `{"force":"yes"}`, nil, 400, "invalid_request", "true or false", nil},
		{"not an object", `[true]`, nil, 400, "invalid_request", "JSON object", nil},
		{"duplicate", `{"force":false,"force":true}`, nil, 400, "invalid_request", "repeats", nil},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.keys.mu.Lock()
			e.keys.entries, e.keys.err, e.keys.forced = ringEntries(t), tt.err, nil
			e.keys.mu.Unlock()
			r := e.call(t, http.MethodPost, "/admin/keys/rotate", tt.body)
			if got := e.keys.calls(); !slices.Equal(got, tt.force) {
				t.Fatalf("RotateKeys calls %v, want %v", got, tt.force)
			}
			if tt.code != "" {
				r.wantError(t, tt.status, tt.code, tt.desc)
				if strings.Contains(string(r.body), "disk on fire") {
					t.Fatal("an internal error leaked to the caller")
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got admin.KeysResponse
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Keys[0].State != "retired" || got.Keys[1].State != "active" {
				t.Fatalf("the response is not the listing after rotation: %s", r.body)
			}
			if !strings.Contains(e.logs.String(), "signing keys rotated") {
				t.Fatal("the rotation was not logged")
			}
		})
	}
}

func TestAdminKeysUnavailable(t *testing.T) {
	e := newEnv(t, func(o *admin.Options) { o.Keys = nil })
	e.call(t, http.MethodGet, "/admin/keys", nil).wantError(t, 503, "server_error", "not available")
	e.call(t, http.MethodPost, "/admin/keys/rotate", nil).wantError(t, 503, "server_error", "not available")
}
