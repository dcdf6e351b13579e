// Package watcher is the domain of treasurywatch: the watchlist, the scripts
// it names, the Backend that reports their history, and the sync engine that
// turns that history into an exact, block-anchored ledger.
package watcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Script is a scriptPubKey. Scripts, not address strings, are the key
// everywhere: two spellings of one address, or an address and its P2PK twin,
// must never be counted as two holdings.
type Script []byte

// String returns the script as lower-case hex, the form used in logs and in
// the Esplora API.
func (s Script) String() string { return hex.EncodeToString(s) }

// Key returns the script as a string usable as a map key.
func (s Script) Key() string { return string(s) }

// SHA256 returns the plain (not reversed) SHA-256 of the script: the
// scripthash of Esplora's /scripthash/:hash endpoints.
func (s Script) SHA256() [32]byte { return sha256.Sum256(s) }

// ElectrumHash returns the Electrum protocol's scripthash: SHA-256 of the
// script, byte-reversed, in hex.
func (s Script) ElectrumHash() string {
	h := sha256.Sum256(s)
	for i, j := 0, len(h)-1; i < j; i, j = i+1, j-1 {
		h[i], h[j] = h[j], h[i]
	}
	return hex.EncodeToString(h[:])
}

// BlockRef pins a figure to one block, so that every number can be
// re-derived by anyone from the chain.
type BlockRef struct {
	Height int64
	Hash   chainhash.Hash
	Time   time.Time
}

// Mempool is the Height of a HistoryItem that is not yet in a block.
const Mempool int64 = -1

// HistoryItem is one transaction touching a script, as a backend reports it.
// Backends report; the engine decides what enters the ledger.
type HistoryItem struct {
	Txid chainhash.Hash
	// Height is the block height, or Mempool for an unconfirmed transaction.
	Height int64
	// BlockHash is the hash of the containing block when the backend says
	// it; the zero hash when it does not (the engine then asks BlockAt).
	BlockHash chainhash.Hash
	// Tx is the raw transaction when the backend obtained it in the same
	// answer (btcd does), so the engine need not ask for it again; else nil.
	Tx *wire.MsgTx
}

// Confirmed reports whether the item is in a block.
func (h HistoryItem) Confirmed() bool { return h.Height != Mempool }

// Backend is the one thing the engine needs from a source of chain data.
// Implementations report what the server says, with deadlines and size
// limits; they never compute balances. History lists confirmed items in
// chain order (height, then position in block) followed by mempool items.
type Backend interface {
	// Name identifies the backend for logs and the methodology page. It
	// never contains a credential.
	Name() string
	// CheckNetwork returns an error when the server's chain is not params
	// or it lacks what the backend needs (btcd's --addrindex, --txindex).
	CheckNetwork(ctx context.Context, params *chaincfg.Params) error
	// Tip returns the best block.
	Tip(ctx context.Context) (BlockRef, error)
	// BlockAt returns the block at height on the server's best chain.
	BlockAt(ctx context.Context, height int64) (BlockRef, error)
	// Histories returns, for each script, every transaction that pays the
	// exact script or spends an output paid to it; result[i] belongs to
	// scripts[i]. Mempool items come last, in no specified order. Backends
	// batch or parallelise as their protocol allows.
	Histories(ctx context.Context, scripts []Script) ([][]HistoryItem, error)
	// Transactions returns the raw transactions, result[i] for txids[i].
	Transactions(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error)
	// BlockTxids returns the txids of a block in block order; the engine
	// asks only when it holds several transactions of one block and must
	// order them.
	BlockTxids(ctx context.Context, hash chainhash.Hash) ([]chainhash.Hash, error)
	// Close releases connections.
	Close() error
}

// StatusSource is implemented by backends that can tell cheaply whether a
// script's history changed (Esplora's counters, Electrum's status hash), so
// that an unchanged script costs no history request.
type StatusSource interface {
	// Statuses returns an opaque status per script; equal statuses mean
	// an unchanged history (confirmed and mempool).
	Statuses(ctx context.Context, scripts []Script) ([]string, error)
}

// BlockSource is implemented by backends that can hand over whole blocks
// and the mempool's txids (btcd), so that a new block costs O(1) calls
// however many scripts are watched.
type BlockSource interface {
	// Block returns the block with hash, checked against the hash.
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error)
	// MempoolTxids returns the txids in the server's mempool, in no order.
	MempoolTxids(ctx context.Context) ([]chainhash.Hash, error)
}

// ErrNotFound is returned (wrapped) by backends for a transaction or block
// hash the server does not know, and by BlockAt above the tip.
var ErrNotFound = errors.New("not found")
