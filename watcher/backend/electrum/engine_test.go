package electrum

import (
	"bytes"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestEngineMatchesBtcd syncs one chain through the btcd backend and
// through the Electrum client (via the test server) and requires the two
// ledgers to dump to the same bytes: after payments and spends (several in
// one block, so BlockTxids orders them), with unconfirmed transactions, and
// after a reorg.
func TestEngineMatchesBtcd(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	nt := node.T(t)
	var keys []*chaintest.Key
	for _, k := range chaintest.Kinds {
		keys = append(keys, nt.NewKey(k))
	}
	scripts := make([]watcher.Script, len(keys))
	for i, k := range keys {
		scripts[i] = k.Script
	}

	b, err := btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := electrumtest.Start(t, nil, electrumtest.NewChainHandler(node).Handle)
	e := newClient(t, srv.Addr(), Config{BatchSize: 5})

	open := func(name string) *store.Store {
		st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), name+".db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stB, stE := open("btcd"), open("electrum")
	engB := watcher.NewEngine(b, stB, scripts, nil)
	engE := watcher.NewEngine(e, stE, scripts, nil)
	compare := func(step string) {
		t.Helper()
		if _, err := engB.Sync(t.Context()); err != nil {
			t.Fatalf("%s: btcd sync: %v", step, err)
		}
		res, err := engE.Sync(t.Context())
		if err != nil {
			t.Fatalf("%s: electrum sync: %v", step, err)
		}
		var db, de bytes.Buffer
		if err := stB.Dump(t.Context(), &db); err != nil {
			t.Fatal(err)
		}
		if err := stE.Dump(t.Context(), &de); err != nil {
			t.Fatal(err)
		}
		// The scripts section holds each script's synced height, which
		// the engine advances only for scripts whose history it
		// fetched: with statuses, an unchanged script keeps an older
		// one. Everything else must be equal.
		ledgerB, ledgerE := withoutSection(db.String(), "scripts"), withoutSection(de.String(), "scripts")
		if ledgerB != ledgerE {
			t.Fatalf("%s: the ledgers differ\nbtcd:\n%s\nelectrum:\n%s", step, ledgerB, ledgerE)
		}
		if n := strings.Count(ledgerB, "\n"); n < 10 {
			t.Fatalf("%s: the ledger dump has only %d lines", step, n)
		}
		t.Logf("%s: ledgers equal at height %d; electrum fetched %d scripts, %d txs", step, res.Tip.Height, res.FetchedScripts, res.FetchedTxs)
	}

	// Two payments to each script in one block, then spends.
	for _, k := range keys {
		nt.Pay(chaintest.Output{Script: k.Script, Value: btcutil.SatoshiPerBitcoin})
		nt.Pay(chaintest.Output{Script: k.Script, Value: btcutil.SatoshiPerBitcoin / 4})
	}
	nt.Mine()
	compare("payments")

	first := keys[0]
	hist, err := b.Histories(t.Context(), []watcher.Script{first.Script})
	if err != nil {
		t.Fatal(err)
	}
	coins := chaintest.CoinsOf(hist[0][0].Tx, first.Script)
	nt.Spend(coins, []chaintest.Output{{Script: keys[1].Script, Value: coins[0].Value - 10_000}}, 10_000)
	nt.Pay(chaintest.Output{Script: keys[2].Script, Value: 7_000_000})
	compare("mempool")

	tip := nt.Mine()
	compare("confirmed")

	nt.Invalidate(tip)
	nt.Mine()
	compare("reorg")

	before := e.Calls()
	compare("unchanged")
	t.Logf("an unchanged sync cost the electrum client: %s", callDelta(before, e.Calls()))
}

// withoutSection removes the "# name" section from a store dump.
func withoutSection(dump, name string) string {
	var out []string
	skip := false
	for _, line := range strings.SplitAfter(dump, "\n") {
		if strings.HasPrefix(line, "# ") {
			skip = strings.TrimSpace(line) == "# "+name
		}
		if !skip {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// callDelta is after minus before, per method, without zero entries.
func callDelta(before, after CallCounts) CallCounts {
	return after.Sub(before)
}
