package web

import (
	"context"
	"net/http"
)

// handleAddress answers GET /api/v1/addresses/{address}: one watched
// address, its entity and disclosure, and its confirmed history with the
// running balance and the flow as seen from its entity.
func (s *Server) handleAddress(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		out, _, err := s.addressDetail(ctx, v, r.PathValue("address"))
		if err != nil {
			return nil, err
		}
		return jsonAnswer(out)
	})
}

// addressDetail builds an address's answer, shared by the API and its page.
func (s *Server) addressDetail(ctx context.Context, v *view, addr string) (*addressDetailJSON, *addressData, error) {
	ref, ok := s.addrIdx[addr]
	if !ok {
		return nil, nil, notFound("address %q is not in the watchlist", addr)
	}
	ent := s.wl.Entities[ref[0]]
	a, err := s.address(ctx, v.snap, addr)
	if err != nil {
		return nil, nil, err
	}
	// The flow kind is the entity's view of the transaction.
	ed, err := s.entity(ctx, v.snap, ent.ID)
	if err != nil {
		return nil, nil, err
	}
	out := &addressDetailJSON{Network: v.snap.bal.Network, AsOf: v.snap.asOf, EntityID: ent.ID, EntityName: ent.Name,
		addressJSON: s.addressInfo(v, ent.Addresses[ref[1]]), Txs: make([]addressTxJSON, 0, len(a.txs))}
	for _, t := range a.txs {
		out.Txs = append(out.Txs, addressTxJSON{Txid: t.Txid, Height: t.Height, BlockHash: t.BlockHash, Time: t.Time.UTC(),
			Kind: ed.kindsByTxid()[t.Txid], DeltaSat: t.DeltaSat, BalanceSat: t.BalanceSat})
	}
	return out, a, nil
}
