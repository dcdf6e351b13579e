package web

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// checkEntityReads fails tb unless what the pages read of entity id (every
// transaction's height, time, delta, balance and kind, the txids, the
// series, the months, the last movement, the whole history and runs of
// it in full) equals what the ledger states from its own per-transaction
// history, and what the pages derived from that history before. It
// returns the count of each flow kind, so that callers can check the
// kinds they mean to cover were there, and the txids read.
func checkEntityReads(tb testing.TB, wl *watcher.Watchlist, st *store.Store, id string) (map[watcher.Flow]int, map[string]bool) {
	tb.Helper()
	ctx := context.Background()
	s, err := New(Config{}, wl, st, prometheus.NewRegistry(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	want, err := watcher.NewLedger(st, wl).EntityHistory(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := s.current(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if !snap.sameBlock(want.AsOf) {
		tb.Fatalf("snapshot at %+v, ledger at %+v", snap.asOf, want.AsOf)
	}
	d, err := s.entity(ctx, snap, id)
	if err != nil {
		tb.Fatal(err)
	}
	n := len(want.Txs)
	if len(d.txs) != n || len(d.txids) != n {
		tb.Fatalf("%s: the pages read %d transactions (%d txids), the ledger has %d", id, len(d.txs), len(d.txids), n)
	}
	kinds, txids := map[watcher.Flow]int{}, map[string]bool{}
	for i, w := range want.Txs {
		kinds[w.Kind]++
		txids[d.txids[i].String()] = true
		brief := w
		brief.Txid, brief.BlockHash, brief.FeeSat = "", "", nil
		if !reflect.DeepEqual(d.txs[i], brief) || d.txids[i].String() != w.Txid {
			tb.Fatalf("%s: transaction %d read as %+v (txid %s), the ledger states %+v", id, i, d.txs[i], d.txids[i], w)
		}
	}
	ref := newEntityData(d.ent, d.bal, want.Txs)
	if !reflect.DeepEqual(d.months, ref.months) {
		tb.Errorf("%s: months\n%+v\nfrom the ledger's history\n%+v", id, d.months, ref.months)
	}
	pts := make([]point, len(ref.series.pts))
	for i, p := range ref.series.pts {
		p.Hash = ""
		pts[i] = p
	}
	if len(pts) != len(d.series.pts) || (len(pts) > 0 && !reflect.DeepEqual(d.series.pts, pts)) ||
		!reflect.DeepEqual(d.series.sufMin, ref.series.sufMin) {
		tb.Errorf("%s: the series differs from the ledger's history's", id)
	}
	if n == 0 {
		if d.last != nil {
			tb.Errorf("%s: last movement %+v without any transaction", id, d.last)
		}
	} else if !reflect.DeepEqual(d.last, &want.Txs[n-1]) {
		tb.Errorf("%s: last movement %+v, want %+v", id, d.last, want.Txs[n-1])
	}
	full, err := s.fullHistory(ctx, snap, d)
	if err != nil {
		tb.Fatal(err)
	}
	if (n > 0 || len(full.txs) > 0) && !reflect.DeepEqual(full.txs, want.Txs) {
		tb.Errorf("%s: the full history differs from the ledger's", id)
	}
	if !reflect.DeepEqual(full.series, ref.series) {
		tb.Errorf("%s: the full history's series differs from the ledger's", id)
	}
	// Runs as the pages read them: the first, the last, a page of flows
	// at the end and in the middle, everything.
	for _, r := range [][2]int{{0, 0}, {n - 1, n - 1}, {n - flowsPerPage, n - 1}, {n / 3, n/3 + flowsPerPage}, {0, n - 1}} {
		a, b := max(0, r[0]), min(n-1, r[1])
		if a > b {
			continue
		}
		got, err := s.txsBetween(ctx, snap, d, a, b)
		if err != nil {
			tb.Fatal(err)
		}
		if !reflect.DeepEqual(got, want.Txs[a:b+1]) {
			tb.Errorf("%s: transactions %d to %d read as\n%+v\nthe ledger states\n%+v", id, a, b, got, want.Txs[a:b+1])
		}
	}
	return kinds, txids
}

// TestEntityReadsMatchLedger checks the pages' aggregated reads against
// the ledger's per-transaction history on the regtest ledger (every flow
// kind, a payment between entities, an unconfirmed payment left out) and
// on generated ledgers of ten thousand transactions, also after a reorg's
// rollback and with unconfirmed transactions stored.
func TestEntityReadsMatchLedger(t *testing.T) {
	t.Run("regtest", func(t *testing.T) {
		l := regtest(t)
		kinds := map[watcher.Flow]int{}
		for _, e := range l.wl.Entities {
			ek, txids := checkEntityReads(t, l.wl, l.st, e.ID)
			for k, n := range ek {
				kinds[k] += n
			}
			if txids[l.pending] {
				t.Errorf("%s: the unconfirmed payment %s is read as confirmed", e.ID, l.pending)
			}
		}
		for _, k := range allFlows {
			if kinds[k] == 0 {
				t.Errorf("the regtest ledger has no %s transaction; counts %v", k, kinds)
			}
		}
	})
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := buildSynth(t, 10_000, end.AddDate(-2, 0, 0), end)
	t.Run("synthetic", func(t *testing.T) {
		kinds, _ := checkEntityReads(t, l.wl, l.st, "big")
		if len(kinds) != len(allFlows) || kinds[watcher.Internal] != 2000 || kinds[watcher.Mixed] != 1000 {
			t.Errorf("kinds %v, want the generator's 6000 inflows, 1000 outflows, 2000 internal, 1000 mixed", kinds)
		}
	})
	t.Run("unconfirmed stored", func(t *testing.T) {
		ctx := context.Background()
		scripts := l.wl.Scripts()
		ids, err := l.st.EnsureScripts(ctx, [][]byte{scripts[0], scripts[1]})
		if err != nil {
			t.Fatal(err)
		}
		// A mixed spend from both addresses, not yet in a block.
		txid := chainhash.Hash{0xee, 1}
		if err := l.st.Apply(ctx, store.Step{
			Txs: []store.Tx{{Txid: txid, Height: -1, Pos: -1, NIn: 3, NOut: 1, OutTotal: 1000, Raw: []byte{0xee}}},
			Rows: []store.Row{{ScriptID: ids[0], Txid: txid, Spent: 5000, NIn: 1},
				{ScriptID: ids[1], Txid: txid, Spent: 7000, NIn: 1}},
		}); err != nil {
			t.Fatal(err)
		}
		kinds, txids := checkEntityReads(t, l.wl, l.st, "big")
		if n := kinds[watcher.Inflow] + kinds[watcher.Outflow] + kinds[watcher.Internal] + kinds[watcher.Mixed]; n != 10_000 || txids[txid.String()] {
			t.Errorf("%d transactions read, the unconfirmed one among them: %v", n, txids[txid.String()])
		}
	})
	t.Run("after rollback", func(t *testing.T) {
		ctx := context.Background()
		fork := store.Block{Height: l.txs[6_999].height}
		blocks, err := l.st.BlocksAtHeights(ctx, []int64{fork.Height})
		if err != nil {
			t.Fatal(err)
		}
		fork = blocks[fork.Height]
		if err := l.st.Rollback(ctx, &fork); err != nil {
			t.Fatal(err)
		}
		if kinds, _ := checkEntityReads(t, l.wl, l.st, "big"); len(kinds) != len(allFlows) {
			t.Errorf("kinds %v after the rollback", kinds)
		}
		want, err := watcher.NewLedger(l.st, l.wl).EntityHistory(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Txs) != 7_000 {
			t.Errorf("%d transactions after rolling back to the 7000th's block", len(want.Txs))
		}
	})
}
