// Package metrics is writ's Prometheus instrumentation: one Metrics per
// node, owning its registry (never the process-wide default one), served
// as Prometheus text on the admin listener.
//
// Every label is bounded: endpoints are route patterns of the code (never
// a raw path), outcomes are status classes and the server's OAuth error
// codes, grant types come from the grant table, store operations from the
// store interface, key labels from the key ring (itself bounded), and
// client labels from the clients registered by an administrator, at most
// Options.MaxClients of them, the rest counted as "other". No label holds
// a token, a secret or a user's identifier.
//
// Every method is safe on a nil *Metrics and then does nothing, so that
// code built without metrics (tests, embedding) needs no checks.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeobs"
)

// DefaultMaxClients is how many clients get their own client label when
// Options.MaxClients is zero.
const DefaultMaxClients = 100

// Client label values that are not a client_id.
const (
	// ClientOther counts the clients beyond Options.MaxClients.
	ClientOther = "other"
	// ClientDynamic counts every dynamically registered client (RFC 7591),
	// whose number strangers decide.
	ClientDynamic = "dynamic"
	// ClientMetadataDocument counts every Client ID Metadata Document
	// client (a URL as client_id, chosen by strangers too).
	ClientMetadataDocument = "metadata_document"
)

// Key describes one signing key of the ring for the key age gauge.
type Key struct {
	// KeyID is the key's kid (a public thumbprint).
	KeyID string
	// Algorithm is the key's JWS algorithm.
	Algorithm string
	// State is its rotation state: next, active or retired.
	State string
	// CreatedAt is when the key entered the ring.
	CreatedAt time.Time
}

// Options configure New.
type Options struct {
	// MaxClients bounds the number of distinct client labels of
	// writ_tokens_issued_total; zero means DefaultMaxClients, negative
	// gives every client the label "other".
	MaxClients int
	// Keys lists the signing keys at scrape time; nil leaves out the key
	// age gauge.
	Keys func() []Key
	// Now is the clock of the key ages; nil means time.Now.
	Now func() time.Time
	// StoreOperations are the names of the store's operations, whose
	// latency series are made ahead (storeobs.Operations).
	StoreOperations []string
	// WAL reports the embedded SQLite store's checkpoints at scrape time;
	// nil leaves their series out (PostgreSQL).
	WAL func() WAL
	// GroupCommits reports the store's group commit at scrape time; nil
	// leaves its series out.
	GroupCommits func() GroupCommits
}

// GroupCommits is what the store's group commit has done: the shared
// commits it ran, the writes they carried (their ratio is the mean batch),
// and the writes PostgreSQL made run again alone after refusing their
// batch.
type GroupCommits struct {
	// Commits, Writes and Reruns are counts since the store opened.
	Commits, Writes, Reruns uint64
}

// WAL is what the embedded SQLite store's checkpointer has done: its runs
// by outcome (completed, given way to another checkpoint, failed) and the
// pages its write-ahead log held at the last completed run.
type WAL struct {
	// OK, Busy and Failed count the checkpointer's runs by outcome.
	OK, Busy, Failed uint64
	// Pages is the log's size, in pages, at the last completed run.
	Pages int64
}

// Metrics are one node's metrics and the registry that serves them.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	storeDur *prometheus.HistogramVec
	storeErr *prometheus.CounterVec
	jwks     *prometheus.CounterVec
	logins   *prometheus.CounterVec
	reuse    *prometheus.CounterVec

	// storeOps are the operations' resolved latency observers, built once
	// and only read afterwards.
	storeOps map[string]prometheus.Observer

	clients clientLabels
}

// New builds the metrics in a registry of their own, with the Go runtime
// and process collectors.
func New(o Options) (*Metrics, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxClients == 0 {
		o.MaxClients = DefaultMaxClients
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_http_requests_total",
			Help: "HTTP requests on the public listener by endpoint (route pattern; unmatched when none matched), status class and OAuth error code (none when the request was not refused with one).",
		}, []string{"endpoint", "status", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "writ_http_request_duration_seconds",
			Help:    "Time to serve a request on the public listener, by endpoint (route pattern).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_tokens_issued_total",
			Help: "Successful token endpoint responses by grant type and client (client_id of an admin-registered client up to the configured number, then other; dynamic and metadata_document for those origins).",
		}, []string{"grant_type", "client"}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "writ_store_operation_duration_seconds",
			Help:    "Time of a store operation (a method of the store interface), by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"operation"}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_store_operation_errors_total",
			Help: "Store operations that returned an error, by operation and kind (not_found, already_exists, conflict, reused, expired, other).",
		}, []string{"operation", "error"}),
		jwks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_jwks_requests_total",
			Help: "Requests for the published JWKS by result (served, not_modified).",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_login_failures_total",
			Help: "Failed password sign-ins by reason (invalid_credentials, throttled).",
		}, []string{"reason"}),
		reuse: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_token_reuse_detected_total",
			Help: "Single-use credentials presented again, by grant type (refresh_token: a rotated refresh token, whose family is then revoked; authorization_code: a redeemed code).",
		}, []string{"grant_type"}),
		storeOps: make(map[string]prometheus.Observer, len(o.StoreOperations)),
		clients:  clientLabels{max: o.MaxClients, seen: map[string]struct{}{}},
	}
	cs := []prometheus.Collector{
		m.requests, m.duration, m.tokens, m.storeDur, m.storeErr, m.jwks, m.logins, m.reuse,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if o.Keys != nil {
		cs = append(cs, keyCollector{keys: o.Keys, now: o.Now})
	}
	if o.WAL != nil {
		cs = append(cs, walCollectors(o.WAL)...)
	}
	if o.GroupCommits != nil {
		cs = append(cs, groupCommitCollectors(o.GroupCommits)...)
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, op := range o.StoreOperations {
		m.storeOps[op] = m.storeDur.WithLabelValues(op)
	}
	// The series of the outcomes people alert on exist from the start, at 0.
	for _, r := range []string{"served", "not_modified"} {
		m.jwks.WithLabelValues(r)
	}
	for _, r := range []string{"invalid_credentials", "throttled"} {
		m.logins.WithLabelValues(r)
	}
	for _, g := range []string{"refresh_token", "authorization_code"} {
		m.reuse.WithLabelValues(g)
	}
	return m, nil
}

// Registry is the registry the metrics are in, for a caller that adds
// collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the metrics as Prometheus text (or OpenMetrics, when the
// scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Middleware counts and times every request next serves, by the route,
// OAuth error and status that reqinfo recorded. It must run inside
// reqinfo.Middleware; outside it every request counts as unmatched with
// status 2xx.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		endpoint, code, status := "unmatched", "none", 0
		if i := reqinfo.From(r.Context()); i != nil {
			if i.Route != "" {
				endpoint = i.Route
			}
			if i.Error != "" {
				code = i.Error
			}
			status = i.Status
		}
		m.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(endpoint, StatusClass(status), code).Inc()
	})
}

// StatusClass is "2xx", "3xx", "4xx" or "5xx" (a status of 0, nothing
// written, is 200).
func StatusClass(status int) string {
	if status == 0 {
		return "2xx"
	}
	if status < 100 || status >= 600 {
		return "other"
	}
	return statusClasses[status/100-1]
}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// TokenIssued counts a successful token response.
func (m *Metrics) TokenIssued(grantType string, c *store.Client) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues(grantType, m.clients.label(c)).Inc()
}

// JWKSServed counts a JWKS request: the set itself, or 304 Not Modified.
func (m *Metrics) JWKSServed(notModified bool) {
	if m == nil {
		return
	}
	r := "served"
	if notModified {
		r = "not_modified"
	}
	m.jwks.WithLabelValues(r).Inc()
}

// Login failure reasons.
const (
	// LoginInvalidCredentials: wrong username or password.
	LoginInvalidCredentials = "invalid_credentials"
	// LoginThrottled: refused for too many recent failures.
	LoginThrottled = "throttled"
)

// LoginFailed counts a failed password sign-in; reason is one of the
// Login* constants.
func (m *Metrics) LoginFailed(reason string) {
	if m == nil {
		return
	}
	if reason != LoginThrottled {
		reason = LoginInvalidCredentials
	}
	m.logins.WithLabelValues(reason).Inc()
}

// ReuseDetected counts a single-use credential presented again: a
// rotated refresh token ("refresh_token") or a redeemed code
// ("authorization_code").
func (m *Metrics) ReuseDetected(grantType string) {
	if m == nil {
		return
	}
	if grantType != "authorization_code" {
		grantType = "refresh_token"
	}
	m.reuse.WithLabelValues(grantType).Inc()
}

// ObserveStore records one store operation: its latency, and its error
// kind when it failed.
func (m *Metrics) ObserveStore(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	if o, ok := m.storeOps[op]; ok {
		o.Observe(d.Seconds())
	} else {
		m.storeDur.WithLabelValues(op).Observe(d.Seconds())
	}
	if err != nil {
		m.storeErr.WithLabelValues(op, storeobs.ErrorKind(err)).Inc()
	}
}

// StoreObserver adapts ObserveStore to the storeobs.Observer shape: it
// times the call that begins and records it when the returned function
// is called with the call's error.
func (m *Metrics) StoreObserver() func(ctx context.Context, op string) (context.Context, func(error)) {
	return func(ctx context.Context, op string) (context.Context, func(error)) {
		start := time.Now()
		return ctx, func(err error) { m.ObserveStore(op, time.Since(start), err) }
	}
}

// clientLabels hands out client label values, bounded.
type clientLabels struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

func (c *clientLabels) label(cl *store.Client) string {
	if cl == nil {
		return ClientOther
	}
	switch cl.Origin {
	case store.OriginDynamic:
		return ClientDynamic
	case store.OriginMetadataDocument:
		return ClientMetadataDocument
	}
	id := cl.ID
	if c.max < 0 || id == "" || len(id) > 128 {
		return ClientOther
	}
	c.mu.RLock()
	_, ok := c.seen[id]
	c.mu.RUnlock()
	if ok {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[id]; ok {
		return id
	}
	if len(c.seen) >= c.max {
		return ClientOther
	}
	c.seen[id] = struct{}{}
	return id
}

var descKeyAge = prometheus.NewDesc("writ_signing_key_age_seconds",
	"Age of each signing key of the ring since it entered it, by kid, algorithm and rotation state (next, active, retired).",
	[]string{"kid", "alg", "state"}, nil)

// keyCollector reports the key ring's ages at scrape time.
type keyCollector struct {
	keys func() []Key
	now  func() time.Time
}

// Describe implements prometheus.Collector.
func (k keyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descKeyAge }

// Collect implements prometheus.Collector.
func (k keyCollector) Collect(ch chan<- prometheus.Metric) {
	now := k.now()
	for _, key := range k.keys() {
		ch <- prometheus.MustNewConstMetric(descKeyAge, prometheus.GaugeValue, now.Sub(key.CreatedAt).Seconds(), key.KeyID, key.Algorithm, key.State)
	}
}

// walCollectors read the SQLite checkpointer's runs at each scrape.
func walCollectors(wal func() WAL) []prometheus.Collector {
	const help = "Runs of the embedded store's checkpointer, which copies the write-ahead log into the database file every second, by result (ok; busy: gave way to another checkpoint; failed: an error, the log then left to the writer's own checkpoint)."
	runs := func(result string, count func(WAL) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "writ_sqlite_checkpoints_total", Help: help,
			ConstLabels: prometheus.Labels{"result": result}}, func() float64 { return float64(count(wal())) })
	}
	return []prometheus.Collector{
		runs("ok", func(w WAL) uint64 { return w.OK }),
		runs("busy", func(w WAL) uint64 { return w.Busy }),
		runs("failed", func(w WAL) uint64 { return w.Failed }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "writ_sqlite_wal_pages",
			Help: "Pages in the embedded store's write-ahead log at the checkpointer's last completed run (pages after the oldest open read stay in it; a log that keeps growing means a reader holds it)."},
			func() float64 { return float64(wal().Pages) }),
	}
}

// groupCommitCollectors read the store's group commit at each scrape.
func groupCommitCollectors(group func() GroupCommits) []prometheus.Collector {
	counter := func(name, help string, count func(GroupCommits) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(count(group())) })
	}
	return []prometheus.Collector{
		counter("writ_store_group_commits_total",
			"Commits of the store's group commit, in which the writes of concurrent requests share one transaction and one flush (a write that found no other to go with commits alone, and counts too).",
			func(g GroupCommits) uint64 { return g.Commits }),
		counter("writ_store_group_commit_writes_total",
			"Writes carried by those commits: divided by writ_store_group_commits_total, the mean number of writes per commit.",
			func(g GroupCommits) uint64 { return g.Writes }),
		counter("writ_store_group_commit_reruns_total",
			"Writes run again on their own because PostgreSQL refused their shared batch (a row lock waited for more than 100 ms, a deadlock, another write's error); always 0 on SQLite.",
			func(g GroupCommits) uint64 { return g.Reruns }),
	}
}

// RequireBearer wraps h so that it answers only requests that carry
// "Authorization: Bearer token" (compared in constant time); others get
// 401. An empty token refuses every request.
func RequireBearer(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearerMatches(r.Header.Get("Authorization"), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="writ-admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
