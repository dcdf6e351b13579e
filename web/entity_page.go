package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// handleEntityPage answers GET /entity/{id}: balance chart, one page of
// flows (newest first, ?page=N for older ones), monthly flows and
// addresses.
func (s *Server) handleEntityPage(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asPage, true, func(ctx context.Context, v *view) (*rendered, error) {
		q := r.URL.Query()
		period, from, err := parsePeriod(q, v.snap.asOf.Time)
		if err != nil {
			return nil, err
		}
		page, err := parsePage(q)
		if err != nil {
			return nil, err
		}
		e, err := s.entityDetail(ctx, v, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		d, err := s.entity(ctx, v.snap, e.ID)
		if err != nil {
			return nil, err
		}
		in := func(t *watcher.HistoryTx) bool { return from.IsZero() || !t.Time.Before(from) }
		total := 0
		for i := range d.txs {
			if in(&d.txs[i]) {
				total++
			}
		}
		path := "/entity/" + url.PathEscape(e.ID)
		pg, err := newPager(page, total, flowsPerPage, func(n int) string {
			return path + "?period=" + url.QueryEscape(period) + "&page=" + strconv.Itoa(n) + "#flows"
		})
		if err != nil {
			return nil, err
		}
		// Newest first: the n-th flow of the period counted from the end;
		// the page's flows are read in full, the others not at all.
		var shown []int
		for i, n := len(d.txs)-1, 0; i >= 0 && n < pg.Last; i-- {
			if !in(&d.txs[i]) {
				continue
			}
			if n++; n >= pg.First {
				shown = append(shown, i)
			}
		}
		var full []watcher.HistoryTx
		if len(shown) > 0 {
			lo := shown[len(shown)-1]
			if full, err = s.txsBetween(ctx, v.snap, d, lo, shown[0]); err != nil {
				return nil, err
			}
			for k, i := range shown {
				shown[k] = i - lo
			}
		}
		flows := make([]flowJSON, 0, len(shown))
		for _, i := range shown {
			t := &full[i]
			f := flowJSON{Txid: t.Txid, Height: t.Height, BlockHash: t.BlockHash, Time: t.Time, Kind: t.Kind,
				DeltaSat: t.DeltaSat, BalanceSat: t.BalanceSat, FeeSat: t.FeeSat}
			if u := s.explorerURL(t.Txid); u != "" {
				f.ExplorerURL = &u
			}
			flows = append(flows, f)
		}
		s.valueFlows(ctx, flows)
		months := make([]monthJSON, len(e.Monthly))
		for i, m := range e.Monthly {
			months[len(months)-1-i] = m
		}
		return s.page("entity", struct {
			base
			E       *entityJSON
			Path    string
			Periods []periodLink
			Chart   chart
			Bars    barChart
			Flows   []flowJSON
			Pager   pager
			Months  []monthJSON
			Kinds   []watcher.Flow
			Fiat    string
		}{s.pageBase(v, e.Name, ""), e, path, periodLinks(path, period),
			balanceChart("balance", "Confirmed balance of "+e.Name, d.series, from, v.snap.asOf.Time),
			monthBars("months", "Monthly flows of "+e.Name, d.months), flows, pg, months, allFlows, s.cfg.PriceCurrency})
	})
}
