package btcd

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Tip returns the best block: getbestblock, plus getblockheader for its
// time the first time a tip is seen. An unchanged tip costs one call.
func (c *Client) Tip(ctx context.Context) (watcher.BlockRef, error) {
	var best btcjson.GetBestBlockResult
	if err := c.call1(ctx, &best, "getbestblock"); err != nil {
		return watcher.BlockRef{}, err
	}
	hash, err := c.parseHash("getbestblock", best.Hash)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	return c.blockRef(ctx, hash, int64(best.Height))
}

// BlockAt returns the block at height on btcd's best chain: getblockhash,
// plus getblockheader the first time a block is seen. A height above the
// tip is an error wrapping watcher.ErrNotFound.
func (c *Client) BlockAt(ctx context.Context, height int64) (watcher.BlockRef, error) {
	if height < 0 || height > 1<<31-1 {
		return watcher.BlockRef{}, c.errorf(watcher.ErrNotFound, nil, ": no block at height %d", height)
	}
	var s string
	if err := c.call1(ctx, &s, "getblockhash", height); err != nil {
		if code, msg, ok := rpcCode(err); ok && code == btcjson.ErrRPCOutOfRange && strings.Contains(msg, "out of range") {
			return watcher.BlockRef{}, c.errorf(watcher.ErrNotFound, err, ": no block at height %d", height)
		}
		return watcher.BlockRef{}, err
	}
	hash, err := c.parseHash("getblockhash", s)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	return c.blockRef(ctx, hash, height)
}

// blockRef completes a hash with the cached or fetched height and time,
// refusing a block whose header is not at the height btcd named.
func (c *Client) blockRef(ctx context.Context, hash chainhash.Hash, height int64) (watcher.BlockRef, error) {
	hs, err := c.headersOf(ctx, []chainhash.Hash{hash})
	if err != nil {
		return watcher.BlockRef{}, err
	}
	h := hs[hash]
	if h.height != height {
		return watcher.BlockRef{}, c.errorf(nil, nil, ": block %s is at height %d, not %d as btcd said; refusing it", hash, h.height, height)
	}
	return watcher.BlockRef{Height: h.height, Hash: hash, Time: h.time}, nil
}

// headersOf returns the height and time of each block, asking btcd (in
// batches of the page size) only for blocks not seen before.
func (c *Client) headersOf(ctx context.Context, hashes []chainhash.Hash) (map[chainhash.Hash]header, error) {
	out := make(map[chainhash.Hash]header, len(hashes))
	var missing []chainhash.Hash
	for _, hash := range hashes {
		if _, ok := out[hash]; ok {
			continue
		}
		if h, ok := c.cachedHeader(hash); ok {
			out[hash] = h
			continue
		}
		out[hash] = header{height: -1}
		missing = append(missing, hash)
	}
	for len(missing) > 0 {
		n := min(len(missing), c.pageSize)
		results := make([]btcjson.GetBlockHeaderVerboseResult, n)
		calls := make([]*call, n)
		for i, hash := range missing[:n] {
			calls[i] = newCall(&results[i], "getblockheader", hash.String(), true)
		}
		if err := c.do(ctx, calls...); err != nil {
			return nil, err
		}
		for i, hash := range missing[:n] {
			if err := calls[i].err; err != nil {
				return nil, c.notFound(err, "block %s", hash)
			}
			r := results[i]
			if r.Hash != hash.String() || r.Height < 0 {
				return nil, c.errorf(nil, nil, ": getblockheader %s answered for block %q at height %d; refusing it", hash, r.Hash, r.Height)
			}
			h := header{height: int64(r.Height), time: time.Unix(r.Time, 0).UTC()}
			c.cacheHeader(hash, h)
			out[hash] = h
		}
		missing = missing[n:]
	}
	return out, nil
}

// BlockTxids returns the txids of a block in block order (getblock with
// verbosity 1).
func (c *Client) BlockTxids(ctx context.Context, hash chainhash.Hash) ([]chainhash.Hash, error) {
	var r btcjson.GetBlockVerboseResult
	if err := c.call1(ctx, &r, "getblock", hash.String(), 1); err != nil {
		return nil, c.notFound(err, "block %s", hash)
	}
	if r.Hash != hash.String() {
		return nil, c.errorf(nil, nil, ": getblock %s answered for block %q; refusing it", hash, r.Hash)
	}
	if r.Height >= 0 {
		c.cacheHeader(hash, header{height: r.Height, time: time.Unix(r.Time, 0).UTC()})
	}
	return c.parseHashes("getblock", r.Tx)
}

// Block returns a whole block (getblock with verbosity 0), checked against
// its hash.
func (c *Client) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	var s string
	if err := c.call1(ctx, &s, "getblock", hash.String(), 0); err != nil {
		return nil, c.notFound(err, "block %s", hash)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, c.errorf(nil, err, ": getblock %s: the answer is not hex", hash)
	}
	blk, err := watcher.DecodeBlock(raw)
	if err != nil {
		return nil, c.errorf(nil, err, ": getblock %s: undecodable block: %v", hash, err)
	}
	if got := blk.BlockHash(); got != hash {
		return nil, c.errorf(nil, nil, ": getblock %s returned block %s; refusing it", hash, got)
	}
	return blk, nil
}

// MempoolTxids returns the txids in btcd's mempool (getrawmempool), in no
// particular order.
func (c *Client) MempoolTxids(ctx context.Context) ([]chainhash.Hash, error) {
	var ss []string
	if err := c.call1(ctx, &ss, "getrawmempool", false); err != nil {
		return nil, err
	}
	return c.parseHashes("getrawmempool", ss)
}

// Transactions returns the raw transactions, result[i] for txids[i], with
// getrawtransaction calls batched by the page size and the batches run in
// parallel. Each transaction is checked against its txid. An unknown txid
// fails the whole call with an error wrapping watcher.ErrNotFound.
func (c *Client) Transactions(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	out := make([]*wire.MsgTx, len(txids))
	nBatches := (len(txids) + c.pageSize - 1) / c.pageSize
	err := c.parallel(ctx, nBatches, func(ctx context.Context, b int) error {
		lo := b * c.pageSize
		hi := min(lo+c.pageSize, len(txids))
		hexes := make([]string, hi-lo)
		calls := make([]*call, hi-lo)
		for i := range calls {
			calls[i] = newCall(&hexes[i], "getrawtransaction", txids[lo+i].String(), 0)
		}
		if err := c.do(ctx, calls...); err != nil {
			return err
		}
		for i, cl := range calls {
			txid := txids[lo+i]
			if cl.err != nil {
				return c.notFound(cl.err, "transaction %s", txid)
			}
			tx, err := c.decodeTx("getrawtransaction", txid, hexes[i])
			if err != nil {
				return err
			}
			out[lo+i] = tx
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeTx decodes a hex transaction and checks that it is txid.
func (c *Client) decodeTx(method string, txid chainhash.Hash, s string) (*wire.MsgTx, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, c.errorf(nil, err, ": %s: transaction %s is not hex", method, txid)
	}
	tx, err := watcher.DecodeTx(raw)
	if err != nil {
		return nil, c.errorf(nil, err, ": %s: undecodable transaction %s: %v", method, txid, err)
	}
	if got := tx.TxHash(); got != txid {
		c.Refuse(watcher.RefusedTxid)
		return nil, c.errorf(nil, nil, ": %s: asked for transaction %s, got %s; refusing it", method, txid, got)
	}
	return tx, nil
}

// notFound turns btcd's "not found" answers (code -5) into an error
// wrapping watcher.ErrNotFound; other errors pass unchanged.
func (c *Client) notFound(err error, format string, args ...any) error {
	if code, _, ok := rpcCode(err); ok && code == btcjson.ErrRPCNoTxInfo {
		return c.errorf(watcher.ErrNotFound, err, ": "+format+" not found", args...)
	}
	return err
}

// parseHash parses a hash btcd sent.
func (c *Client) parseHash(method, s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil || len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, c.errorf(nil, err, ": %s: %q is not a hash", method, s)
	}
	return *h, nil
}

// parseHashes parses hashes btcd sent.
func (c *Client) parseHashes(method string, ss []string) ([]chainhash.Hash, error) {
	out := make([]chainhash.Hash, len(ss))
	for i, s := range ss {
		h, err := c.parseHash(method, s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// parallel runs fn(0..n-1) on at most the client's concurrency bound of
// goroutines and returns the first error, cancelling the rest.
func (c *Client) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(n, cap(c.sem)) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel(err) })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("btcd at %s: %w", c.url, err)
	}
	return nil
}
