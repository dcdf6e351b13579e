package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestDaemonPrice runs the daemon with [price]: while the price source is
// down the dashboard serves without fiat values; once it answers, the
// summary shows the value at the stored price.
func TestDaemonPrice(t *testing.T) {
	var up atomic.Bool
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() || r.URL.Path != "/api/v1/prices" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"time": 1703252411, "USD": 43753, "EUR": 40545, "GBP": 37528, "CAD": 58123, "CHF": 37438, "AUD": 64499, "JPY": 6218341}`))
	}))
	defer src.Close()

	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(chaintest.P2TR)
	n.Pay(chaintest.Output{Script: k.Script, Value: 5_000_000})
	n.Mine()
	cfg := writeWatchlist(t, t.TempDir(), n.Node, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
	d := startTestDaemon(t, cfg, "[price]\nurl = \""+src.URL+"/api/v1\"\ncurrency = \"USD\"\nrefresh = \"@every 1s\"\n")
	base := d.base

	type fiat struct{ Currency, Price, Value, Source string }
	summary := func() (total int64, f *fiat) {
		t.Helper()
		resp, err := http.Get(base + "/api/v1/summary")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return -1, nil
		}
		var s struct {
			TotalSat int64 `json:"total_confirmed_sat"`
			Fiat     *fiat `json:"fiat"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s.TotalSat, s.Fiat
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, f := summary()
		if f != nil {
			t.Fatalf("fiat %+v while the price source is down", f)
		}
		if total == 5_000_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summary stuck at %d sat", total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	up.Store(true)
	for {
		_, f := summary()
		if f != nil {
			// 0.05 BTC at 43,753 USD = 2,187.65 USD
			if want := (fiat{"USD", "43753.00", "2187.65", "127.0.0.1"}); *f != want {
				t.Errorf("fiat %+v, want %+v", *f, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no fiat value after the price source came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
