package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/alert"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestDaemonAlerts runs `treasurywatch run` with an [[alerts]] rule: the
// history present at start is not announced, a payment mined while it runs
// is POSTed to the webhook once, with its figures.
func TestDaemonAlerts(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(chaintest.P2WPKH)
	n.Pay(chaintest.Output{Script: k.Script, Value: 5_000_000})
	n.Mine()

	var mu sync.Mutex
	var posts []alert.Payload
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.Payload
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil || r.Header.Get("Idempotency-Key") != p.ID {
			http.Error(w, "bad alert", http.StatusBadRequest)
			return
		}
		mu.Lock()
		posts = append(posts, p)
		mu.Unlock()
	}))
	defer recv.Close()
	received := func() []alert.Payload {
		mu.Lock()
		defer mu.Unlock()
		return append([]alert.Payload(nil), posts...)
	}

	cfg := writeWatchlist(t, t.TempDir(), n.Node, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
	d := startTestDaemon(t, cfg, "[report_delivery]\nwebhook_url = \""+recv.URL+"\"\n[[alerts]]\nentity = \"reserve\"\nmin_btc = 0.01\n",
		"-log-level", "warn")
	base := d.base

	// The rule starts at the first synced tip: the payment above is history.
	tip := n.Height()
	waitUntil(t, "the first sync", func() bool {
		resp, err := http.Get(base + "/api/v1/summary")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var s struct {
			AsOf struct {
				Height int64 `json:"height"`
			} `json:"as_of"`
		}
		return json.NewDecoder(resp.Body).Decode(&s) == nil && s.AsOf.Height == tip
	})
	pay := n.Pay(chaintest.Output{Script: k.Script, Value: 2_000_000})
	block := n.Mine()
	waitUntil(t, "the alert", func() bool { return len(received()) > 0 })
	time.Sleep(2500 * time.Millisecond) // two more syncs: no duplicate
	got := received()
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(got), got)
	}
	p := got[0]
	if p.Txid != pay.TxHash().String() || p.Block.Hash != block.String() || p.AmountSat != 2_000_000 ||
		p.Kind != "inflow" || p.Entity.ID != "reserve" {
		t.Errorf("alert %+v; want inflow of 2000000 sat in %s (tx %s)", p, block, pay.TxHash())
	}

	d.stop(t)
}

// TestCheckAlerts: `check` reports bad [[alerts]] rules with file:line and
// exits non-zero.
func TestCheckAlerts(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1}).T(t)
	k := n.NewKey(chaintest.P2WPKH)
	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, n.Node, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
	body, _ := os.ReadFile(cfg)
	lines := strings.Count(string(body), "\n")
	body = append(body, []byte("[[alerts]]\nentity = \"treasury\"\nkinds = [\"theft\"]\nmin_btc = 0.123456789\nconfirmations = 0\ndeliver = [\"webhook\"]\n")...)
	if err := os.WriteFile(cfg, body, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, "check", "-config", cfg)
	if code == 0 {
		t.Fatal("check accepted bad alert rules")
	}
	for i, want := range []string{
		`alert: unknown entity "treasury"`,
		`alert: unknown kind "theft"`,
		`min_btc: 0.123456789 BTC has more than 8 decimals`,
		`alert: confirmations = 0 is not allowed`,
		`alert: deliver "webhook" needs [report_delivery] webhook_url`,
	} {
		line := "watchlist.toml:" + strconv.Itoa(lines+2+i) + ": "
		if !strings.Contains(errs, line+want) {
			t.Errorf("check output lacks %q:\n%s", line+want, errs)
		}
	}
}

// waitUntil polls cond for up to 30 seconds.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
