package watcher

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWatchlistPrice(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"bad url and currency", watchlistHead + "[price]\nurl = \"mempool.space/api/v1\"\ncurrency = \"XYZ\"\n", []string{
			`watchlist.toml:13: price url "mempool.space/api/v1" is not an absolute http(s) URL`,
			`watchlist.toml:14: price currency "XYZ" is not one of USD, EUR, GBP, CAD, CHF, AUD, JPY`}},
		{"no currency", watchlistHead + "[price]\nurl = \"https://mempool.space/api/v1\"\n", []string{
			`watchlist.toml:12: price: no currency (one of USD, EUR, GBP, CAD, CHF, AUD, JPY)`}},
		{"no url", watchlistHead + "[price]\ncurrency = \"USD\"\n", []string{
			`watchlist.toml:12: price: currency or refresh set without url (add url = "https://mempool.space/api/v1")`}},
		{"bad refresh", watchlistHead + "[price]\nurl = \"https://mempool.space/api/v1\"\ncurrency = \"USD\"\nrefresh = \"@every\"\n", nil},
		{"unknown key", watchlistHead + "[price]\nurl = \"https://mempool.space/api/v1\"\ncurrency = \"USD\"\napi_key = \"x\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "watchlist.toml")
			if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			got := watchlistProblemLines(t, path)
			if tt.want == nil { // only the line is checked
				if len(got) != 1 || got[0][:len("watchlist.toml:15")] != "watchlist.toml:15" {
					t.Fatalf("problems %q, want one at line 15", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestWatchlistPriceOK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchlist.toml")
	src := watchlistHead + "[price]\nurl = \"https://mempool.space/api/v1\"\ncurrency = \"EUR\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWatchlist(path)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Price.Enabled() || w.Price.Currency != "EUR" || w.Price.RefreshSchedule().Spec != DefaultPriceRefresh {
		t.Errorf("price %+v", w.Price)
	}
	w2, err := LoadWatchlist(writePriceWatchlist(t, watchlistHead))
	if err != nil {
		t.Fatal(err)
	}
	if w2.Price.Enabled() {
		t.Error("price enabled without [price]")
	}
}

func writePriceWatchlist(t *testing.T, s string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "watchlist.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
