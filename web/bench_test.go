package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// dropCaches makes the next request render again and, with snapshot,
// read the store again too.
func (s *Server) dropCaches(snapshot bool) {
	s.mu.Lock()
	if snapshot {
		s.snap = nil
	}
	s.clearCacheLocked()
	s.mu.Unlock()
}

// BenchmarkEntityPage10k renders the page of an entity with 10,000
// transactions spread over two years. "cold" is what the first reader
// after a sync pays (the store read included), "render" the page built
// from the history already loaded, "cached" every later reader until the
// next sync; "healthz" is the floor the three are compared with.
func BenchmarkEntityPage10k(b *testing.B) {
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	l := buildSynth(b, 10_000, end.AddDate(-2, 0, 0), end)
	s, err := New(Config{}, l.wl, l.st, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	body := mustGet(b, h, "/entity/big")
	bal, err := watcher.NewLedger(l.st, l.wl).Balances(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if want := watcher.FormatBTC(bal.Entities[0].ConfirmedSat); !strings.Contains(body, want) {
		b.Fatalf("page lacks the balance %s", want)
	}
	for _, bc := range []struct {
		name, path string
		drop, snap bool
	}{{"cold", "/entity/big", true, true}, {"render", "/entity/big", true, false}, {"cached", "/entity/big", false, false},
		// The floor the others are compared with, measured in the same run.
		{"healthz", "/healthz", false, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bc.drop {
					s.dropCaches(bc.snap)
				}
				if res, _ := get(b, h, http.MethodGet, bc.path); res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}
