package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestDaemon runs `treasurywatch run` in-process: it serves the stored
// figures, syncs on its schedule (a new block appears on the dashboard
// without a restart), and stops cleanly when its context ends.
func TestDaemon(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(chaintest.P2TR)
	n.Pay(chaintest.Output{Script: k.Script, Value: 5_000_000})
	n.Mine()
	cfg := writeWatchlist(t, t.TempDir(), n.Node, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
	d := startTestDaemon(t, cfg, "", "-log-level", "warn")
	base := d.base

	summary := func() (height int64, total int64) {
		t.Helper()
		resp, err := http.Get(base + "/api/v1/summary")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return -1, 0
		}
		var s struct {
			AsOf     watcher.AsOf `json:"as_of"`
			TotalSat int64        `json:"total_confirmed_sat"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s.AsOf.Height, s.TotalSat
	}
	waitFor := func(height, total int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			h, sat := summary()
			if h == height && sat == total {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("summary stuck at height %d, %d sat; want %d, %d", h, sat, height, total)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(n.Height(), 5_000_000)

	n.Pay(chaintest.Output{Script: k.Script, Value: 1_000})
	n.Mine()
	waitFor(n.Height(), 5_001_000)

	// The backend's round trips and calls are in the metrics.
	metrics := d.get(t, "/metrics")
	for _, re := range []string{
		`treasurywatch_backend_requests_total\{backend="btcd [^"]+",outcome="ok"\} [1-9]`,
		`treasurywatch_backend_calls_total\{backend="btcd [^"]+",method="getblockchaininfo"\} [1-9]`,
		`treasurywatch_syncs_total\{outcome="ok"\} [1-9]`,
	} {
		if !regexp.MustCompile(re).MatchString(metrics) {
			t.Errorf("/metrics lacks %s", re)
		}
	}

	d.stop(t)
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}
