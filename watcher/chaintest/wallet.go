package chaintest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// FeeRate is what Pay pays, in satoshis per virtual byte: twice btcd's
// relay minimum, so that every payment is relayed and mined.
const FeeRate = 2

// maxUnconfirmedDepth bounds the chains of unconfirmed transactions Pay
// builds, well below the 25-ancestor limit of Bitcoin Core's mempool policy
// (btcd has none, but tests should not depend on that).
const maxUnconfirmedDepth = 20

// dustLimit is the smallest change output Pay creates; smaller change goes
// to the fee.
const dustLimit = 1000

// ErrNoFunds is returned (wrapped) by Pay when the wallet's spendable coins
// do not cover the payment: mine (coinbases mature after 100 blocks, and
// unconfirmed change is used only up to a depth of 20).
var ErrNoFunds = errors.New("chaintest: not enough spendable coins")

// Coin is an unspent output: what Spend consumes.
type Coin struct {
	OutPoint wire.OutPoint
	Value    btcutil.Amount
	// Script is the output's scriptPubKey; Spend finds the signing Key by it.
	Script []byte
}

// Output is one output of a payment.
type Output struct {
	Script []byte
	Value  btcutil.Amount
}

// CoinsOf returns the outputs of tx that pay script, in output order, so a
// test can spend what it just received.
func CoinsOf(tx *wire.MsgTx, script []byte) []Coin {
	var coins []Coin
	txid := tx.TxHash()
	for i, out := range tx.TxOut {
		if bytes.Equal(out.PkScript, script) {
			coins = append(coins, Coin{
				OutPoint: wire.OutPoint{Hash: txid, Index: uint32(i)},
				Value:    btcutil.Amount(out.Value),
				Script:   out.PkScript,
			})
		}
	}
	return coins
}

// utxo is a coin of a funding key (miner or change) as the wallet sees it.
type utxo struct {
	Coin
	height   int64 // -1 while unconfirmed
	coinbase bool
}

// wallet is the node's in-memory key store and UTXO set. Only coins of the
// funding keys (the miner's coinbases, Pay's change) are tracked and spent
// automatically; coins of keys made with NewKey are spent only by Spend, so
// a test's coins never vanish into someone else's payment.
type wallet struct {
	params  *chaincfg.Params
	seed    []byte
	next    uint32
	keys    map[string]*Key // by scriptPubKey
	funding map[string]bool // scriptPubKeys of miner and change
	miner   *Key
	change  *Key
	utxos   map[wire.OutPoint]*utxo
	pending map[chainhash.Hash]*wire.MsgTx // unconfirmed txs touching funding coins
	spentBy map[wire.OutPoint]chainhash.Hash
	ours    map[chainhash.Hash]*wire.MsgTx // every tx broadcast that touches funding coins
	chain   []chainhash.Hash               // chain[h]: the block scanned at height h
	// inChain maps the txids of the scanned chain to their heights:
	// btcd keeps mined transactions in its mempool while its tip is over
	// 24 h old (see MineAt), so "in the mempool" does not mean
	// "unconfirmed" then.
	inChain map[chainhash.Hash]int64
}

func newWallet(params *chaincfg.Params, seed []byte) (*wallet, error) {
	w := &wallet{
		params:  params,
		seed:    seed,
		keys:    make(map[string]*Key),
		funding: make(map[string]bool),
		ours:    make(map[chainhash.Hash]*wire.MsgTx),
	}
	w.reset()
	var err error
	if w.miner, err = w.newKey(P2PKH, true); err != nil {
		return nil, err
	}
	if w.change, err = w.newKey(P2WPKH, true); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *wallet) newKey(kind Kind, funding bool) (*Key, error) {
	k, err := newKey(w.params, w.seed, &w.next, kind)
	if err != nil {
		return nil, err
	}
	w.keys[string(k.Script)] = k
	if funding {
		w.funding[string(k.Script)] = true
	}
	return k, nil
}

// reset forgets the chain view; the next sync rescans from genesis.
func (w *wallet) reset() {
	w.utxos = make(map[wire.OutPoint]*utxo)
	w.pending = make(map[chainhash.Hash]*wire.MsgTx)
	w.spentBy = make(map[wire.OutPoint]chainhash.Hash)
	w.chain = nil
	w.inChain = make(map[chainhash.Hash]int64)
}

// Sync brings the wallet up to date with the node's best chain. Generate,
// Pay, Spend and WaitSync call it; call it yourself only after blocks came
// from elsewhere and before inspecting the wallet. A reorg or a confirmed
// conflict makes it rescan the whole chain (cheap at test sizes).
func (n *Node) Sync(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.syncLocked(ctx)
}

func (n *Node) syncLocked(ctx context.Context) error {
	for range 5 {
		ok, err := n.syncOnce(ctx)
		if err != nil || ok {
			return err
		}
		n.w.reset()
	}
	return errors.New("chaintest: wallet sync: the chain keeps reorganising")
}

// syncOnce scans the blocks after the last one scanned; it returns false
// when the scanned chain is no longer the best one (the caller resets).
func (n *Node) syncOnce(ctx context.Context) (bool, error) {
	w := n.w
	tip, err := n.Height(ctx)
	if err != nil {
		return false, err
	}
	if k := int64(len(w.chain)); k > 0 {
		if k-1 > tip {
			return false, nil
		}
		h, err := n.BlockHash(ctx, k-1)
		if err != nil {
			return false, err
		}
		if h != w.chain[k-1] {
			return false, nil
		}
	}
	fromScratch := len(w.chain) == 0
	const chunk = 20
	for from := int64(len(w.chain)); from <= tip; from += chunk {
		to := min(from+chunk-1, tip)
		var params [][]any
		for h := from; h <= to; h++ {
			params = append(params, []any{h})
		}
		raws, err := n.batch(ctx, "getblockhash", params)
		if err != nil {
			return false, err
		}
		params = params[:0]
		for _, r := range raws {
			var s string
			if err := json.Unmarshal(r, &s); err != nil {
				return false, err
			}
			params = append(params, []any{s, 0})
		}
		if raws, err = n.batch(ctx, "getblock", params); err != nil {
			return false, err
		}
		for i, r := range raws {
			block, err := decodeBlock(r)
			if err != nil {
				return false, err
			}
			h := from + int64(i)
			if h > 0 && block.Header.PrevBlock != w.chain[h-1] {
				return false, nil
			}
			if !w.applyBlock(block, h) {
				return false, nil
			}
			w.chain = append(w.chain, block.BlockHash())
		}
	}
	if fromScratch {
		var ids []string
		if err := n.callInto(ctx, &ids, "getrawmempool"); err != nil {
			return false, err
		}
		w.applyMempool(ids)
	}
	return true, nil
}

func decodeBlock(raw json.RawMessage) (*wire.MsgBlock, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var block wire.MsgBlock
	if err := block.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return &block, nil
}

// tipIs reports whether the last block scanned is hash at height.
func (w *wallet) tipIs(height int64, hash chainhash.Hash) bool {
	return int64(len(w.chain)) == height+1 && w.chain[height] == hash
}

// applyBlock updates the UTXO set with a block of the best chain; false
// means the block double-spends a pending wallet transaction.
func (w *wallet) applyBlock(block *wire.MsgBlock, height int64) bool {
	for i, tx := range block.Transactions {
		txid := tx.TxHash()
		w.inChain[txid] = height
		if i > 0 {
			for _, in := range tx.TxIn {
				op := in.PreviousOutPoint
				delete(w.utxos, op)
				if s, ok := w.spentBy[op]; ok {
					if s != txid {
						return false
					}
					delete(w.spentBy, op)
				}
			}
		}
		delete(w.pending, txid)
		for vout, out := range tx.TxOut {
			if !w.funding[string(out.PkScript)] {
				continue
			}
			op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
			if _, spent := w.spentBy[op]; spent {
				continue
			}
			w.utxos[op] = &utxo{Coin: Coin{op, btcutil.Amount(out.Value), out.PkScript}, height: height, coinbase: i == 0}
		}
	}
	return true
}

// applyMempool re-adds, after a rescan, the wallet's own transactions still
// in the mempool.
func (w *wallet) applyMempool(ids []string) {
	var txs []*wire.MsgTx
	for _, s := range ids {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			continue
		}
		if _, mined := w.inChain[*h]; mined {
			continue
		}
		if tx, ok := w.ours[*h]; ok {
			txs = append(txs, tx)
			w.pending[*h] = tx
		}
	}
	for _, tx := range txs {
		w.addOutputs(tx)
	}
	for _, tx := range txs {
		txid := tx.TxHash()
		for _, in := range tx.TxIn {
			delete(w.utxos, in.PreviousOutPoint)
			w.spentBy[in.PreviousOutPoint] = txid
		}
	}
}

func (w *wallet) addOutputs(tx *wire.MsgTx) {
	txid := tx.TxHash()
	for vout, out := range tx.TxOut {
		if w.funding[string(out.PkScript)] {
			op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
			w.utxos[op] = &utxo{Coin: Coin{op, btcutil.Amount(out.Value), out.PkScript}, height: -1}
		}
	}
}

// record notes a transaction the node accepted, if it touches funding coins.
func (w *wallet) record(tx *wire.MsgTx, prevs []Coin) {
	touches := false
	for _, p := range prevs {
		touches = touches || w.funding[string(p.Script)]
	}
	for _, out := range tx.TxOut {
		touches = touches || w.funding[string(out.PkScript)]
	}
	if !touches {
		return
	}
	txid := tx.TxHash()
	w.ours[txid] = tx
	w.pending[txid] = tx
	for _, in := range tx.TxIn {
		delete(w.utxos, in.PreviousOutPoint)
		w.spentBy[in.PreviousOutPoint] = txid
	}
	w.addOutputs(tx)
}

// depth is the length of the chain of unconfirmed wallet transactions ending
// in txid (0 when txid is confirmed).
func (w *wallet) depth(txid chainhash.Hash, memo map[chainhash.Hash]int) int {
	tx, ok := w.pending[txid]
	if !ok {
		return 0
	}
	if d, ok := memo[txid]; ok {
		return d
	}
	d := 1
	for _, in := range tx.TxIn {
		d = max(d, 1+w.depth(in.PreviousOutPoint.Hash, memo))
	}
	memo[txid] = d
	return d
}

// selectCoins picks funding coins worth at least amount plus the fee of a
// transaction with outBytes of outputs and a change output: confirmed coins
// first, largest first, then shallow unconfirmed change.
func (w *wallet) selectCoins(amount btcutil.Amount, outBytes int64) ([]Coin, error) {
	tip := int64(len(w.chain)) - 1
	maturity := int64(w.params.CoinbaseMaturity)
	memo := make(map[chainhash.Hash]int)
	type cand struct {
		u     *utxo
		depth int
	}
	var cands []cand
	var all btcutil.Amount
	for _, u := range w.utxos {
		d := 0
		switch {
		case u.height < 0:
			if d = w.depth(u.OutPoint.Hash, memo); d >= maxUnconfirmedDepth {
				continue
			}
		case u.coinbase && tip+1-u.height < maturity:
			continue
		}
		cands = append(cands, cand{u, d})
		all += u.Value
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.depth != b.depth {
			return a.depth < b.depth
		}
		if a.u.Value != b.u.Value {
			return a.u.Value > b.u.Value
		}
		if a.u.OutPoint.Hash != b.u.OutPoint.Hash {
			return bytes.Compare(a.u.OutPoint.Hash[:], b.u.OutPoint.Hash[:]) < 0
		}
		return a.u.OutPoint.Index < b.u.OutPoint.Index
	})
	var picked []Coin
	var sum btcutil.Amount
	for _, c := range cands {
		picked = append(picked, c.u.Coin)
		sum += c.u.Value
		// A P2PKH input, the largest funding input, is at most 149 vB,
		// plus Pay's spare vbyte; a change output is 31 vB.
		fee := btcutil.Amount(FeeRate * (11 + 150*int64(len(picked)) + outBytes + 31))
		if sum >= amount+fee {
			return picked, nil
		}
	}
	return nil, fmt.Errorf("%w: need %v plus fee, spendable %v (tip %d)", ErrNoFunds, amount, all, tip)
}
