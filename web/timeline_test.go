package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// TestTimeWindows checks the time-dependent figures (changes over 24 h,
// 30 d and 1 y, monthly flows, daily history, from/to filters) on a
// ledger spread over 400 days, against the generator's own account.
func TestTimeWindows(t *testing.T) {
	end := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	start := end.AddDate(0, 0, -400)
	l := buildSynth(t, 600, start, end)
	s, err := New(Config{}, l.wl, l.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := end.Add(90 * time.Minute)
	s.now = func() time.Time { return now }
	minute := now.Truncate(time.Minute)
	confirmed := l.balanceAtHeight(l.tip.Height)

	var sum summaryJSON
	decodeJSON(t, s, "/api/v1/summary", &sum)
	e := sum.Entities[0]
	if e.ConfirmedSat != confirmed || e.TxCount != len(l.txs) {
		t.Fatalf("summary %+v, want %d over %d txs", e, confirmed, len(l.txs))
	}
	for i, back := range []time.Time{minute.Add(-24 * time.Hour), minute.AddDate(0, 0, -30), minute.AddDate(-1, 0, 0)} {
		c := e.Changes[i]
		h := l.lastBlockAtOrBefore(back)
		if c.Since == nil || c.Since.Height != h || c.BalanceSat != l.balanceAtHeight(h) || c.ChangeSat != confirmed-c.BalanceSat {
			t.Errorf("change %s: %+v, want since block %d balance %d", c.Period, c, h, l.balanceAtHeight(h))
		}
	}
	if e.LastMovement == nil || e.LastMovement.Height != l.tip.Height || e.LastMovement.Kind != l.txs[len(l.txs)-1].kind {
		t.Errorf("last movement %+v", e.LastMovement)
	}

	var d entityJSON
	decodeJSON(t, s, "/api/v1/entities/big", &d)
	months := map[string]*monthJSON{}
	for _, tx := range l.txs {
		k := tx.time.UTC().Format("2006-01")
		m := months[k]
		if m == nil {
			m = &monthJSON{Month: k}
			months[k] = m
		}
		switch tx.kind {
		case watcher.Inflow:
			m.InflowSat += tx.delta
			m.InflowCount++
		case watcher.Outflow:
			m.OutflowSat -= tx.delta
			m.OutflowCount++
		case watcher.Internal:
			m.InternalFeeSat -= tx.delta
			m.InternalCount++
		case watcher.Mixed:
			m.MixedNetSat += tx.delta
			m.MixedCount++
		}
		m.NetSat += tx.delta
		m.EndBalanceSat = l.balanceAtHeight(tx.height)
	}
	if len(d.Monthly) != len(months) {
		t.Fatalf("%d months, want %d", len(d.Monthly), len(months))
	}
	for _, m := range d.Monthly {
		if *months[m.Month] != m {
			t.Errorf("month %s: %+v, want %+v", m.Month, m, *months[m.Month])
		}
	}

	from, to := end.AddDate(0, 0, -20), end.AddDate(0, 0, -5)
	var hist historyJSON
	decodeJSON(t, s, fmt.Sprintf("/api/v1/entities/big/history?interval=day&from=%s&to=%s",
		from.Format(time.DateOnly), to.Format(time.DateOnly)), &hist)
	if len(hist.Points) != 16 {
		t.Errorf("%d daily points for 16 days", len(hist.Points))
	}
	for _, p := range hist.Points {
		day, _ := time.Parse(time.DateOnly, p.Date)
		h := l.lastBlockAtOrBefore(day.AddDate(0, 0, 1).Add(-time.Second))
		if p.Height != h || p.BalanceSat != l.balanceAtHeight(h) {
			t.Errorf("day %s: %+v, want block %d balance %d", p.Date, p, h, l.balanceAtHeight(h))
		}
	}

	var fl flowsJSON
	decodeJSON(t, s, "/api/v1/entities/big/flows?from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339)+"&kind=internal", &fl)
	n := 0
	for _, tx := range l.txs {
		if tx.kind == watcher.Internal && !tx.time.Before(from) && !tx.time.After(to) {
			n++
		}
	}
	if len(fl.Flows) != n || n == 0 {
		t.Errorf("%d internal flows in the window, want %d", len(fl.Flows), n)
	}
	for _, f := range fl.Flows {
		if f.FeeSat == nil || *f.FeeSat != 200 || f.DeltaSat != -200 {
			t.Errorf("internal flow %+v", f)
		}
	}
	for _, p := range []string{"30d", "1y", "all"} {
		body := mustGet(t, s.Handler(), "/entity/big?period="+p)
		for _, want := range []string{watcher.FormatBTC(confirmed), `<path class="line"`, `?period=` + p + `" aria-current="page"`} {
			if !strings.Contains(body, want) {
				t.Errorf("period %s page lacks %s", p, want)
			}
		}
	}
}

// TestSeriesAtTime checks "the highest block at or before t" when block
// times step back (a block may be stamped before its parent).
func TestSeriesAtTime(t *testing.T) {
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	txs := []watcher.HistoryTx{
		{Height: 1, Time: at(10), BalanceSat: 1},
		{Height: 2, Time: at(30), BalanceSat: 2},
		{Height: 3, Time: at(20), BalanceSat: 3}, // stamped before its parent
		{Height: 4, Time: at(40), BalanceSat: 4},
	}
	s := newSeries(txs)
	for _, c := range []struct{ min, want int }{{5, -1}, {10, 0}, {19, 0}, {20, 2}, {29, 2}, {35, 2}, {40, 3}, {99, 3}} {
		if got := s.atTime(at(c.min)); got != c.want {
			t.Errorf("atTime(+%dm) = %d, want %d", c.min, got, c.want)
		}
	}
	if s.atHeight(0) != -1 || s.atHeight(2) != 1 || s.atHeight(9) != 3 || s.balance(-1) != 0 {
		t.Error("atHeight")
	}
}

// TestNiceScaleAndTicks checks the axis helpers.
func TestNiceScaleAndTicks(t *testing.T) {
	for _, c := range []struct{ v, max, step int64 }{{0, 1e8, 25_000_000}, {3e8, 3e8, 1e8}, {179965000, 200_000_000, 50_000_000},
		{7, 8, 2}, {1, 1, 1}} {
		if max, step := niceScale(c.v); max != c.max || step != c.step || max < c.v {
			t.Errorf("niceScale(%d) = %d, %d; want %d, %d", c.v, max, step, c.max, c.step)
		}
	}
	from := time.Date(2023, 3, 14, 0, 0, 0, 0, time.UTC)
	for _, span := range []time.Duration{2 * time.Hour, 3 * 24 * time.Hour, 30 * 24 * time.Hour, 400 * 24 * time.Hour, 3000 * 24 * time.Hour} {
		ticks := timeTicks(from, from.Add(span), 0, 100)
		if len(ticks) == 0 || len(ticks) > 7 {
			t.Errorf("span %v: %d ticks", span, len(ticks))
		}
		for i, tk := range ticks {
			if tk.Pos < 0 || tk.Pos > 100 || (i > 0 && tk.Pos <= ticks[i-1].Pos) || tk.Label == "" {
				t.Errorf("span %v: tick %+v", span, tk)
			}
		}
	}
}
