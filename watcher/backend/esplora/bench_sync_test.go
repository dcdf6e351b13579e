package esplora_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Benchmarks of a whole engine sync through the Esplora client, against
// the esploratest server over a real regtest btcd. The data set is
// benchSyncScripts P2WPKH scripts with benchSyncTxs confirmed payments
// each (FundMany, built before the timer starts). Run them with
//
//	go test -run '^$' -bench '[Ss]ync1000' -benchtime 3x ./watcher/backend/esplora/
//
// Besides ns/op they report requests/op (HTTP round trips) and calls/op
// (the same for Esplora, which has no batch endpoint) and, for the initial
// sync, txs/op. The client is unthrottled (RatePerSecond 1e6) with the
// default concurrency (4): the figures are the protocol's cost, not a
// public server's rate limit.

const (
	benchSyncScripts = 1000
	benchSyncTxs     = 3
)

// benchSyncFixture starts a node holding the data set and an Esplora
// server over it, warmed up (its index built).
func benchSyncFixture(b *testing.B) (*chaintest.Node, *esploratest.Server, []watcher.Script) {
	b.Helper()
	node := chaintest.StartTB(b, chaintest.Options{})
	n := node.T(b)
	raw := make([][]byte, benchSyncScripts)
	scripts := make([]watcher.Script, benchSyncScripts)
	for i := range raw {
		raw[i] = n.NewKey(chaintest.P2WPKH).Script
		scripts[i] = raw[i]
	}
	n.FundMany(raw, benchSyncTxs, btcutil.Amount(10_000))
	srv := esploratest.Start(b, node)
	resp, err := http.Get(srv.URL + "/blocks/tip/hash")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return node, srv, scripts
}

// benchClient returns an unthrottled client of srv, closed when b ends.
func benchClient(b *testing.B, node *chaintest.Node, srv *esploratest.Server) *esplora.Client {
	b.Helper()
	c, err := esplora.New(esplora.Config{URL: srv.URL, RatePerSecond: 1e6, Burst: 1000}, node.Params, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// benchStore opens a new ledger in a fresh directory.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "ledger.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkInitialSync1000 is a first sync of the whole data set: a fresh
// store and a fresh client (no cached block headers) per op.
func BenchmarkInitialSync1000(b *testing.B) {
	node, srv, scripts := benchSyncFixture(b)
	var ops, reqs, calls, txs int64
	for b.Loop() {
		b.StopTimer()
		c := benchClient(b, node, srv)
		st := benchStore(b)
		eng := watcher.NewEngine(c, st, scripts, nil)
		b.StartTimer()

		res, err := eng.Sync(b.Context())

		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.FetchedScripts != benchSyncScripts || res.FetchedTxs < benchSyncScripts*benchSyncTxs {
			b.Fatalf("initial sync: %+v, want %d scripts and at least %d txs", res, benchSyncScripts, benchSyncScripts*benchSyncTxs)
		}
		ops++
		reqs += c.Requests()
		calls += c.Calls().Total()
		txs += int64(res.FetchedTxs)
		if ops == 1 {
			b.Logf("one initial sync: %d requests: %s", c.Requests(), c.Calls())
		}
		st.Close()
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(reqs)/float64(ops), "requests/op")
	b.ReportMetric(float64(calls)/float64(ops), "calls/op")
	b.ReportMetric(float64(txs)/float64(ops), "txs/op")
}

// BenchmarkNoChangeResync1000 re-syncs a synced ledger while the chain
// stands still, with one long-lived client (the daemon's case). Esplora
// has no batch endpoint for the per-script counters: the floor is one
// request per script plus the tip, and every op must fetch nothing else.
func BenchmarkNoChangeResync1000(b *testing.B) {
	node, srv, scripts := benchSyncFixture(b)
	c := benchClient(b, node, srv)
	eng := watcher.NewEngine(c, benchStore(b), scripts, nil)
	if _, err := eng.Sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	reqs0, calls0 := c.Requests(), c.Calls()
	var ops int64
	for b.Loop() {
		res, err := eng.Sync(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if res.FetchedScripts != 0 || res.FetchedTxs != 0 {
			b.Fatalf("no-change re-sync fetched %d scripts and %d txs", res.FetchedScripts, res.FetchedTxs)
		}
		ops++
	}
	reqs := float64(c.Requests()-reqs0) / float64(ops)
	calls := float64(c.Calls().Total()-calls0.Total()) / float64(ops)
	b.ReportMetric(reqs, "requests/op")
	b.ReportMetric(calls, "calls/op")
	if want := float64(benchSyncScripts + 1); reqs != want {
		b.Errorf("a no-change re-sync costs %.1f requests, want %.0f (one per script plus the tip)", reqs, want)
	}
}
