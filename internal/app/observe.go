package app

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storeobs"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/internal/tracing"
)

// MetricsPath is where the admin listener serves the Prometheus metrics.
const MetricsPath = "/metrics"

// tracingFlushTimeout bounds the export of buffered spans at Close.
const tracingFlushTimeout = 5 * time.Second

// observe builds the node's metrics and tracing and returns the store the
// server uses: a.Store with each call timed (and traced, when tracing is
// on). a.Store itself stays the backend.
func (a *App) observe(cfg *config.Config) (store.Store, error) {
	maxClients := cfg.MetricsMaxClients
	if maxClients == 0 {
		maxClients = -1 // metrics.Options: negative means none
	}
	var err error
	a.Metrics, err = metrics.New(metrics.Options{
		MaxClients:      maxClients,
		Keys:            a.signingKeys,
		Now:             a.now,
		StoreOperations: storeobs.Operations(),
		WAL:             a.walStats(),
		GroupCommits:    a.groupCommitStats(),
	})
	if err != nil {
		return nil, err
	}
	a.Tracing, err = tracing.New(tracing.Options{
		Endpoint:    cfg.TracingEndpoint,
		SampleRatio: cfg.TracingSampleRatio,
		ServiceName: cfg.TracingServiceName,
	})
	if err != nil {
		return nil, err
	}
	if a.Tracing != nil {
		a.log.Info("tracing on", "endpoint", cfg.TracingEndpoint, "sample_ratio", cfg.TracingSampleRatio)
	}
	system := "sqlite"
	if backend, _, _ := storeopen.Parse(cfg.DatabaseDSN()); backend == storeopen.Postgres {
		system = "postgresql"
	}
	return storeobs.Wrap(a.Store, a.Metrics.StoreObserver(), a.Tracing.StoreObserver(system)), nil
}

// signingKeys lists the key ring for the key age gauge.
func (a *App) signingKeys() []metrics.Key {
	entries := a.Ring.Entries()
	out := make([]metrics.Key, 0, len(entries))
	for _, e := range entries {
		if e.Key == nil {
			continue
		}
		out = append(out, metrics.Key{KeyID: e.KeyID(), Algorithm: string(e.Key.Algorithm()), State: e.State.String(), CreatedAt: e.CreatedAt})
	}
	return out
}

// adminHandler is the admin listener: the metrics at MetricsPath (behind
// the admin token when metrics_require_token is set), the admin API for
// everything else, each request with a request ID and counted in the
// metrics by the route it matched (the admin API's patterns, such as
// /admin/clients/{id}) and outcome, as the public routes are.
func (a *App) adminHandler() http.Handler {
	m := a.Metrics.Handler()
	if a.Config.MetricsRequireToken {
		m = metrics.RequireBearer(a.AdminToken, m)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, reqinfo.Route(MetricsPath, m))
	mux.Handle("/", a.Admin)
	return server.WithRequestID(reqinfo.Middleware(a.Metrics.Middleware(mux)))
}

// ErrNoLevelVar is SetLogLevel's error when the node's logger was not
// built on a slog.LevelVar (Options.Level).
var ErrNoLevelVar = errors.New("app: the log level cannot change while running: Options.Level is not set")

// SetLogLevel changes the level of the node's logs while it runs (e.g. on
// a configuration reload).
func (a *App) SetLogLevel(l slog.Level) error {
	if a.level == nil {
		return ErrNoLevelVar
	}
	if a.level.Level() != l {
		a.level.Set(l)
		a.log.Info("log level changed", "level", l.String())
	}
	return nil
}

// walStats returns what the metrics read of the embedded SQLite store's
// checkpointer, or nil when the store has none (PostgreSQL, in memory).
func (a *App) walStats() func() metrics.WAL {
	st, ok := a.Store.(interface {
		Checkpoints() (sqlite.CheckpointStats, bool)
	})
	if !ok {
		return nil
	}
	if _, ok := st.Checkpoints(); !ok {
		return nil
	}
	return func() metrics.WAL {
		c, _ := st.Checkpoints()
		return metrics.WAL{OK: c.OK, Busy: c.Busy, Failed: c.Failed, Pages: c.WALPages}
	}
}

// groupCommitStats returns what the metrics read of the store's group
// commit, or nil when the backend has none.
func (a *App) groupCommitStats() func() metrics.GroupCommits {
	st, ok := a.Store.(store.GroupCommitter)
	if !ok {
		return nil
	}
	return func() metrics.GroupCommits {
		c := st.GroupCommits()
		return metrics.GroupCommits{Commits: c.Commits, Writes: c.Writes, Reruns: c.Reruns}
	}
}
