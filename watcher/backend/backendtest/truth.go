package backendtest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// truth is the chain as the node itself shows it, read block by block with
// plain RPC calls, independent of any backend: the expected answers.
type truth struct {
	blocks  []block                        // best chain from the first height read
	mempool []*wire.MsgTx                  // node's mempool, in txid order
	byID    map[chainhash.Hash]*wire.MsgTx // every transaction read
}

// block is one best-chain block as the node reports it.
type block struct {
	height int64
	hash   chainhash.Hash
	time   int64 // header time, Unix seconds
	txs    []*wire.MsgTx
}

// readTruth reads the node's best chain from height from to the tip, and
// its mempool.
func readTruth(t testing.TB, node *chaintest.Node, from int64) *truth {
	t.Helper()
	nt := node.T(t)
	tr := &truth{byID: make(map[chainhash.Hash]*wire.MsgTx)}
	tip := nt.Height()
	for h := from; h <= tip; h++ {
		hash := nt.BlockHash(h)
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(decodeHex(t, nt.RawRequest("getblock", hash.String(), 0)))); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		b := block{height: h, hash: hash, time: blk.Header.Timestamp.Unix(), txs: blk.Transactions}
		tr.blocks = append(tr.blocks, b)
		for _, tx := range blk.Transactions {
			tr.byID[tx.TxHash()] = tx
		}
	}
	var ids []string
	if err := json.Unmarshal(nt.RawRequest("getrawmempool"), &ids); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	for _, id := range ids {
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(decodeHex(t, nt.RawRequest("getrawtransaction", id, 0)))); err != nil {
			t.Fatalf("mempool tx %s: %v", id, err)
		}
		tr.mempool = append(tr.mempool, &tx)
		tr.byID[tx.TxHash()] = &tx
	}
	return tr
}

// decodeHex decodes a JSON string of hex.
func decodeHex(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// history is the expected history of script: the transactions that pay it
// or spend an output paid to it, confirmed ones in chain order, then the
// mempool's in txid order. It assumes script received nothing before the
// first height read.
func (tr *truth) history(script []byte) []watcher.HistoryItem {
	paid := make(map[wire.OutPoint]bool)
	touches := func(tx *wire.MsgTx) bool {
		hit := false
		for _, in := range tx.TxIn {
			hit = hit || paid[in.PreviousOutPoint]
		}
		for i, out := range tx.TxOut {
			if bytes.Equal(out.PkScript, script) {
				paid[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}] = true
				hit = true
			}
		}
		return hit
	}
	var items []watcher.HistoryItem
	for _, b := range tr.blocks {
		for _, tx := range b.txs {
			if touches(tx) {
				items = append(items, watcher.HistoryItem{Txid: tx.TxHash(), Height: b.height, BlockHash: b.hash, Tx: tx})
			}
		}
	}
	// Mempool transactions may spend each other in any txid order:
	// learn every output paid to script first.
	for _, tx := range tr.mempool {
		touches(tx)
	}
	for _, tx := range tr.mempool {
		if touches(tx) {
			items = append(items, watcher.HistoryItem{Txid: tx.TxHash(), Height: watcher.Mempool, Tx: tx})
		}
	}
	return items
}

// tip returns the last block read.
func (tr *truth) tip() block { return tr.blocks[len(tr.blocks)-1] }

// compareHistory returns what is wrong with got as the history want: the
// confirmed items must match in order, with their heights and (when the
// backend states it) block hashes; the mempool items must follow them and
// match as a set; any raw transaction given must be the one named.
func compareHistory(got, want []watcher.HistoryItem) error {
	var problems []string
	for i, it := range got {
		if it.Tx != nil && it.Tx.TxHash() != it.Txid {
			problems = append(problems, fmt.Sprintf("item %d: Tx hashes to %s, not its Txid %s", i, it.Tx.TxHash(), it.Txid))
		}
		if i > 0 && !got[i-1].Confirmed() && it.Confirmed() {
			problems = append(problems, fmt.Sprintf("item %d: confirmed %s after a mempool item", i, it.Txid))
		}
	}
	g, gm := splitMempool(got)
	w, wm := splitMempool(want)
	for i := range max(len(g), len(w)) {
		switch {
		case i >= len(g):
			problems = append(problems, fmt.Sprintf("confirmed %d: missing %s", i, describe(w[i])))
		case i >= len(w):
			problems = append(problems, fmt.Sprintf("confirmed %d: unexpected %s", i, describe(g[i])))
		case g[i].Txid != w[i].Txid || g[i].Height != w[i].Height ||
			(g[i].BlockHash != chainhash.Hash{} && g[i].BlockHash != w[i].BlockHash):
			problems = append(problems, fmt.Sprintf("confirmed %d: got %s, want %s", i, describe(g[i]), describe(w[i])))
		}
	}
	sortTxid := func(a, b watcher.HistoryItem) int { return bytes.Compare(a.Txid[:], b.Txid[:]) }
	slices.SortFunc(gm, sortTxid)
	slices.SortFunc(wm, sortTxid)
	if !slices.EqualFunc(gm, wm, func(a, b watcher.HistoryItem) bool {
		return a.Txid == b.Txid && a.Height == watcher.Mempool && a.BlockHash == chainhash.Hash{}
	}) {
		problems = append(problems, fmt.Sprintf("mempool: got %s, want %s", describeAll(gm), describeAll(wm)))
	}
	if len(problems) > 5 {
		problems = append(problems[:5], fmt.Sprintf("… and %d more", len(problems)-5))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d items (want %d):\n  %s", len(got), len(want), strings.Join(problems, "\n  "))
	}
	return nil
}

// splitMempool returns copies of the confirmed and the mempool items.
func splitMempool(items []watcher.HistoryItem) (confirmed, mempool []watcher.HistoryItem) {
	for _, it := range items {
		if it.Confirmed() {
			confirmed = append(confirmed, it)
		} else {
			mempool = append(mempool, it)
		}
	}
	return confirmed, mempool
}

func describe(it watcher.HistoryItem) string {
	if !it.Confirmed() {
		return it.Txid.String()[:12] + "@mempool"
	}
	return fmt.Sprintf("%s@%d(%s)", it.Txid.String()[:12], it.Height, it.BlockHash.String()[:12])
}

func describeAll(items []watcher.HistoryItem) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = describe(it)
	}
	return "[" + strings.Join(s, " ") + "]"
}
