package electrum

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// historyEntry is one item of blockchain.scripthash.get_history.
type historyEntry struct {
	Height int64  `json:"height"`
	TxHash string `json:"tx_hash"`
}

// tooLargeWords are what servers say when they refuse a history for its
// size: ElectrumX "history too large", electrs "Too many history
// transactions", Fulcrum "… exceeds max history …".
var tooLargeWords = []string{"history too large", "too many", "exceeds max history"}

// uniqueScripts returns the distinct scripts and, for each input script,
// the index of its distinct copy.
func uniqueScripts(scripts []watcher.Script) (unique []watcher.Script, which []int) {
	first := make(map[string]int, len(scripts))
	which = make([]int, len(scripts))
	for i, s := range scripts {
		j, ok := first[s.Key()]
		if !ok {
			j = len(unique)
			first[s.Key()] = j
			unique = append(unique, s)
		}
		which[i] = j
	}
	return unique, which
}

// Histories returns every transaction touching each script
// (blockchain.scripthash.get_history, batched): confirmed ones in chain
// order, then the mempool's. Items carry neither the block hash nor the
// raw transaction (the engine asks BlockAt and Transactions). A history
// the server refuses as too large is an error wrapping
// ErrHistoryTooLarge.
func (c *Client) Histories(ctx context.Context, scripts []watcher.Script) ([][]watcher.HistoryItem, error) {
	unique, which := uniqueScripts(scripts)
	results := make([][]historyEntry, len(unique))
	calls := make([]*call, len(unique))
	for i, s := range unique {
		calls[i] = newCall(&results[i], "blockchain.scripthash.get_history", s.ElectrumHash())
	}
	if err := c.doAll(ctx, calls); err != nil {
		return nil, err
	}
	items := make([][]watcher.HistoryItem, len(unique))
	for i, cl := range calls {
		if cl.err != nil {
			if re, ok := rpcError(cl.err); ok {
				msg := strings.ToLower(re.Message)
				for _, w := range tooLargeWords {
					if strings.Contains(msg, w) {
						return nil, c.errorf(ErrHistoryTooLarge, cl.err, " refuses the history of %s: too large (server limit)", unique[i])
					}
				}
			}
			return nil, c.errorf(nil, cl.err, ": history of %s: %v", unique[i], strings.TrimPrefix(cl.err.Error(), "electrum at "+c.url+": "))
		}
		var err error
		if items[i], err = c.historyItems(unique[i], results[i]); err != nil {
			return nil, err
		}
	}
	out := make([][]watcher.HistoryItem, len(scripts))
	for i, j := range which {
		out[i] = slices.Clone(items[j])
	}
	return out, nil
}

// historyItems turns a server's history into items, confirmed ones in
// chain order and the mempool last.
func (c *Client) historyItems(script watcher.Script, entries []historyEntry) ([]watcher.HistoryItem, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	genesisCoinbase := c.params.GenesisBlock.Transactions[0].TxHash()
	items := make([]watcher.HistoryItem, len(entries))
	seen := make(map[chainhash.Hash]bool, len(entries))
	ordered := true
	for i, e := range entries {
		txid, err := c.parseHash("blockchain.scripthash.get_history", e.TxHash)
		if err != nil {
			return nil, err
		}
		if seen[txid] {
			return nil, c.errorf(nil, nil, ": the history of %s lists transaction %s twice; try again", script, txid)
		}
		seen[txid] = true
		height := e.Height
		// Heights 0 and -1 mean the mempool, except for the genesis
		// coinbase that some servers list at height 0.
		if height <= 0 && !(height == 0 && txid == genesisCoinbase) {
			height = watcher.Mempool
		}
		items[i] = watcher.HistoryItem{Txid: txid, Height: height}
		if i > 0 && historyOrder(items[i-1], items[i]) > 0 {
			ordered = false
		}
	}
	if !ordered {
		// The protocol promises chain order; keep the server's order
		// within a block (the engine orders blocks with BlockTxids).
		slices.SortStableFunc(items, historyOrder)
	}
	return items, nil
}

// historyOrder orders confirmed items by height, mempool items last.
func historyOrder(a, b watcher.HistoryItem) int {
	switch {
	case a.Confirmed() && b.Confirmed():
		return cmp.Compare(a.Height, b.Height)
	case a.Confirmed():
		return -1
	case b.Confirmed():
		return 1
	}
	return 0
}

// Statuses returns the server's status of each script
// (blockchain.scripthash.subscribe, batched): the status hash of its
// history, or "" for a script without transactions. The server's later
// notifications are ignored.
func (c *Client) Statuses(ctx context.Context, scripts []watcher.Script) ([]string, error) {
	unique, which := uniqueScripts(scripts)
	results := make([]*string, len(unique))
	calls := make([]*call, len(unique))
	for i, s := range unique {
		calls[i] = newCall(&results[i], "blockchain.scripthash.subscribe", s.ElectrumHash())
	}
	if err := c.doAll(ctx, calls); err != nil {
		return nil, err
	}
	for i, cl := range calls {
		if cl.err != nil {
			return nil, c.errorf(nil, cl.err, ": status of %s: %v", unique[i], strings.TrimPrefix(cl.err.Error(), "electrum at "+c.url+": "))
		}
	}
	out := make([]string, len(scripts))
	for i, j := range which {
		if results[j] != nil {
			out[i] = *results[j]
		}
	}
	return out, nil
}

// StatusItem is one transaction of a history as the Electrum protocol
// counts it: Txid in the usual (reversed) hex, Height the block height, 0
// for a mempool transaction whose inputs are all confirmed and -1 for one
// spending an unconfirmed output.
type StatusItem struct {
	Txid   string
	Height int64
}

// StatusHash computes the Electrum protocol's status of a history: confirmed
// transactions by height (kept in the given order within a height: the
// order in the block), then mempool transactions by (-height, txid); each
// written "txid:height:"; the SHA-256 of the whole in hex, not reversed.
// An empty history has status "" (the protocol's null).
func StatusHash(history []StatusItem) string {
	if len(history) == 0 {
		return ""
	}
	items := slices.Clone(history)
	slices.SortStableFunc(items, func(a, b StatusItem) int {
		ac, bc := a.Height > 0, b.Height > 0
		switch {
		case ac && bc:
			return cmp.Compare(a.Height, b.Height)
		case ac:
			return -1
		case bc:
			return 1
		}
		return cmp.Or(cmp.Compare(-a.Height, -b.Height), strings.Compare(a.Txid, b.Txid))
	})
	h := sha256.New()
	for _, it := range items {
		h.Write([]byte(it.Txid + ":" + strconv.FormatInt(it.Height, 10) + ":"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
