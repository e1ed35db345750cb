package app_test

import (
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/config"
)

// TestReload: a reload applies the live settings (log level, rate limits,
// client cache TTL, theme directory), reports the others as needing a
// restart without applying them, and an invalid configuration or theme
// changes nothing.
func TestReload(t *testing.T) {
	env := map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": filepath.Join(t.TempDir(), "node"),
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "info",
	}
	level := new(slog.LevelVar)
	a := apptest.Start(t, env, app.Options{Announce: io.Discard, Now: clocktest.New(time.Now()).Now, Level: level,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))})
	c := createClient(t, a)
	for range 3 {
		if r := requestToken(t, a, c, nil); r.status != 200 {
			t.Fatalf("before the reload: %+v", r)
		}
	}
	load := func(change map[string]string) *config.Config {
		t.Helper()
		e := maps.Clone(env)
		maps.Copy(e, change)
		cfg, err := config.Load(nil, func(k string) string { return e[k] })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	theme := t.TempDir()
	os.MkdirAll(filepath.Join(theme, "static"), 0o755)
	os.WriteFile(filepath.Join(theme, "static", "brand.css"), []byte("body{}"), 0o644)
	res, err := a.Reload(load(map[string]string{
		"WRIT_LOG_LEVEL": "debug", "WRIT_RATE_LIMIT_TOKEN": "1/h:1", "WRIT_CLIENT_CACHE_TTL": "0",
		"WRIT_UI_DIR": theme, "WRIT_ACCESS_TOKEN_TTL": "30m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Applied)
	if want := []string{"client_cache_ttl", "log_level", "rate_limit_token", "ui_dir"}; !slices.Equal(res.Applied, want) {
		t.Fatalf("Applied = %v, want %v", res.Applied, want)
	}
	if !slices.Equal(res.NeedRestart, []string{"access_token_ttl"}) {
		t.Fatalf("NeedRestart = %v, want [access_token_ttl]", res.NeedRestart)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("log level %v after the reload, want debug", level.Level())
	}
	if r := requestToken(t, a, c, nil); r.status != 200 {
		t.Fatalf("first request after the reload: %+v", r)
	}
	wantLimited(t, requestToken(t, a, c, nil), 3600)
	if st := get(t, "http://"+a.PublicAddr().String()+"/ui/static/brand.css"); st != 200 {
		t.Fatalf("the theme's static file: %d, want 200", st)
	}

	// A configuration that does not validate, or a broken theme, changes
	// nothing.
	if _, err := a.Reload(load(map[string]string{"WRIT_LOG_LEVEL": "error", "WRIT_ACCESS_TOKEN_TTL": "10s"})); err == nil {
		t.Fatal("an invalid configuration reloaded")
	}
	os.WriteFile(filepath.Join(theme, "unexpected.html"), []byte("x"), 0o644)
	if _, err := a.Reload(load(map[string]string{"WRIT_LOG_LEVEL": "error", "WRIT_UI_DIR": theme})); err == nil {
		t.Fatal("a broken theme reloaded")
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("a failed reload changed the log level to %v", level.Level())
	}
	wantLimited(t, requestToken(t, a, c, nil), 3600)
	if st := get(t, "http://"+a.PublicAddr().String()+"/ui/static/brand.css"); st != 200 {
		t.Fatalf("the theme after a failed reload: %d, want 200", st)
	}

	// Back to the start: the limit is off again, the theme gone.
	res, err = a.Reload(load(nil))
	if err != nil {
		t.Fatal(err)
	}
	// access_token_ttl is back to the value the node runs with.
	if len(res.NeedRestart) != 0 {
		t.Fatalf("NeedRestart = %v, want none", res.NeedRestart)
	}
	if r := requestToken(t, a, c, nil); r.status != 200 {
		t.Fatalf("limit off again: %+v", r)
	}
	if st := get(t, "http://"+a.PublicAddr().String()+"/ui/static/brand.css"); st != 404 {
		t.Fatalf("the theme's file after the theme was removed: %d, want 404", st)
	}
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadLogLevelNeedsLevelVar: a node whose logger was not built on a
// slog.LevelVar (Options.Level) cannot change its level live: a reload
// names log_level as needing a restart and applies the rest.
func TestReloadLogLevelNeedsLevelVar(t *testing.T) {
	env := map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": filepath.Join(t.TempDir(), "node"),
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "info",
	}
	a := apptest.Start(t, env, app.Options{Announce: io.Discard})
	env["WRIT_LOG_LEVEL"], env["WRIT_RATE_LIMIT_TOKEN"] = "debug", "1/h:1"
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Reload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Applied, []string{"rate_limit_token"}) || !slices.Equal(res.NeedRestart, []string{"log_level"}) {
		t.Fatalf("Applied %v, NeedRestart %v; want [rate_limit_token] and [log_level]", res.Applied, res.NeedRestart)
	}
}
