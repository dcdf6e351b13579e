package esplora

import (
	"fmt"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestEngineParity runs the sync engine twice over one regtest chain, once
// through the btcd backend and once through the Esplora client (via the
// protocol test server), and requires the same ledger from both after each
// step: first sync, a new block, an unchanged chain, a reorg. The engine is
// backend-neutral, so any difference is the Esplora client's.
func TestEngineParity(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	nt := node.T(t)
	ctx := t.Context()

	a, b := nt.NewKey(chaintest.P2WPKH), nt.NewKey(chaintest.P2TR)
	c := nt.NewKey(chaintest.P2SHMultisig)
	scripts := []watcher.Script{a.Script, b.Script, c.Script, node.MinerKey().Script}
	pa := nt.Pay(chaintest.Output{Script: a.Script, Value: btcutil.SatoshiPerBitcoin})
	nt.Pay(chaintest.Output{Script: a.Script, Value: 2 * btcutil.SatoshiPerBitcoin},
		chaintest.Output{Script: b.Script, Value: 3 * btcutil.SatoshiPerBitcoin})
	nt.Mine()
	coins := chaintest.CoinsOf(pa, a.Script)
	nt.Spend(coins, []chaintest.Output{{Script: c.Script, Value: 40_000_000}, {Script: a.Script, Value: coins[0].Value - 40_000_000 - 5_000}}, 5_000)
	nt.Pay(chaintest.Output{Script: c.Script, Value: 7_000_000})
	nt.Mine()
	nt.Pay(chaintest.Output{Script: b.Script, Value: 1_000_000}) // unconfirmed

	open := func(name string) *store.Store {
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), name+".db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	bc, err := btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	srv := esploratest.Start(t, node)
	ec, err := New(Config{URL: srv.URL, RatePerSecond: 1e6, Burst: 1000}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	stB, stE := open("btcd"), open("esplora")
	engB := watcher.NewEngine(bc, stB, scripts, nil)
	engE := watcher.NewEngine(ec, stE, scripts, nil)

	step := func(name string) {
		t.Helper()
		rb, err := engB.Sync(ctx)
		if err != nil {
			t.Fatalf("%s: btcd sync: %v", name, err)
		}
		re, err := engE.Sync(ctx)
		if err != nil {
			t.Fatalf("%s: esplora sync: %v", name, err)
		}
		if rb.Tip != re.Tip {
			t.Fatalf("%s: tips differ: btcd %+v, esplora %+v", name, rb.Tip, re.Tip)
		}
		lb, le := ledger(t, stB, scripts, rb.Tip.Height), ledger(t, stE, scripts, re.Tip.Height)
		if !slices.Equal(lb, le) {
			t.Errorf("%s: ledgers differ (%d and %d lines); first differences:\n%s", name, len(lb), len(le), diff(lb, le))
		}
	}
	step("first sync")

	nt.Pay(chaintest.Output{Script: a.Script, Value: 5_000_000})
	nt.Mine()
	step("new block")
	step("unchanged")

	tip := nt.Mine()
	step("before reorg")
	nt.Invalidate(tip)
	nt.Pay(chaintest.Output{Script: c.Script, Value: 9_000_000})
	nt.Mine()
	step("after reorg")
}

// ledger renders what the store says of scripts at height: balances and
// confirmed histories, one line each.
func ledger(t *testing.T, st *store.Store, scripts []watcher.Script, height int64) []string {
	t.Helper()
	ctx := t.Context()
	bal, err := st.Balances(ctx, height)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range scripts {
		id, ok, err := st.ScriptID(ctx, s)
		if err != nil || !ok {
			t.Fatalf("script %s: id %v, %v", s, ok, err)
		}
		b := bal[id]
		out = append(out, fmt.Sprintf("%s: confirmed %d unconfirmed %d txs %d last %d at %d",
			s, b.Confirmed, b.Unconfirmed, b.TxCount, b.LastHeight, b.LastTime.Unix()))
		hist, err := st.History(ctx, []int64{id}, height)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			// Pos is left out: the engine learns positions only
			// when it needs them, and btcd's block scans teach it
			// more of them.
			out = append(out, fmt.Sprintf("  %s@%d %s +%d -%d in %d out %d", h.Txid, h.Height, h.BlockHash, h.Received, h.Spent, h.OwnIn, h.OwnOut))
		}
	}
	return out
}

// diff lists the first lines where a and b differ.
func diff(a, b []string) string {
	var out []string
	for i := 0; i < max(len(a), len(b)) && len(out) < 10; i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  btcd    %s\n  esplora %s", i, x, y))
		}
	}
	return strings.Join(out, "\n")
}
