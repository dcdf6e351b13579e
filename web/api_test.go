package web

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// decodeJSON fetches path and decodes its JSON answer into v.
func decodeJSON(tb testing.TB, s *Server, path string, v any) {
	tb.Helper()
	if err := json.Unmarshal([]byte(mustGet(tb, s.Handler(), path)), v); err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
}

// TestAPIAgreesWithLedger checks every JSON answer against the engine's own
// read side (watcher.Ledger) and the flows the scenario made.
func TestAPIAgreesWithLedger(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{ExplorerTxURL: "https://mempool.space/tx/"})
	ctx := t.Context()
	led := watcher.NewLedger(l.st, l.wl)
	bal, err := led.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var sum summaryJSON
	decodeJSON(t, s, "/api/v1/summary", &sum)
	if sum.AsOf != bal.AsOf || sum.Network != "regtest" {
		t.Fatalf("summary as_of %+v network %q, want %+v regtest", sum.AsOf, sum.Network, bal.AsOf)
	}
	var total, shares float64
	for i, e := range bal.Entities {
		got := sum.Entities[i]
		h, err := led.EntityHistory(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := h.Txs[len(h.Txs)-1]
		if got.ID != e.ID || got.ConfirmedSat != e.ConfirmedSat || got.UnconfirmedSat != e.UnconfirmedSat ||
			got.TxCount != len(h.Txs) || got.LastMovement == nil || got.LastMovement.Txid != last.Txid ||
			got.LastMovement.Kind != last.Kind || got.LastMovement.DeltaSat != last.DeltaSat {
			t.Errorf("summary entity %s: %+v, want balance %+v and last tx %+v", e.ID, got, e, last)
		}
		// Every block of this chain is minutes old: no block is 24 h old,
		// so every change is against zero.
		for _, c := range got.Changes {
			if c.Since != nil || c.BalanceSat != 0 || c.ChangeSat != e.ConfirmedSat {
				t.Errorf("%s change %+v, want since null and change %d", e.ID, c, e.ConfirmedSat)
			}
		}
		total += float64(e.ConfirmedSat)
		shares += got.Share
	}
	if sum.TotalConfirmedSat != int64(total) || sum.TotalUnconfirmedSat != 10_000_000 || math.Abs(shares-1) > 1e-9 {
		t.Errorf("totals %d/%d, shares %v", sum.TotalConfirmedSat, sum.TotalUnconfirmedSat, shares)
	}
	if sum.Sync.Stale || sum.Sync.LastAttempt != nil || sum.Sync.StaleAfterSeconds != 1800 {
		t.Errorf("sync %+v", sum.Sync)
	}

	var list entitiesJSON
	decodeJSON(t, s, "/api/v1/entities", &list)
	for i, e := range bal.Entities {
		for j, a := range e.Addresses {
			got := list.Entities[i].Addresses[j]
			ah, err := led.AddressHistory(ctx, a.Address)
			if err != nil {
				t.Fatal(err)
			}
			last := ah.Txs[len(ah.Txs)-1]
			la := watcher.AsOf{Height: last.Height, Hash: last.BlockHash, Time: last.Time}
			if got.Address != a.Address || got.ConfirmedSat != a.ConfirmedSat || got.UnconfirmedSat != a.UnconfirmedSat ||
				got.TxCount != a.TxCount || got.Source != l.wl.Entities[i].Addresses[j].Source ||
				got.LastActivity == nil || *got.LastActivity != la {
				t.Errorf("entities %s/%s: %+v, want %+v (last activity %+v)", e.ID, a.Address, got, a, la)
			}
		}
	}

	for _, e := range bal.Entities {
		h, _ := led.EntityHistory(ctx, e.ID)
		var d entityJSON
		decodeJSON(t, s, "/api/v1/entities/"+e.ID, &d)
		var net int64
		for _, m := range d.Monthly {
			net += m.NetSat
			if m.InflowSat-m.OutflowSat-m.InternalFeeSat+m.MixedNetSat != m.NetSat {
				t.Errorf("%s month %+v does not add up", e.ID, m)
			}
		}
		if d.ConfirmedSat != e.ConfirmedSat || net != e.ConfirmedSat || len(d.Addresses) != len(e.Addresses) {
			t.Errorf("entity %s: %+v", e.ID, d)
		}

		var fl flowsJSON
		decodeJSON(t, s, "/api/v1/entities/"+e.ID+"/flows", &fl)
		if len(fl.Flows) != len(h.Txs) || len(fl.Flows) != len(l.kinds[e.ID]) {
			t.Fatalf("%s: %d flows, ledger %d, scenario %d", e.ID, len(fl.Flows), len(h.Txs), len(l.kinds[e.ID]))
		}
		for i, f := range fl.Flows {
			w := h.Txs[i]
			if f.Txid != w.Txid || f.Kind != w.Kind || f.Kind != l.kinds[e.ID][f.Txid] || f.DeltaSat != w.DeltaSat ||
				f.BalanceSat != w.BalanceSat || f.Height != w.Height || f.BlockHash != w.BlockHash || !f.Time.Equal(w.Time) {
				t.Errorf("%s flow %d: %+v, want %+v (scenario kind %s)", e.ID, i, f, w, l.kinds[e.ID][f.Txid])
			}
			knownFee := f.Kind == watcher.Internal || f.Kind == watcher.Outflow
			if (f.FeeSat != nil) != knownFee || (w.FeeSat != nil && (f.FeeSat == nil || *f.FeeSat != *w.FeeSat)) {
				t.Errorf("%s flow %s (%s): fee %v, ledger %v", e.ID, f.Txid, f.Kind, f.FeeSat, w.FeeSat)
			}
			if f.ExplorerURL == nil || *f.ExplorerURL != "https://mempool.space/tx/"+f.Txid {
				t.Errorf("explorer url %v", f.ExplorerURL)
			}
			if f.Txid == l.pending {
				t.Errorf("unconfirmed %s listed as a flow", f.Txid)
			}
		}
		var only flowsJSON
		decodeJSON(t, s, "/api/v1/entities/"+e.ID+"/flows?kind=internal,outflow", &only)
		for _, f := range only.Flows {
			if f.Kind != watcher.Internal && f.Kind != watcher.Outflow {
				t.Errorf("kind filter let %s through", f.Kind)
			}
		}

		var hist historyJSON
		decodeJSON(t, s, "/api/v1/entities/"+e.ID+"/history", &hist)
		byHeight := map[int64]int64{}
		for _, tx := range h.Txs {
			byHeight[tx.Height] = tx.BalanceSat
		}
		if len(hist.Points) != len(byHeight) || hist.Interval != "block" {
			t.Errorf("%s history: %d points for %d blocks", e.ID, len(hist.Points), len(byHeight))
		}
		for _, p := range hist.Points {
			if byHeight[p.Height] != p.BalanceSat {
				t.Errorf("%s history point %+v, ledger balance %d", e.ID, p, byHeight[p.Height])
			}
		}
		decodeJSON(t, s, "/api/v1/entities/"+e.ID+"/history?interval=day&from=2000-01-01", &hist)
		if n := len(hist.Points); n == 0 || hist.Points[n-1].BalanceSat != e.ConfirmedSat {
			t.Errorf("%s daily history %+v", e.ID, hist.Points)
		}

		for _, a := range e.Addresses {
			ah, err := led.AddressHistory(ctx, a.Address)
			if err != nil {
				t.Fatal(err)
			}
			var ad addressDetailJSON
			decodeJSON(t, s, "/api/v1/addresses/"+url.PathEscape(a.Address), &ad)
			if ad.EntityID != e.ID || ad.ConfirmedSat != a.ConfirmedSat || len(ad.Txs) != len(ah.Txs) {
				t.Fatalf("address %s: %+v", a.Address, ad)
			}
			for i, tx := range ad.Txs {
				w := ah.Txs[i]
				if tx.Txid != w.Txid || tx.DeltaSat != w.DeltaSat || tx.BalanceSat != w.BalanceSat || tx.Kind != l.kinds[e.ID][tx.Txid] {
					t.Errorf("address %s tx %d: %+v, want %+v", a.Address, i, tx, w)
				}
			}
		}
	}
}

// TestAPIErrors checks that bad parameters answer 400 and unknown names
// 404, as {"error": …} and never with internals.
func TestAPIErrors(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{})
	cases := []struct {
		path   string
		status int
		json   bool
	}{
		{"/api/v1/entities/nope", 404, true},
		{"/api/v1/entities/nope/history", 404, true},
		{"/api/v1/entities/nope/flows.csv", 404, true},
		{"/api/v1/addresses/bcrt1qnotwatched", 404, true},
		{"/api/v1/nothing", 404, true},
		{"/entity/nope/feed.atom", 404, true},
		{"/api/v1/entities/alpha/history?interval=week", 400, true},
		{"/api/v1/entities/alpha/history?from=yesterday", 400, true},
		{"/api/v1/entities/alpha/history.csv?from=2024-02-01&to=2024-01-01", 400, true},
		{"/api/v1/entities/alpha/flows?kind=gift", 400, true},
		{"/api/v1/entities/alpha/flows?to=2024-13-01", 400, true},
		{"/api/v1/summary?x=" + strings.Repeat("a", 2000), 400, true},
		{"/entity/nope", 404, false},
		{"/address/nope", 404, false},
		{"/nothing/here", 404, false},
		{"/static/nope.css", 404, false},
		{"/entity/alpha?period=5y", 400, false},
	}
	for _, c := range cases {
		res, body := get(t, s.Handler(), "GET", c.path)
		if res.StatusCode != c.status {
			t.Errorf("%s: %d, want %d\n%s", c.path, res.StatusCode, c.status, body)
			continue
		}
		if strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") || res.Header.Get("ETag") != "" {
			t.Errorf("%s: internals or an ETag in an error:\n%s", c.path, body)
		}
		if !c.json {
			if !strings.Contains(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<h1>") {
				t.Errorf("%s: not an HTML error page: %s", c.path, res.Header.Get("Content-Type"))
			}
			continue
		}
		var e map[string]string
		if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 1 || e["error"] == "" {
			t.Errorf("%s: error body %q", c.path, body)
		}
	}
}
