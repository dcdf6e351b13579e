package btcd

import (
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// benchChain is a node whose scripts hold perScript transactions each.
func benchChain(b *testing.B, scripts, perScript int) (*chaintest.Node, []watcher.Script) {
	b.Helper()
	node := chaintest.StartTB(b, chaintest.Options{})
	nt := node.T(b)
	out := make([]watcher.Script, scripts)
	raw := make([][]byte, scripts)
	for i := range out {
		k := nt.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)])
		out[i], raw[i] = k.Script, k.Script
	}
	nt.FundMany(raw, perScript, 10_000)
	return node, out
}

// BenchmarkHistories reads 20 histories of 100 transactions (2,000 raw
// transactions): "cold" with an empty header cache, as on a first sync;
// "warm" as on a re-sync.
func BenchmarkHistories(b *testing.B) {
	node, scripts := benchChain(b, 20, 100)
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		b.Run(name, func(b *testing.B) {
			c := newClient(b, node, Config{})
			if warm {
				if _, err := c.Histories(b.Context(), scripts); err != nil {
					b.Fatal(err)
				}
			}
			var calls, n int64
			for b.Loop() {
				if !warm {
					c = newClient(b, node, Config{})
				}
				before := c.Calls().Total()
				if _, err := c.Histories(b.Context(), scripts); err != nil {
					b.Fatal(err)
				}
				calls += c.Calls().Total() - before
				n++
			}
			b.ReportMetric(float64(calls)/float64(n), "calls/op")
		})
	}
}

// BenchmarkNoChange is the btcd part of a sync that finds nothing new:
// the tip and the mempool, two calls.
func BenchmarkNoChange(b *testing.B) {
	node := chaintest.StartTB(b, chaintest.Options{InitialBlocks: 1})
	c := newClient(b, node, Config{})
	if _, err := c.Tip(b.Context()); err != nil {
		b.Fatal(err)
	}
	before := c.Calls().Total()
	n := 0
	for b.Loop() {
		if _, err := c.Tip(b.Context()); err != nil {
			b.Fatal(err)
		}
		if _, err := c.MempoolTxids(b.Context()); err != nil {
			b.Fatal(err)
		}
		n++
	}
	perOp := float64(c.Calls().Total()-before) / float64(n)
	b.ReportMetric(perOp, "calls/op")
	if perOp > 2 {
		b.Errorf("a sync with no change costs %.1f calls, want at most 2", perOp)
	}
}

// BenchmarkTransactions fetches 1,000 raw transactions by txid.
func BenchmarkTransactions(b *testing.B) {
	node, scripts := benchChain(b, 10, 100)
	c := newClient(b, node, Config{})
	hists, err := c.Histories(b.Context(), scripts)
	if err != nil {
		b.Fatal(err)
	}
	var txids []chainhash.Hash
	for _, h := range hists {
		for _, it := range h {
			txids = append(txids, it.Txid)
		}
	}
	for b.Loop() {
		if _, err := c.Transactions(b.Context(), txids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(txids)), "txs/op")
}
