package esplora

import (
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"

	"testing"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/backendtest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestConformance runs the shared backend suite with the client talking
// to the protocol test server, which serves a real regtest btcd's chain.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"serial", Config{Concurrency: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			backendtest.Run(t, func(t *testing.T, node *chaintest.Node) watcher.Backend {
				srv := esploratest.Start(t, node)
				cfg := tc.cfg
				cfg.URL = srv.URL
				// A local test server needs no politeness.
				cfg.RatePerSecond, cfg.Burst = 1e6, 1000
				c, err := New(cfg, node.Params, nil)
				if err != nil {
					t.Fatal(err)
				}
				return c
			})
		})
	}
}

// TestCalls holds the client to its cost in requests on a real chain: an
// unchanged tip costs one, block headers and a block's txids are asked
// once, a status costs one request per script, and a history costs the
// mempool list, the counters and one request per page of 25.
func TestCalls(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	nt := node.T(t)
	key := nt.NewKey(chaintest.P2WPKH)
	var txids []chainhash.Hash
	// Two payments in one block (ordered with its txids), then three
	// blocks of one payment each.
	for range 2 {
		txids = append(txids, nt.Pay(chaintest.Output{Script: key.Script, Value: 100_000}).TxHash())
	}
	nt.Mine()
	for range 3 {
		txids = append(txids, nt.Pay(chaintest.Output{Script: key.Script, Value: 100_000}).TxHash())
		nt.Mine()
	}
	srv := esploratest.Start(t, node)
	c, err := New(Config{URL: srv.URL, RatePerSecond: 1e6, Burst: 1000}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()

	// cost runs fn and returns the requests it made per endpoint.
	cost := func(fn func() error) CallCounts {
		t.Helper()
		before := c.Calls()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return c.Calls().Sub(before)
	}
	var tip watcher.BlockRef
	scripts := []watcher.Script{key.Script}
	for _, tc := range []struct {
		name  string
		fn    func() error
		calls string // CallCounts.String()
	}{
		{"check network", func() error { return c.CheckNetwork(ctx, node.Params) },
			"GET /block-height/:h=1"},
		{"first tip", func() (err error) { tip, err = c.Tip(ctx); return err },
			"GET /block/:hash=1 GET /blocks/tip/hash=1"},
		{"same tip", func() (err error) { _, err = c.Tip(ctx); return err },
			"GET /blocks/tip/hash=1"},
		{"known block", func() (err error) { _, err = c.BlockAt(ctx, tip.Height); return err },
			"GET /block-height/:h=1"},
		{"first history", func() (err error) { _, err = c.Histories(ctx, scripts); return err },
			"GET /block/:hash=1 GET /block/:hash/txids=1 GET /scripthash/:h=1 GET /scripthash/:h/txs/chain=1 GET /scripthash/:h/txs/mempool=1"},
		{"same history", func() (err error) { _, err = c.Histories(ctx, scripts); return err },
			"GET /scripthash/:h=1 GET /scripthash/:h/txs/chain=1 GET /scripthash/:h/txs/mempool=1"},
		{"status", func() (err error) { _, err = c.Statuses(ctx, scripts); return err },
			"GET /scripthash/:h=1"},
		{"transactions", func() (err error) { _, err = c.Transactions(ctx, append(txids, txids[0])); return err },
			"GET /tx/:txid/hex=5"},
	} {
		if calls := cost(tc.fn); calls.String() != tc.calls {
			t.Errorf("%s: %s, want %s", tc.name, calls, tc.calls)
		}
	}
	if total := c.Calls().Total(); total != 19 || c.Requests() != total {
		t.Errorf("Calls().Total() = %d, Requests() = %d, want 19", total, c.Requests())
	}
}
