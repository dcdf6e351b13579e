package electrum_test

import (
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Benchmarks of a whole engine sync through the Electrum client, against
// the electrumtest server over a real regtest btcd. The data set is
// benchSyncScripts P2WPKH scripts with benchSyncTxs confirmed payments
// each (FundMany, built before the timer starts). Run them with
//
//	go test -run '^$' -bench '[Ss]ync1000' -benchtime 3x ./watcher/backend/electrum/
//
// Besides ns/op they report requests/op (messages sent: one per JSON-RPC
// batch, i.e. round trips) and calls/op (RPC calls inside them) and, for
// the initial sync, txs/op. The client runs with its defaults (batches of
// 100, 4 batches in flight) and the engine with its default chunk of 256
// scripts.

const (
	benchSyncScripts = 1000
	benchSyncTxs     = 3
)

// benchSyncFixture starts a node holding the data set and an Electrum
// server over it, warmed up (its snapshot built).
func benchSyncFixture(b *testing.B) (*chaintest.Node, *electrumtest.Server, []watcher.Script) {
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
	srv := electrumtest.Start(b, nil, electrumtest.NewChainHandler(node).Handle)
	if _, err := benchClient(b, node, srv).Tip(b.Context()); err != nil {
		b.Fatal(err)
	}
	return node, srv, scripts
}

// benchClient returns a client of srv with the default configuration,
// closed when b ends.
func benchClient(b *testing.B, node *chaintest.Node, srv *electrumtest.Server) *electrum.Client {
	b.Helper()
	c, err := electrum.New(electrum.Config{URL: "tcp://" + srv.Addr()}, node.Params, nil)
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
// store and a fresh client (new connection and handshake) per op.
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
			b.Logf("one initial sync: %d messages, calls: %s", c.Requests(), c.Calls())
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
// stands still, with one long-lived client (the daemon's case): the tip
// and the 1,000 statuses in batches, nothing else.
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
	d := electrumDelta(calls0, c.Calls())
	reqs := float64(c.Requests()-reqs0) / float64(ops)
	b.ReportMetric(reqs, "requests/op")
	b.ReportMetric(float64(d.Total())/float64(ops), "calls/op")
	b.Logf("%d no-change re-syncs: %d messages, calls: %s", ops, c.Requests()-reqs0, d)
	if d[mStatus] != ops*benchSyncScripts || d[mTip] != ops || int64(len(d)) != 2 {
		b.Errorf("%d no-change re-syncs called %s, want only %d statuses and %d tips", ops, d, ops*benchSyncScripts, ops)
	}
}
