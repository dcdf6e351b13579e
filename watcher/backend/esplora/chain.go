package esplora

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// blockJSON is the part of GET /block/:hash the client reads.
type blockJSON struct {
	ID         string `json:"id"`
	Height     *int64 `json:"height"`
	Timestamp  int64  `json:"timestamp"`
	MerkleRoot string `json:"merkle_root"`
}

// CheckNetwork makes sure the server follows the chain of params (by its
// genesis block) before anything is synced. It costs one request.
func (c *Client) CheckNetwork(ctx context.Context, params *chaincfg.Params) error {
	if params == nil {
		params = c.params
	}
	if params.Name != c.params.Name {
		return c.errorf(ErrWrongNetwork, nil, ": the client was made for %s but is checked against %s", c.params.Name, params.Name)
	}
	s, err := c.getText(ctx, "GET /block-height/:h", "/block-height/0")
	if err != nil {
		return err
	}
	if s != params.GenesisHash.String() {
		return c.errorf(ErrWrongNetwork, nil, " is on another chain (genesis %s), not the watchlist's %s; refusing to sync", truncate(s, 64), params.Name)
	}
	return nil
}

// truncate shortens s for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Tip returns the best block: GET /blocks/tip/hash, plus GET /block/:hash
// the first time a tip is seen. An unchanged tip costs one request.
func (c *Client) Tip(ctx context.Context) (watcher.BlockRef, error) {
	s, err := c.getText(ctx, "GET /blocks/tip/hash", "/blocks/tip/hash")
	if err != nil {
		return watcher.BlockRef{}, err
	}
	hash, err := c.parseHash("/blocks/tip/hash", s)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	h, err := c.header(ctx, hash)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	return watcher.BlockRef{Height: h.height, Hash: hash, Time: h.time}, nil
}

// BlockAt returns the block at height on the server's best chain: GET
// /block-height/:h, plus GET /block/:hash the first time a block is seen.
// A height above the tip is an error wrapping watcher.ErrNotFound.
func (c *Client) BlockAt(ctx context.Context, height int64) (watcher.BlockRef, error) {
	if height < 0 || height > 1<<31-1 {
		return watcher.BlockRef{}, c.errorf(watcher.ErrNotFound, nil, ": no block at height %d", height)
	}
	path := "/block-height/" + strconv.FormatInt(height, 10)
	s, err := c.getText(ctx, "GET /block-height/:h", path)
	if hasStatus(err, http.StatusNotFound) {
		return watcher.BlockRef{}, c.errorf(watcher.ErrNotFound, err, ": no block at height %d", height)
	}
	if err != nil {
		return watcher.BlockRef{}, err
	}
	hash, err := c.parseHash(path, s)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	h, err := c.header(ctx, hash)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	if h.height != height {
		return watcher.BlockRef{}, c.errorf(nil, nil, ": block %s is at height %d, not %d as /block-height said; refusing it", hash, h.height, height)
	}
	return watcher.BlockRef{Height: height, Hash: hash, Time: h.time}, nil
}

// header returns the cached or fetched (GET /block/:hash) header of a
// block. An unknown block is an error wrapping watcher.ErrNotFound.
func (c *Client) header(ctx context.Context, hash chainhash.Hash) (header, error) {
	if h, ok := c.cachedHeader(hash); ok {
		return h, nil
	}
	path := "/block/" + hash.String()
	raw, err := c.get(ctx, "GET /block/:hash", path)
	if hasStatus(err, http.StatusNotFound) {
		return header{}, c.errorf(watcher.ErrNotFound, err, ": block %s not found", hash)
	}
	if err != nil {
		return header{}, err
	}
	var b blockJSON
	if err := json.Unmarshal(raw, &b); err != nil {
		return header{}, c.errorf(nil, err, ": GET %s: unexpected answer: %v", path, err)
	}
	if b.ID != hash.String() || b.Height == nil || *b.Height < 0 {
		return header{}, c.errorf(nil, nil, ": GET %s answered for block %q at height %v; refusing it", path, truncate(b.ID, 64), b.Height)
	}
	merkle, err := c.parseHash(path, b.MerkleRoot)
	if err != nil {
		return header{}, err
	}
	h := header{height: *b.Height, time: time.Unix(b.Timestamp, 0).UTC(), merkle: merkle}
	c.cacheHeader(hash, h)
	return h, nil
}

// BlockTxids returns the txids of a block in block order (GET
// /block/:hash/txids), checked against the block's merkle root. Answers
// are cached: a block's transactions never change for its hash.
func (c *Client) BlockTxids(ctx context.Context, hash chainhash.Hash) ([]chainhash.Hash, error) {
	if ids, ok := c.cachedTxids(hash); ok {
		return append([]chainhash.Hash(nil), ids...), nil
	}
	path := "/block/" + hash.String() + "/txids"
	raw, err := c.get(ctx, "GET /block/:hash/txids", path)
	if hasStatus(err, http.StatusNotFound) {
		return nil, c.errorf(watcher.ErrNotFound, err, ": block %s not found", hash)
	}
	if err != nil {
		return nil, err
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, c.errorf(nil, err, ": GET %s: unexpected answer: %v", path, err)
	}
	ids := make([]chainhash.Hash, len(ss))
	for i, s := range ss {
		if ids[i], err = c.parseHash(path, s); err != nil {
			return nil, err
		}
	}
	h, err := c.header(ctx, hash)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 || merkleRoot(ids) != h.merkle {
		c.Refuse(watcher.RefusedMerkle)
		return nil, c.errorf(nil, nil, ": GET %s: the %d txids do not match the block's merkle root; refusing them", path, len(ids))
	}
	c.cacheTxids(hash, ids)
	return append([]chainhash.Hash(nil), ids...), nil
}

// merkleRoot computes the merkle root of txids in block order.
func merkleRoot(ids []chainhash.Hash) chainhash.Hash {
	level := append([]chainhash.Hash(nil), ids...)
	var buf [2 * chainhash.HashSize]byte
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			copy(buf[:chainhash.HashSize], level[i][:])
			copy(buf[chainhash.HashSize:], level[i+1][:])
			next = append(next, chainhash.DoubleHashH(buf[:]))
		}
		level = next
	}
	return level[0]
}

// Transactions returns the raw transactions, result[i] for txids[i] (GET
// /tx/:txid/hex, in parallel up to the concurrency bound, once per distinct
// txid). Each transaction is checked against its txid. An unknown txid
// fails the whole call with an error wrapping watcher.ErrNotFound.
func (c *Client) Transactions(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	var distinct []chainhash.Hash
	index := make(map[chainhash.Hash]int, len(txids))
	for _, id := range txids {
		if _, ok := index[id]; !ok {
			index[id] = len(distinct)
			distinct = append(distinct, id)
		}
	}
	txs := make([]*wire.MsgTx, len(distinct))
	err := c.parallel(ctx, len(distinct), func(ctx context.Context, i int) error {
		tx, err := c.transaction(ctx, distinct[i])
		txs[i] = tx
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*wire.MsgTx, len(txids))
	for i, id := range txids {
		out[i] = txs[index[id]]
	}
	return out, nil
}

// transaction fetches and checks one raw transaction.
func (c *Client) transaction(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	path := "/tx/" + txid.String() + "/hex"
	s, err := c.getText(ctx, "GET /tx/:txid/hex", path)
	if hasStatus(err, http.StatusNotFound) {
		return nil, c.errorf(watcher.ErrNotFound, err, ": transaction %s not found", txid)
	}
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, c.errorf(nil, err, ": GET %s: the answer is not hex", path)
	}
	tx, err := watcher.DecodeTx(raw)
	if err != nil {
		return nil, c.errorf(nil, err, ": GET %s: undecodable transaction: %v", path, err)
	}
	if got := tx.TxHash(); got != txid {
		c.Refuse(watcher.RefusedTxid)
		return nil, c.errorf(nil, nil, ": GET %s returned transaction %s; refusing it", path, got)
	}
	if err := c.checkClaim(path, txid, tx); err != nil {
		return nil, err
	}
	return tx, nil
}

// parseHash parses a hash the server sent.
func (c *Client) parseHash(path, s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil || len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, c.errorf(nil, err, ": GET %s: %q is not a hash", path, truncate(s, 80))
	}
	return *h, nil
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
		return fmt.Errorf("esplora at %s: %w", c.url, err)
	}
	return nil
}
