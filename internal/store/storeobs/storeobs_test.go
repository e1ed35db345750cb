package storeobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storeobs"
	"github.com/writ-dev/writ/internal/store/storetest"
)

// recorder is an Observer that remembers each call it saw end.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	op  string
	err error
	ctx bool // the call ran with the context the observer returned
}

type ctxKey struct{}

func (r *recorder) observe(ctx context.Context, op string) (context.Context, func(error)) {
	ctx = context.WithValue(ctx, ctxKey{}, op)
	return ctx, func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, call{op: op, err: err, ctx: ctx.Value(ctxKey{}) == op})
	}
}

func memory(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance: the observed store is still a correct store (the
// conformance suite of every backend), so no generated method drops or
// reorders an argument or a result.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return storeobs.Wrap(memory(t), (&recorder{}).observe)
	})
}

func TestObservesEachCall(t *testing.T) {
	rec := &recorder{}
	second := &recorder{}
	st := storeobs.Wrap(memory(t), rec.observe, nil, second.observe)
	ctx := t.Context()
	if _, err := st.GetClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient: %v, want ErrNotFound", err)
	}
	if err := st.CreateClient(ctx, store.Client{ID: "c1", Name: "one", GrantTypes: []string{"client_credentials"}, Scopes: []string{"a"}, TokenEndpointAuthMethod: "client_secret_basic", SecretHash: make([]byte, 32)}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	for _, r := range []*recorder{rec, second} {
		if len(r.calls) != 2 {
			t.Fatalf("observed %d calls, want 2: %+v", len(r.calls), r.calls)
		}
		if c := r.calls[0]; c.op != "GetClient" || !errors.Is(c.err, store.ErrNotFound) || !c.ctx {
			t.Errorf("first call %+v, want GetClient with ErrNotFound and the observer's context", c)
		}
		if c := r.calls[1]; c.op != "CreateClient" || c.err != nil {
			t.Errorf("second call %+v, want CreateClient without error", c)
		}
	}
	if u, ok := st.(interface{ Unwrap() store.Store }); !ok || u.Unwrap() == nil {
		t.Error("the observed store does not unwrap to the backend")
	}
}

func TestWrapWithoutObservers(t *testing.T) {
	base := memory(t)
	if got := storeobs.Wrap(base, nil); got != base {
		t.Error("Wrap without observers should return the store itself")
	}
}

func TestOperations(t *testing.T) {
	ops := storeobs.Operations()
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op] {
			t.Errorf("operation %s listed twice", op)
		}
		seen[op] = true
	}
	for _, want := range []string{"GetClient", "RotateRefreshToken", "RedeemAuthCode", "Ping"} {
		if !seen[want] {
			t.Errorf("operation %s missing", want)
		}
	}
	if seen["Close"] {
		t.Error("Close takes no context and should not be observed")
	}
}

// BenchmarkGetClient is the cost of observing a store call (the metrics'
// observer), against the bare SQLite store.
func BenchmarkGetClient(b *testing.B) {
	s, err := sqlite.Open(b.Context(), sqlite.MemoryPath)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateClient(b.Context(), store.Client{ID: "c1", Name: "one", GrantTypes: []string{"client_credentials"}, Scopes: []string{"a"}, TokenEndpointAuthMethod: "client_secret_basic", SecretHash: make([]byte, 32)}); err != nil {
		b.Fatal(err)
	}
	timed := func(ctx context.Context, op string) (context.Context, func(error)) {
		return ctx, func(error) {}
	}
	for _, bc := range []struct {
		name string
		st   store.Store
	}{{"bare", s}, {"observed", storeobs.Wrap(s, timed)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.st.GetClient(b.Context(), "c1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
