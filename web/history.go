package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// handleHistory answers GET /api/v1/entities/{id}/history: the balance
// after each block that changed it (interval=block) or at the end of each
// UTC day (interval=day), optionally between from and to.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		h, err := s.history(ctx, v, r)
		if err != nil {
			return nil, err
		}
		return jsonAnswer(h)
	})
}

// handleHistoryCSV is the CSV twin of handleHistory, one row per point.
func (s *Server) handleHistoryCSV(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		h, err := s.history(ctx, v, r)
		if err != nil {
			return nil, err
		}
		rows := [][]string{{"date", "height", "hash", "time", "balance_sat", "delta_sat", "tx_count"}}
		for _, p := range h.Points {
			rows = append(rows, []string{p.Date, strconv.FormatInt(p.Height, 10), p.Hash, p.Time.Format(time.RFC3339),
				strconv.FormatInt(p.BalanceSat, 10), strconv.FormatInt(p.DeltaSat, 10), strconv.Itoa(p.TxCount)})
		}
		return csvAnswer(rows, fmt.Sprintf("%s-history-%s-%d.csv", h.Entity, h.Interval, v.snap.asOf.Height))
	})
}

// history builds the history answer shared by JSON and CSV.
func (s *Server) history(ctx context.Context, v *view, r *http.Request) (*historyJSON, error) {
	q := r.URL.Query()
	interval, err := parseInterval(q)
	if err != nil {
		return nil, err
	}
	rng, err := parseRange(q)
	if err != nil {
		return nil, err
	}
	d, err := s.entityOf(ctx, v, r)
	if err != nil {
		return nil, err
	}
	// The points name their blocks' hashes: the series of the full history.
	full, err := s.fullHistory(ctx, v.snap, d)
	if err != nil {
		return nil, err
	}
	out := &historyJSON{Entity: d.ent.ID, AsOf: v.snap.asOf, Interval: interval, From: timePtr(rng.From),
		To: timePtr(rng.To), Points: []historyPointJSON{}}
	if interval == "block" {
		for _, p := range full.series.pts {
			if inRange(p.Time, rng.From, rng.To) {
				out.Points = append(out.Points, pointJSON(p.Time.Format(time.DateOnly), p, p.Delta, p.Txs))
			}
		}
		return out, nil
	}
	to := v.snap.asOf.Time
	if !rng.To.IsZero() && rng.To.Before(to) {
		to = rng.To
	}
	for _, dp := range full.series.days(rng.From, to) {
		out.Points = append(out.Points, pointJSON(dp.Date, dp.At, dp.Delta, dp.Txs))
	}
	return out, nil
}

func pointJSON(date string, p point, delta int64, txs int) historyPointJSON {
	return historyPointJSON{Date: date, Height: p.Height, Hash: p.Hash, Time: p.Time.UTC(), BalanceSat: p.Balance,
		DeltaSat: delta, TxCount: txs}
}

// csvAnswer writes rows as CSV; the block the figures are stated at is in
// the file name and in the X-As-Of-* headers.
func csvAnswer(rows [][]string, filename string) (*rendered, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.WriteAll(rows); err != nil {
		return nil, err
	}
	return &rendered{ctype: "text/csv; charset=utf-8", body: buf.Bytes(),
		header: [][2]string{{"Content-Disposition", `inline; filename="` + filename + `"`}}}, nil
}
