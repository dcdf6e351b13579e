package main

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// backendCollector exports what each backend counts: its round trips by
// outcome, its calls by method and the answers it refused, so a failing
// or lying server shows in the metrics before it fails a sync.
type backendCollector struct {
	backends []watcher.Backend
	requests *prometheus.Desc
	calls    *prometheus.Desc
	refused  *prometheus.Desc
}

func newBackendCollector(backends []watcher.Backend) *backendCollector {
	return &backendCollector{
		backends: backends,
		requests: prometheus.NewDesc("treasurywatch_backend_requests_total",
			"Round trips to each backend (an HTTP request, a batch on the wire) by outcome: ok, not_found, error, canceled.",
			[]string{"backend", "outcome"}, nil),
		calls: prometheus.NewDesc("treasurywatch_backend_calls_total",
			"Calls made to each backend by method or endpoint; a batch of n calls counts n.",
			[]string{"backend", "method"}, nil),
		refused: prometheus.NewDesc("treasurywatch_backend_refused_total",
			"Answers refused as inconsistent (a txid that does not match its transaction, JSON that disagrees with it, …) by reason.",
			[]string{"backend", "reason"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.calls
	ch <- c.refused
}

// Collect implements prometheus.Collector.
func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.backends {
		counted, ok := b.(watcher.Counted)
		if !ok {
			continue
		}
		name := b.Name()
		for _, m := range []struct {
			desc   *prometheus.Desc
			counts watcher.CallCounts
		}{{c.requests, counted.Outcomes()}, {c.calls, counted.Calls()}, {c.refused, counted.Refused()}} {
			for _, k := range slices.Sorted(maps.Keys(m.counts)) {
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.counts[k]), name, k)
			}
		}
	}
}
