// Package backendtest is the conformance suite every watcher.Backend must
// pass. Backends are distrusted and replaceable (btcd, Esplora, Electrum
// must give the same answer on the same chain), so they are all held to one
// set of checks against one real chain: Run builds it on a regtest btcd
// and compares each backend answer with what the node itself says.
package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// NewBackend makes the backend under test, talking to node (directly, or
// through a test server that serves node's chain). Run closes it.
type NewBackend func(t *testing.T, node *chaintest.Node) watcher.Backend

// PagingTxs is how many transactions the suite's paging script receives:
// more than one page of btcd (100), Esplora (25) and mempool's Electrum
// proxy (10).
const PagingTxs = 130

// catchUp bounds how long the suite waits for a backend behind an indexer
// (electrs, a test proxy) to see the node's new tip.
const catchUp = 10 * time.Second

// Run checks a backend against a regtest chain built for the purpose: a
// script of every kind receiving and spending (some in one block, one
// paying two watched scripts at once), a P2PK and the P2PKH of the same
// key, a script with PagingTxs transactions, the miner's coinbases,
// unconfirmed payments and spends, and an unused script; then a reorg. One
// node serves every subtest; the whole run takes a few seconds.
//
// Besides the watcher.Backend documentation, Run holds backends to what the
// engine relies on: BlockAt above the tip, BlockTxids/Block of an unknown
// hash and Transactions with an unknown txid fail with an error wrapping
// watcher.ErrNotFound; Histories(nil) and Transactions(nil) return nothing
// and no error; a script listed twice gets its history twice; a repeated
// txid gets its transaction twice; an unused script has an empty history;
// mempool items follow the confirmed ones in any order; HistoryItem.Tx and
// BlockHash, when set, are right. A StatusSource must keep a script's
// status while its history is unchanged and change it when the set of
// (txid, height) changes.
func Run(t *testing.T, newBackend NewBackend) {
	t.Helper()
	node := chaintest.StartTB(t, chaintest.Options{})
	fx := build(t, node)
	b := newBackend(t, node)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx := t.Context()
	waitTip(t, b, fx.truth.tip().hash)

	t.Run("CheckNetwork", func(t *testing.T) {
		if err := b.CheckNetwork(ctx, node.Params); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Tip", func(t *testing.T) { checkTip(t, b, fx.truth.tip()) })
	t.Run("BlockAt", func(t *testing.T) { checkBlockAt(t, b, fx) })
	t.Run("Histories", func(t *testing.T) { checkHistories(t, b, fx, fx.truth) })
	t.Run("HistoriesRepeatedAndEmpty", func(t *testing.T) { checkHistoriesEdges(t, b, fx) })
	t.Run("Transactions", func(t *testing.T) { checkTransactions(t, b, fx) })
	t.Run("BlockTxids", func(t *testing.T) { checkBlockTxids(t, b, fx) })
	if bs, ok := b.(watcher.BlockSource); ok {
		t.Run("BlockSource", func(t *testing.T) { checkBlockSource(t, bs, fx) })
	}
	var before []string
	if ss, ok := b.(watcher.StatusSource); ok {
		t.Run("Statuses", func(t *testing.T) { before = checkStatusesStable(t, ss, fx) })
	}
	t.Run("Reorg", func(t *testing.T) { checkReorg(t, b, fx, before) })
}

// named is a watched script with a name for subtest and failure messages.
type named struct {
	name   string
	script watcher.Script
}

// fixture is the chain Run built and what it knows about it.
type fixture struct {
	node    *chaintest.Node
	scripts []named
	blockA  chainhash.Hash // the block with two payments per kind
	truth   *truth         // the chain as the node shows it (from height 1)
}

// build makes the suite's chain on node.
func build(t *testing.T, node *chaintest.Node) *fixture {
	t.Helper()
	start := time.Now()
	nt := node.T(t)
	fx := &fixture{node: node}
	add := func(name string, script []byte) { fx.scripts = append(fx.scripts, named{name, script}) }

	kinds := make(map[chaintest.Kind]*chaintest.Key)
	for _, k := range chaintest.Kinds {
		kinds[k] = nt.NewKey(k)
		add(k.String(), kinds[k].Script)
	}
	other := nt.NewKey(chaintest.P2WPKH)
	add("other", other.Script)
	p2pk, p2pkh := twinScripts(t, node)
	add("p2pk", p2pk)
	add("p2pkh-of-p2pk", p2pkh)
	paging := nt.NewKey(chaintest.P2WPKH)
	add("paging", paging.Script)
	memOnly := nt.NewKey(chaintest.P2PKH)
	add("mempool-only", memOnly.Script)
	add("unused", nt.NewKey(chaintest.P2TR).Script)
	add("miner", node.MinerKey().Script)

	// Block A: two payments to each kind (order within one block
	// matters), the P2PK twins, one transaction paying two scripts.
	first := make(map[chaintest.Kind]*wire.MsgTx)
	second := make(map[chaintest.Kind]*wire.MsgTx)
	for _, k := range chaintest.Kinds {
		first[k] = nt.Pay(chaintest.Output{Script: kinds[k].Script, Value: btcutil.SatoshiPerBitcoin})
		second[k] = nt.Pay(chaintest.Output{Script: kinds[k].Script, Value: btcutil.SatoshiPerBitcoin / 2})
	}
	nt.Pay(chaintest.Output{Script: p2pk, Value: 10_000_000})
	nt.Pay(chaintest.Output{Script: p2pkh, Value: 20_000_000})
	nt.Pay(chaintest.Output{Script: kinds[chaintest.P2WPKH].Script, Value: 30_000_000},
		chaintest.Output{Script: kinds[chaintest.P2TR].Script, Value: 40_000_000})
	fx.blockA = nt.Mine()

	// Block B: each kind spends its first coin to "other" and itself.
	const fee = 10_000
	for _, k := range chaintest.Kinds {
		coins := chaintest.CoinsOf(first[k], kinds[k].Script)
		nt.Spend(coins, []chaintest.Output{
			{Script: other.Script, Value: 60_000_000},
			{Script: kinds[k].Script, Value: coins[0].Value - 60_000_000 - fee},
		}, fee)
	}
	nt.Mine()

	// Paging: two rounds, so the history spans blocks and pages.
	nt.FundMany([][]byte{paging.Script}, PagingTxs/2, 10_000)
	nt.FundMany([][]byte{paging.Script}, PagingTxs-PagingTxs/2, 10_000)

	// Unconfirmed: a payment to a script with confirmed history, one to
	// a fresh script, and a spend of a confirmed coin.
	nt.Pay(chaintest.Output{Script: kinds[chaintest.P2WSH].Script, Value: 20_000_000})
	nt.Pay(chaintest.Output{Script: memOnly.Script, Value: 5_000_000})
	coins := chaintest.CoinsOf(second[chaintest.P2TR], kinds[chaintest.P2TR].Script)
	nt.Spend(coins, []chaintest.Output{{Script: other.Script, Value: coins[0].Value - fee}}, fee)

	fx.truth = readTruth(t, node, 1)
	t.Logf("backendtest: chain built in %v: height %d, %d mempool txs", time.Since(start).Round(time.Millisecond),
		fx.truth.tip().height, len(fx.truth.mempool))
	return fx
}

// twinScripts returns a P2PK script and the P2PKH script of the same key:
// btcd's address index files both under one key, and a backend must still
// keep their histories apart.
func twinScripts(t *testing.T, node *chaintest.Node) (p2pk, p2pkh []byte) {
	t.Helper()
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PubKey().SerializeCompressed()
	p2pk, err = txscript.NewScriptBuilder().AddData(pub).AddOp(txscript.OP_CHECKSIG).Script()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := address.NewAddressPubKeyHash(address.Hash160(pub), node.Params)
	if err != nil {
		t.Fatal(err)
	}
	if p2pkh, err = txscript.PayToAddrScript(addr); err != nil {
		t.Fatal(err)
	}
	return p2pk, p2pkh
}

// waitTip waits until the backend's tip is want (at once for btcd; a
// backend behind an indexer may lag).
func waitTip(t *testing.T, b watcher.Backend, want chainhash.Hash) {
	t.Helper()
	deadline := time.Now().Add(catchUp)
	for {
		tip, err := b.Tip(t.Context())
		if err == nil && tip.Hash == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend tip is %v (err %v), want %s after %v", tip.Hash, err, want, catchUp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkTip(t *testing.T, b watcher.Backend, want block) {
	t.Helper()
	tip, err := b.Tip(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tip.Height != want.height || tip.Hash != want.hash || tip.Time.Unix() != want.time {
		t.Errorf("Tip = %d %s %v, want %d %s %v", tip.Height, tip.Hash, tip.Time.Unix(), want.height, want.hash, want.time)
	}
}

func checkBlockAt(t *testing.T, b watcher.Backend, fx *fixture) {
	tr := fx.truth
	for _, want := range []block{tr.blocks[0], tr.blocks[len(tr.blocks)/2], tr.tip()} {
		got, err := b.BlockAt(t.Context(), want.height)
		if err != nil {
			t.Errorf("BlockAt(%d): %v", want.height, err)
			continue
		}
		if got.Height != want.height || got.Hash != want.hash || got.Time.Unix() != want.time {
			t.Errorf("BlockAt(%d) = %d %s %v, want %s %v", want.height, got.Height, got.Hash, got.Time.Unix(), want.hash, want.time)
		}
	}
	genesis, err := b.BlockAt(t.Context(), 0)
	if err != nil || genesis.Hash != *fx.node.Params.GenesisHash {
		t.Errorf("BlockAt(0) = %v, %v; want the genesis block %s", genesis.Hash, err, fx.node.Params.GenesisHash)
	}
	above := tr.tip().height + 1
	if _, err := b.BlockAt(t.Context(), above); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("BlockAt(%d) above the tip: error %v, want one wrapping watcher.ErrNotFound", above, err)
	}
}

// histories asks for every fixture script in one call.
func histories(t *testing.T, b watcher.Backend, fx *fixture) [][]watcher.HistoryItem {
	t.Helper()
	scripts := make([]watcher.Script, len(fx.scripts))
	for i, s := range fx.scripts {
		scripts[i] = s.script
	}
	got, err := b.Histories(t.Context(), scripts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(scripts) {
		t.Fatalf("Histories returned %d histories for %d scripts", len(got), len(scripts))
	}
	return got
}

func checkHistories(t *testing.T, b watcher.Backend, fx *fixture, tr *truth) {
	got := histories(t, b, fx)
	for i, s := range fx.scripts {
		t.Run(s.name, func(t *testing.T) {
			want := tr.history(s.script)
			if err := compareHistory(got[i], want); err != nil {
				t.Error(err)
			}
			if s.name == "unused" && len(got[i]) != 0 {
				t.Errorf("unused script: %d items, want none", len(got[i]))
			}
			if s.name == "paging" && len(want) != PagingTxs {
				t.Errorf("fixture: paging script has %d transactions, want %d", len(want), PagingTxs)
			}
		})
	}
}

func checkHistoriesEdges(t *testing.T, b watcher.Backend, fx *fixture) {
	got, err := b.Histories(t.Context(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Histories(nil) = %d histories, %v; want none, no error", len(got), err)
	}
	s := fx.scripts[0].script
	u := fx.scripts[slices.IndexFunc(fx.scripts, func(n named) bool { return n.name == "unused" })].script
	got, err = b.Histories(t.Context(), []watcher.Script{s, u, s})
	if err != nil {
		t.Fatal(err)
	}
	want := fx.truth.history(s)
	for i, h := range [][]watcher.HistoryItem{got[0], got[2]} {
		if err := compareHistory(h, want); err != nil {
			t.Errorf("repeated script, copy %d: %v", i, err)
		}
	}
	if len(got[1]) != 0 {
		t.Errorf("unused script between repeats: %d items", len(got[1]))
	}
}

func checkTransactions(t *testing.T, b watcher.Backend, fx *fixture) {
	tr := fx.truth
	var ids []chainhash.Hash
	for _, tx := range tr.mempool {
		ids = append(ids, tx.TxHash())
	}
	for _, blk := range tr.blocks[len(tr.blocks)-6:] { // the fixture's blocks
		for _, tx := range blk.txs {
			ids = append(ids, tx.TxHash())
		}
	}
	ids = append(ids, ids[0]) // a repeat
	got, err := b.Transactions(t.Context(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("Transactions returned %d for %d txids", len(got), len(ids))
	}
	for i, tx := range got {
		if tx == nil || tx.TxHash() != ids[i] {
			t.Errorf("Transactions[%d] is not %s", i, ids[i])
			continue
		}
		var a, b bytes.Buffer
		tx.Serialize(&a)
		tr.byID[ids[i]].Serialize(&b)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("Transactions[%d] %s: witness or bytes differ from the node's", i, ids[i])
		}
	}
	if got, err := b.Transactions(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("Transactions(nil) = %d, %v; want none, no error", len(got), err)
	}
	unknown := chainhash.Hash{0xde, 0xad, 0xbe, 0xef}
	if _, err := b.Transactions(t.Context(), []chainhash.Hash{ids[0], unknown}); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("unknown txid: error %v, want one wrapping watcher.ErrNotFound", err)
	}
}

func checkBlockTxids(t *testing.T, b watcher.Backend, fx *fixture) {
	for _, blk := range fx.truth.blocks {
		if blk.hash != fx.blockA && blk.hash != fx.truth.tip().hash && blk.height != 1 {
			continue
		}
		got, err := b.BlockTxids(t.Context(), blk.hash)
		if err != nil {
			t.Errorf("BlockTxids(%d): %v", blk.height, err)
			continue
		}
		if want := txids(blk.txs); !slices.Equal(got, want) {
			t.Errorf("BlockTxids(%d) = %d txids %v, want %d %v", blk.height, len(got), got, len(want), want)
		}
	}
	if _, err := b.BlockTxids(t.Context(), chainhash.Hash{0xde, 0xad}); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("unknown block: error %v, want one wrapping watcher.ErrNotFound", err)
	}
}

func txids(txs []*wire.MsgTx) []chainhash.Hash {
	ids := make([]chainhash.Hash, len(txs))
	for i, tx := range txs {
		ids[i] = tx.TxHash()
	}
	return ids
}

func checkBlockSource(t *testing.T, bs watcher.BlockSource, fx *fixture) {
	ctx := t.Context()
	blk, err := bs.Block(ctx, fx.blockA)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fx.truth.blocks, func(b block) bool { return b.hash == fx.blockA })
	if blk.BlockHash() != fx.blockA || !slices.Equal(txids(blk.Transactions), txids(fx.truth.blocks[i].txs)) {
		t.Errorf("Block(%s) differs from the node's block", fx.blockA)
	}
	if _, err := bs.Block(ctx, chainhash.Hash{0xde, 0xad}); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("unknown block: error %v, want one wrapping watcher.ErrNotFound", err)
	}
	got, err := bs.MempoolTxids(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sortHashes(got)
	want := txids(fx.truth.mempool)
	sortHashes(want)
	if !slices.Equal(got, want) {
		t.Errorf("MempoolTxids = %v, want %v", got, want)
	}
}

func sortHashes(hs []chainhash.Hash) {
	slices.SortFunc(hs, func(a, b chainhash.Hash) int { return bytes.Compare(a[:], b[:]) })
}

// scriptList returns the fixture's scripts in order.
func scriptList(fx *fixture) []watcher.Script {
	out := make([]watcher.Script, len(fx.scripts))
	for i, s := range fx.scripts {
		out[i] = s.script
	}
	return out
}

func checkStatusesStable(t *testing.T, ss watcher.StatusSource, fx *fixture) []string {
	a, err := ss.Statuses(t.Context(), scriptList(fx))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ss.Statuses(t.Context(), scriptList(fx))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(fx.scripts) || !slices.Equal(a, b) {
		t.Errorf("Statuses of an unchanged chain differ: %q then %q", a, b)
	}
	return a
}

// checkReorg disconnects the tip (its transactions return to the mempool),
// mines a replacement that also confirms the mempool, and checks that the
// backend follows: tip, block at that height, histories, statuses.
func checkReorg(t *testing.T, b watcher.Backend, fx *fixture, before []string) {
	ctx := t.Context()
	nt := fx.node.T(t)
	old := fx.truth.tip()
	nt.Invalidate(old.hash)
	parent := fx.truth.blocks[len(fx.truth.blocks)-2]
	waitTip(t, b, parent.hash)
	checkTip(t, b, parent)

	replacement := nt.Mine()
	if replacement == old.hash {
		t.Fatal("fixture: the replacement block has the old block's hash")
	}
	waitTip(t, b, replacement)
	after := readTruth(t, fx.node, 1)
	checkTip(t, b, after.tip())
	if got, err := b.BlockAt(ctx, old.height); err != nil || got.Hash != replacement {
		t.Errorf("BlockAt(%d) after the reorg = %v, %v; want %s", old.height, got.Hash, err, replacement)
	}
	if got, err := b.BlockTxids(ctx, replacement); err != nil || !slices.Equal(got, txids(after.tip().txs)) {
		t.Errorf("BlockTxids(replacement) = %v, %v; want %v", got, err, txids(after.tip().txs))
	}
	t.Run("Histories", func(t *testing.T) { checkHistories(t, b, fx, after) })

	ss, ok := b.(watcher.StatusSource)
	if !ok || before == nil {
		return
	}
	now, err := ss.Statuses(ctx, scriptList(fx))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range fx.scripts {
		h0, h1 := fx.truth.history(s.script), after.history(s.script)
		same := slices.EqualFunc(h0, h1, func(a, b watcher.HistoryItem) bool {
			return a.Txid == b.Txid && a.Height == b.Height && a.BlockHash == b.BlockHash
		})
		moved := !slices.Equal(txHeights(h0), txHeights(h1))
		if same && now[i] != before[i] {
			t.Errorf("status of %s changed (%q -> %q) though its history did not", s.name, before[i], now[i])
		}
		if moved && now[i] == before[i] {
			t.Errorf("status of %s unchanged (%q) though its history changed", s.name, now[i])
		}
	}
}

// txHeights returns "txid:height" of each item, sorted: what every
// backend's status must reflect whatever order it keeps within a block.
func txHeights(items []watcher.HistoryItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("%s:%d", it.Txid, it.Height)
	}
	slices.Sort(out)
	return out
}
