package watcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

// syncBlocks is the sync of a BlockSource backend (btcd): scripts already
// synced at the published tip are brought forward by scanning the new
// blocks, so a new block costs a few calls however many scripts are
// watched; other scripts (new, or after a long gap) fetch their history.
// The mempool (listed before the tip, see syncOnce) is compared by txid,
// so an unchanged mempool costs one call.
func (e *Engine) syncBlocks(ctx context.Context, st *syncState, bs BlockSource, mempool []chainhash.Hash) (store.Step, error) {
	final := store.Step{}
	states, err := e.store.ScriptStates(ctx)
	if err != nil {
		return final, err
	}
	pub, _, _, published, err := e.store.SyncState(ctx)
	if err != nil {
		return final, err
	}
	gap := st.tip.Height - pub.Height
	scan := published && gap >= 0 && (gap <= e.ScanLimit || 2*gap <= int64(len(e.scripts)))
	var fetch []int
	scanWatch := map[string]int64{}
	scanIDs := map[int64]bool{}
	for i, s := range e.scripts {
		id := st.ids[i]
		if scan && states[id].SyncedHeight == pub.Height && states[id].SyncedHash == pub.Hash {
			scanWatch[s.Key()] = id
			scanIDs[id] = true
			continue
		}
		fetch = append(fetch, i)
	}
	if err := e.fetchHistories(ctx, st, fetch, make([]*string, len(e.scripts))); err != nil {
		return final, err
	}
	if len(scanIDs) == 0 {
		final.MempoolSeen = append(make([]chainhash.Hash, 0, len(mempool)), mempool...)
		return final, nil
	}

	all, err := e.store.Outputs(ctx)
	if err != nil {
		return final, err
	}
	owned := map[wire.OutPoint]store.OwnedOutput{}
	for op, o := range all {
		if scanIDs[o.ScriptID] {
			owned[op] = o
		}
	}
	confirmed := map[chainhash.Hash]bool{}
	prev := pub.Hash
	for h := pub.Height + 1; h <= st.tip.Height; h++ {
		ref, err := e.blockAt(ctx, st, h)
		if err != nil {
			return final, err
		}
		blk, err := bs.Block(ctx, ref.Hash)
		if err != nil {
			return final, fmt.Errorf("block %d: %w", h, err)
		}
		if blk.BlockHash() != ref.Hash {
			return final, fmt.Errorf("block %d: backend sent a block that does not hash to %s", h, ref.Hash)
		}
		if blk.Header.PrevBlock != prev {
			return final, fmt.Errorf("block %d does not extend block %d: %w", h, h-1, errChainMoved)
		}
		prev = ref.Hash
		used := false
		for pos, lt := range effects(blk.Transactions, scanWatch, owned) {
			if len(lt.rows) == 0 {
				continue
			}
			rec, err := txRecord(lt.tx, lt.txid, h, ref.Hash, int64(pos))
			if err != nil {
				return final, err
			}
			final.Txs = append(final.Txs, rec)
			final.Rows = append(final.Rows, lt.rows...)
			confirmed[lt.txid] = true
			used = true
		}
		if used {
			final.Blocks = append(final.Blocks, storeBlock(ref))
		}
		st.res.ScannedBlocks++
	}
	tip := storeBlock(st.tip)
	for id := range scanIDs {
		final.Synced = append(final.Synced, store.ScriptSync{ScriptID: id, Block: tip})
	}
	if err := e.scanMempool(ctx, st, bs, &final, mempool, scanWatch, owned, confirmed); err != nil {
		return final, err
	}
	return final, nil
}

// scanMempool adds the unconfirmed transactions touching scanned scripts
// and drops those that left the mempool without confirming.
func (e *Engine) scanMempool(ctx context.Context, st *syncState, bs BlockSource, final *store.Step, mempool []chainhash.Hash,
	watch map[string]int64, owned map[wire.OutPoint]store.OwnedOutput, confirmed map[chainhash.Hash]bool) error {
	ledger, seen, err := e.store.MempoolTxids(ctx)
	if err != nil {
		return err
	}
	inMempool := make(map[chainhash.Hash]bool, len(mempool))
	var inspect []chainhash.Hash
	for _, id := range mempool {
		inMempool[id] = true
		// A ledger tx not seen yet came from a history fetched in this
		// sync, with rows for the fetched scripts only: the scanned
		// scripts must be checked against it too.
		if !seen[id] && !confirmed[id] {
			inspect = append(inspect, id)
		}
	}
	for id := range ledger {
		if !inMempool[id] && !confirmed[id] && !st.fetchedMempool[id] {
			final.DropTxids = append(final.DropTxids, id)
		}
	}
	final.MempoolSeen = append(make([]chainhash.Hash, 0, len(mempool)), mempool...)
	txs, err := e.mempoolTxs(ctx, inspect)
	if err != nil {
		return err
	}
	st.res.FetchedTxs += len(txs)
	for _, lt := range effects(txs, watch, owned) {
		if len(lt.rows) == 0 {
			continue
		}
		rec, err := txRecord(lt.tx, lt.txid, Mempool, chainhash.Hash{}, -1)
		if err != nil {
			return err
		}
		final.Txs = append(final.Txs, rec)
		final.Rows = append(final.Rows, lt.rows...)
	}
	return nil
}

// mempoolTxs fetches mempool transactions, skipping any that left the
// mempool since its txids were listed.
func (e *Engine) mempoolTxs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	if len(txids) == 0 {
		return nil, nil
	}
	txs, err := e.backend.Transactions(ctx, txids)
	if err == nil {
		return txs, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("mempool transactions: %w", err)
	}
	txs = txs[:0]
	for _, id := range txids {
		got, err := e.backend.Transactions(ctx, []chainhash.Hash{id})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mempool transaction %s: %w", id, err)
		}
		txs = append(txs, got[0])
	}
	return txs, nil
}
