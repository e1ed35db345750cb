// Package app starts a writ node from a Config: it prepares the data
// directory, the master key, the store and its migrations, the signing key
// ring and the admin credential, assembles the server, and runs the public
// and admin listeners with key maintenance until the context ends.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/accesslog"
	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/cluster"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/logctx"
	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/ratelimit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/internal/tracing"
	"github.com/writ-dev/writ/internal/trust"
	"github.com/writ-dev/writ/internal/ui"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// File names inside the data directory (development mode).
const (
	masterKeyFileName  = "master.key"
	adminTokenFileName = "admin-token"
)

// EnvAdminToken names the admin API credential for server and CLI alike.
const EnvAdminToken = "WRIT_ADMIN_TOKEN"

// App is a prepared writ node.
type App struct {
	Config     *config.Config
	Store      store.Store
	Ring       *keys.Ring
	Server     *server.Server
	Admin      http.Handler
	AdminToken string
	Issuer     string
	// Trust verifies tokens of the trusted external issuers (jwt-bearer,
	// ID-JAG, token exchange subjects) against the store's records.
	Trust *trust.Registry
	// Metrics are the node's Prometheus metrics, served at
	// MetricsPath on the admin listener.
	Metrics *metrics.Metrics
	// Tracing is the node's OpenTelemetry tracing; nil when off.
	Tracing *tracing.Tracing

	log      *slog.Logger
	level    *slog.LevelVar
	master   keys.MasterKey
	ringOpts keys.Options
	ringVer  int64
	ringMu   sync.Mutex
	now      func() time.Time
	announce io.Writer
	publicLn net.Listener
	adminLn  net.Listener
	// mtlsLn is the mutual-TLS listener (mtls_addr), or nil.
	mtlsLn    net.Listener
	closeOnce sync.Once
	// closers are closed by Close after the listeners (the DPoP replay
	// cache's Redis client).
	closers []io.Closer
	// auditor records the audit events without a transaction of their
	// own (group commit); Run runs it until the servers have stopped.
	auditor *audit.Appender
	// auditorRan is set once Run starts the auditor, which then owns its
	// journal (Close removes the journal of an auditor that never ran).
	auditorRan   atomic.Bool
	auditJournal *audit.Journal
	// cluster dispatches the change notifications of other nodes (nil on
	// a store without them: SQLite, one node).
	cluster *cluster.Node
	// ringChanged wakes key maintenance when another node changed the
	// key ring; ringCheckedAt is when the ring was last read from the
	// store (UnixNano, real time), for readiness.
	ringChanged   chan struct{}
	ringCheckedAt atomic.Int64
	// clientIP finds client addresses (trusted proxies); limiter applies
	// the rate limits; rateStore is set when they count in the database.
	clientIP  *clientip.Resolver
	limiter   *ratelimit.Limiter
	rateStore storeRates
	// getenv reads the environment for Reload's validation; reloadMu
	// serialises reloads and guards live, the configuration last applied.
	getenv   func(string) string
	reloadMu sync.Mutex
	live     *config.Config
	// storeLock is the shared lock on a SQLite store that keeps `writ
	// restore` away while the node runs; released after the store closes.
	storeLock io.Closer
}

// Options adjust Open for tests and embedding.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Announce receives the loud one-time development messages (stderr);
	// nil sends them to Logger at warn instead (for JSON logs).
	Announce io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Level, when set, is the level of Logger's handler, which SetLogLevel
	// changes while the node runs.
	Level *slog.LevelVar
	// ClientMetadata, when set, adjusts the options of the Client ID
	// Metadata Document resolver built from the configuration, e.g. for a
	// test to trust its CA and allow its loopback server's address.
	ClientMetadata func(*cimd.Options)
	// RateLimitHooks hear of rate limit refusals and backend failures
	// (for metrics).
	RateLimitHooks ratelimit.Hooks
}

// Open prepares a node: it validates cfg, binds the listeners (so that the
// issuer URL of a development node is known even with port 0), and
// bootstraps state. Call Run, then Close.
func Open(ctx context.Context, cfg *config.Config, o Options) (_ *App, err error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := cfg.Validate(o.Getenv); err != nil {
		return nil, err
	}
	if err := checkProduction(cfg, o.Getenv); err != nil {
		return nil, err
	}
	// Every line logged with a request's context carries its request ID
	// (and trace ID, when traced), whoever logs it.
	o.Logger = slog.New(logctx.NewHandler(o.Logger.Handler(),
		logctx.Field{Key: "request_id", Value: server.RequestID},
		logctx.Field{Key: "trace_id", Value: tracing.TraceID}))
	a := &App{Config: cfg, log: o.Logger, level: o.Level, now: o.Now, announce: o.Announce, ringChanged: make(chan struct{}, 1),
		getenv: o.Getenv}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	if a.publicLn, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s (addr): %w", cfg.Addr, err)
	}
	if a.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		return nil, fmt.Errorf("listen on %s (admin_addr): %w", cfg.AdminAddr, err)
	}
	if cfg.MTLSAddr != "" {
		if a.mtlsLn, err = net.Listen("tcp", cfg.MTLSAddr); err != nil {
			return nil, fmt.Errorf("listen on %s (mtls_addr): %w", cfg.MTLSAddr, err)
		}
	}
	a.Issuer = cfg.Issuer
	if a.Issuer == "" {
		scheme := "http"
		if cfg.TLSCertFile != "" {
			scheme = "https"
		}
		a.Issuer = scheme + "://" + a.publicLn.Addr().String()
	}
	a.Issuer = strings.TrimSuffix(a.Issuer, "/")

	if cfg.Mode == config.Development {
		a.say("writ is running in DEVELOPMENT mode: secrets are generated and kept in %s; do not use this mode in production (see docs/configuration.md).", cfg.DataDir)
	}
	if a.master, err = a.loadMasterKey(o.Getenv); err != nil {
		return nil, err
	}
	if a.storeLock, err = lockStore(cfg.DatabaseDSN()); err != nil {
		return nil, err
	}
	if a.Store, err = OpenStore(ctx, cfg.DatabaseDSN(), cfg.AutoMigrate); err != nil {
		return nil, err
	}
	var algs []jose.Algorithm
	for _, alg := range cfg.SigningAlgorithms() {
		algs = append(algs, jose.Algorithm(alg))
	}
	a.ringOpts = keys.Options{
		Algorithm:        jose.Algorithm(cfg.KeyAlgorithm),
		Algorithms:       algs,
		Clock:            o.Now,
		MaxTokenLifetime: maxLifetime(cfg) + jwt.DefaultLeeway,
		MinPublish:       cfg.KeyMinPublish,
	}
	if err := a.loadRing(ctx); err != nil {
		return nil, err
	}
	if a.AdminToken, err = a.loadAdminToken(o.Getenv); err != nil {
		return nil, err
	}
	observed, err := a.observe(cfg)
	if err != nil {
		return nil, err
	}
	subkey, err := a.master.DeriveKey(oauth.SecretHashPurpose)
	if err != nil {
		return nil, err
	}
	hasher, err := oauth.NewSecretHasher(subkey)
	if err != nil {
		return nil, err
	}
	signIn, err := a.signInOptions(cfg)
	if err != nil {
		return nil, err
	}
	var meta *server.ClientMetadataOptions
	if cfg.ClientMetadataDocuments {
		co := cimd.Options{Guard: cimd.Guard{AllowPrivate: cfg.ClientMetadataAllowPrivate}, Hosts: cfg.ClientMetadataHostList(), Now: o.Now, Logger: o.Logger}
		if o.ClientMetadata != nil {
			o.ClientMetadata(&co)
		}
		meta = &server.ClientMetadataOptions{Resolver: cimd.New(co), Scopes: cfg.DynamicClientScopeList(), Audiences: cfg.DynamicClientAudienceList()}
	}
	var reg *server.RegistrationOptions
	if cfg.Registration != config.RegistrationOff {
		reg = &server.RegistrationOptions{
			Open:         cfg.Registration == config.RegistrationOpen,
			Scopes:       cfg.DynamicClientScopeList(),
			Audiences:    cfg.DynamicClientAudienceList(),
			AllowPrivate: cfg.ClientMetadataAllowPrivate,
		}
		if cfg.Registration == config.RegistrationToken {
			reg.InitialTokens = admin.InitialTokensFile(cfg.RegistrationInitialTokensFile)
			if _, err := reg.InitialTokens(); err != nil {
				return nil, fmt.Errorf("registration_initial_tokens_file: %w", err)
			}
		}
	}
	dpopOpts, err := a.dpopOptions(cfg)
	if err != nil {
		return nil, err
	}
	mtlsOpts, err := mtlsOptions(cfg, a.mtlsLn)
	if err != nil {
		return nil, err
	}
	sharedThrottle, err := a.setupLimits(cfg, o.RateLimitHooks)
	if err != nil {
		return nil, err
	}
	// Tokens of the trusted external issuers (jwt-bearer, ID-JAG, token
	// exchange subjects), verified against the store's records.
	a.Trust = trust.New(context.Background(), a.Store, trust.Options{Now: o.Now})
	if a.auditor, err = a.openAuditor(ctx); err != nil {
		return nil, err
	}
	if feed, ok := a.Store.(cluster.Feed); ok {
		a.cluster = cluster.New(feed, cluster.Options{Logger: o.Logger})
	}
	a.Server, err = server.New(server.Options{
		AuditRecorder:  a.auditor,
		ReadyChecks:    a.readyChecks(),
		ExternalTokens: a.Trust,
		// writ as the IdP of ID-JAGs: signed by the key ring, audited.
		IDJAG:          &grant.IDJAGMinter{Issuer: a.Issuer, Keys: a.Ring, Audit: a.Store, Now: o.Now},
		Registration:   reg,
		ClientMetadata: meta,
		SignIn:         signIn,
		DPoP:           dpopOpts,
		MTLS:           mtlsOpts,
		Issuer:         a.Issuer,
		Store:          observed,
		Metrics:        a.Metrics,
		Tracing:        a.Tracing,
		Ring:           a.Ring,
		Hasher:         hasher,
		Logger:         o.Logger,
		Now:            o.Now,
		AccessTokenTTL: cfg.AccessTokenTTL,
		// MCP authorization: short tokens for public clients, resource
		// required for MCP servers.
		PublicAccessTokenTTL: cfg.PublicAccessTokenTTL,
		MCPResources:         cfg.MCPResources,
		MaxRequestBytes:      cfg.MaxRequestBytes,
		FAPI2:                cfg.FAPI2,
		ClientCacheTTL:       clientCacheTTL(cfg),
		Limiter:              a.limiter,
		ClientIP:             a.clientIP,
		SharedThrottle:       sharedThrottle,
	})
	if err != nil {
		return nil, err
	}
	a.followChanges()
	a.Admin = admin.NewHandler(admin.Options{
		FAPI2:          cfg.FAPI2,
		Delegations:    a.Store,
		Audit:          a.Store,
		AuditFlush:     a.auditor.Flush,
		Users:          a.Store,
		Passwords:      authn.Hasher{},
		SessionsEnded:  a.Server.NotifyLogout,
		Token:          a.AdminToken,
		Store:          a.Store,
		Hasher:         hasher,
		Clients:        a.Server.Clients(),
		Keys:           a,
		TrustedIssuers: a.Store,

		SAMLServiceProviders:  a.Store,
		SAMLAllowLoopbackHTTP: cfg.Mode == config.Development,
		TrustCache:            a.Trust,
		IDTokenAlgorithms:     a.Ring.Algorithms(),
		Logger:                o.Logger,
		Now:                   o.Now,
		MaxBytes:              cfg.MaxRequestBytes,
	})
	return a, nil
}

// OpenStore opens the store dsn names and, when migrate is set, applies
// its pending migrations. A failure is a *StoreError that names the store
// without its password and says what to check. It returns a nil interface
// on error, never a typed nil, so that Close can tell there is nothing to
// close.
func OpenStore(ctx context.Context, dsn string, migrate bool) (store.Store, error) {
	st, err := storeopen.Open(ctx, dsn)
	if err != nil {
		return nil, storeError("open", dsn, err)
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, storeError("migrate", dsn, err)
		}
	}
	return st, nil
}

// signInOptions derives the sign-in keys from the master key, so that all
// nodes of a deployment share them.
func (a *App) signInOptions(cfg *config.Config) (*server.SignInOptions, error) {
	csrfKey, err := a.master.DeriveKey(authn.CSRFPurpose)
	if err != nil {
		return nil, err
	}
	sealKey, err := a.master.DeriveKey(authz.SealerPurpose)
	if err != nil {
		return nil, err
	}
	deviceKey, err := a.master.DeriveKey(authn.DevicePurpose)
	if err != nil {
		return nil, err
	}
	return &server.SignInOptions{
		CSRFKey:       csrfKey,
		SealKey:       sealKey,
		DeviceKey:     deviceKey,
		UI:            ui.Options{Dir: cfg.UIDir},
		RefreshTTL:    cfg.RefreshTokenTTL,
		RefreshMaxTTL: cfg.RefreshTokenAbsoluteTTL,
		IDTokenTTL:    cfg.IDTokenTTL,
		SessionTTL:    cfg.SessionTTL,

		RequirePushedAuthorizationRequests: cfg.RequirePushedAuthorizationRequests,
	}, nil
}

func maxLifetime(cfg *config.Config) time.Duration {
	m := cfg.AccessTokenTTL
	for _, d := range []time.Duration{cfg.IDTokenTTL, 24 * time.Hour} {
		if d > m {
			m = d
		}
	}
	return m
}

// say announces a one-time development message: on the announce writer,
// or, without one, in the log.
func (a *App) say(format string, args ...any) {
	if a.announce == nil {
		a.log.Warn(fmt.Sprintf(format, args...))
		return
	}
	fmt.Fprintf(a.announce, "writ: "+format+"\n", args...)
}

// loadMasterKey finds the master key: WRIT_MASTER_KEY or
// WRIT_MASTER_KEY_FILE, then master_key_file, then (development only) the
// data directory, generating it on first start.
func (a *App) loadMasterKey(getenv func(string) string) (keys.MasterKey, error) {
	lookup := func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	mk, err := keys.LoadMasterKey(lookup)
	if err == nil {
		return mk, nil
	}
	if !errors.Is(err, keys.ErrNoMasterKey) {
		return keys.MasterKey{}, err
	}
	if a.Config.MasterKeyFile != "" {
		return keys.LoadMasterKeyFile(a.Config.MasterKeyFile)
	}
	if a.Config.Mode != config.Development {
		return keys.MasterKey{}, fmt.Errorf("no master key: set WRIT_MASTER_KEY or master_key_file (create one with `writ key master --out FILE`): %w", err)
	}
	path := filepath.Join(a.Config.DataDir, masterKeyFileName)
	mk, err = keys.LoadMasterKeyFile(path)
	if err == nil {
		return mk, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return keys.MasterKey{}, fmt.Errorf("development master key: %w", err)
	}
	if mk, err = keys.GenerateMasterKey(nil); err != nil {
		return keys.MasterKey{}, err
	}
	if err := keys.WriteMasterKeyFile(path, mk); err != nil {
		return keys.MasterKey{}, err
	}
	a.say("generated a master key at %s (it seals the signing keys; losing it makes them unreadable)", path)
	return mk, nil
}

// loadAdminToken reads WRIT_ADMIN_TOKEN; in development it falls back to a
// generated token kept in the data directory. Without one, the admin API
// refuses every call.
func (a *App) loadAdminToken(getenv func(string) string) (string, error) {
	if t := getenv(EnvAdminToken); t != "" {
		if len(t) < minDevAdminTokenLength {
			return "", fmt.Errorf("%s is too short: use at least %d characters (e.g. openssl rand -base64 32)", EnvAdminToken, minDevAdminTokenLength)
		}
		return t, nil
	}
	if a.Config.Mode != config.Development {
		a.log.Warn("admin API disabled: " + EnvAdminToken + " is not set")
		return "", nil
	}
	path := filepath.Join(a.Config.DataDir, adminTokenFileName)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read development admin token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write development admin token: %w", err)
	}
	a.say("generated an admin API token in %s; use it with: export %s=$(cat %s)", path, EnvAdminToken, path)
	return tok, nil
}

// PublicAddr is the bound address of the public listener.
func (a *App) PublicAddr() net.Addr { return a.publicLn.Addr() }

// AdminAddr is the bound address of the admin listener.
func (a *App) AdminAddr() net.Addr { return a.adminLn.Addr() }

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.log.Info("writ serving", "issuer", a.Issuer, "addr", a.publicLn.Addr().String(), "admin_addr", a.adminLn.Addr().String(), "mode", string(a.Config.Mode))
	if a.announce != nil {
		fmt.Fprintf(a.announce, "writ: serving %s on %s; admin API on %s\n", a.Issuer, a.publicLn.Addr(), a.adminLn.Addr())
	}
	publicLn := a.publicLn
	if a.Config.TLSCertFile != "" {
		tl, err := tlsListener(publicLn, a.Config.TLSCertFile, a.Config.TLSKeyFile)
		if err != nil {
			return err
		}
		publicLn = tl
	}
	adminLn := a.adminLn
	if a.Config.AdminTLSCertFile != "" {
		tl, err := tlsListener(adminLn, a.Config.AdminTLSCertFile, a.Config.AdminTLSKeyFile)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		adminLn = tl
	}
	var mtlsLn net.Listener
	if a.mtlsLn != nil {
		tl, err := mtlsListener(a.mtlsLn, a.Config.TLSCertFile, a.Config.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("mtls listener: %w", err)
		}
		mtlsLn = tl
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	grace := a.Config.ShutdownTimeout
	// The admin API gets the public listener's bounds on bodies and
	// handler time (the public handler has them inside).
	public, adminH := a.Server.Handler(), server.Bounded(a.Config.MaxRequestBytes, a.adminHandler())
	if a.Config.AccessLog {
		public, adminH = a.accessLog(public, "public"), a.accessLog(adminH, "admin")
	}
	// The client address is resolved once, outside the access log, so
	// that the log, the rate limits and the handlers see the same one.
	public, adminH = a.clientIP.Middleware(public), a.clientIP.Middleware(adminH)
	run(func() error { return server.Serve(ctx, publicLn, public, grace, a.log) })
	run(func() error { return server.Serve(ctx, adminLn, adminH, grace, a.log) })
	if mtlsLn != nil {
		// The same endpoints, on a listener that asks for client
		// certificates (RFC 8705 §5: browsers never meet it).
		ml, mh := mtlsLn, a.Server.Handler()
		if a.Config.AccessLog {
			mh = a.accessLog(mh, "mtls")
		}
		mh = a.clientIP.Middleware(mh)
		run(func() error { return server.Serve(ctx, ml, mh, grace, a.log) })
	}
	run(func() error { a.maintainKeys(ctx); return nil })
	if a.cluster != nil {
		run(func() error { a.cluster.Run(ctx); return nil })
	}
	run(func() error { a.purgeExpired(ctx); return nil })
	run(func() error {
		audit.RunAnchors(ctx, a.Store, a.Ring, auditAnchorInterval, a.now, a.log)
		return nil
	})
	// The audit appender outlives the servers' graceful shutdown, so that
	// the requests still in flight can record their events; the sealer
	// (internal/audit.RunSealer) outlives the appender, so that it chains
	// what the appender's last drain queued.
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	sealCtx, stopSeal := context.WithCancel(context.WithoutCancel(ctx))
	auditDone, sealDone := make(chan struct{}), make(chan struct{})
	a.auditorRan.Store(true)
	go func() { a.auditor.Run(auditCtx); close(auditDone) }()
	go func() { audit.RunSealer(sealCtx, a.Store, audit.SealInterval, a.log); close(sealDone) }()
	wg.Wait()
	stopAudit()
	<-auditDone
	stopSeal()
	<-sealDone
	close(errs)
	return <-errs
}

// accessLog wraps h in the access log, inside a request ID that the
// server's own logs of the request share.
func (a *App) accessLog(h http.Handler, listener string) http.Handler {
	return server.WithRequestID(accesslog.Handler(h, accesslog.Options{
		Logger:    a.log,
		Listener:  listener,
		RequestID: server.RequestID,
		Now:       a.now,
	}))
}

// auditAnchorInterval is how often the audit chain head is signed and
// stored as an anchor (when it moved).
const auditAnchorInterval = time.Minute

// purgeInterval is how often expired tokens, revoked jti values and used
// assertion ids are deleted.
const purgeInterval = 10 * time.Minute

// purgeExpired deletes expired short-lived records on a schedule, so that
// the token and replay tables do not grow without bound.
func (a *App) purgeExpired(ctx context.Context) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := purgeOnce(ctx, a.Store, a.now())
		r, rerr := a.purgeRates(ctx, a.now())
		n, err = n+r, errors.Join(err, rerr)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Error("purge expired records", "error", err)
		case n > 0:
			a.log.Info("purged expired records", "count", n)
		}
	}
}

// purgeOnce deletes every kind of expired record once: those of the
// store's Purger, then expired delegations and device codes. It returns
// how many it deleted; an error of one step does not stop the next.
func purgeOnce(ctx context.Context, st store.Store, now time.Time) (int64, error) {
	n, err := st.DeleteExpired(ctx, now)
	d, derr := st.DeleteExpiredDelegations(ctx, now)
	dc, dcerr := st.DeleteExpiredDeviceCodes(ctx, now)
	return n + d + dc, errors.Join(err, derr, dcerr)
}

// Close releases the store and listeners.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.publicLn != nil {
			a.publicLn.Close()
		}
		if a.adminLn != nil {
			a.adminLn.Close()
		}
		if a.mtlsLn != nil {
			a.mtlsLn.Close()
		}
		for _, c := range a.closers {
			c.Close()
		}
		a.closeAuditJournal()
		if a.Tracing != nil {
			// Export the spans still buffered, for a bounded time.
			ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
			if terr := a.Tracing.Shutdown(ctx); terr != nil {
				a.log.Warn("tracing: export at shutdown failed", "error", terr)
			}
			cancel()
		}
		if a.Store != nil {
			err = a.Store.Close()
		}
		if a.storeLock != nil {
			a.storeLock.Close()
		}
	})
	return err
}
