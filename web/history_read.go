package web

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// loadEntity reads an entity's confirmed history at the snapshot's block,
// as watcher.Ledger.EntityHistory states it (same transactions, order,
// deltas, balances and flows), with what the aggregates need of each
// transaction, and its last transaction in full. A sync that published
// another block meanwhile yields errMoved, so that the answer is started
// again on the new ledger.
func (s *Server) loadEntity(ctx context.Context, snap *snapshot, e *watcher.Entity) (*entityData, error) {
	ids := make([]int64, 0, len(e.Addresses))
	for _, a := range e.Addresses {
		id, ok, err := s.st.ScriptID(ctx, a.Address.Script)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
		}
	}
	rows, err := s.st.EntityTxs(ctx, ids, snap.asOf.Height)
	if err != nil {
		return nil, err
	}
	if err := s.stillAt(ctx, snap); err != nil {
		return nil, err
	}
	txs := make([]watcher.HistoryTx, len(rows))
	txids := make([]chainhash.Hash, len(rows))
	var bal int64
	for i, r := range rows {
		bal += r.Delta
		txs[i] = watcher.HistoryTx{Height: r.Height, Time: time.Unix(r.Time, 0).UTC(), DeltaSat: r.Delta, BalanceSat: bal,
			Kind: watcher.Classify(r.OwnIn, r.NIn, r.OwnOut, r.NOut)}
		txids[i] = r.Txid
	}
	d := newEntityData(e, snap.entities[e.ID], txs)
	d.ids, d.txids = ids, txids
	if n := len(txs); n > 0 {
		last, err := s.txsBetween(ctx, snap, d, n-1, n-1)
		if err != nil {
			return nil, err
		}
		d.last = &last[0]
	}
	return d, nil
}

// txsBetween returns d.txs[a..b] (b included) in full: with txid, block
// hash and fee, read for the blocks they are in.
func (s *Server) txsBetween(ctx context.Context, snap *snapshot, d *entityData, a, b int) ([]watcher.HistoryTx, error) {
	// The whole blocks of a and b: from i0, the first transaction in a's
	// block, to i1, the last in b's.
	i0, i1 := a, b
	for i0 > 0 && d.txs[i0-1].Height == d.txs[a].Height {
		i0--
	}
	for i1+1 < len(d.txs) && d.txs[i1+1].Height == d.txs[b].Height {
		i1++
	}
	rows, err := s.st.HistoryBetween(ctx, d.ids, d.txs[a].Height, d.txs[b].Height)
	if err != nil {
		return nil, err
	}
	if err := s.stillAt(ctx, snap); err != nil {
		return nil, err
	}
	if len(rows) != i1-i0+1 {
		return nil, errMoved
	}
	for i, r := range rows {
		if r.Txid != d.txids[i0+i] {
			return nil, errMoved
		}
	}
	var bal0 int64
	if i0 > 0 {
		bal0 = d.txs[i0-1].BalanceSat
	}
	return fullTxs(rows, bal0)[a-i0 : b-i0+1], nil
}

// fullHistory returns d's whole history in full, read once per snapshot,
// for the answers listing every transaction.
func (s *Server) fullHistory(ctx context.Context, snap *snapshot, d *entityData) (*fullHistory, error) {
	return d.full.get(func() (*fullHistory, error) {
		rows, err := s.st.HistoryForPages(ctx, d.ids, snap.asOf.Height)
		if err != nil {
			return nil, err
		}
		if err := s.stillAt(ctx, snap); err != nil {
			return nil, err
		}
		txs := fullTxs(rows, 0)
		return &fullHistory{txs: txs, series: newSeries(txs)}, nil
	})
}

// stillAt returns errMoved if the published block is no longer the
// snapshot's.
func (s *Server) stillAt(ctx context.Context, snap *snapshot) error {
	b, _, _, ok, err := s.st.SyncState(ctx)
	if err != nil {
		return err
	}
	if !ok || b.Height != snap.asOf.Height || b.Hash.String() != snap.asOf.Hash {
		return errMoved
	}
	return nil
}

// fullTxs states rows, a run of an entity's history after the balance
// bal0, as watcher.Ledger.EntityHistory does.
func fullTxs(rows []store.HistoryTx, bal0 int64) []watcher.HistoryTx {
	out := make([]watcher.HistoryTx, len(rows))
	fees := make([]int64, len(rows)) // one allocation for every known fee
	bal := bal0
	var blockHash string
	for i, r := range rows {
		delta := r.Received - r.Spent
		bal += delta
		if i == 0 || r.BlockHash != rows[i-1].BlockHash { // transactions of one block share the string
			blockHash = r.BlockHash.String()
		}
		t := watcher.HistoryTx{Txid: r.Txid.String(), Height: r.Height, BlockHash: blockHash, Time: r.Time,
			DeltaSat: delta, BalanceSat: bal, Kind: watcher.Classify(r.OwnIn, r.NIn, r.OwnOut, r.NOut)}
		if r.OwnIn == r.NIn && !r.Coinbase {
			fees[i] = r.Spent - r.OutTotal
			t.FeeSat = &fees[i]
		}
		out[i] = t
	}
	return out
}

// balances reads every entity's and address's balance at the published
// block b, as watcher.Ledger.Balances states them, and each address's
// last activity, as watcher.Ledger.LastActivity states it (the block of
// its last confirmed transaction), in one pass over the ledger through
// the store's reads for pages.
func (s *Server) balances(ctx context.Context, b watcher.AsOf) (*watcher.Balances, map[string]watcher.AsOf, error) {
	bal, err := s.st.BalancesForPages(ctx, b.Height)
	if err != nil {
		return nil, nil, err
	}
	var heights []int64
	for _, sb := range bal {
		if sb.LastHeight >= 0 {
			heights = append(heights, sb.LastHeight)
		}
	}
	blocks, err := s.st.BlocksAtHeights(ctx, heights)
	if err != nil {
		return nil, nil, err
	}
	out := &watcher.Balances{Network: s.wl.Network.String(), AsOf: b, Entities: make([]watcher.EntityBalance, 0, len(s.wl.Entities))}
	activity := map[string]watcher.AsOf{}
	for _, e := range s.wl.Entities {
		eb := watcher.EntityBalance{ID: e.ID, Name: e.Name, Addresses: make([]watcher.AddressBalance, 0, len(e.Addresses))}
		for _, a := range e.Addresses {
			ab := watcher.AddressBalance{Address: a.Address.Text, Label: a.Label}
			id, ok, err := s.st.ScriptID(ctx, a.Address.Script)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				sb := bal[id]
				ab.ConfirmedSat, ab.UnconfirmedSat, ab.TxCount = sb.Confirmed, sb.Unconfirmed, sb.TxCount
				if blk, found := blocks[sb.LastHeight]; found && sb.LastHeight >= 0 {
					activity[a.Address.Text] = watcher.AsOf{Height: blk.Height, Hash: blk.Hash.String(), Time: blk.Time}
				}
			}
			eb.ConfirmedSat += ab.ConfirmedSat
			eb.UnconfirmedSat += ab.UnconfirmedSat
			eb.Addresses = append(eb.Addresses, ab)
		}
		out.Entities = append(out.Entities, eb)
	}
	return out, activity, nil
}
