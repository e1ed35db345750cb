package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/ratelimit"
)

// rateLimitRedisPrefix prefixes the rate limit keys in Redis.
const rateLimitRedisPrefix = "writ:rl:"

// rateStore is a store that keeps rate limits shared by every node on it
// (store/postgres).
type rateStore interface {
	TakeRate(ctx context.Context, key string, now time.Time, emission, tolerance time.Duration) (bool, time.Duration, error)
	ResetRate(ctx context.Context, key string) error
	PurgeRates(ctx context.Context, before time.Time) (int64, error)
}

// storeRates is a rateStore as a ratelimit.Backend and Resetter.
type storeRates struct{ st rateStore }

func (s storeRates) Take(ctx context.Context, key string, now time.Time, e, tol time.Duration) (bool, time.Duration, error) {
	ok, retry, err := s.st.TakeRate(ctx, key, now, e, tol)
	if err != nil {
		return false, 0, fmt.Errorf("%w: %w", ratelimit.ErrBackend, err)
	}
	return ok, retry, nil
}

func (s storeRates) Reset(ctx context.Context, key string) error { return s.st.ResetRate(ctx, key) }

// rateLimitBackend builds the backend rate_limit_backend names. shared
// tells whether every node counts in it.
func (a *App) rateLimitBackend(cfg *config.Config) (b ratelimit.Backend, shared bool, err error) {
	rs, isRateStore := a.Store.(rateStore)
	switch cfg.RateLimitBackend {
	case config.RateLimitMemory:
		return &ratelimit.Memory{}, false, nil
	case config.RateLimitAuto, "":
		if isRateStore {
			return storeRates{rs}, true, nil
		}
		return &ratelimit.Memory{}, false, nil
	case config.RateLimitDatabase:
		if !isRateStore {
			return nil, false, errors.New("rate_limit_backend=database needs a PostgreSQL database (use memory or a Redis URL with SQLite)")
		}
		return storeRates{rs}, true, nil
	}
	opts, err := redis.ParseURL(cfg.RateLimitBackend)
	if err != nil {
		// The error may quote the URL, and with it a password.
		return nil, false, errors.New("rate_limit_backend is not a usable Redis URL")
	}
	client := redis.NewClient(opts)
	a.closers = append(a.closers, client)
	return ratelimit.NewRedis(client, rateLimitRedisPrefix), true, nil
}

// rateLimits reads the rate_limit_* settings.
func rateLimits(cfg *config.Config) (map[string]ratelimit.Limit, error) {
	out := make(map[string]ratelimit.Limit, len(cfg.RateLimits))
	for rule, v := range cfg.RateLimits {
		l, err := ratelimit.ParseLimit(v)
		if err != nil {
			return nil, fmt.Errorf("rate_limit_%s: %w", rule, err)
		}
		out[rule] = l
	}
	return out, nil
}

// setupLimits builds the client address resolver and the rate limiter.
func (a *App) setupLimits(cfg *config.Config, hooks ratelimit.Hooks) (shared ratelimit.Backend, err error) {
	if a.clientIP, err = clientip.ParseTrusted(cfg.TrustedProxies); err == nil {
		a.clientIP, err = a.clientIP.UseHeader(cfg.TrustedProxyHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	limits, err := rateLimits(cfg)
	if err != nil {
		return nil, err
	}
	backend, isShared, err := a.rateLimitBackend(cfg)
	if err != nil {
		return nil, err
	}
	a.limiter = ratelimit.New(ratelimit.Options{Backend: backend, Limits: limits, Now: a.now, Logger: a.log, Hooks: hooks})
	if isShared {
		a.rateStore, _ = backend.(storeRates)
		return backend, nil
	}
	return nil, nil
}

// purgeRates deletes the database's rate limit rows that count nothing
// any more, when the rate limits are kept there.
func (a *App) purgeRates(ctx context.Context, now time.Time) (int64, error) {
	if a.rateStore.st == nil {
		return 0, nil
	}
	return a.rateStore.st.PurgeRates(ctx, now)
}

// Limiter is the node's rate limiter.
func (a *App) Limiter() *ratelimit.Limiter { return a.limiter }
