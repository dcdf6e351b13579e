package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// TestPriceDays checks the bookkeeping of the daily price backfill: which
// days of ledger transactions lack a price, misses with their retry time,
// prices of a range, and the version that changes with every save.
func TestPriceDays(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	d1 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int64, t time.Time) Block { return Block{Height: h, Hash: chainhash.Hash{byte(h), 0xd}, Time: t} }
	b1, b2, b3, b4 := at(1, d1.Add(5*time.Hour)), at(2, d1.Add(23*time.Hour)), at(3, d1.AddDate(0, 0, 2).Add(time.Hour)),
		at(4, d1.AddDate(0, 0, 5))
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}})
	if err != nil {
		t.Fatal(err)
	}
	// Block 4 holds no ledger transaction: its day needs no price.
	step := Step{Blocks: []Block{b1, b2, b3, b4}, Txs: []Tx{txAt(1, b1, 0), txAt(2, b2, 0), txAt(3, b3, 0)},
		Rows: []Row{{ScriptID: ids[0], Txid: chainhash.Hash{1}, Received: 10, NOut: 1},
			{ScriptID: ids[0], Txid: chainhash.Hash{2}, Received: 20, NOut: 1},
			{ScriptID: ids[0], Txid: chainhash.Hash{3}, Received: 30, NOut: 1}},
		Publish: &b4}
	if err := st.Apply(ctx, step); err != nil {
		t.Fatal(err)
	}
	now := d1.AddDate(0, 0, 10)
	missing := func(t *testing.T, at time.Time, limit int, want ...time.Time) {
		t.Helper()
		got, err := st.PriceDaysMissing(ctx, "USD", at, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("days without a price = %v, want %v", got, want)
		}
	}
	d3 := d1.AddDate(0, 0, 2)
	t.Run("none stored", func(t *testing.T) { missing(t, now, 10, d3, d1) })
	t.Run("limit", func(t *testing.T) { missing(t, now, 1, d3) })

	v0, err := st.PriceVersion(ctx, "USD")
	if err != nil {
		t.Fatal(err)
	}
	p := Price{Currency: "USD", Time: d1.Add(12 * time.Hour), Cents: 6_200_000, Source: "test", FetchedAt: now}
	if err := st.SavePrice(ctx, p); err != nil {
		t.Fatal(err)
	}
	v1, _ := st.PriceVersion(ctx, "USD")
	if v1 == v0 {
		t.Errorf("price version did not change on save: %s", v1)
	}
	t.Run("one day priced", func(t *testing.T) { missing(t, now, 10, d3) })
	t.Run("other currency", func(t *testing.T) {
		got, _ := st.PriceDaysMissing(ctx, "EUR", now, 10)
		if len(got) != 2 {
			t.Errorf("EUR days without a price = %v", got)
		}
	})

	if err := st.SavePriceMiss(ctx, "USD", d3.Add(time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	t.Run("missed, before retry", func(t *testing.T) { missing(t, now, 10) })
	t.Run("missed, after retry", func(t *testing.T) { missing(t, now.Add(2*time.Hour), 10, d3) })

	got, err := st.PricesBetween(ctx, "USD", d1, d1.AddDate(0, 0, 1))
	if err != nil || len(got) != 1 || got[0] != p {
		t.Errorf("prices of day 1 = %+v, %v; want %+v", got, err, p)
	}
	if got, _ := st.PricesBetween(ctx, "USD", d3, d3.AddDate(0, 0, 1)); len(got) != 0 {
		t.Errorf("prices of day 3 = %+v", got)
	}
}
