package esplora_test

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Esplora endpoints as the client names them in Calls().
const (
	epTip        = "GET /blocks/tip/hash"
	epBlock      = "GET /block/:hash"
	epBlockAt    = "GET /block-height/:h"
	epBlockTxids = "GET /block/:hash/txids"
	epStats      = "GET /scripthash/:h"
	epMempool    = "GET /scripthash/:h/txs/mempool"
	epChain      = "GET /scripthash/:h/txs/chain"
	epTx         = "GET /tx/:txid/hex"
)

// costScripts makes perKind keys of every output type on n, funds all but
// the last unfunded of them with two confirmed payments each (one
// FundMany round per payment), and returns their scripts in a mixed order.
func costScripts(t *testing.T, n chaintest.T, perKind, unfunded int) []watcher.Script {
	t.Helper()
	var scripts []watcher.Script
	for i := range perKind * len(chaintest.Kinds) {
		scripts = append(scripts, n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)]).Script)
	}
	raw := make([][]byte, 0, len(scripts)-unfunded)
	for _, s := range scripts[:len(scripts)-unfunded] {
		raw = append(raw, s)
	}
	n.FundMany(raw, 2, 20_000)
	return scripts
}

// esploraDelta is after minus before per endpoint, without zero entries.
func esploraDelta(before, after esplora.CallCounts) esplora.CallCounts {
	return after.Sub(before)
}

// TestSyncCost holds an Esplora sync to its request budget on a real
// regtest chain seen through the esploratest server: 30 watched scripts of
// every output type (28 with history, 2 without).
//
//   - A re-sync with no chain change reads one /scripthash/:h per script and
//     the tip, and nothing else: no history page, no transaction.
//   - A fresh client (a new `treasurywatch sync` process) pays one more
//     request, the tip block's header, and nothing else.
//   - After a block paying 3 of the scripts, only those 3 histories are
//     read (one mempool list, one stats and one chain page each), only the
//     3 new transactions are fetched (the old ones come from the store),
//     and only the new block's txid list is read.
func TestSyncCost(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	ctx := t.Context()
	scripts := costScripts(t, n, 6, 2)
	srv := esploratest.Start(t, node)
	newClient := func() *esplora.Client {
		c, err := esplora.New(esplora.Config{URL: srv.URL, RatePerSecond: 1e6, Burst: 1000}, node.Params, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := newClient()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := watcher.NewEngine(c, st, scripts, nil)

	// sync runs one sync and returns what it did and cost.
	sync := func(name string, c *esplora.Client, eng *watcher.Engine) (watcher.Result, esplora.CallCounts, int64) {
		t.Helper()
		before, reqs := c.Calls(), c.Requests()
		res, err := eng.Sync(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := esploraDelta(before, c.Calls())
		r := c.Requests() - reqs
		t.Logf("%s: %d requests: %s; fetched %d scripts, %d txs", name, r, d, res.FetchedScripts, res.FetchedTxs)
		if r != d.Total() {
			t.Errorf("%s: Requests() grew by %d but Calls() by %d", name, r, d.Total())
		}
		return res, d, r
	}

	res, _, _ := sync("first sync", c, eng)
	if res.FetchedScripts != len(scripts) || res.FetchedTxs < 2*(len(scripts)-2) {
		t.Fatalf("first sync fetched %d scripts and %d txs, want %d and at least %d", res.FetchedScripts, res.FetchedTxs, len(scripts), 2*(len(scripts)-2))
	}
	tip := res.Tip

	t.Run("no change", func(t *testing.T) {
		res, d, reqs := sync("no-change re-sync", c, eng)
		want := esplora.CallCounts{epTip: 1, epStats: int64(len(scripts))}
		if !maps.Equal(d, want) {
			t.Errorf("no-change re-sync cost %s, want %s", d, want)
		}
		if reqs != int64(len(scripts))+1 {
			t.Errorf("no-change re-sync made %d requests, want %d (one per script plus the tip)", reqs, len(scripts)+1)
		}
		if res.FetchedScripts != 0 || res.FetchedTxs != 0 || res.Tip != tip {
			t.Errorf("no-change re-sync: %+v, want no script or tx fetched at tip %d", res, tip.Height)
		}
	})

	t.Run("no change, fresh client", func(t *testing.T) {
		// As a cron job runs it: a new process, so no cached header.
		fresh := newClient()
		res, d, _ := sync("no-change re-sync, fresh client", fresh, watcher.NewEngine(fresh, st, scripts, nil))
		want := esplora.CallCounts{epTip: 1, epBlock: 1, epStats: int64(len(scripts))}
		if !maps.Equal(d, want) {
			t.Errorf("no-change re-sync with a fresh client cost %s, want %s", d, want)
		}
		if res.FetchedScripts != 0 || res.FetchedTxs != 0 {
			t.Errorf("no-change re-sync with a fresh client: %+v, want nothing fetched", res)
		}
	})

	t.Run("block paying 3 scripts", func(t *testing.T) {
		// Three payments, to scripts of three kinds, one with no history
		// before.
		paid := []watcher.Script{scripts[0], scripts[7], scripts[len(scripts)-1]}
		for _, s := range paid {
			n.Pay(chaintest.Output{Script: s, Value: btcutil.Amount(30_000)})
		}
		n.Mine()
		res, d, _ := sync("sync after a block paying 3", c, eng)
		for ep, want := range map[string]int64{
			epStats:   int64(len(scripts)) + 3, // every status, then once more in each history
			epMempool: 3,
			epChain:   3,
			epTx:      3, // only the new transactions
		} {
			if d[ep] != want {
				t.Errorf("%s: %d requests, want %d (all: %s)", ep, d[ep], want, d)
			}
		}
		allowed := []string{epTip, epBlock, epBlockAt, epBlockTxids, epStats, epMempool, epChain, epTx}
		for ep := range d {
			if !slices.Contains(allowed, ep) {
				t.Errorf("unexpected requests to %s (all: %s)", ep, d)
			}
		}
		// The tip and its header, the stored tip's height (reorg
		// check; its header is cached), and the txids of the new
		// block, which holds 3 ledger transactions. The blocks of the
		// paid scripts' older transactions were ordered before: the
		// client has their txid lists cached (a fresh client, as in a
		// new `treasurywatch sync` process, reads them again, for its
		// own block order of each history).
		if d[epTip] != 1 || d[epBlockAt] != 1 || d[epBlock] > 1 {
			t.Errorf("block requests beyond the tip, the reorg check and the new header: %s", d)
		}
		if d[epBlockTxids] != 1 {
			t.Errorf("%d block txid lists read, want 1 (the new block) (all: %s)", d[epBlockTxids], d)
		}
		if res.FetchedScripts != 3 || res.FetchedTxs != 3 || res.Tip.Height != tip.Height+1 {
			t.Errorf("sync after a block paying 3: %+v, want 3 scripts and 3 txs fetched at height %d", res, tip.Height+1)
		}
		bal, err := st.Balances(ctx, res.Tip.Height)
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := st.ScriptID(ctx, paid[2])
		if err != nil {
			t.Fatal(err)
		}
		if got := bal[id].Confirmed; got != 30_000 {
			t.Errorf("newly paid script holds %d sat, want 30000", got)
		}

		// And the chain is quiet again: back to the no-change budget.
		res, d, _ = sync("re-sync after that", c, eng)
		if want := (esplora.CallCounts{epTip: 1, epStats: int64(len(scripts))}); !maps.Equal(d, want) || res.FetchedTxs != 0 {
			t.Errorf("quiet re-sync cost %s and fetched %d txs, want %s and none", d, res.FetchedTxs, want)
		}
	})
}
