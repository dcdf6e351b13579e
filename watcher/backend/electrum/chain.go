package electrum

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// headerNotification is the answer of blockchain.headers.subscribe.
type headerNotification struct {
	Height int64  `json:"height"`
	Hex    string `json:"hex"`
}

// Tip returns the best block (blockchain.headers.subscribe; one call). The
// server's later tip notifications are ignored.
func (c *Client) Tip(ctx context.Context) (watcher.BlockRef, error) {
	var tip headerNotification
	cl := newCall(&tip, "blockchain.headers.subscribe")
	if err := c.do(ctx, cl); err != nil {
		return watcher.BlockRef{}, err
	}
	if cl.err != nil {
		return watcher.BlockRef{}, cl.err
	}
	if tip.Height < 0 {
		return watcher.BlockRef{}, c.errorf(nil, nil, ": blockchain.headers.subscribe answered height %d; refusing it", tip.Height)
	}
	return c.blockRef("blockchain.headers.subscribe", tip.Height, tip.Hex)
}

// BlockAt returns the block at height on the server's best chain
// (blockchain.block.header; one call). A height above the tip is an error
// wrapping watcher.ErrNotFound.
func (c *Client) BlockAt(ctx context.Context, height int64) (watcher.BlockRef, error) {
	if height < 0 || height > 1<<31-1 {
		return watcher.BlockRef{}, c.errorf(watcher.ErrNotFound, nil, ": no block at height %d", height)
	}
	var s string
	cl := newCall(&s, "blockchain.block.header", height)
	if err := c.do(ctx, cl); err != nil {
		return watcher.BlockRef{}, err
	}
	if cl.err != nil {
		if _, ok := rpcError(cl.err); ok {
			// Servers word "above the tip" differently: ask the tip.
			if tip, err := c.Tip(ctx); err == nil && height > tip.Height {
				return watcher.BlockRef{}, c.errorf(watcher.ErrNotFound, cl.err, ": no block at height %d (the tip is at %d)", height, tip.Height)
			}
		}
		return watcher.BlockRef{}, cl.err
	}
	return c.blockRef("blockchain.block.header", height, s)
}

// blockRef parses a header the server gave for height and remembers the
// block's height.
func (c *Client) blockRef(method string, height int64, s string) (watcher.BlockRef, error) {
	hdr, hash, err := c.parseHeader(method, s)
	if err != nil {
		return watcher.BlockRef{}, err
	}
	c.cacheHeight(hash, height)
	return watcher.BlockRef{Height: height, Hash: hash, Time: hdr.Timestamp.UTC()}, nil
}

// parseHeader decodes an 80-byte header in hex; its hash is the double
// SHA-256 of the bytes.
func (c *Client) parseHeader(method, s string) (*wire.BlockHeader, chainhash.Hash, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != wire.MaxBlockHeaderPayload {
		return nil, chainhash.Hash{}, c.errorf(nil, err, ": %s: the answer is not an 80-byte header in hex", method)
	}
	var hdr wire.BlockHeader
	if err := hdr.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, chainhash.Hash{}, c.errorf(nil, err, ": %s: undecodable header: %v", method, err)
	}
	return &hdr, chainhash.DoubleHashH(raw), nil
}

// headersChunk is the most headers servers give in one
// blockchain.block.headers answer.
const headersChunk = 2016

// maxScanHeaders bounds how far below the tip BlockTxids looks for a block
// it has not seen: about 140 days of blocks, 10 calls.
const maxScanHeaders = 10 * headersChunk

// BlockTxids returns the txids of a block in block order, read with
// blockchain.transaction.id_from_pos in batches until the server has no
// more, and checked against the header's merkle root. The Electrum
// protocol finds blocks only by height: a block not seen through Tip or
// BlockAt (the engine always asks BlockAt first) is looked for among the
// last maxScanHeaders headers of the best chain (blockchain.block.headers).
// A block not found there, or no longer on the server's best chain, is an
// error wrapping watcher.ErrNotFound.
func (c *Client) BlockTxids(ctx context.Context, hash chainhash.Hash) ([]chainhash.Hash, error) {
	height, ok := c.cachedHeight(hash)
	if !ok {
		var err error
		if height, ok, err = c.findHeight(ctx, hash); err != nil {
			return nil, err
		}
		if !ok {
			return nil, c.errorf(watcher.ErrNotFound, nil,
				": block %s not found among the last %d blocks of its best chain (the Electrum protocol finds blocks only by height)", hash, maxScanHeaders)
		}
	}
	var headerHex string
	var hdr *wire.BlockHeader
	var txids []chainhash.Hash
	// Batches start small and double: most blocks a watchlist touches
	// are small on regtest and large on mainnet, and every position past
	// the end is a wasted call.
	size := min(16, c.batchSize)
	for pos := 0; ; size = min(2*size, c.batchSize) {
		var calls []*call
		if hdr == nil {
			calls = append(calls, newCall(&headerHex, "blockchain.block.header", height))
		}
		first := len(calls)
		ids := make([]string, max(1, size-first))
		for i := range ids {
			calls = append(calls, newCall(&ids[i], "blockchain.transaction.id_from_pos", height, pos+i))
		}
		if err := c.do(ctx, calls...); err != nil {
			return nil, err
		}
		if hdr == nil {
			if calls[0].err != nil {
				return nil, calls[0].err
			}
			h, got, err := c.parseHeader("blockchain.block.header", headerHex)
			if err != nil {
				return nil, err
			}
			if got != hash {
				return nil, c.errorf(watcher.ErrNotFound, nil, ": block %s not found: the block at height %d is now %s", hash, height, got)
			}
			hdr = h
		}
		end := false
		for i, cl := range calls[first:] {
			if cl.err != nil {
				// Past the last transaction (or a failure: the
				// merkle root below tells them apart).
				if pos+i == 0 {
					return nil, cl.err
				}
				end = true
				break
			}
			id, err := c.parseHash(cl.method, ids[i])
			if err != nil {
				return nil, err
			}
			txids = append(txids, id)
		}
		if end {
			break
		}
		pos += len(ids)
	}
	if root := merkleRoot(txids); root != hdr.MerkleRoot {
		c.Refuse(watcher.RefusedMerkle)
		return nil, c.errorf(nil, nil, ": the %d txids it gave for block %s do not match the block's merkle root; refusing them (reorg while reading? try again)", len(txids), hash)
	}
	return txids, nil
}

// headersResult is the answer of blockchain.block.headers: concatenated
// hex (protocol 1.4) or a list (1.6).
type headersResult struct {
	Count   int      `json:"count"`
	Hex     string   `json:"hex"`
	Headers []string `json:"headers"`
}

// findHeight reads the best chain's headers down from the tip, at most
// maxScanHeaders of them, remembering each block's height, until it meets
// hash.
func (c *Client) findHeight(ctx context.Context, hash chainhash.Hash) (int64, bool, error) {
	tip, err := c.Tip(ctx)
	if err != nil {
		return 0, false, err
	}
	if tip.Hash == hash {
		return tip.Height, true, nil
	}
	low := max(0, tip.Height-maxScanHeaders+1)
	for top := tip.Height; top >= low; {
		start := max(low, top-headersChunk+1)
		for from := start; from <= top; {
			var r headersResult
			cl := newCall(&r, "blockchain.block.headers", from, top-from+1)
			if err := c.do(ctx, cl); err != nil {
				return 0, false, err
			}
			if cl.err != nil {
				return 0, false, cl.err
			}
			hexes := r.Headers
			if hexes == nil {
				for i := 0; i+160 <= len(r.Hex); i += 160 {
					hexes = append(hexes, r.Hex[i:i+160])
				}
			}
			if len(hexes) == 0 || int64(len(hexes)) > top-from+1 {
				return 0, false, c.errorf(nil, nil, ": blockchain.block.headers gave %d headers for %d asked from height %d; refusing them", len(hexes), top-from+1, from)
			}
			found := int64(-1)
			for i, hx := range hexes {
				_, got, err := c.parseHeader(cl.method, hx)
				if err != nil {
					return 0, false, err
				}
				c.cacheHeight(got, from+int64(i))
				if got == hash {
					found = from + int64(i)
				}
			}
			if found >= 0 {
				return found, true, nil
			}
			from += int64(len(hexes))
		}
		top = start - 1
	}
	return 0, false, nil
}

// merkleRoot computes a block's merkle root from its txids.
func merkleRoot(txids []chainhash.Hash) chainhash.Hash {
	if len(txids) == 0 {
		return chainhash.Hash{}
	}
	level := append([]chainhash.Hash(nil), txids...)
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

// Transactions returns the raw transactions, result[i] for txids[i]
// (blockchain.transaction.get, non-verbose, batched). Each transaction is
// checked against its txid. An unknown txid fails the whole call with an
// error wrapping watcher.ErrNotFound.
func (c *Client) Transactions(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	if len(txids) == 0 {
		return nil, nil
	}
	index := make(map[chainhash.Hash]int, len(txids))
	var unique []chainhash.Hash
	for _, id := range txids {
		if _, ok := index[id]; !ok {
			index[id] = len(unique)
			unique = append(unique, id)
		}
	}
	hexes := make([]string, len(unique))
	calls := make([]*call, len(unique))
	for i, id := range unique {
		calls[i] = newCall(&hexes[i], "blockchain.transaction.get", id.String())
	}
	if err := c.doAll(ctx, calls); err != nil {
		return nil, err
	}
	txs := make([]*wire.MsgTx, len(unique))
	for i, cl := range calls {
		id := unique[i]
		if cl.err != nil {
			return nil, c.notFound(cl.err, "transaction %s", id)
		}
		raw, err := hex.DecodeString(hexes[i])
		if err != nil {
			return nil, c.errorf(nil, err, ": %s: transaction %s is not hex", cl.method, id)
		}
		tx, err := watcher.DecodeTx(raw)
		if err != nil {
			return nil, c.errorf(nil, err, ": %s: undecodable transaction %s: %v", cl.method, id, err)
		}
		if got := tx.TxHash(); got != id {
			c.Refuse(watcher.RefusedTxid)
			return nil, c.errorf(nil, nil, ": %s: asked for transaction %s, got %s; refusing it", cl.method, id, got)
		}
		txs[i] = tx
	}
	out := make([]*wire.MsgTx, len(txids))
	for i, id := range txids {
		out[i] = txs[index[id]]
	}
	return out, nil
}

// notFoundWords are what servers say of an unknown transaction: bitcoind's
// "No such mempool or blockchain transaction" (ElectrumX, Fulcrum), electrs'
// "not found".
var notFoundWords = []string{"no such", "not found", "unknown transaction", "missing transaction"}

// notFound turns the server's "unknown transaction" answers into an error
// wrapping watcher.ErrNotFound; other errors pass unchanged.
func (c *Client) notFound(err error, format string, args ...any) error {
	re, ok := rpcError(err)
	if !ok {
		return err
	}
	msg := strings.ToLower(re.Message)
	for _, w := range notFoundWords {
		if strings.Contains(msg, w) {
			return c.errorf(watcher.ErrNotFound, err, ": "+format+" not found", args...)
		}
	}
	return err
}

// parseHash parses a hash the server sent.
func (c *Client) parseHash(method, s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil || len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, c.errorf(nil, err, ": %s: %q is not a hash", method, s)
	}
	return *h, nil
}

// CheckNetwork makes sure the server can serve the watchlist before
// anything is synced: it is reachable, speaks protocol 1.4 to 1.6, and
// follows the chain of params (its block 0 is params' genesis block). It
// costs one call after the handshake. Each failure is one sentence and
// wraps ErrUnreachable or ErrWrongNetwork.
func (c *Client) CheckNetwork(ctx context.Context, params *chaincfg.Params) error {
	if params == nil {
		params = c.params
	}
	if params.Name != c.params.Name {
		return c.errorf(ErrWrongNetwork, nil, ": the client was made for %s but is checked against %s", c.params.Name, params.Name)
	}
	var s string
	cl := newCall(&s, "blockchain.block.header", 0)
	if err := c.do(ctx, cl); err != nil {
		return err
	}
	if cl.err != nil {
		return cl.err
	}
	_, genesis, err := c.parseHeader("blockchain.block.header", s)
	if err != nil {
		return err
	}
	if genesis != *params.GenesisHash {
		return c.errorf(ErrWrongNetwork, nil, " is on a chain with genesis block %s, not the watchlist's %s (%s); refusing to sync",
			genesis, params.Name, params.GenesisHash)
	}
	c.cacheHeight(genesis, 0)
	return nil
}
