package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics counts and times requests by route pattern (a bounded set:
// never the raw path, which a client chooses).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// ledgerCollector reports the published ledger at scrape time, so the
// gauges are never behind the store and need no update loop.
type ledgerCollector struct {
	s       *Server
	balance *prometheus.Desc
	height  *prometheus.Desc
}

// registerMetrics registers the web server's metrics on reg; the daemon
// registers its own sync metrics on the same registry.
func registerMetrics(reg *prometheus.Registry, s *Server) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "treasurywatch_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "treasurywatch_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	c := &ledgerCollector{
		s: s,
		balance: prometheus.NewDesc("treasurywatch_entity_balance_satoshis",
			"Confirmed balance of each watched entity at the published block, in satoshis.", []string{"entity"}, nil),
		height: prometheus.NewDesc("treasurywatch_synced_height",
			"Height of the block the published ledger is stated at.", nil, nil),
	}
	for _, col := range []prometheus.Collector{m.requests, m.duration, c} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one answered request.
func (m *httpMetrics) observe(pattern string, code int, d time.Duration) {
	if pattern == "" {
		pattern = "unmatched"
	}
	m.requests.WithLabelValues(pattern, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(pattern).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.balance
	ch <- c.height
}

// Collect implements prometheus.Collector from the current snapshot.
// Before the first sync there is nothing to report, and nothing is.
func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := c.s.current(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.height, prometheus.GaugeValue, float64(snap.asOf.Height))
	for _, e := range snap.bal.Entities {
		ch <- prometheus.MustNewConstMetric(c.balance, prometheus.GaugeValue, float64(e.ConfirmedSat), e.ID)
	}
}

// metricsHandler exposes the registry passed to New (never the global one).
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrintln{s}})
}

// slogPrintln adapts the logger to promhttp's Println interface.
type slogPrintln struct{ s *Server }

func (l slogPrintln) Println(v ...any) { l.s.logger.Warn("metrics", "err", v) }
