package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
)

// testPrice is the price savePrice stores: 43,753.00 USD/BTC.
var testPrice = store.Price{Currency: "USD", Time: time.Date(2026, 11, 27, 18, 40, 0, 0, time.UTC), Cents: 4_375_300,
	Source: "mempool.space", FetchedAt: time.Date(2026, 11, 27, 18, 40, 5, 0, time.UTC)}

// savePrice stores testPrice in the shared ledger; servers show it only
// when configured with a PriceCurrency.
func savePrice(tb testing.TB, l *regtestLedger) {
	tb.Helper()
	if err := l.st.SavePrice(context.Background(), testPrice); err != nil {
		tb.Fatal(err)
	}
}

func TestDecimalCents(t *testing.T) {
	for _, c := range []struct {
		c       int64
		grouped bool
		want    string
	}{
		{4_375_300, false, "43753.00"}, {4_375_300, true, "43,753.00"}, {5, true, "0.05"}, {0, false, "0.00"},
		{-123_456_789, true, "-1,234,567.89"}, {100_000_000, true, "1,000,000.00"}, {99_999, true, "999.99"},
	} {
		if got := decimalCents(c.c, c.grouped); got != c.want {
			t.Errorf("decimalCents(%d, %v) = %q, want %q", c.c, c.grouped, got, c.want)
		}
	}
}

func TestFiat(t *testing.T) {
	l := regtest(t)
	savePrice(t, l)
	s := newServer(t, l, Config{PriceCurrency: "USD"})
	_, body := get(t, s.Handler(), "GET", "/api/v1/summary")
	var sum struct {
		TotalConfirmedSat int64 `json:"total_confirmed_sat"`
		Fiat              *struct {
			Currency, Price, Value, Source string
			Time                           time.Time
		} `json:"fiat"`
		Entities []struct {
			ID   string          `json:"id"`
			Fiat json.RawMessage `json:"fiat"`
		} `json:"entities"`
	}
	if err := json.Unmarshal([]byte(body), &sum); err != nil {
		t.Fatal(err)
	}
	f := sum.Fiat
	if f == nil || f.Currency != "USD" || f.Price != "43753.00" || f.Source != "mempool.space" || !f.Time.Equal(testPrice.Time) {
		t.Fatalf("fiat = %+v in %s", f, body)
	}
	if want := decimalCents((sum.TotalConfirmedSat*4_375_300+50_000_000)/100_000_000, false); f.Value != want {
		t.Errorf("value %s, want %s for %d sat", f.Value, want, sum.TotalConfirmedSat)
	}
	for _, e := range sum.Entities {
		if len(e.Fiat) == 0 {
			t.Errorf("entity %s has no fiat", e.ID)
		}
	}
	_, body = get(t, s.Handler(), "GET", "/api/v1/entities/alpha")
	var ent struct {
		Fiat *struct{ Price string } `json:"fiat"`
	}
	if err := json.Unmarshal([]byte(body), &ent); err != nil || ent.Fiat == nil || ent.Fiat.Price != "43753.00" {
		t.Errorf("entity answer has no fiat: %s", body)
	}
	for _, path := range []string{"/", "/entity/alpha"} {
		_, page := get(t, s.Handler(), "GET", path)
		if !strings.Contains(page, "USD at 43,753.00 USD/BTC (mempool.space, 2026-11-27 18:40 UTC)") {
			t.Errorf("GET %s shows no fiat value", path)
		}
	}

	// Without [price] nothing changes: no key, no line.
	plain := newServer(t, l, Config{})
	for _, path := range []string{"/api/v1/summary", "/api/v1/entities/alpha", "/"} {
		if _, body := get(t, plain.Handler(), "GET", path); strings.Contains(body, "fiat") || strings.Contains(body, "USD/BTC") {
			t.Errorf("GET %s without a price currency shows a fiat value", path)
		}
	}
	// A configured currency without a stored price shows none either.
	none := newServer(t, l, Config{PriceCurrency: "JPY"})
	if _, body := get(t, none.Handler(), "GET", "/api/v1/summary"); strings.Contains(body, "fiat") {
		t.Error("fiat shown without a stored JPY price")
	}
}
