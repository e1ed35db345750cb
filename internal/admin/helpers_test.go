package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

const testToken = "test-admin-token-0123456789abcdef"

// fakeCache records invalidations.
type fakeCache struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeCache) Invalidate(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
}

func (f *fakeCache) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func (f *fakeCache) count(id string) int {
	n := 0
	for _, v := range f.calls() {
		if v == id {
			n++
		}
	}
	return n
}

// fakeKeys is a KeyManager with canned entries and errors.
type fakeKeys struct {
	mu      sync.Mutex
	entries []keys.Entry
	err     error
	forced  []bool
}

func (f *fakeKeys) RotateKeys(_ context.Context, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forced = append(f.forced, force)
	if f.err != nil {
		return f.err
	}
	// Promote: active -> retired, next -> active.
	for i := range f.entries {
		switch f.entries[i].State {
		case keys.Active:
			f.entries[i].State = keys.Retired
		case keys.Next:
			f.entries[i].State = keys.Active
		}
	}
	return nil
}

func (f *fakeKeys) calls() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.forced...)
}

func (f *fakeKeys) KeyEntries() []keys.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]keys.Entry(nil), f.entries...)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is an admin API over a real SQLite store.
type env struct {
	srv    *httptest.Server
	store  store.Store
	hasher *oauth.SecretHasher
	cache  *fakeCache
	keys   *fakeKeys
	logs   *syncBuffer

	mu  sync.Mutex
	now time.Time
}

// clock returns the handler's current time.
func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// advance moves the handler's clock forward.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T, mutate ...func(*admin.Options)) *env {
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
	hasher, err := oauth.NewSecretHasher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		store: st, hasher: hasher, cache: &fakeCache{}, keys: &fakeKeys{}, logs: &syncBuffer{},
		now: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
	}
	o := admin.Options{
		Token:   testToken,
		Store:   st,
		Hasher:  hasher,
		Clients: e.cache,
		Keys:    e.keys,
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     e.clock,
	}
	for _, m := range mutate {
		m(&o)
	}
	e.srv = httptest.NewServer(admin.NewHandler(o))
	t.Cleanup(e.srv.Close)
	return e
}

// response is what one call returned.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// wantError checks an error response.
func (r response) wantError(t *testing.T, status int, code, desc string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	m := r.json(t)
	if m["error"] != code {
		t.Fatalf("error %v, want %q: %s", m["error"], code, r.body)
	}
	if d, _ := m["error_description"].(string); !strings.Contains(d, desc) {
		t.Fatalf("error_description %q does not mention %q", d, desc)
	}
}

// call sends a request with the test token. body may be nil, a string
// (sent verbatim) or a value encoded as JSON.
func (e *env) call(t *testing.T, method, path string, body any) response {
	t.Helper()
	return e.callWith(t, method, path, body, map[string]string{"Authorization": "Bearer " + testToken})
}

func (e *env) callWith(t *testing.T, method, path string, body any, hdr map[string]string) response {
	t.Helper()
	r, err := e.do(method, path, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do is callWith without a testing.T, for goroutines.
func (e *env) do(method, path string, body any, hdr map[string]string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// storeListAll lists every client of a test store.
func storeListAll() store.ListOptions { return store.ListOptions{Limit: store.MaxListLimit} }

// create registers a client and returns the response body.
func (e *env) create(t *testing.T, body any) map[string]any {
	t.Helper()
	r := e.call(t, http.MethodPost, "/admin/clients", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", r.status, r.body)
	}
	return r.json(t)
}

// m2m is a minimal machine-to-machine registration.
func m2m(extra map[string]any) map[string]any {
	m := map[string]any{"client_name": "billing", "grant_types": []string{"client_credentials"}, "scope": "orders:read orders:write"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
