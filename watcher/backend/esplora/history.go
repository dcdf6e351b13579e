package esplora

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// statsJSON is one of chain_stats and mempool_stats of GET
// /scripthash/:hash. The sums are pointers: Elements-based chains omit
// them.
type statsJSON struct {
	TxCount        *int64 `json:"tx_count"`
	FundedTxoCount int64  `json:"funded_txo_count"`
	FundedTxoSum   *int64 `json:"funded_txo_sum"`
	SpentTxoCount  int64  `json:"spent_txo_count"`
	SpentTxoSum    *int64 `json:"spent_txo_sum"`
}

// scripthashJSON is the answer of GET /scripthash/:hash (and of
// /address/:address, which also carries "address").
type scripthashJSON struct {
	ChainStats   *statsJSON `json:"chain_stats"`
	MempoolStats *statsJSON `json:"mempool_stats"`
}

// txJSON is the part of an Esplora transaction the client reads; the raw
// transaction (GET /tx/:txid/hex) carries every amount exactly.
type txJSON struct {
	Txid   string      `json:"txid"`
	Status *statusJSON `json:"status"`
	// Vout is what the server says the outputs are; it must agree with
	// the raw transaction (claims.go).
	Vout []voutJSON `json:"vout"`
}

// statusJSON is a transaction's status. For an unconfirmed transaction
// Esplora sends {"confirmed":false} with the block fields absent (not
// null), hence the pointers.
type statusJSON struct {
	Confirmed   bool    `json:"confirmed"`
	BlockHeight *int64  `json:"block_height"`
	BlockHash   *string `json:"block_hash"`
	BlockTime   *int64  `json:"block_time"`
}

// String renders stats compactly for a status: every field, "-" for an
// absent sum.
func (s *statsJSON) String() string {
	opt := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	return fmt.Sprintf("%s/%d/%s/%d/%s", opt(s.TxCount), s.FundedTxoCount, opt(s.FundedTxoSum), s.SpentTxoCount, opt(s.SpentTxoSum))
}

// historyAttempts is how many times the client reads a history that moved
// while it was read before it reports the failure.
const historyAttempts = 3

// scripthashPath is the /scripthash/:hash path of a script: the plain (not
// reversed) SHA-256 of the script in hex.
func scripthashPath(s watcher.Script) string {
	h := s.SHA256()
	return "/scripthash/" + hex.EncodeToString(h[:])
}

// dedupe returns the distinct scripts and, per input script, the index of
// its distinct copy.
func dedupe(scripts []watcher.Script) (distinct []watcher.Script, which []int) {
	first := make(map[string]int, len(scripts))
	which = make([]int, len(scripts))
	for i, s := range scripts {
		j, ok := first[s.Key()]
		if !ok {
			j = len(distinct)
			first[s.Key()] = j
			distinct = append(distinct, s)
		}
		which[i] = j
	}
	return distinct, which
}

// stats fetches GET /scripthash/:hash.
func (c *Client) stats(ctx context.Context, s watcher.Script) (*scripthashJSON, error) {
	path := scripthashPath(s)
	raw, err := c.get(ctx, "GET /scripthash/:h", path)
	if err != nil {
		return nil, err
	}
	var st scripthashJSON
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, c.errorf(nil, err, ": GET %s: unexpected answer: %v", path, err)
	}
	if st.ChainStats == nil || st.ChainStats.TxCount == nil || st.MempoolStats == nil || st.MempoolStats.TxCount == nil {
		return nil, c.errorf(nil, nil, ": GET %s: the answer lacks chain_stats or mempool_stats tx_count", path)
	}
	return &st, nil
}

// Statuses returns one status per script from its counters (GET
// /scripthash/:hash): transaction count, funded and spent outputs and sums,
// confirmed and in the mempool. Any change of a history changes one of
// them, except a transaction replaced by another with the very same
// counts and sums, or a reorg that moves a transaction to another block
// without changing any count: Esplora offers nothing cheaper that would
// tell, so a caller that must notice those re-reads the history now and
// then.
func (c *Client) Statuses(ctx context.Context, scripts []watcher.Script) ([]string, error) {
	distinct, which := dedupe(scripts)
	results := make([]string, len(distinct))
	err := c.parallel(ctx, len(distinct), func(ctx context.Context, i int) error {
		st, err := c.stats(ctx, distinct[i])
		if err != nil {
			return err
		}
		results[i] = "c" + st.ChainStats.String() + " m" + st.MempoolStats.String()
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(scripts))
	for i, j := range which {
		out[i] = results[j]
	}
	return out, nil
}

// Histories returns every transaction touching each script: the confirmed
// ones oldest first (in block order within a block) and then the mempool's.
// Per script it reads the mempool list, the counters, then the confirmed
// pages newest first, and refuses a paged history whose length disagrees
// with the counters. A history that moved while it was read is read again
// (up to three times) before the error, wrapping ErrHistoryChanged, is
// returned. Items carry height and block hash but no raw transaction.
// Scripts are read in parallel up to the concurrency bound.
func (c *Client) Histories(ctx context.Context, scripts []watcher.Script) ([][]watcher.HistoryItem, error) {
	distinct, which := dedupe(scripts)
	results := make([][]watcher.HistoryItem, len(distinct))
	err := c.parallel(ctx, len(distinct), func(ctx context.Context, i int) error {
		var err error
		for attempt := 1; ; attempt++ {
			results[i], err = c.history(ctx, distinct[i])
			if err == nil || !errors.Is(err, ErrHistoryChanged) || attempt == historyAttempts {
				return err
			}
			c.logger.Debug("esplora history moved while read, reading again", "backend", c.url, "script", distinct[i], "err", err)
		}
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

// history reads one script's history once.
func (c *Client) history(ctx context.Context, s watcher.Script) ([]watcher.HistoryItem, error) {
	base := scripthashPath(s)

	// The mempool first: a transaction confirmed meanwhile then shows
	// up twice (and is kept as confirmed) rather than not at all.
	var mem []txJSON
	raw, err := c.get(ctx, "GET /scripthash/:h/txs/mempool", base+"/txs/mempool")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &mem); err != nil {
		return nil, c.errorf(nil, err, ": GET %s/txs/mempool: unexpected answer: %v", base, err)
	}

	st, err := c.stats(ctx, s)
	if err != nil {
		return nil, err
	}
	want := *st.ChainStats.TxCount

	var chain []watcher.HistoryItem // newest first, as paged
	seen := make(map[chainhash.Hash]bool)
	for cursor := ""; ; {
		path := base + "/txs/chain"
		if cursor != "" {
			path += "/" + cursor
		}
		raw, err := c.get(ctx, "GET /scripthash/:h/txs/chain", path)
		if cursor != "" && hasStatus(err, http.StatusUnprocessableEntity) {
			// mempool/electrs: "after_txid not found".
			return nil, c.errorf(ErrHistoryChanged, err, ": the history of script %s changed during paging (the page cursor %s is no longer in it); try again", s, cursor)
		}
		if err != nil {
			return nil, err
		}
		var page []txJSON
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, c.errorf(nil, err, ": GET %s: unexpected answer: %v", path, err)
		}
		for _, t := range page {
			it, err := c.confirmedItem(path, t)
			if err != nil {
				return nil, err
			}
			if seen[it.Txid] {
				return nil, c.errorf(nil, nil, ": GET %s repeats transaction %s of an earlier page (does the server ignore the page cursor?); refusing to loop", path, it.Txid)
			}
			seen[it.Txid] = true
			c.noteClaim(it.Txid, t.Vout)
			chain = append(chain, it)
		}
		if int64(len(chain)) > want+PageSize {
			return nil, c.errorf(ErrHistoryChanged, nil, ": the history of script %s grew past the %d confirmed transactions the server counted while it was read; try again", s, want)
		}
		if len(page) < PageSize {
			break
		}
		cursor = chain[len(chain)-1].Txid.String()
	}
	if int64(len(chain)) != want {
		return nil, c.errorf(ErrHistoryChanged, nil, ": the history of script %s changed during paging (%d confirmed transactions read, the server counts %d; a reorg can make a page cursor vanish); try again",
			s, len(chain), want)
	}

	slices.Reverse(chain)
	slices.SortStableFunc(chain, func(a, b watcher.HistoryItem) int { return cmp.Compare(a.Height, b.Height) })
	if err := c.blockOrder(ctx, s, chain); err != nil {
		return nil, err
	}

	items := chain
	if int64(len(mem)) < *st.MempoolStats.TxCount && len(mem) >= 50 {
		c.logger.Warn("esplora lists only part of a script's mempool transactions", "backend", c.url,
			"script", s, "listed", len(mem), "counted", *st.MempoolStats.TxCount)
	}
	for _, t := range mem {
		txid, err := c.parseHash(base+"/txs/mempool", t.Txid)
		if err != nil {
			return nil, err
		}
		if t.Status != nil && t.Status.Confirmed || seen[txid] {
			continue // confirmed meanwhile: the chain pages have it
		}
		seen[txid] = true
		c.noteClaim(txid, t.Vout)
		items = append(items, watcher.HistoryItem{Txid: txid, Height: watcher.Mempool})
	}
	return items, nil
}

// confirmedItem checks one entry of a /txs/chain page.
func (c *Client) confirmedItem(path string, t txJSON) (watcher.HistoryItem, error) {
	txid, err := c.parseHash(path, t.Txid)
	if err != nil {
		return watcher.HistoryItem{}, err
	}
	st := t.Status
	if st == nil || !st.Confirmed || st.BlockHeight == nil || st.BlockHash == nil || *st.BlockHeight < 0 {
		return watcher.HistoryItem{}, c.errorf(ErrHistoryChanged, nil, ": GET %s lists transaction %s without a block height and hash", path, txid)
	}
	hash, err := c.parseHash(path, *st.BlockHash)
	if err != nil {
		return watcher.HistoryItem{}, err
	}
	return watcher.HistoryItem{Txid: txid, Height: *st.BlockHeight, BlockHash: hash}, nil
}

// blockOrder sorts the items of each block (items sorted by height) into
// block order, asking BlockTxids (cached) for blocks holding several. It
// refuses two blocks at one height and an item its block does not hold.
func (c *Client) blockOrder(ctx context.Context, s watcher.Script, items []watcher.HistoryItem) error {
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && items[hi].Height == items[lo].Height {
			if items[hi].BlockHash != items[lo].BlockHash {
				return c.errorf(ErrHistoryChanged, nil, ": the history of script %s puts blocks %s and %s at height %d (reorg while it was read?); try again",
					s, items[lo].BlockHash, items[hi].BlockHash, items[lo].Height)
			}
			hi++
		}
		if hi-lo > 1 {
			ids, err := c.BlockTxids(ctx, items[lo].BlockHash)
			if err != nil {
				return err
			}
			pos := make(map[chainhash.Hash]int, len(ids))
			for i, id := range ids {
				pos[id] = i
			}
			for _, it := range items[lo:hi] {
				if _, ok := pos[it.Txid]; !ok {
					return c.errorf(ErrHistoryChanged, nil, ": the history of script %s puts transaction %s in block %s, which does not hold it", s, it.Txid, it.BlockHash)
				}
			}
			slices.SortFunc(items[lo:hi], func(a, b watcher.HistoryItem) int { return pos[a.Txid] - pos[b.Txid] })
		}
		lo = hi
	}
	return nil
}
