package cluster_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cluster"
)

// fakeFeed is a Feed whose subscriptions the test drives: each Listen
// takes the next script from sessions and plays it.
type fakeFeed struct {
	sessions chan session
}

// session is one subscription: the notifications it delivers, then the
// error it fails with (nil: it stays subscribed until ctx ends).
type session struct {
	notes []string // "topic:key"
	fail  error
	done  chan struct{} // closed after the notes were delivered
}

func (f *fakeFeed) Listen(ctx context.Context, subscribed func(), deliver func(topic, key string)) error {
	var s session
	select {
	case s = <-f.sessions:
	case <-ctx.Done():
		return ctx.Err()
	}
	subscribed()
	for _, n := range s.notes {
		topic, key, _ := cutColon(n)
		deliver(topic, key)
	}
	close(s.done)
	if s.fail != nil {
		return s.fail
	}
	<-ctx.Done()
	return ctx.Err()
}

func cutColon(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// recorder collects what a handler was called with.
type recorder struct {
	mu   sync.Mutex
	keys []string
}

func (r *recorder) handle(key string) {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

func TestNodeDispatchAndResync(t *testing.T) {
	feed := &fakeFeed{sessions: make(chan session)}
	n := cluster.New(feed, cluster.Options{RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	var clients, ring recorder
	n.Handle(cluster.TopicClients, clients.handle)
	n.Handle(cluster.TopicKeyRing, ring.handle)
	if n.Listening() {
		t.Fatal("listening before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { n.Run(ctx); close(stopped) }()

	// First subscription: a resync (empty key) to every handler, then
	// the notifications of each topic to its handlers only; an unknown
	// topic is ignored.
	s1 := session{notes: []string{"clients:c1", "other:x", "key_ring:", "clients:c2"}, fail: errors.New("connection reset"), done: make(chan struct{})}
	feed.sessions <- s1
	<-s1.done
	// It failed: after the retry, the second subscription resyncs again,
	// because what happened while it was down is lost.
	s2 := session{notes: []string{"clients:c3"}, done: make(chan struct{})}
	feed.sessions <- s2
	<-s2.done
	if !n.Listening() {
		t.Error("not listening while subscribed")
	}
	if got, want := clients.got(), []string{"", "c1", "c2", "", "c3"}; !slices.Equal(got, want) {
		t.Errorf("client handler got %q, want %q", got, want)
	}
	if got, want := ring.got(), []string{"", "", ""}; !slices.Equal(got, want) {
		t.Errorf("key ring handler got %q, want %q", got, want)
	}
	st := n.Stats()
	if st.Subscribes != 2 || st.Delivered != 5 {
		t.Errorf("stats %+v, want 2 subscribes and 5 delivered", st)
	}
	cancel()
	<-stopped
	if n.Listening() {
		t.Error("listening after Run returned")
	}
}

// A feed that cannot subscribe keeps being retried, and Run still ends with
// its context.
func TestNodeRetriesUntilCancelled(t *testing.T) {
	calls := make(chan struct{})
	feed := feedFunc(func(ctx context.Context, subscribed func(), deliver func(string, string)) error {
		select {
		case calls <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return errors.New("connection refused")
	})
	n := cluster.New(feed, cluster.Options{RetryMin: time.Microsecond, RetryMax: 2 * time.Microsecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	for i := range 3 {
		select {
		case <-calls:
		case <-time.After(30 * time.Second): // a guard against a hang
			t.Fatalf("the feed was subscribed %d times, want 3 attempts", i)
		}
	}
	if n.Listening() {
		t.Error("listening without a subscription")
	}
	cancel()
	<-done
}

type feedFunc func(ctx context.Context, subscribed func(), deliver func(string, string)) error

func (f feedFunc) Listen(ctx context.Context, subscribed func(), deliver func(string, string)) error {
	return f(ctx, subscribed, deliver)
}
