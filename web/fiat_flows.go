package web

import (
	"context"
	"sort"
	"time"

	"github.com/treasurywatch/treasurywatch/price"
	"github.com/treasurywatch/treasurywatch/store"
)

// dayPrices are the stored prices of a span of UTC days, oldest first:
// what flows are valued at. Package price backfills one per day on which
// a flow happened; the current prices it refreshes are among them too.
type dayPrices []store.Price

// loadDayPrices reads the stored prices of the UTC days from first to
// last, inclusive. It reads SQLite only: a price source that is down
// leaves days without a price, never a slow or failed answer. An error is
// logged and values no flow.
func (s *Server) loadDayPrices(ctx context.Context, first, last time.Time) dayPrices {
	if s.cfg.PriceCurrency == "" {
		return nil
	}
	from := first.UTC().Truncate(24 * time.Hour)
	to := last.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	ps, err := s.st.PricesBetween(ctx, s.cfg.PriceCurrency, from, to)
	if err != nil {
		s.logger.Debug("reading the prices of flows failed", "err", err)
		return nil
	}
	return ps
}

// at returns the price of t's UTC day nearest t, nil when none.
func (d dayPrices) at(t time.Time) *store.Price {
	day := t.UTC().Truncate(24 * time.Hour)
	end := day.Add(24 * time.Hour)
	i := sort.Search(len(d), func(i int) bool { return !d[i].Time.Before(t) })
	var best *store.Price
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(d) || d[j].Time.Before(day) || !d[j].Time.Before(end) {
			continue
		}
		if best == nil || absDuration(d[j].Time.Sub(t)) < absDuration(best.Time.Sub(t)) {
			best = &d[j]
		}
	}
	return best
}

// value is sat's value at the price of t's day; nil without one.
func (d dayPrices) value(t time.Time, sat int64) *fiatJSON {
	p := d.at(t)
	if p == nil {
		return nil
	}
	v := price.Value(sat, p.Cents)
	return &fiatJSON{Currency: p.Currency, Price: decimalCents(p.Cents, false), Value: decimalCents(v, false),
		Source: p.Source, Time: p.Time, priceCents: p.Cents, valueCents: v}
}

// valueFlows sets the fiat value of each flow at the price of its day.
func (s *Server) valueFlows(ctx context.Context, flows []flowJSON) {
	if len(flows) == 0 || s.cfg.PriceCurrency == "" {
		return
	}
	first, last := flows[0].Time, flows[0].Time
	for _, f := range flows {
		if f.Time.Before(first) {
			first = f.Time
		}
		if f.Time.After(last) {
			last = f.Time
		}
	}
	ps := s.loadDayPrices(ctx, first, last)
	for i := range flows {
		flows[i].Fiat = ps.value(flows[i].Time, flows[i].DeltaSat)
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// fiatAmount is the page's short wording of a flow's value: "−1,234.56".
func fiatAmount(f *fiatJSON) string {
	if f == nil {
		return ""
	}
	v := decimalCents(f.valueCents, true)
	switch {
	case f.valueCents > 0:
		return "+" + v
	case f.valueCents < 0:
		return "−" + v[1:]
	}
	return v
}

// fiatPrice is the page's wording of the price a flow is valued at:
// "at 43,753.00 USD/BTC (mempool.space, 2024-11-19 00:00 UTC)".
func fiatPrice(f *fiatJSON) string {
	if f == nil {
		return ""
	}
	return "at " + decimalCents(f.priceCents, true) + " " + f.Currency + "/BTC (" + f.Source + ", " + when(f.Time) + ")"
}
