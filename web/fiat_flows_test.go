package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/price"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// daySourceCents is the USD price the test source gives for a UTC day,
// in cents: distinct for every day.
func daySourceCents(day time.Time) int64 { return 5_000_000 + day.Unix()/86400%500*1_234 }

// daySource is a price source with mempool.space's historical-price
// answer shape: the day's sample at 00:00 UTC for any timestamp of the
// day. It counts the requests.
func daySource(t *testing.T, requests *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		ts, err := strconv.ParseInt(r.URL.Query().Get("timestamp"), 10, 64)
		if r.URL.Path != "/api/v1/historical-price" || err != nil || r.URL.Query().Get("currency") != "USD" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		day := time.Unix(ts, 0).UTC().Truncate(24 * time.Hour)
		c := daySourceCents(day)
		fmt.Fprintf(w, `{"prices":[{"time":%d,"USD":%d.%02d,"EUR":%d}],"exchangeRates":{"USDEUR":0.92}}`,
			day.Unix(), c/100, c%100, c*92/10000)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFlowsValuedAtTheirDay checks that, once the refresher has
// backfilled the daily prices, each flow of the API and of the entity
// page is valued at the price of its own day, exactly; and that before
// the backfill, with the source down, answers come at once with no value.
func TestFlowsValuedAtTheirDay(t *testing.T) {
	ctx := context.Background()
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	l := buildSynth(t, 30, end.AddDate(0, 0, -9), end)
	s, err := New(Config{PriceCurrency: "USD"}, l.wl, l.st, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	type flowsAnswer struct {
		Flows []struct {
			Time     time.Time `json:"time"`
			DeltaSat int64     `json:"delta_sat"`
			Fiat     *struct {
				Currency, Price, Value, Source string
				Time                           time.Time
			} `json:"fiat"`
		} `json:"flows"`
	}
	flows := func(t *testing.T) flowsAnswer {
		t.Helper()
		res, body := get(t, h, http.MethodGet, "/api/v1/entities/big/flows")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("flows: %d %s", res.StatusCode, body)
		}
		var a flowsAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
		if len(a.Flows) != len(l.txs) {
			t.Fatalf("%d flows, generator made %d", len(a.Flows), len(l.txs))
		}
		return a
	}

	t.Run("source down, nothing stored", func(t *testing.T) {
		hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		t.Cleanup(hung.Close)
		r := price.NewRefresher(price.NewClient(hung.URL+"/api/v1"), l.st, "USD", watcher.Schedule{}, nil)
		r.Open()
		t.Cleanup(r.Close)
		for _, f := range flows(t).Flows {
			if f.Fiat != nil {
				t.Fatalf("a flow valued with no price stored: %+v", f)
			}
		}
		if res, body := get(t, h, http.MethodGet, "/entity/big"); res.StatusCode != http.StatusOK || !strings.Contains(body, "Value then (USD)") {
			t.Fatalf("entity page: %d", res.StatusCode)
		}
	})

	var requests atomic.Int64
	src := daySource(t, &requests)
	r := price.NewRefresher(price.NewClient(src.URL+"/api/v1"), l.st, "USD", watcher.Schedule{}, nil)
	r.SetBackfill(price.Backfill{Days: 100, Gap: time.Millisecond, MissRetry: time.Hour})
	n, err := r.Backfill(ctx)
	if err != nil {
		t.Fatal(err)
	}
	days := map[string]bool{}
	for _, tx := range l.txs {
		days[tx.time.UTC().Format(time.DateOnly)] = true
	}
	if n != len(days) || requests.Load() != int64(len(days)) {
		t.Errorf("backfill stored %d days with %d requests; the flows are on %d days", n, requests.Load(), len(days))
	}

	a := flows(t)
	for i, f := range a.Flows {
		day := f.Time.UTC().Truncate(24 * time.Hour)
		c := daySourceCents(day)
		want := price.Value(f.DeltaSat, c)
		if f.Fiat == nil {
			t.Errorf("flow %d (%s) has no value", i, f.Time)
			continue
		}
		if f.Fiat.Currency != "USD" || f.Fiat.Price != decimalCents(c, false) || f.Fiat.Value != decimalCents(want, false) ||
			!f.Fiat.Time.Equal(day) || f.Fiat.Source != "127.0.0.1" {
			t.Errorf("flow %d of %s, %d sat: fiat %+v, want %s at %s", i, day.Format(time.DateOnly), f.DeltaSat, *f.Fiat,
				decimalCents(want, false), decimalCents(c, false))
		}
	}

	// The CSV twin carries the same values.
	_, csvBody := get(t, h, http.MethodGet, "/api/v1/entities/big/flows.csv")
	recs, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
	if err != nil || len(recs) != len(a.Flows)+1 {
		t.Fatalf("flows.csv: %d records, %v", len(recs), err)
	}
	for i, f := range a.Flows {
		if got, want := recs[i+1][8:], []string{f.Fiat.Currency, f.Fiat.Price, f.Fiat.Value}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("flows.csv row %d: fiat %v, want %v", i+1, got, want)
		}
	}

	// The page shows the newest flow's value, with its price on hover.
	last := a.Flows[len(a.Flows)-1]
	_, body := get(t, h, http.MethodGet, "/entity/big")
	v := &fiatJSON{Currency: "USD", Source: last.Fiat.Source, Time: last.Fiat.Time, priceCents: daySourceCents(last.Fiat.Time),
		valueCents: price.Value(last.DeltaSat, daySourceCents(last.Fiat.Time))}
	amount := strings.TrimLeft(fiatAmount(v), "+−") // html/template writes the + as &#43;
	for _, want := range []string{amount + "</span>", "at " + decimalCents(v.priceCents, true) + " USD/BTC"} {
		if !strings.Contains(body, want) {
			t.Errorf("entity page lacks %q", want)
		}
	}
	// A second round asks nothing: every day has its price.
	before := requests.Load()
	if n, err := r.Backfill(ctx); n != 0 || err != nil || requests.Load() != before {
		t.Errorf("second round: %d stored, %v, %d requests", n, err, requests.Load()-before)
	}
}
