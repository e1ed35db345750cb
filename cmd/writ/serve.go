package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
)

const serveLong = `Run the writ authorization server: the OAuth 2.0 token endpoint (client
credentials), introspection (RFC 7662, with JWT responses per RFC 9701),
revocation (RFC 7009), discovery (RFC 8414 and OpenID Connect), the JWKS
with scheduled key rotation, health and readiness, and the admin API on its
own listener.

With no configuration at all it runs in development mode: it creates the
data directory (./writ-data) with an embedded SQLite database, a master key,
a first signing key and an admin token, says where it put them, and serves
http://127.0.0.1:8080 (admin API on 127.0.0.1:8081).

Production mode (--mode production) refuses to start without an https
issuer, a master key (WRIT_MASTER_KEY or --master-key-file) and TLS
(--tls-cert-file/--tls-key-file, or --tls-terminated when a proxy terminates
TLS). Settings come from a YAML file (--config), WRIT_* environment variables
and flags; flags win over the environment, the environment over the file.
Every setting is listed in docs/configuration.md and by
"writ config reference".

SIGINT or SIGTERM shut the server down gracefully (requests in flight get
--shutdown-timeout to finish); it then exits 0. SIGHUP reads the
configuration file and environment again and applies what can change live
(log_level, rate_limit_*, ui_dir, client_cache_ttl); any other setting that
changed is logged as needing a restart. With
--log-format json, standard error holds only JSON lines, the development
notices included. --access-log logs every request (method, path, status,
duration, client_id, request id; never a query string). The admin listener
serves Prometheus metrics at /metrics (--metrics-require-token puts them
behind the admin token); --tracing-endpoint sends OpenTelemetry traces over
OTLP/HTTP (docs/observability.md).`

const serveExample = `  # Development: zero configuration
  writ serve

  # Several nodes on PostgreSQL behind a TLS-terminating load balancer
  export WRIT_MASTER_KEY=$(cat /etc/writ/master.key) WRIT_ADMIN_TOKEN=...
  writ serve --mode production --issuer https://id.example.com \
    --database postgres://writ@db:5432/writ --tls-terminated --addr 0.0.0.0:8080

  # Test setups place it anywhere
  writ serve --data-dir /tmp/writ --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0`

func newServeCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "serve",
		Short:   "Run the authorization server (development mode needs no configuration)",
		Long:    serveLong,
		Example: serveExample,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				if wantsJSON(cmd) {
					// The configuration is broken, but the log format
					// asked for is known: keep standard error JSON.
					slog.New(slog.NewJSONHandler(s.err, nil)).Error("invalid configuration", "error", err.Error())
					return &loggedError{err: &usageError{err: err}}
				}
				return &usageError{err: err}
			}
			debug.SetGCPercent(collectorTarget(cfg.GCPercent, os.Getenv("GOGC"), defaultGCPercent))
			return serve(cmd.Context(), s, cfg, func() (*config.Config, error) { return config.Load(cmd.Flags(), os.Getenv) })
		},
	}
	config.BindFlags(cmd.Flags(), config.ServeScope)
	return cmd
}

// serve runs the server until ctx ends. Its messages go to the log: with
// --log-format json nothing but JSON reaches standard error, the error that
// stops it included.
func serve(ctx context.Context, s *streams, cfg *config.Config, reload func() (*config.Config, error)) error {
	log, level := newLogger(s, cfg)
	jsonOnly := cfg.LogFormat == "json"
	// OpenTelemetry reports failed exports through its process-wide
	// error handler, which would print plain text: send them to the log.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: " + err.Error())
	}))
	for _, w := range config.UnknownEnvironment(os.Environ()) {
		log.Warn(w)
	}
	fail := func(err error) error {
		if !jsonOnly {
			return err
		}
		var invalid *config.ValidationError
		if errors.As(err, &invalid) {
			problems := make([]string, len(invalid.Problems))
			for i, p := range invalid.Problems {
				problems[i] = p.Error()
			}
			log.Error("invalid configuration", "problems", problems)
		} else {
			log.Error("writ stopped", "error", err.Error())
		}
		return &loggedError{err: err}
	}

	var announce io.Writer = s.err
	if jsonOnly {
		announce = nil // development notices go to the log
	}
	// SIGHUP reads the configuration again and applies what can change
	// live; it never ends the process. One arriving during start-up waits
	// in the channel.
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(done) }()
	a, err := app.Open(ctx, cfg, app.Options{Logger: log, Announce: announce, Level: level})
	if err != nil {
		return fail(err)
	}
	defer a.Close()
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				reloadConfig(log, a, reload)
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		return fail(err)
	}
	if jsonOnly {
		log.Info("writ stopped")
	} else {
		fmt.Fprintln(s.err, "writ: stopped")
	}
	return nil
}

// wantsJSON tells whether JSON logs were asked for, by flag or environment,
// even when the configuration as a whole does not load.
func wantsJSON(cmd *cobra.Command) bool {
	if f := cmd.Flags().Lookup("log-format"); f != nil && f.Changed {
		return f.Value.String() == "json"
	}
	return os.Getenv("WRIT_LOG_FORMAT") == "json"
}

// warnEnvironment prints a warning for each WRIT_* variable that names no
// setting.
func warnEnvironment(s *streams) {
	for _, w := range config.UnknownEnvironment(os.Environ()) {
		fmt.Fprintf(s.err, "writ: warning: %s\n", oneLine(w))
	}
}

// newLogger builds the server's logger in the configured format, on a
// level that App.SetLogLevel and a reload can change while it runs.
func newLogger(s *streams, cfg *config.Config) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.LogLevel))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(s.err, opts)), level
	}
	return slog.New(slog.NewTextHandler(s.err, opts)), level
}

// reloadConfig reads the configuration again (file, environment, flags)
// and applies its live settings to a; a configuration that does not load
// or validate changes nothing and is logged.
func reloadConfig(log *slog.Logger, a *app.App, load func() (*config.Config, error)) {
	log.Info("SIGHUP received: reloading the configuration")
	cfg, err := load()
	if err == nil {
		_, err = a.Reload(cfg)
	}
	if err != nil {
		log.Error("configuration reload failed: nothing changed", "error", err.Error())
	}
}

func newMigrateCmd(s *streams) *cobra.Command {
	var statusOnly bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations (or show their status)",
		Long: `Apply the database schema migrations embedded in this binary, in order, each
in its own transaction. Running it again does nothing. "writ serve" applies
them at start unless --auto-migrate=false (or auto_migrate: false). With --status it only lists the
migrations and whether each is applied.

The database is chosen like "writ serve" chooses it: --database (or
WRIT_DATABASE), else the SQLite file in --data-dir.`,
		Example: `  writ migrate --database postgres://writ@127.0.0.1:5432/writ
  writ migrate --status --data-dir ./writ-data`,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return &usageError{err: err}
			}
			warnEnvironment(s)
			if cfg.Database == "" {
				if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
					return fmt.Errorf("create data directory: %w", err)
				}
			}
			return migrate(cmd.Context(), s, cfg.DatabaseDSN(), statusOnly)
		},
	}
	config.BindFlags(cmd.Flags(), config.StoreScope)
	cmd.Flags().BoolVar(&statusOnly, "status", false, "only show which migrations are applied")
	return cmd
}

func migrate(ctx context.Context, s *streams, dsn string, statusOnly bool) error {
	st, err := app.OpenStore(ctx, dsn, false)
	if err != nil {
		return err
	}
	defer st.Close()
	before, err := st.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	if !statusOnly {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	list, err := st.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	if !statusOnly {
		fmt.Fprintf(s.err, "writ: %s\n", appliedSummary(before, list))
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	for _, m := range list {
		applied := "no"
		if m.Applied {
			applied = m.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		name := m.Name
		if name == "" {
			name = "(unknown to this binary)"
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\n", m.Version, name, applied)
	}
	return tw.Flush()
}

// appliedSummary says which migrations went from pending (before) to
// applied (after).
func appliedSummary(before, after []store.Migration) string {
	pending := make(map[int]bool, len(before))
	for _, m := range before {
		if !m.Applied {
			pending[m.Version] = true
		}
	}
	var names []string
	for _, m := range after {
		if m.Applied && pending[m.Version] {
			names = append(names, fmt.Sprintf("%04d %s", m.Version, m.Name))
		}
	}
	switch len(names) {
	case 0:
		return "the database schema is up to date: no migration to apply"
	case 1:
		return "applied 1 migration: " + names[0]
	}
	return fmt.Sprintf("applied %d migrations: %s", len(names), strings.Join(names, ", "))
}

func newConfigCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show configuration settings",
		Long: `Show the settings writ reads: the reference of every setting, or the
effective values after the YAML file, the WRIT_* environment and the flags.`,
		Example: `  writ config reference > docs/configuration-table.md
  WRIT_CONFIG=writ.yaml writ config show`,
		GroupID: groupServer,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "reference",
		Short:   "Print the table of every setting (YAML key, environment variable, flag, default)",
		Long:    "Print, as Markdown, every setting writ reads, where it can be set, and its default. docs/configuration.md holds the same table.",
		Example: `  writ config reference`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(s.out, config.Reference())
			return err
		},
	})
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective settings after the file and the environment",
		Long: `Print every setting with the value "writ serve" would use with the same YAML
file (--config or WRIT_CONFIG) and WRIT_* environment, before any flag of
"writ serve". It warns about WRIT_* variables that name no setting. None of
the settings is a secret.`,
		Example: `  WRIT_CONFIG=writ.yaml writ config show
  WRIT_ADDR=0.0.0.0:9000 writ config show --config writ.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return &usageError{err: err}
			}
			warnEnvironment(s)
			for _, kv := range cfg.Effective() {
				fmt.Fprintf(s.out, "%s: %s\n", kv[0], kv[1])
			}
			return nil
		},
	}
	config.BindFlags(show.Flags(), config.FileScope)
	cmd.AddCommand(show)
	return cmd
}

func newKeyMasterCmd(s *streams) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "master --out FILE",
		Short: "Generate a master key file (it seals the signing keys at rest)",
		Long: `Generate a new 256-bit master key and write it, base64-encoded, to FILE with
mode 0600. It never overwrites a file: replacing a master key makes every
sealed signing key unreadable. Point writ at it with --master-key-file or
WRIT_MASTER_KEY_FILE, or put its content in WRIT_MASTER_KEY.`,
		Example: `  writ key master --out /etc/writ/master.key
  writ serve --mode production --master-key-file /etc/writ/master.key ...`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			mk, err := keys.GenerateMasterKey(nil)
			if err != nil {
				return err
			}
			if err := keys.WriteMasterKeyFile(out, mk); err != nil {
				return err
			}
			fmt.Fprintf(s.err, "writ: wrote a master key (id %s) to %s with mode 0600\n", mk.ID(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to create (mode 0600; never overwritten)")
	return cmd
}
