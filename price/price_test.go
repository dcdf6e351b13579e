package price

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

func TestCents(t *testing.T) {
	for in, want := range map[string]int64{"43753": 4_375_300, "2254.9": 225_490, "0.01": 1, "1964": 196_400,
		"1.005": 101, "1.004": 100, "1.5e3": 150_000, "6218341": 621_834_100, "0.1": 10, "2254.90": 225_490} {
		got, err := Cents(in)
		if err != nil || got != want {
			t.Errorf("Cents(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "1/3", "1e30", "NaN"} {
		if got, err := Cents(in); err == nil {
			t.Errorf("Cents(%q) = %d, want an error", in, got)
		}
	}
}

func TestValue(t *testing.T) {
	for _, c := range []struct{ sat, cents, want int64 }{
		{100_000_000, 4_375_300, 4_375_300},
		{5_000_000_000_000, 4_375_300, 218_765_000_000}, // 50,000 BTC: $2,187,650,000.00
		{1, 4_375_300, 0},
		{50, 1_000_000, 1}, // 0.5 cent rounds up
		{-50, 1_000_000, -1},
		{2_100_000_000_000_000, maxCents, 1<<63 - 1}, // saturates
	} {
		if got := Value(c.sat, c.cents); got != c.want {
			t.Errorf("Value(%d, %d) = %d, want %d", c.sat, c.cents, got, c.want)
		}
	}
}

// source serves the recorded answers; its handler can be swapped.
func source(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.Header.Get("User-Agent"), "treasurywatch") {
				http.Error(w, "no user agent", http.StatusForbidden)
				return
			}
			name := strings.TrimPrefix(r.URL.Path, "/api/v1/")
			if name == "historical-price" && (r.URL.Query().Get("currency") != "EUR" || r.URL.Query().Get("timestamp") != "1500000000") {
				http.Error(w, "unexpected query "+r.URL.RawQuery, http.StatusBadRequest)
				return
			}
			data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(data)
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestClient(t *testing.T) {
	srv := source(t, nil)
	c := NewClient(srv.URL + "/api/v1/")
	fetched := time.Date(2026, 11, 27, 18, 40, 0, 0, time.UTC)
	c.Now = func() time.Time { return fetched }
	ctx := context.Background()
	p, err := c.Current(ctx, "USD")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Price{Currency: "USD", Time: time.Unix(1703252411, 0).UTC(), Cents: 4_375_300, Source: "127.0.0.1", FetchedAt: fetched}
	if p != want {
		t.Errorf("current = %+v, want %+v", p, want)
	}
	if p, err := c.Current(ctx, "JPY"); err != nil || p.Cents != 621_834_100 {
		t.Errorf("JPY = %+v, %v", p, err)
	}
	if _, err := c.Current(ctx, "XYZ"); err == nil {
		t.Error("a currency the source does not have")
	}
	h, err := c.Historical(ctx, "EUR", time.Unix(1500000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if h.Cents != 196_400 || !h.Time.Equal(time.Unix(1499904000, 0)) || h.Currency != "EUR" {
		t.Errorf("historical = %+v", h)
	}
}

func TestClientSourceDown(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) }},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>maintenance</html>")) }},
		{"no time", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"USD": 43753}`)) }},
		{"string price", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"time": 1703252411, "USD": "lots"}`)) }},
		{"zero price", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"time": 1703252411, "USD": 0}`)) }},
		{"negative price", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"time": 1703252411, "USD": -5}`)) }},
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"time": 1703252411, "USD": 43753, "pad": "` + strings.Repeat("x", 100<<10) + `"}`))
		}},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := source(t, tt.h)
			c := NewClient(srv.URL)
			c.HTTP.Timeout = 200 * time.Millisecond
			st := openStore(t)
			r := NewRefresher(c, st, "USD", watcher.Schedule{}, nil)
			start := time.Now()
			if p, err := r.Refresh(ctx); err == nil {
				t.Fatalf("refresh succeeded: %+v", p)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("refresh took %s", d)
			}
			if p, ok, err := st.LatestPrice(ctx, "USD"); ok || err != nil {
				t.Errorf("stored %+v (err %v)", p, err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		if _, err := NewClient(u).Current(ctx, "USD"); err == nil {
			t.Error("a closed server answered")
		}
	})
}

func TestRefresher(t *testing.T) {
	srv := source(t, nil)
	st := openStore(t)
	sched, err := watcher.ParseSchedule("@every 1h")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRefresher(NewClient(srv.URL+"/api/v1"), st, "EUR", sched, nil)
	r.Open()
	deadline := time.Now().Add(10 * time.Second)
	var p store.Price
	for {
		var ok bool
		if p, ok, err = st.LatestPrice(context.Background(), "EUR"); err != nil {
			t.Fatal(err)
		} else if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no price stored after Open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Close()
	r.Close() // twice is fine
	if p.Cents != 4_054_500 || p.Currency != "EUR" {
		t.Errorf("stored %+v", p)
	}
}
