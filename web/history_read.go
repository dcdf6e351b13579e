package web

import (
	"context"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// entityHistory reads an entity's confirmed history at the snapshot's
// block, as watcher.Ledger.EntityHistory states it (same transactions,
// order, deltas, balances, flows and fees), through the store's faster
// read for pages. A sync that published another block meanwhile yields
// errMoved, so that the answer is started again on the new ledger.
func (s *Server) entityHistory(ctx context.Context, snap *snapshot, e *watcher.Entity) ([]watcher.HistoryTx, error) {
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
	rows, err := s.st.HistoryForPages(ctx, ids, snap.asOf.Height)
	if err != nil {
		return nil, err
	}
	b, _, _, ok, err := s.st.SyncState(ctx)
	if err != nil {
		return nil, err
	}
	if !ok || b.Height != snap.asOf.Height || b.Hash.String() != snap.asOf.Hash {
		return nil, errMoved
	}
	out := make([]watcher.HistoryTx, len(rows))
	fees := make([]int64, len(rows)) // one allocation for every known fee
	var bal int64
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
	return out, nil
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
