package store

import (
	"context"
	"testing"
	"time"
)

func TestPrices(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	if _, ok, err := st.LatestPrice(ctx, "USD"); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	t1 := time.Unix(1_703_252_411, 0).UTC()
	t2 := t1.Add(15 * time.Minute)
	fetched := t2.Add(time.Second)
	for _, p := range []Price{
		{Currency: "USD", Time: t1, Cents: 4_375_300, Source: "mempool.space", FetchedAt: fetched},
		{Currency: "USD", Time: t2, Cents: 4_400_012, Source: "mempool.space", FetchedAt: fetched},
		{Currency: "EUR", Time: t2, Cents: 4_054_500, Source: "mempool.space", FetchedAt: fetched},
		{Currency: "USD", Time: t1, Cents: 4_375_301, Source: "other", FetchedAt: fetched}, // replaces
	} {
		if err := st.SavePrice(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SavePrice(ctx, Price{Currency: "USD", Time: t1}); err == nil {
		t.Error("saved a zero price")
	}
	p, ok, err := st.LatestPrice(ctx, "USD")
	if err != nil || !ok || p.Cents != 4_400_012 || !p.Time.Equal(t2) || !p.FetchedAt.Equal(fetched) || p.Source != "mempool.space" {
		t.Errorf("latest USD = %+v %v %v", p, ok, err)
	}
	p, ok, err = st.PriceAt(ctx, "USD", t2.Add(-time.Second))
	if err != nil || !ok || p.Cents != 4_375_301 || p.Source != "other" || !p.Time.Equal(t1) {
		t.Errorf("USD before t2 = %+v %v %v", p, ok, err)
	}
	p, ok, err = st.PriceAt(ctx, "USD", t2)
	if err != nil || !ok || p.Cents != 4_400_012 {
		t.Errorf("USD at t2 = %+v %v %v", p, ok, err)
	}
	if _, ok, err := st.PriceAt(ctx, "USD", t1.Add(-time.Second)); ok || err != nil {
		t.Errorf("before any price: ok=%v err=%v", ok, err)
	}
	if p, ok, _ := st.LatestPrice(ctx, "EUR"); !ok || p.Cents != 4_054_500 || p.Currency != "EUR" {
		t.Errorf("latest EUR = %+v", p)
	}
	if _, ok, _ := st.LatestPrice(ctx, "GBP"); ok {
		t.Error("GBP price from nowhere")
	}
}
