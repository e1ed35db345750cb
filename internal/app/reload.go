package app

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/config"
)

// clientCacheTTL is the server's client cache TTL for client_cache_ttl:
// zero turns the cache off (negative for the server).
func clientCacheTTL(cfg *config.Config) time.Duration {
	if cfg.ClientCacheTTL == 0 {
		return -1
	}
	return cfg.ClientCacheTTL
}

// ReloadResult says what a Reload did.
type ReloadResult struct {
	// Applied are the live settings (config.LiveSettings) that changed and
	// now apply.
	Applied []string
	// NeedRestart are the other settings that changed: they apply only
	// after a restart, and the node keeps running with the old values.
	NeedRestart []string
}

// Reload applies the live settings of cfg, a configuration read again
// (SIGHUP): the log level, the rate limits, the sign-in pages' theme
// directory and the client cache TTL. Everything is prepared before
// anything changes: an invalid cfg, limit or theme changes nothing and
// returns the error. Other settings that differ from the running ones
// are listed in NeedRestart (and logged), not applied. Reload is safe to
// call concurrently with requests.
func (a *App) Reload(cfg *config.Config) (ReloadResult, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	var res ReloadResult
	if err := cfg.Validate(a.getenv); err != nil {
		return res, err
	}
	cur := a.live
	if cur == nil {
		cur = a.Config
	}
	live := config.LiveSettings()
	old := cur.Effective()
	next := cfg.Effective()
	for i, kv := range next {
		if i >= len(old) || old[i][1] == kv[1] {
			continue
		}
		if slices.Contains(live, kv[0]) {
			res.Applied = append(res.Applied, kv[0])
		} else {
			res.NeedRestart = append(res.NeedRestart, kv[0])
		}
	}
	// Prepare.
	limits, err := rateLimits(cfg)
	if err != nil {
		return ReloadResult{}, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return ReloadResult{}, fmt.Errorf("log_level: %w", err)
	}
	if slices.Contains(res.Applied, "ui_dir") || cfg.UIDir != "" {
		// The theme's files are read again even when the directory is the
		// same: reloading a theme is the point of the setting being live.
		if err := a.Server.SetUIDir(cfg.UIDir); err != nil {
			return ReloadResult{}, fmt.Errorf("ui_dir: %w", err)
		}
	}
	// Apply: each piece swaps atomically.
	a.limiter.SetLimits(limits)
	if a.level != nil { // Options.Level: the logger's level, as SetLogLevel changes it
		a.level.Set(level)
	} else if slices.Contains(res.Applied, "log_level") {
		res.Applied = slices.DeleteFunc(res.Applied, func(k string) bool { return k == "log_level" })
		res.NeedRestart = append(res.NeedRestart, "log_level")
	}
	if slices.Contains(res.Applied, "client_cache_ttl") {
		a.Server.Clients().SetTTL(clientCacheTTL(cfg))
	}
	// What applies now is cur with the live settings of cfg.
	merged := *cur
	merged.LogLevel, merged.UIDir, merged.ClientCacheTTL = cfg.LogLevel, cfg.UIDir, cfg.ClientCacheTTL
	merged.RateLimits = cfg.RateLimits
	a.live = &merged
	for _, k := range res.NeedRestart {
		a.log.Warn("configuration reload: "+k+" changed, but it applies only after a restart; the node keeps the old value", "setting", k)
	}
	a.log.Info("configuration reloaded", "applied", res.Applied, "need_restart", res.NeedRestart)
	return res, nil
}
