package web

import (
	"context"
	"net/http"
)

// handleEntities answers GET /api/v1/entities: every entity with its
// addresses, their balances and disclosure sources.
func (s *Server) handleEntities(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		out := entitiesJSON{Network: v.snap.bal.Network, AsOf: v.snap.asOf, Entities: []entityListItemJSON{}}
		for i, e := range s.wl.Entities {
			b := v.snap.bal.Entities[i]
			item := entityListItemJSON{ID: e.ID, Name: e.Name, Country: e.Country, ConfirmedSat: b.ConfirmedSat,
				UnconfirmedSat: b.UnconfirmedSat, Addresses: []addressJSON{}}
			for _, a := range e.Addresses {
				item.Addresses = append(item.Addresses, s.addressInfo(v, a))
			}
			out.Entities = append(out.Entities, item)
		}
		return jsonAnswer(out)
	})
}

// handleEntity answers GET /api/v1/entities/{id}: one entity's standing,
// changes, addresses and monthly flows.
func (s *Server) handleEntity(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, true, func(ctx context.Context, v *view) (*rendered, error) {
		out, err := s.entityDetail(ctx, v, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return jsonAnswer(out)
	})
}

// entityDetail builds an entity's answer, shared by the API and its page.
func (s *Server) entityDetail(ctx context.Context, v *view, id string) (*entityJSON, error) {
	i, ok := s.entityIdx[id]
	if !ok {
		return nil, notFound("no entity %q in the watchlist", id)
	}
	sum, d, err := s.entitySummary(ctx, v, id)
	if err != nil {
		return nil, err
	}
	out := &entityJSON{Network: v.snap.bal.Network, AsOf: v.snap.asOf, Sync: s.syncInfo(v), entitySummaryJSON: sum,
		Addresses: []addressJSON{}, Monthly: []monthJSON{}}
	for _, a := range s.wl.Entities[i].Addresses {
		out.Addresses = append(out.Addresses, s.addressInfo(v, a))
	}
	for _, m := range d.months {
		out.Monthly = append(out.Monthly, monthJSON{Month: m.Month, InflowSat: m.InflowSat, OutflowSat: m.OutflowSat,
			InternalFeeSat: m.InternalFee, MixedNetSat: m.MixedNet, NetSat: m.NetSat, InflowCount: m.Counts[0],
			OutflowCount: m.Counts[1], InternalCount: m.Counts[2], MixedCount: m.Counts[3], EndBalanceSat: m.EndBalance})
	}
	return out, nil
}

// entityOf returns the history of the entity named in the path, or 404.
func (s *Server) entityOf(ctx context.Context, v *view, r *http.Request) (*entityData, error) {
	id := r.PathValue("id")
	if _, ok := s.entityIdx[id]; !ok {
		return nil, notFound("no entity %q in the watchlist", id)
	}
	return s.entity(ctx, v.snap, id)
}
