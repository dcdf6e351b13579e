package alert

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden")

func mustHash(tb testing.TB, s string) chainhash.Hash {
	tb.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		tb.Fatal(err)
	}
	return *h
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestMessage(t *testing.T) {
	one := 1
	wl := &watcher.Watchlist{Network: watcher.Network{Params: &chaincfg.MainNetParams},
		Entities: []watcher.Entity{{ID: "sv-bitcoin-office", Name: "El Salvador", Country: "SV"}},
		HTTP:     watcher.HTTPConfig{PublicURL: "https://treasury.example", ExplorerTxURL: "https://mempool.space/tx/"}}
	a := &Alerter{wl: wl}
	rule := watcher.AlertConfig{Entity: "sv-bitcoin-office", Kinds: []watcher.Flow{watcher.Outflow, watcher.Mixed},
		MinBTC: 100 * 100_000_000, Confirmations: &one}
	fee := int64(2_180)
	row := store.Alert{ID: 7, Rule: rule.Key(), Entity: "sv-bitcoin-office",
		Txid: mustHash(t, "4f1e6b9c3a2d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"), Kind: "outflow",
		Amount: -10_000_002_180, Fee: &fee, Height: 870_123,
		BlockHash: mustHash(t, "00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"),
		BlockTime: time.Date(2026, 12, 6, 20, 1, 2, 0, time.FixedZone("CST", -6*3600)), State: store.AlertPending}
	asOf := watcher.AsOf{Height: 870_124, Hash: "000000000000000000029f8e7d6c5b4a392817160504f3e2d1c0b9a897867564",
		Time: time.Date(2026, 12, 6, 20, 9, 0, 0, time.UTC)}
	tests := []struct {
		name    string
		state   store.AlertState
		subject string
		id      string
	}{
		{"alert", store.AlertPending, "[treasurywatch] El Salvador: outflow 100.00002180 BTC at block 870123",
			"alert/sv-bitcoin-office/4f1e6b9c3a2d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f/7"},
		{"retraction", store.AlertRetracting, "[treasurywatch] RETRACTED El Salvador: outflow 100.00002180 BTC at block 870123",
			"alert/sv-bitcoin-office/4f1e6b9c3a2d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f/7/retraction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := row
			r.State = tt.state
			m, err := a.message(rule, r, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject || m.ID != tt.id || m.Kind != tt.name {
				t.Errorf("kind %q subject %q id %q; want %q %q %q", m.Kind, m.Subject, m.ID, tt.name, tt.subject, tt.id)
			}
			checkGolden(t, tt.name+".txt.golden", []byte(m.Text))
			checkGolden(t, tt.name+".json.golden", m.JSON)
		})
	}
}
