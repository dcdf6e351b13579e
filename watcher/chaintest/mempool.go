package chaintest

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// DropMined makes btcd forget the mined transactions it still lists in its
// mempool, keeping the truly unconfirmed ones. btcd leaves a block's
// transactions in the mempool when the block connects while its tip is
// more than 24 hours old (MineAt's past blocks), so getrawmempool,
// searchrawtransactions and every backend built on them would report
// confirmed payments as pending too. Call it once a past history is
// mined, before a watcher reads the node.
//
// btcd has no RPC to evict a mempool transaction, and on regtest a
// restart wipes the chain, so DropMined disconnects the chain from the
// lowest block holding such a transaction and reconnects it
// (invalidateblock, reconsiderblock): btcd drops a disconnected block's
// transactions that are already in its mempool, with their descendants.
// The unconfirmed transactions among those descendants are then sent
// again, parents first. It costs about 2 ms per reconnected block.
func (n *Node) DropMined(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.syncLocked(ctx); err != nil {
		return err
	}
	lowest, err := n.lowestMinedInMempool(ctx)
	if err != nil || lowest < 0 {
		return err
	}
	keep, err := n.unconfirmed(ctx)
	if err != nil {
		return err
	}
	hash := n.w.chain[lowest].String()
	if _, err := n.call(ctx, "invalidateblock", []any{hash}); err != nil {
		return fmt.Errorf("chaintest: DropMined: %w", err)
	}
	if _, err := n.call(ctx, "reconsiderblock", []any{hash}); err != nil {
		return fmt.Errorf("chaintest: DropMined: %w", err)
	}
	var ids []string
	if err := n.callInto(ctx, &ids, "getrawmempool"); err != nil {
		return err
	}
	present := make(map[string]bool, len(ids))
	for _, id := range ids {
		present[id] = true
	}
	for _, p := range keep {
		if present[p.id.String()] {
			continue
		}
		if _, err := n.call(ctx, "sendrawtransaction", []any{txHex(p.tx)}); err != nil {
			return fmt.Errorf("chaintest: DropMined: sending unconfirmed %s again: %w", p.id, err)
		}
	}
	// The chain is the same and the wallet's pending transactions are
	// back: no rescan, unless the chain moved meanwhile.
	if err := n.syncLocked(ctx); err != nil {
		return err
	}
	if h, err := n.lowestMinedInMempool(ctx); err != nil || h >= 0 {
		if err == nil {
			err = fmt.Errorf("chaintest: DropMined: btcd still lists a transaction of block %d in its mempool", h)
		}
		return err
	}
	return nil
}

// lowestMinedInMempool returns the lowest height of a block whose
// transaction btcd lists in its mempool, or -1.
func (n *Node) lowestMinedInMempool(ctx context.Context) (int64, error) {
	var ids []string
	if err := n.callInto(ctx, &ids, "getrawmempool"); err != nil {
		return 0, err
	}
	lowest := int64(-1)
	for _, s := range ids {
		id, err := chainhash.NewHashFromStr(s)
		if err != nil {
			return 0, fmt.Errorf("chaintest: getrawmempool: %w", err)
		}
		if h, mined := n.w.inChain[*id]; mined && (lowest < 0 || h < lowest) {
			lowest = h
		}
	}
	return lowest, nil
}
