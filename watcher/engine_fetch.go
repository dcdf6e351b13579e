package watcher

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

// syncHistories is the sync of backends without block access: a script's
// history is fetched again only when its status changed (or always, for a
// backend without statuses).
func (e *Engine) syncHistories(ctx context.Context, st *syncState) (store.Step, error) {
	states, err := e.store.ScriptStates(ctx)
	if err != nil {
		return store.Step{}, err
	}
	statuses := make([]*string, len(e.scripts))
	var fetch []int
	if ss, ok := e.backend.(StatusSource); ok {
		for lo := 0; lo < len(e.scripts); lo += e.ChunkSize {
			hi := min(lo+e.ChunkSize, len(e.scripts))
			got, err := ss.Statuses(ctx, e.scripts[lo:hi])
			if err != nil {
				return store.Step{}, fmt.Errorf("statuses: %w", err)
			}
			if len(got) != hi-lo {
				return store.Step{}, fmt.Errorf("statuses: backend answered %d for %d scripts", len(got), hi-lo)
			}
			for i := range got {
				statuses[lo+i] = &got[i]
			}
		}
		for i := range e.scripts {
			old := states[st.ids[i]]
			if old.SyncedHeight < 0 || old.Status == nil || *old.Status != *statuses[i] {
				fetch = append(fetch, i)
			}
		}
	} else {
		for i := range e.scripts {
			fetch = append(fetch, i)
		}
	}
	if err := e.fetchHistories(ctx, st, fetch, statuses); err != nil {
		return store.Step{}, err
	}
	// An unchanged status means the stored history is complete at this
	// tip too.
	final := store.Step{}
	fetched := make(map[int]bool, len(fetch))
	for _, i := range fetch {
		fetched[i] = true
	}
	tip := storeBlock(st.tip)
	for i := range e.scripts {
		if !fetched[i] && statuses[i] != nil {
			final.Synced = append(final.Synced, store.ScriptSync{ScriptID: st.ids[i], Block: tip, Status: statuses[i]})
		}
	}
	return final, nil
}

// fetchHistories fetches the full histories of the scripts at idx, in
// chunks, and replaces their ledger rows; each chunk is one atomic step.
func (e *Engine) fetchHistories(ctx context.Context, st *syncState, idx []int, statuses []*string) error {
	var chunks [][]int
	for lo := 0; lo < len(idx); lo += e.ChunkSize {
		chunks = append(chunks, idx[lo:min(lo+e.ChunkSize, len(idx))])
	}
	// The next chunk's histories are fetched while this one is computed
	// and committed: the backend and SQLite work side by side.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		hists [][]HistoryItem
		err   error
	}
	results := make([]chan fetched, len(chunks))
	fetch := func(i int) {
		results[i] = make(chan fetched, 1)
		scripts := make([]Script, len(chunks[i]))
		for k, j := range chunks[i] {
			scripts[k] = e.scripts[j]
		}
		go func() {
			hists, err := e.backend.Histories(ctx, scripts)
			if err == nil && len(hists) != len(scripts) {
				err = fmt.Errorf("backend answered %d histories for %d scripts", len(hists), len(scripts))
			}
			results[i] <- fetched{hists, err}
		}()
	}
	for i, chunk := range chunks {
		if i == 0 {
			fetch(0)
		}
		if i+1 < len(chunks) {
			fetch(i + 1)
		}
		r := <-results[i]
		if r.err != nil {
			return fmt.Errorf("histories: %w", r.err)
		}
		step, err := e.historyStep(ctx, st, chunk, r.hists, statuses)
		if err != nil {
			return err
		}
		if err := e.store.Apply(ctx, step); err != nil {
			return err
		}
		st.res.FetchedScripts += len(chunk)
	}
	return nil
}

// historyStep turns the histories of the scripts at idx into one step.
func (e *Engine) historyStep(ctx context.Context, st *syncState, idx []int, hists [][]HistoryItem, statuses []*string) (store.Step, error) {
	step := store.Step{Now: e.now()}
	items := map[chainhash.Hash]HistoryItem{}
	var order []chainhash.Hash
	ahead := make([]bool, len(idx))
	aheadTxs := map[chainhash.Hash]bool{}
	var highest int64 // the highest height above this sync's tip
	chunkWatch := map[string]int64{}
	for i, j := range idx {
		chunkWatch[e.scripts[j].Key()] = st.ids[j]
		for _, it := range hists[i] {
			if it.Confirmed() && it.Height > st.tip.Height {
				ahead[i] = true // newer than this sync's tip: next sync
				aheadTxs[it.Txid] = true
				highest = max(highest, it.Height)
				continue
			}
			if prev, ok := items[it.Txid]; ok {
				if prev.Height != it.Height {
					return step, fmt.Errorf("tx %s: backend gave heights %d and %d: %w", it.Txid, prev.Height, it.Height, errChainMoved)
				}
				if prev.Tx == nil {
					items[it.Txid] = it
				}
				continue
			}
			items[it.Txid] = it
			order = append(order, it.Txid)
		}
	}
	if err := e.checkAbove(ctx, highest); err != nil {
		return step, err
	}
	txs, err := e.rawTxs(ctx, st, order, items)
	if err != nil {
		return step, err
	}
	// An unconfirmed tx spending an output of a tx skipped above (mined
	// after this sync's tip) would lose that spend: retry from the new tip.
	for k, tx := range txs {
		for _, in := range tx.TxIn {
			if aheadTxs[in.PreviousOutPoint.Hash] && !items[order[k]].Confirmed() {
				return step, fmt.Errorf("tx %s spends tx %s, mined after block %d: %w", order[k], in.PreviousOutPoint.Hash, st.tip.Height, errChainMoved)
			}
		}
	}
	lts := effects(txs, chunkWatch, map[wire.OutPoint]store.OwnedOutput{})
	if err := e.checkTouched(idx, hists, lts, st); err != nil {
		return step, err
	}
	usedBlocks := map[int64]bool{}
	for _, lt := range lts {
		it := items[lt.txid]
		height, hash := Mempool, chainhash.Hash{}
		if !it.Confirmed() {
			st.fetchedMempool[lt.txid] = true
		}
		if it.Confirmed() {
			b, err := e.blockAt(ctx, st, it.Height)
			if err != nil {
				return step, err
			}
			if it.BlockHash != zeroHash && it.BlockHash != b.Hash {
				return step, fmt.Errorf("tx %s: block %s is not the block at height %d: %w", lt.txid, it.BlockHash, it.Height, errChainMoved)
			}
			height, hash = b.Height, b.Hash
			if !usedBlocks[height] {
				usedBlocks[height] = true
				step.Blocks = append(step.Blocks, storeBlock(b))
			}
		}
		if len(lt.rows) == 0 {
			return step, e.refuse(RefusedUntouched, "backend listed tx %s in a history but it touches none of the scripts", lt.txid)
		}
		rec, err := txRecord(lt.tx, lt.txid, height, hash, -1)
		if err != nil {
			return step, err
		}
		step.Txs = append(step.Txs, rec)
		step.Rows = append(step.Rows, lt.rows...)
	}
	if err := e.placeInBlocks(ctx, st, step.Txs); err != nil {
		return step, err
	}
	tip := storeBlock(st.tip)
	for i, j := range idx {
		step.ReplaceScripts = append(step.ReplaceScripts, st.ids[j])
		sy := store.ScriptSync{ScriptID: st.ids[j], Block: tip, Status: statuses[j]}
		if ahead[i] {
			sy.Status = nil
		}
		step.Synced = append(step.Synced, sy)
	}
	return step, nil
}

// checkTouched refuses a confirmed history item whose transaction neither
// pays nor spends from the script whose history listed it. Every spend of
// a script's coin is recognised, as the funding transaction is in the same
// confirmed history. Mempool items are not held to it: Esplora lists at
// most 50 of them, so a spend's parent may be missing.
func (e *Engine) checkTouched(idx []int, hists [][]HistoryItem, lts []ledgerTx, st *syncState) error {
	touched := make(map[chainhash.Hash]map[int64]bool, len(lts))
	for _, lt := range lts {
		ids := make(map[int64]bool, len(lt.rows))
		for _, r := range lt.rows {
			ids[r.ScriptID] = true
		}
		touched[lt.txid] = ids
	}
	for i, j := range idx {
		for _, it := range hists[i] {
			if !it.Confirmed() || it.Height > st.tip.Height {
				continue
			}
			if !touched[it.Txid][st.ids[j]] {
				return e.refuse(RefusedUntouched, "backend listed tx %s in the history of script %s, which it neither pays nor spends from", it.Txid, e.scripts[j])
			}
		}
	}
	return nil
}

// rawTxs returns the transactions of txids: from the history answer, from
// the store, or from the backend, in that order of preference. Every
// transaction is checked against its txid.
func (e *Engine) rawTxs(ctx context.Context, st *syncState, txids []chainhash.Hash, items map[chainhash.Hash]HistoryItem) ([]*wire.MsgTx, error) {
	out := make([]*wire.MsgTx, len(txids))
	var missing []chainhash.Hash
	var missingAt []int
	for i, id := range txids {
		if tx := items[id].Tx; tx != nil {
			out[i] = tx
			st.res.FetchedTxs++
			continue
		}
		missing = append(missing, id)
		missingAt = append(missingAt, i)
	}
	if len(missing) > 0 {
		stored, err := e.store.RawTxs(ctx, missing)
		if err != nil {
			return nil, err
		}
		var fetch []chainhash.Hash
		var fetchAt []int
		for k, id := range missing {
			raw, ok := stored[id]
			if !ok {
				fetch = append(fetch, id)
				fetchAt = append(fetchAt, missingAt[k])
				continue
			}
			tx, err := decodeTx(raw)
			if err != nil {
				return nil, fmt.Errorf("stored tx %s: %w", id, err)
			}
			out[missingAt[k]] = tx
		}
		if len(fetch) > 0 {
			got, err := e.backend.Transactions(ctx, fetch)
			if err != nil {
				return nil, fmt.Errorf("transactions: %w", err)
			}
			if len(got) != len(fetch) {
				return nil, fmt.Errorf("transactions: backend answered %d for %d", len(got), len(fetch))
			}
			for k, tx := range got {
				out[fetchAt[k]] = tx
			}
			st.res.FetchedTxs += len(got)
		}
	}
	for i, tx := range out {
		if tx == nil || tx.TxHash() != txids[i] {
			return nil, e.refuse(RefusedTxid, "backend sent a transaction that does not hash to %s", txids[i])
		}
	}
	return out, nil
}

// placeInBlocks sets the block position of txs that share a block with
// another tx of the same step, so that most ordering is written with the
// rows instead of updated afterwards (order handles what steps split).
// Block txid lists are asked once per sync.
func (e *Engine) placeInBlocks(ctx context.Context, st *syncState, txs []store.Tx) error {
	count := map[chainhash.Hash]int{}
	var ids []chainhash.Hash
	for _, t := range txs {
		if t.Height >= 0 {
			count[t.BlockHash]++
			ids = append(ids, t.Txid)
		}
	}
	// Positions the ledger already holds need no new question.
	known, err := e.store.KnownPositions(ctx, ids)
	if err != nil {
		return err
	}
	for i := range txs {
		t := &txs[i]
		if t.Height < 0 || count[t.BlockHash] < 2 {
			continue
		}
		if k, ok := known[t.Txid]; ok && k.Block == t.BlockHash {
			t.Pos = k.Pos
			continue
		}
		pos, err := e.blockPositions(ctx, st, t.BlockHash)
		if err != nil {
			return err
		}
		p, ok := pos[t.Txid]
		if !ok {
			return fmt.Errorf("backend placed tx %s in block %s, whose list does not have it", t.Txid, t.BlockHash)
		}
		t.Pos = int64(p)
	}
	return nil
}

// blockPositions returns the position of every tx of a block, once per sync.
func (e *Engine) blockPositions(ctx context.Context, st *syncState, hash chainhash.Hash) (map[chainhash.Hash]int, error) {
	if pos, ok := st.positions[hash]; ok {
		return pos, nil
	}
	txids, err := e.backend.BlockTxids(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("order block %s: %w", hash, err)
	}
	pos := make(map[chainhash.Hash]int, len(txids))
	for i, id := range txids {
		pos[id] = i
	}
	st.positions[hash] = pos
	return pos, nil
}
