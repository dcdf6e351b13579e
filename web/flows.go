package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// handleFlows answers GET /api/v1/entities/{id}/flows: each transaction
// of the entity with why its balance moved (kind), oldest first,
// optionally filtered by time and kind.
func (s *Server) handleFlows(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		f, err := s.flows(ctx, v, r)
		if err != nil {
			return nil, err
		}
		return jsonAnswer(f)
	})
}

// handleFlowsCSV is the CSV twin of handleFlows; an unknown fee or fiat
// value is an empty cell.
func (s *Server) handleFlowsCSV(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		f, err := s.flows(ctx, v, r)
		if err != nil {
			return nil, err
		}
		rows := [][]string{{"time", "height", "block_hash", "txid", "kind", "delta_sat", "balance_sat", "fee_sat",
			"fiat_currency", "fiat_price", "fiat_value"}}
		for _, t := range f.Flows {
			fee := ""
			if t.FeeSat != nil {
				fee = strconv.FormatInt(*t.FeeSat, 10)
			}
			fiat := []string{"", "", ""}
			if t.Fiat != nil {
				fiat = []string{t.Fiat.Currency, t.Fiat.Price, t.Fiat.Value}
			}
			rows = append(rows, append([]string{t.Time.Format(time.RFC3339), strconv.FormatInt(t.Height, 10), t.BlockHash,
				t.Txid, string(t.Kind), strconv.FormatInt(t.DeltaSat, 10), strconv.FormatInt(t.BalanceSat, 10), fee}, fiat...))
		}
		return csvAnswer(rows, fmt.Sprintf("%s-flows-%d.csv", f.Entity, v.snap.asOf.Height))
	})
}

// flows builds the flows answer shared by JSON and CSV.
func (s *Server) flows(ctx context.Context, v *view, r *http.Request) (*flowsJSON, error) {
	q := r.URL.Query()
	rng, err := parseRange(q)
	if err != nil {
		return nil, err
	}
	set, kinds, err := parseKinds(q)
	if err != nil {
		return nil, err
	}
	d, err := s.entityOf(ctx, v, r)
	if err != nil {
		return nil, err
	}
	full, err := s.fullHistory(ctx, v.snap, d)
	if err != nil {
		return nil, err
	}
	out := &flowsJSON{Entity: d.ent.ID, AsOf: v.snap.asOf, From: timePtr(rng.From), To: timePtr(rng.To), Kinds: kinds,
		Flows: []flowJSON{}}
	for _, t := range full.txs {
		if !inRange(t.Time, rng.From, rng.To) || (set != nil && !set[t.Kind]) {
			continue
		}
		f := flowJSON{Txid: t.Txid, Height: t.Height, BlockHash: t.BlockHash, Time: t.Time.UTC(), Kind: t.Kind,
			DeltaSat: t.DeltaSat, BalanceSat: t.BalanceSat, FeeSat: t.FeeSat}
		if u := s.explorerURL(t.Txid); u != "" {
			f.ExplorerURL = &u
		}
		out.Flows = append(out.Flows, f)
	}
	s.valueFlows(ctx, out.Flows)
	return out, nil
}
