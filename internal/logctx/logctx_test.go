package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/logctx"
)

type idKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, nil), logctx.Field{Key: "request_id", Value: requestID}))
	ctx := context.WithValue(context.Background(), idKey{}, "req-1")
	tests := []struct {
		name string
		log  func()
		want string // the request_id of the line, "" for none
	}{
		{"with context", func() { log.InfoContext(ctx, "a") }, "req-1"},
		{"without", func() { log.Info("b") }, ""},
		{"record sets its own", func() { log.InfoContext(ctx, "c", "request_id", "own") }, "own"},
		{"after With", func() { log.With("k", "v").InfoContext(ctx, "d") }, "req-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			tt.log()
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("line %q: %v", buf.String(), err)
			}
			got, _ := m["request_id"].(string)
			if got != tt.want {
				t.Errorf("request_id = %q, want %q (line %s)", got, tt.want, buf.String())
			}
			if n := strings.Count(buf.String(), `"request_id"`); n > 1 {
				t.Errorf("request_id appears %d times: %s", n, buf.String())
			}
		})
	}
}

func TestEnabledFollowsNext(t *testing.T) {
	h := logctx.NewHandler(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info enabled under a warn handler")
	}
}
