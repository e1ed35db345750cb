package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// decisionMessage is the message of the gateway's decision log lines
// (internal/gateway's logDecision).
const decisionMessage = "decision"

// logBufferSize is the decision log's buffer: a few hundred lines.
const logBufferSize = 64 << 10

// logFlushInterval bounds how long a buffered line waits.
const logFlushInterval = 100 * time.Millisecond

// lineBuffer batches whole log lines (one Write each, as slog's handlers
// make them) into few writes to w. When the buffer is full, the writer
// blocks on the write to w rather than dropping lines: the decision log is
// an audit trail, and a slow log sink slowing the gateway is safer than
// decisions missing from it. Lines reach w when the buffer fills, at each
// tick of the flusher, after every record at warning level or above (see
// flushingHandler) and on Close.
type lineBuffer struct {
	mu  sync.Mutex
	buf *bufio.Writer
}

func newLineBuffer(w io.Writer, size int) *lineBuffer {
	return &lineBuffer{buf: bufio.NewWriterSize(w, size)}
}

// Write buffers p; a line that does not fit in what is left of the buffer
// first flushes it, so that a line is not split across writes to w.
func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(p) > b.buf.Available() && b.buf.Buffered() > 0 {
		if err := b.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return b.buf.Write(p)
}

// Flush writes the buffered lines to w.
func (b *lineBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// flushEvery flushes b at each tick until ctx ends, then once more.
func (b *lineBuffer) flushEvery(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			_ = b.Flush()
			return
		case <-tick:
			_ = b.Flush()
		}
	}
}

// flushingHandler flushes the line buffer after each record at warning
// level or above, and after every record that is not a decision (start,
// reload, shutdown: rare, and awaited by whoever watches the log), so
// that they are seen at once; decisions below warning, the bulk of the
// log, wait for the next flush.
type flushingHandler struct {
	slog.Handler
	buf *lineBuffer
}

// Handle implements slog.Handler.
func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn || r.Message != decisionMessage {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs implements slog.Handler.
func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithAttrs(attrs), buf: h.buf}
}

// WithGroup implements slog.Handler.
func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithGroup(name), buf: h.buf}
}

// bufferedJSONLog returns a JSON logger writing to w through a line
// buffer, and a function that stops the flusher and writes what is left;
// it must be called before the process exits.
func bufferedJSONLog(w io.Writer, level slog.Level) (*slog.Logger, func()) {
	buf := newLineBuffer(w, logBufferSize)
	ctx, cancel := context.WithCancel(context.Background())
	ticker := time.NewTicker(logFlushInterval)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf.flushEvery(ctx, ticker.C)
	}()
	h := flushingHandler{Handler: slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}), buf: buf}
	return slog.New(h), func() {
		ticker.Stop()
		cancel()
		<-done
	}
}
