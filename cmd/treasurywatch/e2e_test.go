package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// ledgerScenario builds, on a real regtest btcd, the movements the product
// must explain: inflows to every address type, an internal consolidation,
// an outflow with change, a mixed transaction, a payment between two
// entities, a spend in the same block as its funding, an address with more
// than 100 transactions, and an unconfirmed payment.
type ledgerScenario struct {
	n        chaintest.T
	m        *model
	entities []entitySpec
	kinds    map[string]map[chainhash.Hash]watcher.Flow // entity -> txid -> expected flow
}

func buildScenario(t *testing.T) *ledgerScenario {
	t.Helper()
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	a1, a2, a3 := n.NewKey(chaintest.P2PKH), n.NewKey(chaintest.P2SHMultisig), n.NewKey(chaintest.P2WPKH)
	b1, b2 := n.NewKey(chaintest.P2WSH), n.NewKey(chaintest.P2TR)
	g1 := n.NewKey(chaintest.P2WPKH)
	outsider := n.NewKey(chaintest.P2WPKH)
	s := &ledgerScenario{n: n, m: newModel(a1, a2, a3, b1, b2, g1),
		entities: []entitySpec{{"alpha", []*chaintest.Key{a1, a2, a3}}, {"beta", []*chaintest.Key{b1, b2}}, {"gamma", []*chaintest.Key{g1}}},
		kinds:    map[string]map[chainhash.Hash]watcher.Flow{"alpha": {}, "beta": {}, "gamma": {}},
	}
	const btc = btcutil.Amount(1e8)
	out := func(k *chaintest.Key, v btcutil.Amount) chaintest.Output {
		return chaintest.Output{Script: k.Script, Value: v}
	}
	add := func(tx interface{ TxHash() chainhash.Hash }, flows map[string]watcher.Flow) {
		for e, f := range flows {
			s.kinds[e][tx.TxHash()] = f
		}
	}

	tx1 := n.Pay(out(a1, 1*btc), out(a2, 2*btc), out(a3, btc/2), out(b1, 3*btc))
	s.m.add(tx1)
	add(tx1, map[string]watcher.Flow{"alpha": watcher.Inflow, "beta": watcher.Inflow})
	tx2 := n.Pay(out(b2, 70_000_000))
	s.m.add(tx2)
	add(tx2, map[string]watcher.Flow{"beta": watcher.Inflow})
	tx3 := n.Pay(out(outsider, 40_000_000))
	n.Mine()

	// Consolidation between alpha's own wallets: its delta is minus the fee.
	tx4 := n.Spend(chaintest.CoinsOf(tx1, a1.Script), []chaintest.Output{out(a3, btc-10_000)}, 10_000)
	s.m.add(tx4)
	add(tx4, map[string]watcher.Flow{"alpha": watcher.Internal})
	// Outflow with change back to beta's other wallet.
	tx5 := n.Spend(chaintest.CoinsOf(tx1, b1.Script), []chaintest.Output{out(outsider, btc), out(b2, 2*btc-20_000)}, 20_000)
	s.m.add(tx5)
	add(tx5, map[string]watcher.Flow{"beta": watcher.Outflow})
	// Mixed: alpha and an outsider pay together.
	mixedIn := append(chaintest.CoinsOf(tx1, a2.Script), chaintest.CoinsOf(tx3, outsider.Script)...)
	tx6 := n.Spend(mixedIn, []chaintest.Output{out(outsider, 230_000_000), out(a2, 9_985_000)}, 15_000)
	s.m.add(tx6)
	add(tx6, map[string]watcher.Flow{"alpha": watcher.Mixed})
	// Beta pays alpha: an outflow for one, an inflow for the other.
	tx7 := n.Spend(chaintest.CoinsOf(tx2, b2.Script), []chaintest.Output{out(a3, 69_990_000)}, 10_000)
	s.m.add(tx7)
	add(tx7, map[string]watcher.Flow{"alpha": watcher.Inflow, "beta": watcher.Outflow})
	n.Mine()

	// Funding and spend in one block: block order decides the history.
	tx8 := n.Pay(out(a1, 1_000_000))
	s.m.add(tx8)
	add(tx8, map[string]watcher.Flow{"alpha": watcher.Inflow})
	tx9 := n.Spend(chaintest.CoinsOf(tx8, a1.Script), []chaintest.Output{out(outsider, 999_000)}, 1_000)
	s.m.add(tx9)
	add(tx9, map[string]watcher.Flow{"alpha": watcher.Outflow})
	n.Mine()
	return s
}

// page gives gamma more than one searchrawtransactions page (100).
func (s *ledgerScenario) page(t *testing.T, count int) {
	t.Helper()
	g1 := s.entities[2].keys[0]
	before := s.n.Height()
	s.n.FundMany([][]byte{g1.Script}, count, 12_345)
	// FundMany's payments are the only transactions to g1: take them from
	// the blocks it mined.
	for h := before + 1; h <= s.n.Height(); h++ {
		var blockHex string
		if err := json.Unmarshal(s.n.RawRequest("getblock", s.n.BlockHash(h).String(), 0), &blockHex); err != nil {
			t.Fatal(err)
		}
		raw, err := hex.DecodeString(blockHex)
		if err != nil {
			t.Fatal(err)
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		for _, mtx := range blk.Transactions {
			for _, o := range mtx.TxOut {
				if bytes.Equal(o.PkScript, g1.Script) {
					s.m.add(mtx)
					s.kinds["gamma"][mtx.TxHash()] = watcher.Inflow
					break
				}
			}
		}
	}
}

// unconfirmed leaves a payment to alpha in the mempool.
func (s *ledgerScenario) unconfirmed(t *testing.T) {
	a3 := s.entities[0].keys[2]
	tx := s.n.Pay(chaintest.Output{Script: a3.Script, Value: 10_000_000})
	s.m.add(tx)
	s.kinds["alpha"][tx.TxHash()] = watcher.Inflow
}

// check compares balances and every history row the CLI prints with the
// model and the node's own placement of each transaction.
func (s *ledgerScenario) check(t *testing.T, cfg string) {
	t.Helper()
	place := placement(t, s.n, s.m)
	tip := s.n.Height()
	var bal watcher.Balances
	decode(t, mustCLI(t, "balances", "-config", cfg, "-json"), &bal)
	if bal.Network != "regtest" || bal.AsOf.Height != tip || bal.AsOf.Hash != s.n.BlockHash(tip).String() {
		t.Fatalf("as_of = %+v, want height %d hash %s", bal.AsOf, tip, s.n.BlockHash(tip))
	}
	for ei, e := range s.entities {
		eb := bal.Entities[ei]
		var entConf, entUnconf int64
		scripts := map[string]bool{}
		for ai, k := range e.keys {
			scripts[string(k.Script)] = true
			var conf, unconf, count int64
			var rows []watcher.HistoryTx
			for _, mt := range s.m.txs {
				d, touched := mt.delta[string(k.Script)]
				if _, ok := mt.ownOut[string(k.Script)]; ok {
					touched = true
				}
				p, confirmed := place[mt.txid]
				if touched && !confirmed {
					unconf += d
				}
				if !touched || !confirmed {
					continue
				}
				conf += d
				count++
				rows = append(rows, watcher.HistoryTx{Txid: mt.txid.String(), Height: p.height, BlockHash: p.hash,
					Time: time.Unix(p.time, 0).UTC(), DeltaSat: d})
			}
			want := watcher.AddressBalance{Address: k.Address.String(), Label: eb.Addresses[ai].Label,
				ConfirmedSat: conf, UnconfirmedSat: unconf, TxCount: count}
			if got := eb.Addresses[ai]; got != want {
				t.Errorf("%s address %d (%s): got %+v, want %+v", e.id, ai, k.Kind, got, want)
			}
			entConf += conf
			entUnconf += unconf
			s.checkHistory(t, cfg, "-address", k.Address.String(), rows, place, nil)
		}
		if eb.ID != e.id || eb.ConfirmedSat != entConf || eb.UnconfirmedSat != entUnconf {
			t.Errorf("entity %s: got %s %d/%d, want %d/%d", e.id, eb.ID, eb.ConfirmedSat, eb.UnconfirmedSat, entConf, entUnconf)
		}
		var rows []watcher.HistoryTx
		for _, mt := range s.m.txs {
			p, confirmed := place[mt.txid]
			var d int64
			touched := false
			for sc := range scripts {
				if v, ok := mt.delta[sc]; ok {
					d += v
					touched = true
				}
			}
			if !touched || !confirmed {
				continue
			}
			rows = append(rows, watcher.HistoryTx{Txid: mt.txid.String(), Height: p.height, BlockHash: p.hash,
				Time: time.Unix(p.time, 0).UTC(), DeltaSat: d, Kind: s.kinds[e.id][mt.txid]})
		}
		s.checkHistory(t, cfg, "-entity", e.id, rows, place, s.kinds[e.id])
	}
}

func (s *ledgerScenario) checkHistory(t *testing.T, cfg, flag, arg string, want []watcher.HistoryTx, place map[chainhash.Hash]placed, kinds map[chainhash.Hash]watcher.Flow) {
	t.Helper()
	slices.SortStableFunc(want, func(a, b watcher.HistoryTx) int {
		pa, pb := place[mustHash(t, a.Txid)], place[mustHash(t, b.Txid)]
		if pa.height != pb.height {
			return int(pa.height - pb.height)
		}
		return pa.pos - pb.pos
	})
	var bal int64
	for i := range want {
		bal += want[i].DeltaSat
		want[i].BalanceSat = bal
	}
	var got watcher.History
	decode(t, mustCLI(t, "history", "-config", cfg, flag, arg, "-json"), &got)
	if len(got.Txs) != len(want) {
		t.Fatalf("history %s %s: %d rows, want %d", flag, arg, len(got.Txs), len(want))
	}
	for i := range want {
		g := got.Txs[i]
		g.FeeSat = nil
		if !g.Time.Equal(want[i].Time) {
			t.Errorf("history %s %s row %d: time %v, want %v", flag, arg, i, g.Time, want[i].Time)
		}
		g.Time = want[i].Time
		if g != want[i] {
			t.Errorf("history %s %s row %d:\n got %+v\nwant %+v", flag, arg, i, g, want[i])
		}
	}
}

func TestLedgerMatchesChain(t *testing.T) {
	s := buildScenario(t)
	s.page(t, 130)
	s.unconfirmed(t)
	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, s.n.Node, "ledger.db", s.entities)
	if out := mustCLI(t, "check", "-config", cfg); !strings.Contains(out, "3 entities") {
		t.Errorf("check summary: %q", out)
	}
	mustCLI(t, "sync", "-config", cfg, "-log-level", "warn")
	s.check(t, cfg)

	// Human-readable twins print the same figures with 8 decimals.
	text := mustCLI(t, "balances", "-config", cfg)
	if !strings.Contains(text, "alpha") || !strings.Contains(text, watcher.FormatBTC(10_000_000)) {
		t.Errorf("balances text:\n%s", text)
	}

	t.Run("confirm and resync", func(t *testing.T) {
		s.n.Mine()
		mustCLI(t, "sync", "-config", cfg, "-log-level", "warn")
		s.check(t, cfg)
	})

	t.Run("reorg equals fresh sync", func(t *testing.T) {
		// Replace the last two blocks: their transactions go back to the
		// mempool and are mined again at other heights and hashes.
		tip := s.n.Height()
		s.n.Invalidate(s.n.BlockHash(tip - 1))
		s.n.Generate(3)
		mustCLI(t, "sync", "-config", cfg, "-log-level", "warn")
		s.check(t, cfg)
		fresh := writeWatchlist(t, t.TempDir(), s.n.Node, "fresh.db", s.entities)
		mustCLI(t, "sync", "-config", fresh, "-log-level", "warn")
		if a, b := dumpDB(t, filepath.Join(dir, "ledger.db")), dumpDB(t, filepath.Join(filepath.Dir(fresh), "fresh.db")); a != b {
			t.Errorf("ledger after reorg differs from a fresh sync:\n%s\n---\n%s", a, b)
		}
	})
}

func decode(tb testing.TB, s string, v any) {
	tb.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		tb.Fatalf("decode %q: %v", s, err)
	}
}

func mustHash(tb testing.TB, s string) chainhash.Hash {
	tb.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		tb.Fatal(err)
	}
	return *h
}

func dumpDB(tb testing.TB, path string) string {
	tb.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	var b strings.Builder
	if err := st.Dump(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}
