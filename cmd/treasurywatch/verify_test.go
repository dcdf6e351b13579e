package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/alert"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// verifySummary is the part of /api/v1/summary about cross-checks.
type verifySummary struct {
	AsOf  watcher.AsOf `json:"as_of"`
	Total int64        `json:"total_confirmed_sat"`
	Sync  struct {
		LastAttempt *struct {
			OK       bool   `json:"ok"`
			Error    string `json:"error"`
			Backend  string `json:"backend"`
			Failover string `json:"failover"`
		} `json:"last_attempt"`
	} `json:"sync"`
	Verification *struct {
		Sources int    `json:"sources"`
		Height  int64  `json:"height"`
		Hash    string `json:"hash"`
	} `json:"verification"`
	Incident *struct {
		Entity  string `json:"entity"`
		Height  int64  `json:"height"`
		Summary string `json:"summary"`
		Figures []struct {
			Backend      string `json:"backend"`
			ConfirmedSat int64  `json:"confirmed_sat"`
		} `json:"figures"`
	} `json:"incident"`
}

// waitSummary polls the summary until ok accepts it.
func (d *testDaemon) waitSummary(t *testing.T, what string, ok func(s verifySummary) bool) verifySummary {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var s verifySummary
	for {
		s = verifySummary{}
		resp, err := http.Get(d.base + "/api/v1/summary")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&s)
		}
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(s)
			t.Fatalf("waiting for %s: summary %s\nstderr: %s", what, b, d.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hideTx makes p, a proxy in front of Esplora, a consistent liar about
// one script: its confirmed history and its counters leave out tx.
func hideTx(p *faultProxy, script []byte, tx chainhash.Hash, value int64) faultFunc {
	sum := sha256.Sum256(script)
	base := "/scripthash/" + hex.EncodeToString(sum[:])
	return func(w http.ResponseWriter, r *http.Request, _ int) bool {
		if r.URL.Path != base && !strings.HasPrefix(r.URL.Path, base+"/txs/chain") {
			return false
		}
		rec := p.record(r)
		var out any
		if r.URL.Path == base {
			var st map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				return false
			}
			c, ok := st["chain_stats"].(map[string]any)
			if !ok {
				return false
			}
			c["tx_count"] = c["tx_count"].(float64) - 1
			c["funded_txo_count"] = c["funded_txo_count"].(float64) - 1
			c["funded_txo_sum"] = c["funded_txo_sum"].(float64) - float64(value)
			out = st
		} else {
			var page []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				return false
			}
			kept := []map[string]any{}
			for _, e := range page {
				if e["txid"] != tx.String() {
					kept = append(kept, e)
				}
			}
			out = kept
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
		return true
	}
}

// deadURL returns a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func btcdBackend(addr string, n *chaintest.Node) string {
	return fmt.Sprintf("kind = \"btcd\"\nurl = \"http://%s\"\nuser = %q\npassword = %q\n", addr, n.User, n.Pass)
}

// TestVerifiedSyncs runs the daemon over btcd and Esplora serving one
// chain, with verify = "all": agreeing sources publish a verified block;
// an Esplora that hides one transaction holds the new block back (the API
// keeps answering the last agreed block, the page warns) and opens one
// incident; when it tells the truth again the block is published and the
// incident resolved.
func TestVerifiedSyncs(t *testing.T) {
	n, k, proxy, dir, cfg := verifiedWatchlist(t, chaintest.P2WPKH, 5_000_000, `verify = "all"`)

	// Newsrooms subscribed to alerts hear of the dispute and of its end.
	var mu sync.Mutex
	var notices []alert.IncidentPayload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.IncidentPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err == nil && p.Type == alert.KindIncident {
			mu.Lock()
			notices = append(notices, p)
			mu.Unlock()
		}
	}))
	defer hook.Close()
	received := func() []alert.IncidentPayload {
		mu.Lock()
		defer mu.Unlock()
		return append([]alert.IncidentPayload(nil), notices...)
	}

	d := startTestDaemon(t, cfg, "[report_delivery]\nwebhook_url = \""+hook.URL+"\"\n[[alerts]]\nmin_btc = 1000\n")
	h1 := n.Height()
	first := d.waitSummary(t, "a verified first sync", func(s verifySummary) bool {
		return s.AsOf.Height == h1 && s.Verification != nil
	})
	if v := first.Verification; v.Sources != 2 || v.Height != h1 || v.Hash != first.AsOf.Hash || first.Total != 5_000_000 {
		t.Fatalf("verification %+v, as of %+v, total %d", v, first.AsOf, first.Total)
	}
	page := d.get(t, "/")
	if want := fmt.Sprintf("Checked against 2 independent sources at block <strong>%d</strong>", h1); !strings.Contains(page, want) {
		t.Errorf("home page lacks %q", want)
	}
	if about := d.get(t, "/about"); !strings.Contains(about, "checked against 2 independent sources") {
		t.Error("/about does not say the figures were checked")
	}
	if _, err := os.Stat(filepath.Join(dir, "ledger.db.verify-esplora-2")); err != nil {
		t.Errorf("no shadow ledger: %v", err)
	}

	// The lie: Esplora leaves out the next payment to the reserve.
	tx := n.Pay(chaintest.Output{Script: k.Script, Value: 1_000})
	proxy.set(hideTx(proxy, k.Script, tx.TxHash(), 1_000))
	n.Mine()
	h2 := n.Height()
	held := d.waitSummary(t, "an incident", func(s verifySummary) bool { return s.Incident != nil })
	if held.AsOf.Height != h1 || held.Total != 5_000_000 {
		t.Errorf("disputed figures published: as of %d, total %d; want %d, 5000000", held.AsOf.Height, held.Total, h1)
	}
	inc := held.Incident
	if inc.Entity != "reserve" || inc.Height != h2 || len(inc.Figures) != 2 ||
		inc.Figures[0].ConfirmedSat != 5_001_000 || inc.Figures[1].ConfirmedSat != 5_000_000 ||
		!strings.HasPrefix(inc.Figures[0].Backend, "btcd ") || !strings.HasPrefix(inc.Figures[1].Backend, "esplora ") {
		t.Errorf("incident %+v", inc)
	}
	if a := held.Sync.LastAttempt; a == nil || a.OK || !strings.Contains(a.Error, "held back") {
		t.Errorf("last attempt %+v, want a failed one saying the figures are held back", a)
	}
	if page := d.get(t, "/"); !strings.Contains(page, "newer figures are held back because the sources disagree") {
		t.Error("home page does not warn about the disagreement")
	}
	time.Sleep(2 * time.Second) // a few more syncs of the same dispute

	// The truth again: the block is published, the incident resolved.
	proxy.set(nil)
	final := d.waitSummary(t, "the agreed new block", func(s verifySummary) bool {
		return s.AsOf.Height == h2 && s.Incident == nil && s.Verification != nil && s.Verification.Height == h2
	})
	if final.Total != 5_001_000 {
		t.Errorf("total %d, want 5001000", final.Total)
	}
	waitUntil(t, "the resolution notice", func() bool { return len(received()) >= 2 })
	d.stop(t)
	if got := received(); len(got) != 2 || got[0].State != "opened" || got[1].State != "resolved" ||
		got[0].Incident != got[1].Incident || got[0].Entity != "reserve" || got[0].Height != h2 ||
		len(got[0].Figures) != 2 || got[1].Resolved == nil {
		t.Errorf("incident notices %+v; want one opened at %d for reserve, then its resolution", got, h2)
	}

	st, err := store.Open(t.Context(), filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Incidents(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ResolvedAt.IsZero() || all[0].Entity != "reserve" {
		t.Errorf("incidents %+v, want one, resolved", all)
	}
	if got := bytes.Count([]byte(d.stderr.String()), []byte("sources disagree")); got != 1 {
		t.Errorf("the disagreement was logged %d times, want once:\n%s", got, d.stderr.String())
	}
}

// TestFailover: the primary btcd is down, so the next backend serves the
// sync, and the page and API say so. With verify = 2 the third backend
// (Esplora) still cross-checks the figures.
func TestFailover(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(chaintest.P2TR)
	n.Pay(chaintest.Output{Script: k.Script, Value: 7_000_000})
	n.Mine()
	esp := esploratest.Start(t, n.Node)
	dead := deadURL(t)

	tests := []struct {
		name, verify, backends string
		sources                int
	}{
		{"no cross-check", "", btcdBackend(dead, n.Node) + "[[backends]]\n" + esploraBackend(esp.URL, "10s"), 0},
		{"verify 2", "verify = 2\n", btcdBackend(dead, n.Node) + "[[backends]]\n" + esploraBackend(esp.URL, "10s") +
			"[[backends]]\n" + btcdBackend(n.RPCAddr, n.Node), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeWatchlistWith(t, dir, tt.backends, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
			prependTOML(t, cfg, tt.verify)
			d := startTestDaemon(t, cfg, "")
			h := n.Height()
			s := d.waitSummary(t, "a sync served by Esplora", func(s verifySummary) bool {
				return s.AsOf.Height == h && s.Sync.LastAttempt != nil && s.Sync.LastAttempt.OK
			})
			a := s.Sync.LastAttempt
			want := "served by esplora " + esp.URL + " because btcd http://" + dead + " failed: "
			if !strings.HasPrefix(a.Failover, want) || !strings.HasPrefix(a.Backend, "esplora ") || s.Total != 7_000_000 {
				t.Errorf("last attempt %+v, total %d; want failover note %q…", a, s.Total, want)
			}
			switch {
			case tt.sources == 0 && s.Verification != nil:
				t.Errorf("verification %+v without verify", s.Verification)
			case tt.sources > 0 && (s.Verification == nil || s.Verification.Sources != tt.sources):
				t.Errorf("verification %+v, want %d sources", s.Verification, tt.sources)
			}
			if page := d.get(t, "/"); !strings.Contains(page, "Last sync served by esplora") {
				t.Error("home page does not say which backend served the sync")
			}
			// The dead primary's failures and the secondary's answers
			// are in the metrics.
			metrics := d.get(t, "/metrics")
			for _, want := range []string{
				`treasurywatch_backend_requests_total{backend="btcd http://` + dead + `",outcome="error"} `,
				`treasurywatch_backend_requests_total{backend="esplora ` + esp.URL + `",outcome="ok"} `,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

// TestSyncCommandVerified: the one-shot `sync` publishes only figures the
// backends agree on, says what it checked, and exits 1 while a
// disagreement holds the new block back.
func TestSyncCommandVerified(t *testing.T) {
	n, k, proxy, _, cfg := verifiedWatchlist(t, chaintest.P2PKH, 3_000_000, "verify = 2")

	asOf := func() (int64, int64) {
		t.Helper()
		var b watcher.Balances
		if err := json.Unmarshal([]byte(mustCLI(t, "balances", "-config", cfg, "-json")), &b); err != nil {
			t.Fatal(err)
		}
		return b.AsOf.Height, b.Entities[0].ConfirmedSat
	}
	h1 := n.Height()
	if out := mustCLI(t, "sync", "-config", cfg, "-log-level", "error"); !strings.Contains(out,
		fmt.Sprintf("checked against 2 independent sources at block %d", h1)) {
		t.Errorf("sync printed %q", out)
	}

	tx := n.Pay(chaintest.Output{Script: k.Script, Value: 2_000})
	proxy.set(hideTx(proxy, k.Script, tx.TxHash(), 2_000))
	n.Mine()
	_, stderr, code := runCLI(t, "sync", "-config", cfg, "-log-level", "error")
	if code != 1 || !strings.Contains(stderr, "figures held back, not published: the balance of reserve at block") {
		t.Errorf("sync with a lying source: exit %d, stderr %q", code, stderr)
	}
	if h, sat := asOf(); h != h1 || sat != 3_000_000 {
		t.Errorf("after the disputed sync: block %d, %d sat; want %d, 3000000", h, sat, h1)
	}

	proxy.set(nil)
	h2 := n.Height()
	if out := mustCLI(t, "sync", "-config", cfg, "-log-level", "error"); !strings.Contains(out,
		fmt.Sprintf("checked against 2 independent sources at block %d", h2)) {
		t.Errorf("sync printed %q", out)
	}
	if h, sat := asOf(); h != h2 || sat != 3_002_000 {
		t.Errorf("after agreement: block %d, %d sat; want %d, 3002000", h, sat, h2)
	}
}

// verifiedWatchlist starts a regtest btcd paying value to one key of kind
// and an Esplora over the same chain behind a proxy that can be told to
// lie, and writes a watchlist (entity "reserve") naming btcd, then the
// proxy, under the top-level verify line.
func verifiedWatchlist(t *testing.T, kind chaintest.Kind, value btcutil.Amount, verify string) (chaintest.T, *chaintest.Key, *faultProxy, string, string) {
	t.Helper()
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(kind)
	n.Pay(chaintest.Output{Script: k.Script, Value: value})
	n.Mine()
	proxy := newFaultProxy(t, esploratest.Start(t, n.Node).URL)
	dir := t.TempDir()
	backends := btcdBackend(n.RPCAddr, n.Node) + "[[backends]]\n" + esploraBackend(proxy.URL, "10s")
	cfg := writeWatchlistWith(t, dir, backends, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
	prependTOML(t, cfg, verify+"\n")
	return n, k, proxy, dir, cfg
}

// prependTOML puts top-level keys before the watchlist's first table.
func prependTOML(t *testing.T, cfg, text string) {
	t.Helper()
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append([]byte(text), body...), 0o644); err != nil {
		t.Fatal(err)
	}
}
