package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

// Engine keeps the store's ledger in step with the chain as a backend
// reports it. It is backend-neutral: every backend feeds the same delta
// computation, so they can only disagree on what the chain holds, never on
// arithmetic.
type Engine struct {
	backend Backend
	store   *store.Store
	logger  *slog.Logger
	scripts []Script
	now     func() time.Time

	// ChunkSize is how many scripts' histories are fetched and committed
	// in one step.
	ChunkSize int
	// ScanLimit is the largest gap, in blocks, that a BlockSource backend
	// closes by scanning blocks instead of fetching every history.
	ScanLimit int64

	// hold makes a sync stop short of publishing: a Verifier publishes
	// the ledger only once enough backends agree with it.
	hold bool
}

// NewEngine returns an engine syncing scripts (the watchlist's, in file
// order) from backend into st.
func NewEngine(backend Backend, st *store.Store, scripts []Script, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{backend: backend, store: st, scripts: scripts, logger: logger, now: time.Now,
		ChunkSize: 256, ScanLimit: 144}
}

// Result says what a sync did.
type Result struct {
	Tip            BlockRef
	Reorg          bool
	ForkHeight     int64 // meaningful when Reorg
	ScannedBlocks  int
	FetchedScripts int
	FetchedTxs     int
	Duration       time.Duration
}

// errChainMoved means the backend's chain changed under a sync; the sync
// is retried from the new tip.
var errChainMoved = errors.New("chain moved during sync")

// Sync brings the ledger to the backend's tip and publishes it. A failure
// leaves the last published ledger as it was.
func (e *Engine) Sync(ctx context.Context) (Result, error) {
	start := e.now()
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var res Result
		res, err = e.syncOnce(ctx)
		if err == nil {
			res.Duration = e.now().Sub(start)
			e.logger.Info("sync done", "height", res.Tip.Height, "hash", res.Tip.Hash.String(),
				"reorg", res.Reorg, "scanned_blocks", res.ScannedBlocks, "fetched_scripts", res.FetchedScripts,
				"fetched_txs", res.FetchedTxs, "duration", res.Duration)
			return res, nil
		}
		if !errors.Is(err, errChainMoved) {
			break
		}
		e.logger.Info("chain moved during sync, retrying", "attempt", attempt)
	}
	return Result{}, fmt.Errorf("sync from %s: %w", e.backend.Name(), err)
}

// syncState is what one sync attempt knows.
type syncState struct {
	tip    BlockRef
	ids    []int64          // store ids, parallel to e.scripts
	watch  map[string]int64 // Script.Key() -> id
	blocks map[int64]BlockRef
	res    *Result
	// fetchedMempool holds the unconfirmed txs that histories fetched in
	// this sync delivered: they may be newer than the mempool listing.
	fetchedMempool map[chainhash.Hash]bool
	// positions caches block txid lists asked in this sync.
	positions map[chainhash.Hash]map[chainhash.Hash]int
}

func (e *Engine) syncOnce(ctx context.Context) (Result, error) {
	var res Result
	// A BlockSource's mempool is listed before the tip: a transaction
	// listed then is either in a block up to the tip (and scanned) or
	// still unconfirmed with its parents, never spending an output of a
	// block above the tip, which this sync does not see.
	bs, blockSource := e.backend.(BlockSource)
	var mempool []chainhash.Hash
	if blockSource {
		var err error
		if mempool, err = bs.MempoolTxids(ctx); err != nil {
			return res, fmt.Errorf("mempool: %w", err)
		}
	}
	tip, err := e.backend.Tip(ctx)
	if err != nil {
		return res, fmt.Errorf("tip: %w", err)
	}
	res.Tip = tip
	raw := make([][]byte, len(e.scripts))
	for i, s := range e.scripts {
		raw[i] = s
	}
	ids, err := e.store.EnsureScripts(ctx, raw)
	if err != nil {
		return res, err
	}
	st := &syncState{tip: tip, ids: ids, watch: map[string]int64{}, blocks: map[int64]BlockRef{tip.Height: tip}, res: &res,
		fetchedMempool: map[chainhash.Hash]bool{}, positions: map[chainhash.Hash]map[chainhash.Hash]int{}}
	for i, s := range e.scripts {
		st.watch[s.Key()] = ids[i]
	}
	if err := e.checkReorg(ctx, st); err != nil {
		return res, err
	}
	var final store.Step
	if blockSource {
		final, err = e.syncBlocks(ctx, st, bs, mempool)
	} else {
		final, err = e.syncHistories(ctx, st)
	}
	if err != nil {
		return res, err
	}
	final.Now = e.now()
	if err := e.store.Apply(ctx, final); err != nil {
		return res, err
	}
	if err := e.order(ctx, st); err != nil {
		return res, err
	}
	if e.hold {
		return res, nil // published by the cross-check once sources agree
	}
	pub := storeBlock(tip)
	return res, e.store.Apply(ctx, store.Step{Publish: &pub, Now: e.now()})
}

// checkReorg compares the highest stored blocks with the backend's chain
// and, on a mismatch, rolls the ledger back to the fork point.
func (e *Engine) checkReorg(ctx context.Context, st *syncState) error {
	stored, err := e.store.BlocksDescending(ctx, 256)
	if err != nil || len(stored) == 0 {
		return err
	}
	top := stored[0]
	if top.Height == st.tip.Height && top.Hash == st.tip.Hash {
		return nil
	}
	var fork *store.Block
	for i, b := range stored {
		if b.Height > st.tip.Height {
			continue
		}
		ref, err := e.blockAt(ctx, st, b.Height)
		if err != nil {
			return err
		}
		if ref.Hash == b.Hash {
			fork = &stored[i]
			break
		}
	}
	if fork == &stored[0] {
		return nil // the stored tip is still on the best chain
	}
	st.res.Reorg = true
	st.res.ForkHeight = -1
	if fork != nil {
		st.res.ForkHeight = fork.Height
	}
	e.logger.Warn("reorg: rolling back", "stored_height", top.Height, "stored_hash", top.Hash.String(),
		"fork_height", st.res.ForkHeight)
	return e.store.Rollback(ctx, fork)
}

// blockAt returns the backend's block at height, once per sync.
func (e *Engine) blockAt(ctx context.Context, st *syncState, height int64) (BlockRef, error) {
	if b, ok := st.blocks[height]; ok {
		return b, nil
	}
	b, err := e.backend.BlockAt(ctx, height)
	if err != nil {
		return BlockRef{}, fmt.Errorf("block at %d: %w", height, err)
	}
	if b.Height != height {
		return BlockRef{}, e.refuse(RefusedHeight, "block at %d: backend answered height %d", height, b.Height)
	}
	st.blocks[height] = b
	return b, nil
}

// order fetches the block order of blocks holding several ledger
// transactions, so that histories list them as the block does.
func (e *Engine) order(ctx context.Context, st *syncState) error {
	blocks, err := e.store.UnorderedBlocks(ctx)
	if err != nil {
		return err
	}
	for _, h := range blocks {
		pos, err := e.blockPositions(ctx, st, h)
		if err != nil {
			return err
		}
		if err := e.store.SetPositions(ctx, h, pos); err != nil {
			return err
		}
	}
	return nil
}

func storeBlock(b BlockRef) store.Block {
	return store.Block{Height: b.Height, Hash: b.Hash, Time: b.Time}
}

var zeroHash chainhash.Hash
