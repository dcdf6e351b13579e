package price

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// historySource is a price source with mempool.space's historical-price
// shape: for a timestamp, the daily sample at 00:00 UTC of its day, in
// every currency; nothing before its history starts. It records what it
// was asked and when, and can be made to fail.
type historySource struct {
	start time.Time // first day with a price

	mu    sync.Mutex
	asked []time.Time // timestamps asked
	at    []time.Time // when
	fail  bool
}

// dayCents is the source's USD price of a day: distinct per day.
func dayCents(d time.Time) int64 { return 6_000_000 + d.Unix()/86400%1000*100 }

func (h *historySource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		http.Error(w, "rate limited", http.StatusTooManyRequests)
		return
	}
	if r.URL.Path != "/api/v1/historical-price" {
		http.NotFound(w, r)
		return
	}
	ts, err := strconv.ParseInt(r.URL.Query().Get("timestamp"), 10, 64)
	if err != nil || r.URL.Query().Get("currency") == "" {
		http.Error(w, "bad query", http.StatusBadRequest)
		return
	}
	t := time.Unix(ts, 0).UTC()
	h.asked, h.at = append(h.asked, t), append(h.at, time.Now())
	ans := map[string]any{"prices": []any{}, "exchangeRates": map[string]float64{"USDEUR": 0.92}}
	if day := t.Truncate(24 * time.Hour); !day.Before(h.start) {
		usd := dayCents(day)
		ans["prices"] = []any{map[string]any{"time": day.Unix(), "USD": json.Number(strconv.FormatFloat(float64(usd)/100, 'f', 2, 64)),
			"EUR": json.Number(strconv.FormatInt(usd*92/10000, 10))}}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}

func (h *historySource) calls() ([]time.Time, []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.asked...), append([]time.Time(nil), h.at...)
}

// ledgerOnDays stores one confirmed transaction at noon of each day.
func ledgerOnDays(t *testing.T, st *store.Store, days []time.Time) {
	t.Helper()
	ctx := context.Background()
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}})
	if err != nil {
		t.Fatal(err)
	}
	var step store.Step
	for i, d := range days {
		b := store.Block{Height: int64(i + 1), Hash: chainhash.Hash{byte(i + 1), 0xb}, Time: d.Add(12 * time.Hour)}
		txid := chainhash.Hash{byte(i + 1), 0x7}
		step.Blocks = append(step.Blocks, b)
		step.Txs = append(step.Txs, store.Tx{Txid: txid, Height: b.Height, BlockHash: b.Hash, Pos: 0, NIn: 1, NOut: 1,
			OutTotal: 1000, Raw: []byte{byte(i)}})
		step.Rows = append(step.Rows, store.Row{ScriptID: ids[0], Txid: txid, Received: 1000, NOut: 1})
	}
	step.Publish = &step.Blocks[len(step.Blocks)-1]
	if err := st.Apply(ctx, step); err != nil {
		t.Fatal(err)
	}
}

// TestBackfill checks the daily price backfill against a source with the
// documented answer shape: bounded rounds, the pause between requests,
// the last price of each day asked, days the source lacks recorded and
// not asked again, and a failing source ending a round with nothing
// stored.
func TestBackfill(t *testing.T) {
	ctx := context.Background()
	d := func(s string) time.Time {
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	days := []time.Time{d("2019-12-30"), d("2020-01-02"), d("2020-01-05"), d("2021-03-01")}
	src := &historySource{start: d("2020-01-01")}
	srv := source(t, src.ServeHTTP)
	st := openStore(t)
	ledgerOnDays(t, st, days)
	r := NewRefresher(NewClient(srv.URL+"/api/v1"), st, "USD", watcher.Schedule{}, nil)
	gap := 30 * time.Millisecond
	r.SetBackfill(Backfill{Days: 2, Gap: gap, MissRetry: time.Hour})

	// Round 1: the two newest days.
	n, err := r.Backfill(ctx)
	if err != nil || n != 2 {
		t.Fatalf("round 1: stored %d, %v", n, err)
	}
	asked, at := src.calls()
	want := []time.Time{d("2021-03-01").Add(24*time.Hour - time.Second), d("2020-01-05").Add(24*time.Hour - time.Second)}
	if len(asked) != 2 || !asked[0].Equal(want[0]) || !asked[1].Equal(want[1]) {
		t.Errorf("round 1 asked %v, want %v", asked, want)
	}
	if len(at) == 2 && at[1].Sub(at[0]) < gap {
		t.Errorf("requests %s apart, want at least %s", at[1].Sub(at[0]), gap)
	}
	for _, day := range days[2:] {
		ps, err := st.PricesBetween(ctx, "USD", day, day.Add(24*time.Hour))
		if err != nil || len(ps) != 1 || ps[0].Cents != dayCents(day) || !ps[0].Time.Equal(day) || ps[0].Source != "127.0.0.1" {
			t.Errorf("price of %s = %+v, %v; want %d cents at %s", day, ps, err, dayCents(day), day)
		}
	}

	// Round 2: the day before the source's history is a miss, recorded.
	if n, err := r.Backfill(ctx); err != nil || n != 1 {
		t.Fatalf("round 2: stored %d, %v", n, err)
	}
	if missing, _ := st.PriceDaysMissing(ctx, "USD", time.Now(), 10); len(missing) != 0 {
		t.Errorf("after round 2, days still to ask: %v", missing)
	}
	// Round 3: nothing left to ask.
	before, _ := src.calls()
	if n, err := r.Backfill(ctx); err != nil || n != 0 {
		t.Fatalf("round 3: stored %d, %v", n, err)
	}
	if after, _ := src.calls(); len(after) != len(before) {
		t.Errorf("round 3 asked the source %d times", len(after)-len(before))
	}
	// Past the retry time, the missed day is asked again.
	if missing, _ := st.PriceDaysMissing(ctx, "USD", time.Now().Add(2*time.Hour), 10); len(missing) != 1 || !missing[0].Equal(days[0]) {
		t.Errorf("after the retry time, days to ask = %v, want %s", missing, days[0])
	}

	t.Run("source failing", func(t *testing.T) {
		src := &historySource{start: d("2020-01-01"), fail: true}
		srv := source(t, src.ServeHTTP)
		st := openStore(t)
		ledgerOnDays(t, st, days)
		r := NewRefresher(NewClient(srv.URL+"/api/v1"), st, "USD", watcher.Schedule{}, nil)
		r.SetBackfill(Backfill{Days: 10, Gap: time.Millisecond, MissRetry: time.Hour})
		n, err := r.Backfill(ctx)
		if err == nil || n != 0 {
			t.Fatalf("stored %d, err %v; want an error", n, err)
		}
		if missing, _ := st.PriceDaysMissing(ctx, "USD", time.Now(), 10); len(missing) != len(days) {
			t.Errorf("a failing source left %d days to ask, want %d", len(missing), len(days))
		}
	})
	t.Run("off", func(t *testing.T) {
		src := &historySource{start: d("2020-01-01")}
		srv := source(t, src.ServeHTTP)
		st := openStore(t)
		ledgerOnDays(t, st, days)
		r := NewRefresher(NewClient(srv.URL+"/api/v1"), st, "USD", watcher.Schedule{}, nil)
		r.SetBackfill(Backfill{})
		if n, err := r.Backfill(ctx); n != 0 || err != nil {
			t.Errorf("backfill off: %d, %v", n, err)
		}
		if asked, _ := src.calls(); len(asked) != 0 {
			t.Errorf("backfill off asked the source %d times", len(asked))
		}
	})
}
