package btcd

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// searchResult is the part of a verbose searchrawtransactions entry the
// client reads: the raw transaction carries every amount exactly, so the
// decoded (float BTC) vin/vout are skipped.
type searchResult struct {
	Hex       string `json:"hex"`
	Txid      string `json:"txid"`
	BlockHash string `json:"blockhash"` // absent for the mempool
}

// Histories returns every transaction touching each script, oldest first
// and mempool last, from btcd's address index (searchrawtransactions,
// paged by the page size). Items carry the raw transaction, so the engine
// need not fetch it again. Scripts are read in parallel up to the
// concurrency bound; block heights come from getblockheader, batched and
// cached. btcd files P2PK, P2PKH and bare-multisig outputs of one key under
// one index entry, so for P2PK and P2PKH scripts the history is narrowed to
// the transactions that pay or spend that exact script. A history that
// moves while its pages are read (a reorg) is an error to retry, never a
// silently wrong list. A script without a single address (bare multisig,
// OP_RETURN, non-standard) cannot be looked up in btcd's index and is an
// error.
func (c *Client) Histories(ctx context.Context, scripts []watcher.Script) ([][]watcher.HistoryItem, error) {
	type job struct {
		script watcher.Script
		addr   string
		shared bool
	}
	var jobs []job
	first := make(map[string]int, len(scripts)) // script -> index into jobs
	which := make([]int, len(scripts))
	for i, s := range scripts {
		if j, ok := first[s.Key()]; ok {
			which[i] = j
			continue
		}
		addr, shared, err := c.addressOf(s)
		if err != nil {
			return nil, err
		}
		first[s.Key()] = len(jobs)
		which[i] = len(jobs)
		jobs = append(jobs, job{script: s, addr: addr, shared: shared})
	}
	results := make([][]watcher.HistoryItem, len(jobs))
	err := c.parallel(ctx, len(jobs), func(ctx context.Context, i int) error {
		items, err := c.history(ctx, jobs[i].script, jobs[i].addr, jobs[i].shared)
		if err != nil {
			return err
		}
		results[i] = items
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([][]watcher.HistoryItem, len(scripts))
	for i, j := range which {
		out[i] = slices.Clone(results[j])
	}
	return out, nil
}

// addressOf returns the address under which btcd's index keeps script.
// shared is true when that index key also covers other scripts: btcd files
// P2PK, P2PKH and bare-multisig outputs of one key under the key's P2PKH,
// so their histories must be narrowed to the script itself.
func (c *Client) addressOf(script watcher.Script) (addr string, shared bool, err error) {
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(script, c.params)
	switch class {
	case txscript.PubKeyHashTy, txscript.PubKeyTy:
		shared = true
	case txscript.ScriptHashTy, txscript.WitnessV0PubKeyHashTy,
		txscript.WitnessV0ScriptHashTy, txscript.WitnessV1TaprootTy:
	default:
		return "", false, fmt.Errorf("btcd: script %s (%s) has no single address, so btcd's address index cannot follow it", script, class)
	}
	if err != nil || len(addrs) != 1 {
		return "", false, fmt.Errorf("btcd: script %s (%s) has no valid %s address", script, class, c.params.Name)
	}
	return addrs[0].EncodeAddress(), shared, nil
}

// history reads one address's pages and turns them into items.
func (c *Client) history(ctx context.Context, script watcher.Script, addr string, shared bool) ([]watcher.HistoryItem, error) {
	var entries []searchResult
	for skip := 0; ; {
		var page []searchResult
		// verbose=1 (for blockhash), vinextra=0 (prevouts are not
		// needed: the raw tx is), reverse=false (oldest first).
		err := c.call1(ctx, &page, "searchrawtransactions", addr, 1, skip, c.pageSize, 0, false)
		if code, msg, ok := rpcCode(err); ok && code == btcjson.ErrRPCNoTxInfo && strings.Contains(msg, "No information available about address") {
			break // no (more) transactions; not a failure
		}
		if err != nil {
			return nil, fmt.Errorf("%w (history of %s)", err, addr)
		}
		entries = append(entries, page...)
		if len(page) < c.pageSize {
			break
		}
		skip += len(page)
	}
	if len(entries) == 0 {
		return nil, nil
	}

	items := make([]watcher.HistoryItem, len(entries))
	var blocks []chainhash.Hash
	seen := make(map[chainhash.Hash]bool, len(entries))
	for i, e := range entries {
		txid, err := c.parseHash("searchrawtransactions", e.Txid)
		if err != nil {
			return nil, err
		}
		if seen[txid] {
			return nil, c.errorf(nil, nil, ": the history of %s changed while it was read (reorg?); try again", addr)
		}
		seen[txid] = true
		tx, err := c.decodeTx("searchrawtransactions", txid, e.Hex)
		if err != nil {
			return nil, err
		}
		items[i] = watcher.HistoryItem{Txid: txid, Height: watcher.Mempool, Tx: tx}
		if e.BlockHash != "" {
			if items[i].BlockHash, err = c.parseHash("searchrawtransactions", e.BlockHash); err != nil {
				return nil, err
			}
			blocks = append(blocks, items[i].BlockHash)
		}
	}
	headers, err := c.headersOf(ctx, blocks)
	if err != nil {
		return nil, err
	}
	last := int64(0)
	for i := range items {
		it := &items[i]
		if it.BlockHash == (chainhash.Hash{}) {
			last = watcher.Mempool
			continue
		}
		it.Height = headers[it.BlockHash].height
		if last == watcher.Mempool || it.Height < last {
			return nil, c.errorf(nil, nil, ": the history of %s is out of chain order (reorg while it was read?); try again", addr)
		}
		last = it.Height
	}
	if shared {
		items = touching(items, script)
	}
	return items, nil
}

// touching keeps the items whose transaction pays script or spends an
// output paid to script. Every output a watched script spends was paid to
// it by a transaction in its own history, so one pass over the history
// finds all of them.
func touching(items []watcher.HistoryItem, script []byte) []watcher.HistoryItem {
	paid := make(map[wire.OutPoint]bool)
	pays := make([]bool, len(items))
	for i, it := range items {
		for n, out := range it.Tx.TxOut {
			if bytes.Equal(out.PkScript, script) {
				paid[wire.OutPoint{Hash: it.Txid, Index: uint32(n)}] = true
				pays[i] = true
			}
		}
	}
	kept := items[:0]
	for i, it := range items {
		keep := pays[i]
		for _, in := range it.Tx.TxIn {
			keep = keep || paid[in.PreviousOutPoint]
		}
		if keep {
			kept = append(kept, it)
		}
	}
	return kept
}
