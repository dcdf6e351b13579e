package electrum_test

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Electrum methods as the client names them in Calls().
const (
	mVersion   = "server.version"
	mTip       = "blockchain.headers.subscribe"
	mHeader    = "blockchain.block.header"
	mHeaders   = "blockchain.block.headers"
	mIDFromPos = "blockchain.transaction.id_from_pos"
	mStatus    = "blockchain.scripthash.subscribe"
	mHistory   = "blockchain.scripthash.get_history"
	mTx        = "blockchain.transaction.get"
)

// costScripts makes perKind keys of every output type on n, funds all but
// the last unfunded of them with two confirmed payments each (one FundMany
// round per payment), and returns their scripts in a mixed order.
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

// electrumDelta is after minus before per method, without zero entries.
func electrumDelta(before, after electrum.CallCounts) electrum.CallCounts {
	return after.Sub(before)
}

// TestSyncCost holds an Electrum sync to its round-trip budget on a real
// regtest chain seen through the electrumtest server: 30 watched scripts
// of every output type (28 with history, 2 without), fewer than the batch
// size.
//
//   - A re-sync with no chain change costs two messages: the tip
//     (blockchain.headers.subscribe) and ONE batch of 30
//     blockchain.scripthash.subscribe; no history, no transaction.
//   - A fresh client (a new `treasurywatch sync` process) adds only its
//     handshake (server.version).
//   - After a block paying 3 of the scripts, the histories of exactly those
//     3 are asked for, in one batch, only the 3 new transactions are
//     fetched (the old ones come from the store), and only the new block's
//     txids are read (older blocks are ordered in the store already).
func TestSyncCost(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	ctx := t.Context()
	scripts := costScripts(t, n, 6, 2)
	srv := electrumtest.Start(t, nil, electrumtest.NewChainHandler(node).Handle)
	newClient := func() *electrum.Client {
		c, err := electrum.New(electrum.Config{URL: "tcp://" + srv.Addr()}, node.Params, nil)
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

	// sync runs one sync and returns what it did and cost: calls per
	// method and messages (round trips).
	sync := func(name string, c *electrum.Client, eng *watcher.Engine) (watcher.Result, electrum.CallCounts, int64) {
		t.Helper()
		before, reqs := c.Calls(), c.Requests()
		res, err := eng.Sync(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := electrumDelta(before, c.Calls())
		r := c.Requests() - reqs
		t.Logf("%s: %d messages, calls: %s; fetched %d scripts, %d txs", name, r, d, res.FetchedScripts, res.FetchedTxs)
		return res, d, r
	}

	res, _, _ := sync("first sync", c, eng)
	if res.FetchedScripts != len(scripts) || res.FetchedTxs < 2*(len(scripts)-2) {
		t.Fatalf("first sync fetched %d scripts and %d txs, want %d and at least %d", res.FetchedScripts, res.FetchedTxs, len(scripts), 2*(len(scripts)-2))
	}
	tip := res.Tip

	t.Run("no change", func(t *testing.T) {
		res, d, msgs := sync("no-change re-sync", c, eng)
		want := electrum.CallCounts{mTip: 1, mStatus: int64(len(scripts))}
		if !maps.Equal(d, want) {
			t.Errorf("no-change re-sync cost %s, want %s", d, want)
		}
		if msgs != 2 {
			t.Errorf("no-change re-sync took %d messages, want 2: the tip and one batch of statuses", msgs)
		}
		if res.FetchedScripts != 0 || res.FetchedTxs != 0 || res.Tip != tip {
			t.Errorf("no-change re-sync: %+v, want no script or tx fetched at tip %d", res, tip.Height)
		}
	})

	t.Run("no change, fresh client", func(t *testing.T) {
		fresh := newClient()
		res, d, msgs := sync("no-change re-sync, fresh client", fresh, watcher.NewEngine(fresh, st, scripts, nil))
		want := electrum.CallCounts{mVersion: 1, mTip: 1, mStatus: int64(len(scripts))}
		if !maps.Equal(d, want) || msgs != 3 {
			t.Errorf("no-change re-sync with a fresh client cost %d messages, %s; want 3 messages, %s", msgs, d, want)
		}
		if res.FetchedScripts != 0 || res.FetchedTxs != 0 {
			t.Errorf("no-change re-sync with a fresh client: %+v, want nothing fetched", res)
		}
	})

	t.Run("block paying 3 scripts", func(t *testing.T) {
		paid := []watcher.Script{scripts[0], scripts[7], scripts[len(scripts)-1]}
		for _, s := range paid {
			n.Pay(chaintest.Output{Script: s, Value: btcutil.Amount(30_000)})
		}
		n.Mine()
		res, d, msgs := sync("sync after a block paying 3", c, eng)
		for m, want := range map[string]int64{
			mStatus:  int64(len(scripts)),
			mHistory: 3,
			mTx:      3, // only the new transactions
		} {
			if d[m] != want {
				t.Errorf("%s: %d calls, want %d (all: %s)", m, d[m], want, d)
			}
		}
		allowed := []string{mTip, mHeader, mHeaders, mIDFromPos, mStatus, mHistory, mTx}
		for m := range d {
			if !slices.Contains(allowed, m) {
				t.Errorf("unexpected calls of %s (all: %s)", m, d)
			}
		}
		// The tip, one batch of statuses, one of histories, one of
		// transactions, the reorg check's header, and the order of the
		// new block (4 transactions: one batch of its header and 15
		// id_from_pos). The FundMany block holding the paid scripts'
		// older transactions was ordered by the first sync: its
		// positions are in the store, so reading it again is waste.
		if d[mIDFromPos] > 15 || d[mHeader] > 2 {
			t.Errorf("%d id_from_pos and %d block.header calls, want at most 15 and 2 (the new block only): a block already ordered in the store was read again (all: %s)",
				d[mIDFromPos], d[mHeader], d)
		}
		if msgs > 6 {
			t.Errorf("sync after a block paying 3 took %d messages, want at most 6", msgs)
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

		res, d, msgs = sync("re-sync after that", c, eng)
		if want := (electrum.CallCounts{mTip: 1, mStatus: int64(len(scripts))}); !maps.Equal(d, want) || msgs != 2 || res.FetchedTxs != 0 {
			t.Errorf("quiet re-sync cost %d messages, %s, and fetched %d txs; want 2, %s, none", msgs, d, res.FetchedTxs, want)
		}
	})
}
