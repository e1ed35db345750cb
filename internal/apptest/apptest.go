// Package apptest starts a real writ node in-process for end-to-end tests
// of other packages: configuration from a map of WRIT_* variables (nothing
// from the process environment), app.Open, Run in the background, and a
// clean stop when the test ends. Imported by tests only.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/config"
)

// Start opens a node configured by env and opts and runs it until the test
// ends. opts.Getenv is set to read env; a nil opts.Logger logs warnings and
// errors to the test's output.
func Start(t testing.TB, env map[string]string, opts app.Options) *app.App {
	t.Helper()
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(nil, getenv)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	opts.Getenv = getenv
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("open writ: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("writ run: %v", err)
		}
		_ = a.Close()
	})
	return a
}

// Admin sends one request with a JSON body to a's admin API in-process,
// authenticated with the node's admin token. The test fails unless the
// answer has status want; the body is decoded into out unless out is nil.
func Admin(t testing.TB, a *app.App, method, path string, body, out any, want int) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("%s %s: encode body: %v", method, path, err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+a.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.Admin.ServeHTTP(rec, req)
	if rec.Code != want {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: decode answer: %v", method, path, err)
		}
	}
}
