package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// slowClients is a ClientGetter whose reads can be held until released,
// counting them.
type slowClients struct {
	mu    sync.Mutex
	reads int
	name  string
	hold  chan struct{} // when set, a read waits for it to close
	began chan struct{}
}

func (s *slowClients) GetClient(ctx context.Context, id string) (store.Client, error) {
	s.mu.Lock()
	s.reads++
	name, hold, began := s.name, s.hold, s.began
	s.mu.Unlock()
	if hold != nil {
		close(began)
		<-hold
	}
	return store.Client{ID: id, Name: name}, nil
}

// TestClientCacheInvalidationRace: a read that began before an
// invalidation may carry the old registration; it is returned to its
// caller but not cached, so the next lookup reads the store again.
func TestClientCacheInvalidationRace(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &slowClients{name: "old", hold: make(chan struct{}), began: make(chan struct{})}
	cc := NewClientCache(src, time.Hour, func() time.Time { return now })
	done := make(chan store.Client)
	go func() {
		c, _ := cc.GetClient(context.Background(), "c1")
		done <- c
	}()
	<-src.began
	// The change commits and is announced while the old value is in flight.
	src.mu.Lock()
	release := src.hold
	src.name, src.hold = "new", nil
	src.mu.Unlock()
	cc.Invalidate("c1")
	close(release)
	if c := <-done; c.Name != "old" {
		t.Fatalf("in-flight read: %q", c.Name)
	}
	c, _ := cc.GetClient(context.Background(), "c1")
	if c.Name != "new" || src.reads != 2 {
		t.Fatalf("after the invalidation: %q after %d reads, want the new registration from a second read", c.Name, src.reads)
	}
	// Now it is cached; InvalidateAll drops it too.
	cc.GetClient(context.Background(), "c1")
	if src.reads != 2 {
		t.Fatalf("%d reads, want the cached registration", src.reads)
	}
	cc.InvalidateAll()
	cc.GetClient(context.Background(), "c1")
	if src.reads != 3 {
		t.Fatalf("%d reads after InvalidateAll, want 3", src.reads)
	}
}
