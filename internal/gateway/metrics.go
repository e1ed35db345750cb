package gateway

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/introspect"
)

// keyStatus is implemented by rs.Verifier: the state of each issuer's keys.
type keyStatus interface {
	Status() []rs.IssuerStatus
}

// cacheStats is implemented by rs.Verifier: its verified-token cache.
type cacheStats interface {
	CacheStats() rs.CacheStats
}

type metrics struct {
	registry prometheus.Gatherer
	requests *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	source   atomic.Pointer[func() (rs.TokenVerifier, Introspector)]
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

// routeMetrics are a route's metric children, resolved when the route is
// compiled rather than looked up by label on each request.
type routeMetrics struct {
	served   prometheus.Counter  // requests proxied with a 2xx answer: decision allow (or anonymous), status 2xx
	upstream prometheus.Observer // upstream response time
}

func (m *metrics) forRoute(name string, anonymous bool) routeMetrics {
	result := "allow"
	if anonymous {
		result = "anonymous"
	}
	return routeMetrics{served: m.requests.WithLabelValues(name, result, "2xx"), upstream: m.upstream.WithLabelValues(name)}
}

// count counts a request by route, decision and status class, with the
// route's resolved counter for the common case.
func (m *metrics) count(d *decision) {
	if d.served != nil && d.status < 300 {
		d.served.Inc()
		return
	}
	m.requests.WithLabelValues(d.route, d.result, statusClass(d.status)).Inc()
}

func (m *metrics) setSource(f func() (rs.TokenVerifier, Introspector)) { m.source.Store(&f) }

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

// currentVerifiers are the verifiers of the configuration being served.
func (g *Gateway) currentVerifiers() (rs.TokenVerifier, Introspector) {
	st := g.state.Load()
	return st.verifier, st.intro
}

var (
	descFetches = prometheus.NewDesc("writ_gateway_jwks_fetches_total", "JWKS fetches by issuer and result.", []string{"issuer", "result"}, nil)
	descKeyAge  = prometheus.NewDesc("writ_gateway_jwks_age_seconds", "Age of the key set in use, by issuer.", []string{"issuer"}, nil)
	descOutage  = prometheus.NewDesc("writ_gateway_jwks_outage", "1 while an issuer's key set cannot be refreshed.", []string{"issuer"}, nil)
	descIntro   = prometheus.NewDesc("writ_gateway_introspection_cache_total", "Introspection cache lookups by result (hit, miss).", []string{"result"}, nil)
	descCache   = prometheus.NewDesc("writ_gateway_token_cache_total", "Verified-token cache lookups by result (hit, miss); the hit rate is hit/(hit+miss).", []string{"result"}, nil)
)

// statusCollector turns the verifiers' statuses into metrics at scrape
// time.
type statusCollector struct{ m *metrics }

// Describe implements prometheus.Collector.
func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFetches
	ch <- descKeyAge
	ch <- descOutage
	ch <- descCache
	ch <- descIntro
}

// Collect implements prometheus.Collector.
func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.source.Load()
	if f == nil {
		return
	}
	v, intro := (*f)()
	if ks, ok := v.(keyStatus); ok {
		for _, s := range ks.Status() {
			ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(s.Fetches-s.FetchErrors), s.Issuer, "ok")
			ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(s.FetchErrors), s.Issuer, "error")
			ch <- prometheus.MustNewConstMetric(descKeyAge, prometheus.GaugeValue, s.KeyAge.Seconds(), s.Issuer)
			outage := 0.0
			if !s.Available || s.LastError != "" {
				outage = 1
			}
			ch <- prometheus.MustNewConstMetric(descOutage, prometheus.GaugeValue, outage, s.Issuer)
		}
	}
	if in, ok := intro.(interface{ Stats() introspect.Stats }); ok {
		st := in.Stats()
		ch <- prometheus.MustNewConstMetric(descIntro, prometheus.CounterValue, float64(st.Hits), "hit")
		ch <- prometheus.MustNewConstMetric(descIntro, prometheus.CounterValue, float64(st.Misses), "miss")
	}
	if cs, ok := v.(cacheStats); ok {
		st := cs.CacheStats()
		ch <- prometheus.MustNewConstMetric(descCache, prometheus.CounterValue, float64(st.Hits), "hit")
		ch <- prometheus.MustNewConstMetric(descCache, prometheus.CounterValue, float64(st.Misses), "miss")
	}
}
