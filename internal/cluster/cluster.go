// Package cluster keeps the in-memory state of several writ nodes on one
// PostgreSQL database in step: a change to a cached record (a client, a
// trusted issuer, the signing key ring) committed by one node reaches every
// other node as a notification, and each node drops or reloads what it
// cached.
//
// The notifications come from a Feed: the PostgreSQL store's LISTEN on a
// dedicated connection, fed by triggers that send NOTIFY in the transaction
// of the change, so that a notification is delivered when, and only when,
// the change commits. A Node runs the feed, reconnects when it fails, and
// calls the handlers registered for each topic. While the feed is down no
// notification arrives: each cache then falls back to its own polling bound
// (the client and trusted-issuer caches' lifetimes, the key ring's poll
// interval), and when the feed is back every handler is called once with
// the empty key ("everything may have changed"), because notifications sent
// while it was down are lost.
//
// A single node (SQLite) needs none of this and runs no Node.
package cluster

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Topics of notifications: the tables whose rows nodes cache. The key of a
// notification is the row's primary key; the empty key means every row.
const (
	// TopicClients: a client registration changed (key: client_id).
	TopicClients = "clients"
	// TopicTrustedIssuers: a trusted external issuer changed (key: issuer).
	TopicTrustedIssuers = "trusted_issuers"
	// TopicKeyRing: the signing key ring changed (key: empty).
	TopicKeyRing = "key_ring"
)

// Feed delivers change notifications. The PostgreSQL store implements it.
type Feed interface {
	// Listen subscribes to changes, calls subscribed once the
	// subscription is in place, then calls deliver for each change (topic
	// and key) until ctx ends, when it returns ctx's error, or until the
	// subscription fails, when it returns why. deliver and subscribed are
	// called from Listen's goroutine.
	Listen(ctx context.Context, subscribed func(), deliver func(topic, key string)) error
}

// Handler is called with the key of a changed record of its topic, or with
// the empty key when any record of the topic may have changed. It must not
// block for long: notifications are delivered one after another.
type Handler func(key string)

// Options adjust a Node. The zero value is usable.
type Options struct {
	// Logger receives the feed's failures and recoveries; nil discards them.
	Logger *slog.Logger
	// RetryMin and RetryMax bound the wait before the feed is subscribed
	// again after a failure (doubling from RetryMin); zero means
	// DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
}

// Default reconnection waits.
const (
	DefaultRetryMin = 250 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
)

// Node dispatches a Feed's notifications to the handlers of their topics.
type Node struct {
	feed Feed
	log  *slog.Logger
	min  time.Duration
	max  time.Duration

	mu       sync.RWMutex
	handlers map[string][]Handler

	listening  atomic.Bool
	delivered  atomic.Uint64
	subscribes atomic.Uint64
}

// New returns a Node on feed; register handlers with Handle, then Run it.
func New(feed Feed, o Options) *Node {
	n := &Node{feed: feed, log: o.Logger, min: o.RetryMin, max: o.RetryMax, handlers: map[string][]Handler{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.min <= 0 {
		n.min = DefaultRetryMin
	}
	if n.max < n.min {
		n.max = max(DefaultRetryMax, n.min)
	}
	return n
}

// Handle registers h for the notifications of topic.
func (n *Node) Handle(topic string, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[topic] = append(n.handlers[topic], h)
}

// Listening reports whether the feed is subscribed now: while it is not,
// changes of other nodes arrive only within the caches' polling bounds.
func (n *Node) Listening() bool { return n.listening.Load() }

// Stats are counters of a Node, for logs and metrics.
type Stats struct {
	// Delivered counts the notifications dispatched.
	Delivered uint64
	// Subscribes counts the successful subscriptions of the feed: more
	// than one means it failed and was subscribed again.
	Subscribes uint64
}

// Stats returns the Node's counters.
func (n *Node) Stats() Stats {
	return Stats{Delivered: n.delivered.Load(), Subscribes: n.subscribes.Load()}
}

// Run subscribes the feed and dispatches its notifications until ctx ends,
// subscribing again after each failure (waiting RetryMin, doubling up to
// RetryMax). Each successful subscription calls every handler once with
// the empty key: what changed while the feed was down is not known.
func (n *Node) Run(ctx context.Context) {
	wait := n.min
	for {
		err := n.feed.Listen(ctx, func() {
			n.listening.Store(true)
			if n.subscribes.Add(1) > 1 {
				n.log.Info("cluster: change notifications restored; caches flushed")
			}
			wait = n.min
			n.resync()
		}, n.dispatch)
		n.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("cluster: change notifications lost; caches fall back to their polling bounds until they are restored",
			"error", err, "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, n.max)
	}
}

// dispatch calls the handlers of topic with key; unknown topics are ignored.
func (n *Node) dispatch(topic, key string) {
	n.delivered.Add(1)
	n.mu.RLock()
	hs := n.handlers[topic]
	n.mu.RUnlock()
	for _, h := range hs {
		h(key)
	}
}

// resync calls every handler with the empty key.
func (n *Node) resync() {
	n.mu.RLock()
	var all []Handler
	for _, hs := range n.handlers {
		all = append(all, hs...)
	}
	n.mu.RUnlock()
	for _, h := range all {
		h("")
	}
}
