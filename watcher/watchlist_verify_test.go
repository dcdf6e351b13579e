package watcher

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// verifyWatchlist is a watchlist with two backends and the given verify
// line (line 2).
func verifyWatchlist(verify string) string {
	return "network = \"mainnet\"\n" + verify + "\n" + `[[backends]]
kind = "btcd"
url = "http://127.0.0.1:8334"
user = "u"
password = "p"
[[backends]]
kind = "esplora"
url = "https://blockstream.info/api"
[[entities]]
id = "sv"
name = "El Salvador"
[[entities.addresses]]
address = "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo"
`
}

func TestWatchlistVerifyProblems(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
	}{
		{"more than backends", "verify = 3", []string{
			`watchlist.toml:2: verify = 3 needs 3 backends, but the watchlist names 2 backends: add [[backends]] or lower verify`}},
		{"zero", "verify = 0", []string{`watchlist.toml:2: verify = 0: want a number of backends from 1 up, or "all"`}},
		{"negative", "verify = -2", []string{`watchlist.toml:2: verify = -2: want a number of backends from 1 up, or "all"`}},
		{"unknown word", `verify = "most"`, []string{`watchlist.toml:2: verify = "most": want "all" or a number of backends`}},
		{"float", "verify = 1.5", []string{`watchlist.toml:2: "verify" must be an integer or "all", not a float`}},
		{"boolean", "verify = true", []string{`watchlist.toml:2: "verify" must be an integer or "all", not a boolean`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "watchlist.toml")
			if err := os.WriteFile(path, []byte(verifyWatchlist(tt.line)), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := watchlistProblemLines(t, path); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestWatchlistVerifyOK(t *testing.T) {
	tests := []struct {
		name, line string
		want       VerifyQuorum
		need       int
	}{
		{"unset", "", 0, 1},
		{"one", "verify = 1", 1, 1},
		{"two", "verify = 2", 2, 2},
		{"all", `verify = "all"`, VerifyAll, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "watchlist.toml")
			if err := os.WriteFile(path, []byte(verifyWatchlist(tt.line)), 0o600); err != nil {
				t.Fatal(err)
			}
			w, err := LoadWatchlist(path)
			if err != nil {
				t.Fatal(err)
			}
			if w.Verify != tt.want || w.Verify.Need(len(w.Backends)) != tt.need {
				t.Errorf("verify %v (need %d), want %v (need %d)", w.Verify, w.Verify.Need(len(w.Backends)), tt.want, tt.need)
			}
		})
	}
}
