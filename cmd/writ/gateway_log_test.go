package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records each write to it, and signals it.
type writes struct {
	mu    sync.Mutex
	all   []string
	wrote chan struct{}
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.all = append(w.all, string(p))
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *writes) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.all...)
}

func TestGatewayLogKeepsLinesWhole(t *testing.T) {
	w := &writes{wrote: make(chan struct{}, 1)}
	b := newLineBuffer(w, 16)
	for _, l := range []string{"aaaaa\n", "bbbbb\n", "ccccc\n", strings.Repeat("d", 20) + "\n", "e\n"} {
		if _, err := b.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is lost or split: every write holds whole lines, except a
	// line longer than the buffer.
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	got := w.get()
	want := []string{"aaaaa\nbbbbb\n", "ccccc\n", strings.Repeat("d", 20) + "\n", "e\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("writes %q, want %q", got, want)
	}
}

func TestGatewayLogFlushes(t *testing.T) {
	w := &writes{wrote: make(chan struct{}, 1)}
	buf := newLineBuffer(w, 1<<10)
	log := slog.New(flushingHandler{Handler: slog.NewJSONHandler(buf, nil), buf: buf})
	log.Info("decision", "n", 1)
	if got := w.get(); len(got) != 0 {
		t.Fatalf("an info line was written at once: %q", got)
	}
	// A tick flushes.
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); buf.flushEvery(ctx, tick) }()
	tick <- time.Time{}
	<-w.wrote
	if got := w.get(); len(got) != 1 || !strings.Contains(got[0], `"n":1`) {
		t.Fatalf("after a tick: %q", got)
	}
	// A warning is written at once, with what was buffered before it.
	log.Info("decision", "n", 2)
	log.With("k", "v").Warn("upstream request failed")
	if got := w.get(); len(got) != 2 || !strings.Contains(got[1], `"n":2`) || !strings.Contains(got[1], `"level":"WARN"`) {
		t.Fatalf("after a warning: %q", got)
	}
	// Any other message (a reload, a start) is written at once too.
	log.Info("decision", "n", 4)
	log.Info("route file reloaded")
	if got := w.get(); len(got) != 3 || !strings.Contains(got[2], `"n":4`) || !strings.Contains(got[2], "route file reloaded") {
		t.Fatalf("after an info line that is not a decision: %q", got)
	}
	// Stopping flushes what is left.
	log.Info("decision", "n", 3)
	cancel()
	<-done
	if got := w.get(); len(got) != 4 || !strings.Contains(got[3], `"n":3`) {
		t.Fatalf("after stopping: %q", got)
	}
}

func TestGatewayLogStopWritesAll(t *testing.T) {
	var out bytes.Buffer
	log, stop := bufferedJSONLog(&out, slog.LevelInfo)
	for i := range 1000 {
		log.Info("decision", "i", i)
	}
	stop()
	if n := strings.Count(out.String(), "\n"); n != 1000 {
		t.Fatalf("%d lines written, want 1000", n)
	}
}
