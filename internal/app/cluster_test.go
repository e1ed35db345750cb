package app_test

import (
	"encoding/base64"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// TestScheduledRotationOnce: three nodes on one database find the active
// key due at the same moment; exactly one rotation happens, and every node
// ends up with the same ring.
func TestScheduledRotationOnce(t *testing.T) {
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	clock := clocktest.Default()
	env := func() map[string]string {
		return map[string]string{
			"WRIT_DATA_DIR":              filepath.Join(t.TempDir(), "data"),
			"WRIT_DATABASE":              dsn,
			"WRIT_ADDR":                  "127.0.0.1:0",
			"WRIT_ADMIN_ADDR":            "127.0.0.1:0",
			"WRIT_MASTER_KEY":            base64.StdEncoding.EncodeToString(make([]byte, 32)),
			"WRIT_ADMIN_TOKEN":           strings.Repeat("r", 40),
			"WRIT_KEY_ROTATION":          "1h",
			"WRIT_CLUSTER_POLL_INTERVAL": "1m", // the test drives the step itself
		}
	}
	var nodes []*app.App
	for range 3 {
		nodes = append(nodes, apptest.Start(t, env(), app.Options{Announce: io.Discard, Now: clock.Now}))
	}
	for _, n := range nodes[1:] {
		if err := n.RotateIfDue(t.Context()); err != nil { // not due: nothing
			t.Fatal(err)
		}
	}
	before := nodes[0].Ring.Entries()
	clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			if err := n.RotateIfDue(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// The nodes that did not rotate reload the ring through the change
	// notification.
	algs := len(nodes[0].Ring.Algorithms())
	want := len(before) + algs
	for i, n := range nodes {
		deadline := time.Now().Add(30 * time.Second) // a guard against a hang
		for len(n.Ring.Entries()) != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got := n.Ring.Entries()
		retired := 0
		for _, e := range got {
			if e.State == keys.Retired {
				retired++
			}
		}
		if len(got) != want || retired != algs {
			t.Fatalf("node %d after one due rotation on three nodes: %d keys (%d retired), want %d (%d retired): %v", i, len(got), retired, want, algs, got)
		}
		if got[0].KeyID() != nodes[0].Ring.Entries()[0].KeyID() {
			t.Fatalf("node %d signs with %s, node 0 with %s", i, got[0].KeyID(), nodes[0].Ring.Entries()[0].KeyID())
		}
	}
}
