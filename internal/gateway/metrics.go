package gateway

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// IssuerStatus is what the metrics report of one issuer's keys and the
// verified-token cache.
type IssuerStatus struct {
	// Issuer is the iss value.
	Issuer string
	// Fetches and FetchErrors count the JWKS fetches.
	Fetches, FetchErrors uint64
	// KeyAgeSeconds is the age of the keys in use.
	KeyAgeSeconds float64
	// Outage is true while no fresh key set could be fetched.
	Outage bool
	// CacheHits and CacheMisses count the verified-token cache.
	CacheHits, CacheMisses uint64
}

// StatusReporter is implemented by verifiers (and introspection clients)
// that report their keys and caches.
type StatusReporter interface {
	// GatewayStatus returns one entry per issuer.
	GatewayStatus() []IssuerStatus
}

type metrics struct {
	registry prometheus.Gatherer
	requests *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	statuses atomic.Pointer[func() []IssuerStatus]
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_gateway_requests_total",
			Help: "Requests by route, decision (allow, deny, anonymous, error, own) and status (2xx, 3xx, 4xx code, 5xx).",
		}, []string{"route", "decision", "status"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "writ_gateway_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_gateway_config_reloads_total",
			Help: "Reloads of the route file by result (ok, error).",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.upstream, m.reloads, statusCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.registry = g
	}
	return m, nil
}

func (m *metrics) setStatusSource(f func() []IssuerStatus) { m.statuses.Store(&f) }

// handler serves the metrics of the registry.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Handler serves the gateway's metrics, for a separate listener; nil when
// the registerer given to New is not also a Gatherer.
func (g *Gateway) Handler() http.Handler {
	if g.metrics.registry == nil {
		return nil
	}
	return g.metrics.handler()
}

// statuses collects the issuers' statuses of the current verifiers.
func (g *Gateway) statuses() []IssuerStatus {
	st := g.state.Load()
	var out []IssuerStatus
	for _, v := range []any{st.verifier, st.intro} {
		if r, ok := v.(StatusReporter); ok {
			out = append(out, r.GatewayStatus()...)
		}
	}
	return out
}

var (
	descFetches = prometheus.NewDesc("writ_gateway_jwks_fetches_total", "JWKS fetches by issuer and result.", []string{"issuer", "result"}, nil)
	descKeyAge  = prometheus.NewDesc("writ_gateway_jwks_age_seconds", "Age of the key set in use, by issuer.", []string{"issuer"}, nil)
	descOutage  = prometheus.NewDesc("writ_gateway_jwks_outage", "1 while an issuer's key set cannot be refreshed.", []string{"issuer"}, nil)
	descCache   = prometheus.NewDesc("writ_gateway_token_cache_total", "Verified-token cache lookups by issuer and result (hit, miss).", []string{"issuer", "result"}, nil)
)

// statusCollector turns the verifiers' statuses into metrics at scrape
// time.
type statusCollector struct{ m *metrics }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFetches
	ch <- descKeyAge
	ch <- descOutage
	ch <- descCache
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.statuses.Load()
	if f == nil {
		return
	}
	for _, s := range (*f)() {
		ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(s.Fetches-s.FetchErrors), s.Issuer, "ok")
		ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(s.FetchErrors), s.Issuer, "error")
		ch <- prometheus.MustNewConstMetric(descKeyAge, prometheus.GaugeValue, s.KeyAgeSeconds, s.Issuer)
		outage := 0.0
		if s.Outage {
			outage = 1
		}
		ch <- prometheus.MustNewConstMetric(descOutage, prometheus.GaugeValue, outage, s.Issuer)
		ch <- prometheus.MustNewConstMetric(descCache, prometheus.CounterValue, float64(s.CacheHits), s.Issuer, "hit")
		ch <- prometheus.MustNewConstMetric(descCache, prometheus.CounterValue, float64(s.CacheMisses), s.Issuer, "miss")
	}
}
