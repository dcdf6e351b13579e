package web

import (
	"context"
	"net/http"
)

// handleSummary answers GET /api/v1/summary: the total held, each
// entity's balance, share and changes, and how fresh the figures are.
func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, true, func(ctx context.Context, v *view) (*rendered, error) {
		sum, err := s.summary(ctx, v)
		if err != nil {
			return nil, err
		}
		return jsonAnswer(sum)
	})
}

// summary builds the overview shared by the API and the home page.
func (s *Server) summary(ctx context.Context, v *view) (*summaryJSON, error) {
	out := &summaryJSON{Network: v.snap.bal.Network, AsOf: v.snap.asOf, Sync: s.syncInfo(v),
		Entities: make([]entitySummaryJSON, 0, len(v.snap.bal.Entities))}
	for _, e := range v.snap.bal.Entities {
		es, _, err := s.entitySummary(ctx, v, e.ID)
		if err != nil {
			return nil, err
		}
		out.TotalConfirmedSat += e.ConfirmedSat
		out.TotalUnconfirmedSat += e.UnconfirmedSat
		out.Entities = append(out.Entities, es)
	}
	out.Fiat = fiat(v.snap, out.TotalConfirmedSat)
	vv, err := s.verifyInfo(ctx, v)
	if err != nil {
		return nil, err
	}
	out.Verification, out.Incident = vv.Verification, vv.Incident
	return out, nil
}
