package watcher_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// These tests run the sync engine against a real btcd (regtest, with
// --addrindex and --txindex) through the btcd backend, and hold it to the
// costs DESIGN.md promises: an unchanged chain costs a couple of calls and
// no transaction, a new block costs O(1) calls however many scripts are
// watched, and a script added later is the only one whose history is
// fetched. Expected balances come from the transactions the tests built,
// never from the code under test.

// newBtcdClient returns a btcd backend for node, closed when tb ends.
func newBtcdClient(tb testing.TB, node *chaintest.Node) *btcd.Client {
	tb.Helper()
	c, err := btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// openStore opens a fresh ledger in a temporary directory, closed when tb
// ends.
func openStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(tb.Context(), filepath.Join(tb.TempDir(), "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// scriptsOf returns the keys' scripts, in order.
func scriptsOf(keys []*chaintest.Key) []watcher.Script {
	out := make([]watcher.Script, len(keys))
	for i, k := range keys {
		out[i] = k.Script
	}
	return out
}

// callDelta is after minus before, per method, without zero entries.
func callDelta(before, after btcd.CallCounts) btcd.CallCounts {
	return after.Sub(before)
}

// syncCounted runs one sync and returns its result and the RPC calls it
// made through client.
func syncCounted(tb testing.TB, eng *watcher.Engine, client *btcd.Client) (watcher.Result, btcd.CallCounts) {
	tb.Helper()
	before := client.Calls()
	res, err := eng.Sync(tb.Context())
	if err != nil {
		tb.Fatalf("sync: %v", err)
	}
	return res, callDelta(before, client.Calls())
}

// model is the test's own account of the watched scripts: what each
// transaction it broadcast does to them, and where it was mined.
type model struct {
	watched map[string]bool
	coins   map[wire.OutPoint]coin // outputs paying watched scripts
	pending []*wire.MsgTx          // broadcast, not yet mined
	mined   map[chainhash.Hash][]*wire.MsgTx
	// funded holds what FundMany gave each script (its transactions are
	// not known by txid): satoshis and count.
	fundedSat map[string]int64
	fundedN   map[string]int64
	fundedVal map[string][]int64
	// confirmed holds every mined transaction touching a watched script,
	// with its height.
	confirmed []minedTx
}

type coin struct {
	script string
	value  int64
}

type minedTx struct {
	tx     *wire.MsgTx
	height int64
	block  chainhash.Hash
}

func newModel(keys ...*chaintest.Key) *model {
	m := &model{watched: map[string]bool{}, coins: map[wire.OutPoint]coin{}, mined: map[chainhash.Hash][]*wire.MsgTx{},
		fundedSat: map[string]int64{}, fundedN: map[string]int64{}, fundedVal: map[string][]int64{}}
	for _, k := range keys {
		m.watched[string(k.Script)] = true
	}
	return m
}

// sent records a transaction the test broadcast.
func (m *model) sent(tx *wire.MsgTx) *wire.MsgTx {
	txid := tx.TxHash()
	for i, o := range tx.TxOut {
		if m.watched[string(o.PkScript)] {
			m.coins[wire.OutPoint{Hash: txid, Index: uint32(i)}] = coin{string(o.PkScript), o.Value}
		}
	}
	m.pending = append(m.pending, tx)
	return tx
}

// minedIn records that every pending transaction was mined in block.
func (m *model) minedIn(block chainhash.Hash, height int64) {
	for _, tx := range m.pending {
		if len(m.delta(tx)) > 0 {
			m.confirmed = append(m.confirmed, minedTx{tx, height, block})
		}
	}
	m.mined[block] = m.pending
	m.pending = nil
}

// unmined records that block left the best chain and its transactions went
// back to the mempool.
func (m *model) unmined(block chainhash.Hash) {
	txs := m.mined[block]
	delete(m.mined, block)
	m.confirmed = slices.DeleteFunc(m.confirmed, func(mt minedTx) bool { return mt.block == block })
	m.pending = append(txs, m.pending...)
}

// dropped records that tx left the mempool without being mined.
func (m *model) dropped(tx *wire.MsgTx) {
	m.pending = slices.DeleteFunc(m.pending, func(p *wire.MsgTx) bool { return p.TxHash() == tx.TxHash() })
}

// funded records FundMany(scripts, n, value).
func (m *model) funded(keys []*chaintest.Key, n int, value btcutil.Amount) {
	for _, k := range keys {
		m.fundedSat[string(k.Script)] += int64(n) * int64(value)
		m.fundedN[string(k.Script)] += int64(n)
		for range n {
			m.fundedVal[string(k.Script)] = append(m.fundedVal[string(k.Script)], int64(value))
		}
	}
}

// delta is what tx does to each watched script it touches.
func (m *model) delta(tx *wire.MsgTx) map[string]int64 {
	d := map[string]int64{}
	for _, in := range tx.TxIn {
		if c, ok := m.coins[in.PreviousOutPoint]; ok {
			d[c.script] -= c.value
		}
	}
	for _, o := range tx.TxOut {
		if m.watched[string(o.PkScript)] {
			d[string(o.PkScript)] += o.Value
		}
	}
	return d
}

// want is the expected standing of a script.
type want struct {
	confirmed, unconfirmed, txCount int64
}

func (m *model) want(script []byte) want {
	w := want{confirmed: m.fundedSat[string(script)], txCount: m.fundedN[string(script)]}
	for _, mt := range m.confirmed {
		if d, ok := m.delta(mt.tx)[string(script)]; ok {
			w.confirmed += d
			w.txCount++
		}
	}
	for _, tx := range m.pending {
		w.unconfirmed += m.delta(tx)[string(script)]
	}
	return w
}

// history is the expected confirmed history of a script: txids in chain
// order (height, then position in block), with the script's delta.
func (m *model) history(tb testing.TB, n chaintest.T, script []byte) []histTx {
	tb.Helper()
	var out []histTx
	order := map[chainhash.Hash][]string{}
	for _, mt := range m.confirmed {
		d, ok := m.delta(mt.tx)[string(script)]
		if !ok {
			continue
		}
		if _, ok := order[mt.block]; !ok {
			order[mt.block] = blockTxids(tb, n, mt.block)
		}
		txid := mt.tx.TxHash()
		out = append(out, histTx{txid: txid, height: mt.height, pos: slices.Index(order[mt.block], txid.String()), delta: d})
	}
	slices.SortFunc(out, func(a, b histTx) int {
		if a.height != b.height {
			return int(a.height - b.height)
		}
		return a.pos - b.pos
	})
	return out
}

type histTx struct {
	txid   chainhash.Hash
	height int64
	pos    int
	delta  int64
}

// blockTxids asks the node for a block's txids in block order.
func blockTxids(tb testing.TB, n chaintest.T, hash chainhash.Hash) []string {
	tb.Helper()
	var blk struct {
		Tx []string `json:"tx"`
	}
	if err := json.Unmarshal(n.RawRequest("getblock", hash.String(), 1), &blk); err != nil {
		tb.Fatal(err)
	}
	return blk.Tx
}

// mine mines one block and records it in the model.
func mine(n chaintest.T, m *model) chainhash.Hash {
	h := n.Mine()
	m.minedIn(h, n.Height())
	return h
}

// checkPublished fails unless the store's published block is the node's tip.
func checkPublished(tb testing.TB, st *store.Store, n chaintest.T) int64 {
	tb.Helper()
	b, _, _, ok, err := st.SyncState(tb.Context())
	if err != nil || !ok {
		tb.Fatalf("sync state: ok=%v err=%v", ok, err)
	}
	height := n.Height()
	if b.Height != height || b.Hash != n.BlockHash(height) {
		tb.Fatalf("published block %d %s, node's tip %d %s", b.Height, b.Hash, height, n.BlockHash(height))
	}
	return height
}

// checkBalances compares the store's balances at the published tip with
// the model, for every key.
func checkBalances(tb testing.TB, st *store.Store, n chaintest.T, m *model, keys []*chaintest.Key) {
	tb.Helper()
	ctx := tb.Context()
	height := checkPublished(tb, st, n)
	bal, err := st.Balances(ctx, height)
	if err != nil {
		tb.Fatal(err)
	}
	for i, k := range keys {
		id, ok, err := st.ScriptID(ctx, k.Script)
		if err != nil || !ok {
			tb.Fatalf("key %d (%v): script not registered (ok=%v err=%v)", i, k.Kind, ok, err)
		}
		got := bal[id]
		w := m.want(k.Script)
		if got.Confirmed != w.confirmed || got.Unconfirmed != w.unconfirmed || got.TxCount != w.txCount {
			tb.Errorf("key %d (%v %s): confirmed %d unconfirmed %d txs %d, want %d %d %d", i, k.Kind, k.Address,
				got.Confirmed, got.Unconfirmed, got.TxCount, w.confirmed, w.unconfirmed, w.txCount)
		}
	}
}

// checkHistory compares the stored confirmed history of a key with the
// model's, transaction by transaction and in chain order. FundMany's
// payments, whose txids the model does not know, come first and are
// checked by amount only.
func checkHistory(tb testing.TB, st *store.Store, n chaintest.T, m *model, k *chaintest.Key) {
	tb.Helper()
	ctx := tb.Context()
	id, ok, err := st.ScriptID(ctx, k.Script)
	if err != nil || !ok {
		tb.Fatalf("%s: not registered (ok=%v err=%v)", k.Address, ok, err)
	}
	got, err := st.History(ctx, []int64{id}, n.Height())
	if err != nil {
		tb.Fatal(err)
	}
	var gs, es []string
	for i, h := range got {
		if i < len(m.fundedVal[string(k.Script)]) {
			gs = append(gs, fmt.Sprintf("funding delta %d", h.Received-h.Spent))
			continue
		}
		gs = append(gs, fmt.Sprintf("%s@%d delta %d", h.Txid, h.Height, h.Received-h.Spent))
	}
	for _, v := range m.fundedVal[string(k.Script)] {
		es = append(es, fmt.Sprintf("funding delta %d", v))
	}
	for _, h := range m.history(tb, n, k.Script) {
		es = append(es, fmt.Sprintf("%s@%d delta %d", h.txid, h.height, h.delta))
	}
	if !slices.Equal(gs, es) {
		tb.Errorf("%s (%v) history:\n got  %q\n want %q", k.Address, k.Kind, gs, es)
	}
}

// newKeys makes count keys, cycling through every kind.
func newKeys(n chaintest.T, count int) []*chaintest.Key {
	keys := make([]*chaintest.Key, count)
	for i := range keys {
		keys[i] = n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)])
	}
	return keys
}

// spendFee is the fee of the test's own spends: ample for a two-input
// multisig spend at btcd's relay minimum.
const spendFee = 5_000

// TestNoChangeResyncCost: once a ledger is synced, a sync with nothing
// changed on the chain (and an unchanged, non-empty mempool) costs at most
// two RPC calls, fetches no transaction and no history.
func TestNoChangeResyncCost(t *testing.T) {
	t.Parallel()
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	keys := newKeys(n, 20)
	foreign := n.NewKey(chaintest.P2WPKH)
	m := newModel(keys...)

	// Ten scripts get two payments each through FundMany, ten get one
	// output each of a single payment; then one of those spends to a
	// watched and a foreign script, and one payment stays unconfirmed.
	raw := make([][]byte, 10)
	for i := range raw {
		raw[i] = keys[i].Script
	}
	n.FundMany(raw, 2, 30_000)
	m.funded(keys[:10], 2, 30_000)
	var outs []chaintest.Output
	for i, k := range keys[10:] {
		outs = append(outs, chaintest.Output{Script: k.Script, Value: btcutil.Amount(100_000 + 1_000*i)})
	}
	pay := m.sent(n.Pay(outs...))
	mine(n, m)
	c := chaintest.CoinsOf(pay, keys[12].Script)
	m.sent(n.Spend(c, []chaintest.Output{{Script: keys[3].Script, Value: 40_000}, {Script: foreign.Script, Value: c[0].Value - 40_000 - spendFee}}, spendFee))
	mine(n, m)
	m.sent(n.Pay(chaintest.Output{Script: keys[5].Script, Value: 77_000}))

	client := newBtcdClient(t, node)
	st := openStore(t)
	eng := watcher.NewEngine(client, st, scriptsOf(keys), nil)
	res, calls := syncCounted(t, eng, client)
	t.Logf("first sync: %+v, calls %s", res, calls)
	checkBalances(t, st, n, m, keys)

	for i := range 3 {
		res, calls := syncCounted(t, eng, client)
		t.Logf("re-sync %d: calls %s", i+1, calls)
		if calls.Total() > 2 {
			t.Errorf("re-sync %d with no chain change made %d RPC calls (%s), want at most 2", i+1, calls.Total(), calls)
		}
		for _, method := range []string{"searchrawtransactions", "getrawtransaction"} {
			if calls[method] != 0 {
				t.Errorf("re-sync %d called %s %d times, want none", i+1, method, calls[method])
			}
		}
		if res.FetchedTxs != 0 || res.FetchedScripts != 0 || res.ScannedBlocks != 0 || res.Reorg {
			t.Errorf("re-sync %d: %+v, want nothing fetched, scanned or rolled back", i+1, res)
		}
	}
	checkBalances(t, st, n, m, keys)
}

// TestNewBlockCostIsConstant: a new block touching ten watched scripts
// costs the same few calls whether 10 or 50 scripts are watched, and
// brings every balance to what the block did (including a spend, in the
// same block, of an output that block created).
func TestNewBlockCostIsConstant(t *testing.T) {
	t.Parallel()
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	keys := newKeys(n, 50)
	foreign := n.NewKey(chaintest.P2TR)
	m := newModel(keys...)
	raw := make([][]byte, len(keys))
	for i, k := range keys {
		raw[i] = k.Script
	}
	n.FundMany(raw, 2, 20_000)
	m.funded(keys, 2, 20_000)

	// Two ledgers of the same node: one watching the ten scripts the
	// block will touch, one watching all fifty. Each has its own client,
	// so that the calls are counted apart.
	touched := keys[:10]
	type ledger struct {
		name   string
		keys   []*chaintest.Key
		client *btcd.Client
		st     *store.Store
		eng    *watcher.Engine
	}
	ledgers := []*ledger{{name: "10 watched", keys: touched}, {name: "50 watched", keys: keys}}
	for _, l := range ledgers {
		l.client = newBtcdClient(t, node)
		l.st = openStore(t)
		l.eng = watcher.NewEngine(l.client, l.st, scriptsOf(l.keys), nil)
		syncCounted(t, l.eng, l.client)
		checkBalances(t, l.st, n, m, l.keys)
	}

	for round := 1; round <= 3; round++ {
		// Ten outputs to the touched scripts (in a rotating order), and
		// a spend of one of them, in the same block, to another watched
		// script and a foreign one.
		var outs []chaintest.Output
		for i := range touched {
			k := touched[(i+round)%len(touched)]
			outs = append(outs, chaintest.Output{Script: k.Script, Value: btcutil.Amount(50_000*round + 1_000*i)})
		}
		pay := m.sent(n.Pay(outs...))
		c := chaintest.CoinsOf(pay, touched[round].Script)
		m.sent(n.Spend(c, []chaintest.Output{
			{Script: touched[round+1].Script, Value: 10_000},
			{Script: foreign.Script, Value: c[0].Value - 10_000 - spendFee},
		}, spendFee))
		mine(n, m)

		var counts []btcd.CallCounts
		for _, l := range ledgers {
			res, calls := syncCounted(t, l.eng, l.client)
			t.Logf("round %d, %s: %+v, calls %s", round, l.name, res, calls)
			counts = append(counts, calls)
			if calls.Total() > 8 {
				t.Errorf("round %d, %s: a new block cost %d RPC calls (%s), want at most 8", round, l.name, calls.Total(), calls)
			}
			if calls["searchrawtransactions"] != 0 {
				t.Errorf("round %d, %s: %d searchrawtransactions calls, want none (the block is scanned)", round, l.name, calls["searchrawtransactions"])
			}
			if calls["getrawtransaction"] != 0 {
				t.Errorf("round %d, %s: %d getrawtransaction calls, want none (the block has them)", round, l.name, calls["getrawtransaction"])
			}
			if res.ScannedBlocks != 1 || res.FetchedScripts != 0 || res.Reorg {
				t.Errorf("round %d, %s: %+v, want one block scanned and no history fetched", round, l.name, res)
			}
			checkBalances(t, l.st, n, m, l.keys)
			for _, k := range touched {
				checkHistory(t, l.st, n, m, k)
			}
		}
		if !maps.Equal(counts[0], counts[1]) {
			t.Errorf("round %d: the calls depend on the number of watched scripts: %s (10) vs %s (50)", round, counts[0], counts[1])
		}
	}
}

// TestMempoolThenConfirm: an unconfirmed payment and an unconfirmed spend
// show as unconfirmed amounts and stay out of the confirmed history; once
// mined they are confirmed with nothing left unconfirmed; when their block
// is disconnected they are unconfirmed again, and confirmed once more when
// mined again.
func TestMempoolThenConfirm(t *testing.T) {
	t.Parallel()
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	keys := newKeys(n, 5)
	foreign := n.NewKey(chaintest.P2PKH)
	m := newModel(keys...)
	var outs []chaintest.Output
	for i, k := range keys {
		outs = append(outs, chaintest.Output{Script: k.Script, Value: btcutil.Amount(200_000 + 10_000*i)})
	}
	fund := m.sent(n.Pay(outs...))
	mine(n, m)

	client := newBtcdClient(t, node)
	st := openStore(t)
	eng := watcher.NewEngine(client, st, scriptsOf(keys), nil)
	syncCounted(t, eng, client)
	checkBalances(t, st, n, m, keys)

	// Unconfirmed: a payment to keys[0] and a spend from keys[1] (a P2SH
	// multisig) to keys[2] and a foreign script.
	in := m.sent(n.Pay(chaintest.Output{Script: keys[0].Script, Value: 123_456}))
	c := chaintest.CoinsOf(fund, keys[1].Script)
	out := m.sent(n.Spend(c, []chaintest.Output{
		{Script: keys[2].Script, Value: 60_000},
		{Script: foreign.Script, Value: c[0].Value - 60_000 - spendFee},
	}, spendFee))
	res, calls := syncCounted(t, eng, client)
	t.Logf("mempool sync: %+v, calls %s", res, calls)
	if res.FetchedTxs != 2 || calls["searchrawtransactions"] != 0 {
		t.Errorf("mempool sync fetched %d txs and made %d searchrawtransactions calls, want 2 and 0", res.FetchedTxs, calls["searchrawtransactions"])
	}
	checkBalances(t, st, n, m, keys)
	if w := m.want(keys[0].Script); w.unconfirmed != 123_456 {
		t.Fatalf("model: keys[0] unconfirmed %d", w.unconfirmed) // the model itself is wrong
	}
	mempoolIDs := map[chainhash.Hash]bool{in.TxHash(): true, out.TxHash(): true}
	checkNotInHistory := func(when string) {
		t.Helper()
		ids := make([]int64, 0, len(keys))
		for _, k := range keys {
			id, _, _ := st.ScriptID(t.Context(), k.Script)
			ids = append(ids, id)
		}
		hist, err := st.History(t.Context(), ids, n.Height())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			if mempoolIDs[h.Txid] {
				t.Errorf("%s: unconfirmed tx %s is in the confirmed history at height %d", when, h.Txid, h.Height)
			}
		}
	}
	checkNotInHistory("in mempool")
	for _, k := range keys {
		checkHistory(t, st, n, m, k)
	}

	// An unchanged mempool costs nothing more.
	if res, calls := syncCounted(t, eng, client); calls.Total() > 2 || res.FetchedTxs != 0 {
		t.Errorf("re-sync with the same mempool: %+v, calls %s; want at most 2 calls and no tx", res, calls)
	}

	// Mined: confirmed, nothing unconfirmed.
	block := mine(n, m)
	res, calls = syncCounted(t, eng, client)
	t.Logf("confirm sync: %+v, calls %s", res, calls)
	if calls["getrawtransaction"] != 0 || calls["searchrawtransactions"] != 0 {
		t.Errorf("confirm sync: calls %s, want neither getrawtransaction nor searchrawtransactions", calls)
	}
	checkBalances(t, st, n, m, keys)
	for _, k := range keys {
		checkHistory(t, st, n, m, k)
		if w := m.want(k.Script); w.unconfirmed != 0 {
			t.Fatalf("model: %s unconfirmed %d after mining", k.Address, w.unconfirmed)
		}
	}

	// Reorg: the block is disconnected and btcd puts its transactions
	// back into the mempool. The ledger rolls back and shows them as
	// unconfirmed again.
	n.Invalidate(block)
	m.unmined(block)
	res, calls = syncCounted(t, eng, client)
	t.Logf("reorg sync: %+v, calls %s", res, calls)
	if !res.Reorg {
		t.Errorf("reorg sync: %+v, want Reorg", res)
	}
	checkBalances(t, st, n, m, keys)
	checkNotInHistory("after reorg")
	for _, k := range keys {
		checkHistory(t, st, n, m, k)
	}

	// Mined again on the new branch (one block is not enough to beat
	// the invalidated one, but invalid blocks never come back).
	mine(n, m)
	res, calls = syncCounted(t, eng, client)
	t.Logf("re-confirm sync: %+v, calls %s", res, calls)
	checkBalances(t, st, n, m, keys)
	for _, k := range keys {
		checkHistory(t, st, n, m, k)
	}
}

// TestAddScriptLater: a ledger synced for scripts A, then synced by an
// engine watching A and B after a new block touching both: B's whole
// history (including transactions shared with A) is fetched, A's is not
// fetched again (its new block is scanned), and every history is complete.
func TestAddScriptLater(t *testing.T) {
	t.Parallel()
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	all := newKeys(n, 7)
	a, b := all[:4], all[4:]
	foreign := n.NewKey(chaintest.P2WSH)
	m := newModel(all...)

	// History spread over three blocks: payments to A and B, one
	// transaction paying both, a spend from B to A.
	var outs []chaintest.Output
	for i, k := range all {
		outs = append(outs, chaintest.Output{Script: k.Script, Value: btcutil.Amount(300_000 + 1_000*i)})
	}
	first := m.sent(n.Pay(outs...))
	m.sent(n.Pay(chaintest.Output{Script: b[1].Script, Value: 45_000}))
	mine(n, m)
	m.sent(n.Pay(chaintest.Output{Script: a[0].Script, Value: 11_000}, chaintest.Output{Script: b[0].Script, Value: 22_000}))
	c := chaintest.CoinsOf(first, b[2].Script)
	m.sent(n.Spend(c, []chaintest.Output{
		{Script: a[1].Script, Value: 100_000},
		{Script: foreign.Script, Value: c[0].Value - 100_000 - spendFee},
	}, spendFee))
	mine(n, m)
	m.sent(n.Pay(chaintest.Output{Script: b[0].Script, Value: 33_000}))
	mine(n, m)

	client := newBtcdClient(t, node)
	st := openStore(t)
	engA := watcher.NewEngine(client, st, scriptsOf(a), nil)
	syncCounted(t, engA, client)
	// Balances of A only: B is not registered yet.
	checkBalances(t, st, n, m, a)
	for _, k := range b {
		if _, ok, err := st.ScriptID(t.Context(), k.Script); ok || err != nil {
			t.Fatalf("%s registered before it was watched (err %v)", k.Address, err)
		}
	}

	// A new block touching A and B, in one transaction and apart, and a
	// spend from A in the mempool.
	m.sent(n.Pay(chaintest.Output{Script: a[2].Script, Value: 70_000}, chaintest.Output{Script: b[1].Script, Value: 80_000}))
	m.sent(n.Pay(chaintest.Output{Script: b[2].Script, Value: 90_000}))
	mine(n, m)
	ca := chaintest.CoinsOf(first, a[3].Script)
	m.sent(n.Spend(ca, []chaintest.Output{
		{Script: b[0].Script, Value: 25_000},
		{Script: foreign.Script, Value: ca[0].Value - 25_000 - spendFee},
	}, spendFee))

	engAB := watcher.NewEngine(client, st, scriptsOf(all), nil)
	res, calls := syncCounted(t, engAB, client)
	t.Logf("sync with B added: %+v, calls %s", res, calls)
	// One searchrawtransactions page per script of B (each has far
	// fewer transactions than a page): none for A.
	if got := calls["searchrawtransactions"]; got != int64(len(b)) {
		t.Errorf("%d searchrawtransactions calls, want %d (one per added script, none for A)", got, len(b))
	}
	if res.FetchedScripts != len(b) || res.ScannedBlocks != 1 {
		t.Errorf("%+v, want %d scripts fetched and 1 block scanned", res, len(b))
	}
	checkBalances(t, st, n, m, all)
	for _, k := range all {
		checkHistory(t, st, n, m, k)
	}

	// And from then on, B is scanned like A.
	mine(n, m)
	res, calls = syncCounted(t, engAB, client)
	t.Logf("next block: %+v, calls %s", res, calls)
	if calls["searchrawtransactions"] != 0 || res.FetchedScripts != 0 {
		t.Errorf("next block: %+v, calls %s; want no history fetched", res, calls)
	}
	checkBalances(t, st, n, m, all)
	for _, k := range all {
		checkHistory(t, st, n, m, k)
	}
}

// tipHook is the btcd backend with a hook run once, right after Tip has
// answered: the chain moves between the engine's Tip and the rest of its
// sync, deterministically.
type tipHook struct {
	*btcd.Client
	after func()
}

func (h *tipHook) Tip(ctx context.Context) (watcher.BlockRef, error) {
	ref, err := h.Client.Tip(ctx)
	if f := h.after; f != nil {
		h.after = nil
		f()
	}
	return ref, err
}

// TestTipMovesDuringHistoryFetch: a block arrives between the sync's Tip
// and the history fetch, confirming a payment to a new script, and the
// mempool already holds a spend of that payment (with change back to the
// script). The spend's effect depends on a transaction above the sync's
// tip; the sync must still succeed and show the exact balances.
func TestTipMovesDuringHistoryFetch(t *testing.T) {
	t.Parallel()
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	s := n.NewKey(chaintest.P2WPKH)
	other := n.NewKey(chaintest.P2TR)
	m := newModel(s)
	f := m.sent(n.Pay(chaintest.Output{Script: s.Script, Value: 100_000}))
	client := newBtcdClient(t, node)
	st := openStore(t)
	b := &tipHook{Client: client, after: func() {
		mine(n, m)
		c := chaintest.CoinsOf(f, s.Script)
		m.sent(n.Spend(c, []chaintest.Output{
			{Script: s.Script, Value: 30_000},
			{Script: other.Script, Value: c[0].Value - 30_000 - spendFee},
		}, spendFee))
	}}
	eng := watcher.NewEngine(b, st, []watcher.Script{s.Script}, nil)
	res, err := eng.Sync(t.Context())
	if err != nil {
		t.Fatalf("sync while the chain moved: %v", err)
	}
	t.Logf("sync: %+v", res)
	if w := m.want(s.Script); w.confirmed != 100_000 || w.unconfirmed != -70_000 {
		t.Fatalf("model: %+v", w) // the model itself is wrong
	}
	checkBalances(t, st, n, m, []*chaintest.Key{s})
	checkHistory(t, st, n, m, s)
	// And the next sync, with the chain quiet, keeps it so.
	if _, err := eng.Sync(t.Context()); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	checkBalances(t, st, n, m, []*chaintest.Key{s})
	checkHistory(t, st, n, m, s)
}

// TestBlockBetweenTipAndMempool: a ledger synced by scanning; between the
// sync's Tip and the rest of it, a block confirms a new payment to the
// script and the mempool gets a spend of that payment. However the sync
// orders its calls, the spend must not be judged against a ledger lacking
// the payment (which would hide it until it confirms).
func TestBlockBetweenTipAndMempool(t *testing.T) {
	t.Parallel()
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	s := n.NewKey(chaintest.P2SHMultisig)
	other := n.NewKey(chaintest.P2WPKH)
	m := newModel(s)
	m.sent(n.Pay(chaintest.Output{Script: s.Script, Value: 50_000}))
	mine(n, m)
	client := newBtcdClient(t, node)
	st := openStore(t)
	h := &tipHook{Client: client}
	eng := watcher.NewEngine(h, st, []watcher.Script{s.Script}, nil)
	if _, err := eng.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.after = func() {
		f := m.sent(n.Pay(chaintest.Output{Script: s.Script, Value: 100_000}))
		mine(n, m)
		c := chaintest.CoinsOf(f, s.Script)
		m.sent(n.Spend(c, []chaintest.Output{{Script: other.Script, Value: c[0].Value - spendFee}}, spendFee))
	}
	if w := m.want(s.Script); w.confirmed != 50_000 {
		t.Fatalf("model: %+v", w)
	}
	for i := range 3 {
		res, err := eng.Sync(t.Context())
		if err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		t.Logf("sync %d: %+v", i, res)
	}
	if w := m.want(s.Script); w.confirmed != 150_000 || w.unconfirmed != -100_000 {
		t.Fatalf("model: %+v", w) // the model itself is wrong
	}
	checkBalances(t, st, n, m, []*chaintest.Key{s})
	checkHistory(t, st, n, m, s)
}

// TestMempoolTxDisappears: a spend the ledger shows as unconfirmed leaves
// the mempool because a conflicting spend of the same coin, mined by
// another node, wins. The ledger drops the loser and confirms the winner.
func TestMempoolTxDisappears(t *testing.T) {
	t.Parallel()
	node1 := chaintest.StartTB(t, chaintest.Options{Listen: true})
	node2 := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1})
	n1, n2 := node1.T(t), node2.T(t)
	n2.Connect(node1)
	chaintest.WaitSyncTB(t, node1, node2)
	s := n1.NewKey(chaintest.P2WPKH)
	loserTo, winnerTo := n1.NewKey(chaintest.P2WPKH), n1.NewKey(chaintest.P2WPKH)
	m := newModel(s)
	fund := m.sent(n1.Pay(chaintest.Output{Script: s.Script, Value: 500_000}))
	mine(n1, m)
	chaintest.WaitSyncTB(t, node1, node2)

	client := newBtcdClient(t, node1)
	st := openStore(t)
	eng := watcher.NewEngine(client, st, []watcher.Script{s.Script}, nil)
	syncCounted(t, eng, client)
	checkBalances(t, st, n1, m, []*chaintest.Key{s})

	// Apart, each node gets its own spend of the coin.
	n2.Disconnect(node1)
	c := chaintest.CoinsOf(fund, s.Script)
	loser := m.sent(n1.Spend(c, []chaintest.Output{{Script: loserTo.Script, Value: c[0].Value - spendFee}}, spendFee))
	if _, calls := syncCounted(t, eng, client); calls["getrawtransaction"] != 1 {
		t.Errorf("mempool sync: calls %s, want one getrawtransaction", calls)
	}
	checkBalances(t, st, n1, m, []*chaintest.Key{s})

	winner := wire.NewMsgTx(2)
	winner.AddTxIn(wire.NewTxIn(&c[0].OutPoint, nil, nil))
	winner.AddTxOut(wire.NewTxOut(int64(c[0].Value)-2*spendFee, winnerTo.Script))
	fetcher := txscript.NewCannedPrevOutputFetcher(s.Script, int64(c[0].Value))
	w, err := txscript.WitnessSignature(winner, txscript.NewTxSigHashes(winner, fetcher), 0, int64(c[0].Value),
		s.Script, txscript.SigHashAll, s.Priv[0], true)
	if err != nil {
		t.Fatal(err)
	}
	winner.TxIn[0].Witness = w
	var buf bytes.Buffer
	if err := winner.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	n2.RawRequest("sendrawtransaction", hex.EncodeToString(buf.Bytes()))
	m.dropped(loser)
	m.sent(winner)
	block := n2.Mine()
	n2.Connect(node1)
	chaintest.WaitSyncTB(t, node1, node2)
	m.minedIn(block, n1.Height())

	res, calls := syncCounted(t, eng, client)
	t.Logf("after the conflict: %+v, calls %s", res, calls)
	if w := m.want(s.Script); w.confirmed != 0 || w.unconfirmed != 0 || w.txCount != 2 {
		t.Fatalf("model: %+v", w) // the model itself is wrong
	}
	checkBalances(t, st, n1, m, []*chaintest.Key{s})
	checkHistory(t, st, n1, m, s)
	if raw, err := st.RawTxs(t.Context(), []chainhash.Hash{loser.TxHash()}); err != nil || len(raw) != 0 {
		t.Errorf("the losing spend is still in the ledger (err %v)", err)
	}
}
