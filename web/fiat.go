package web

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/price"
	"github.com/treasurywatch/treasurywatch/store"
)

// fiatJSON is a BTC amount's value in the configured currency, at the
// latest stored price. Price and value are decimal strings with two
// decimals ("43753.00"), exact: the value is computed in integer cents.
// Time is the price's own time, so a reader sees how old it is.
type fiatJSON struct {
	Currency string    `json:"currency"`
	Price    string    `json:"price"`
	Value    string    `json:"value"`
	Source   string    `json:"source"`
	Time     time.Time `json:"time"`

	priceCents, valueCents int64
}

// latestPrice reads the latest stored price of the configured currency
// (nil when none is configured or stored). It reads SQLite only, never the
// source; an error is logged and shows no price rather than failing the
// page.
func (s *Server) latestPrice(ctx context.Context) *store.Price {
	if s.cfg.PriceCurrency == "" {
		return nil
	}
	p, ok, err := s.st.LatestPrice(ctx, s.cfg.PriceCurrency)
	if err != nil {
		s.logger.Debug("reading the price failed", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return &p
}

// fiat values sat at the snapshot's price; nil without one.
func fiat(snap *snapshot, sat int64) *fiatJSON {
	p := snap.price
	if p == nil {
		return nil
	}
	v := price.Value(sat, p.Cents)
	return &fiatJSON{Currency: p.Currency, Price: decimalCents(p.Cents, false), Value: decimalCents(v, false),
		Source: p.Source, Time: p.Time, priceCents: p.Cents, valueCents: v}
}

// decimalCents writes cents as units with two decimals, with thousands
// separators when grouped: 4375300 → "43753.00" or "43,753.00".
func decimalCents(c int64, grouped bool) string {
	neg := c < 0
	u := uint64(c)
	if neg {
		u = -u
	}
	units := strconv.FormatUint(u/100, 10)
	if grouped {
		var b strings.Builder
		for i, r := range units {
			if i > 0 && (len(units)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(r)
		}
		units = b.String()
	}
	frac := strconv.FormatUint(u%100+100, 10)[1:]
	if neg {
		units = "-" + units
	}
	return units + "." + frac
}

// fiatLine is the page's wording of a fiat value: "≈ 15,234,567.89 USD
// at 43,753.00 USD/BTC (mempool.space, 2026-11-27 18:40 UTC)".
func fiatLine(f *fiatJSON) string {
	if f == nil {
		return ""
	}
	return "≈ " + decimalCents(f.valueCents, true) + " " + f.Currency + " at " + decimalCents(f.priceCents, true) + " " +
		f.Currency + "/BTC (" + f.Source + ", " + when(f.Time) + ")"
}
