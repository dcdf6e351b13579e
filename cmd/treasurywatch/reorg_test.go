package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
	"github.com/treasurywatch/treasurywatch/web"
)

// Reorgs on a real competing chain: two btcd nodes share a history, part,
// and each mines its own branch; node A confirms a payment to a watched
// address, node B double-spends its input and mines a longer branch. Once
// the nodes meet again, the ledger that had stored A's branch must serve,
// after one sync, exactly what a ledger synced from scratch serves: every
// API answer, CSV, feed and page, with no trace of the dead branch.

// reorgFee is the fee of the doomed payment; its double spend pays twice.
const reorgFee = 1_000

// siteTargets lists every page and answer that depends on the ledger.
func siteTargets(entities []entitySpec) []string {
	paths := []string{"/", "/feed.atom", "/api/v1/summary", "/api/v1/entities"}
	for _, e := range entities {
		id := url.PathEscape(e.id)
		paths = append(paths, "/entity/"+id, "/entity/"+id+"/feed.atom", "/api/v1/entities/"+id,
			"/api/v1/entities/"+id+"/history", "/api/v1/entities/"+id+"/history.csv",
			"/api/v1/entities/"+id+"/flows", "/api/v1/entities/"+id+"/flows.csv")
		for _, k := range e.keys {
			a := url.PathEscape(k.Address.String())
			paths = append(paths, "/address/"+a, "/api/v1/addresses/"+a)
		}
	}
	return paths
}

// wallClock matches the only wall-clock figures the site shows: when the
// published ledger was written (last_success_at in JSON answers, the "Last
// successful sync" line of pages). Everything else is stated at a block.
var wallClock = []*regexp.Regexp{
	regexp.MustCompile(`"last_success_at":\s*"[^"]*"`),
	regexp.MustCompile(`Last successful sync: \d{4}-\d\d-\d\d \d\d:\d\d UTC`),
}

// blankWallClock blanks the wall-clock figures of a body and counts them.
func blankWallClock(body string, seen []int) string {
	for i, re := range wallClock {
		seen[i] += len(re.FindAllStringIndex(body, -1))
		body = re.ReplaceAllString(body, "<wall-clock>")
	}
	return body
}

// serveLedger serves the ledger of the watchlist cfg on loopback and
// returns every target's body, normalized.
func serveLedger(t *testing.T, cfg string, paths []string) map[string]string {
	t.Helper()
	wl, err := watcher.LoadWatchlist(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), wl.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := web.New(web.Config{Listen: "127.0.0.1:0", PublicURL: "https://treasury.example"}, wl, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := map[string]string{}
	seen := make([]int, len(wallClock))
	for _, p := range paths {
		resp, err := http.Get(srv.URL() + p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s\n%s", p, resp.Status, body)
		}
		out[p] = blankWallClock(string(body), seen)
	}
	for i, n := range seen {
		if n == 0 {
			t.Errorf("no answer has a wall-clock field like %s: blanking it hides nothing", wallClock[i])
		}
	}
	return out
}

// deadBranch lists the txids and block hashes of blocks as hex, for
// searching served bodies.
func deadBranch(t *testing.T, n chaintest.T, blocks []chainhash.Hash) []string {
	t.Helper()
	var ids []string
	for _, h := range blocks {
		ids = append(ids, h.String())
		var blk struct {
			Tx []string `json:"tx"`
		}
		if err := json.Unmarshal(n.RawRequest("getblock", h.String(), 1), &blk); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, blk.Tx...)
	}
	return ids
}

// doubleSpend signs a transaction spending the P2WPKH coin c of key to
// script, paying twice the doomed payment's fee.
func doubleSpend(t *testing.T, key *chaintest.Key, c chaintest.Coin, script []byte) string {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&c.OutPoint, nil, nil))
	tx.AddTxOut(wire.NewTxOut(int64(c.Value)-2*reorgFee, script))
	fetcher := txscript.NewCannedPrevOutputFetcher(key.Script, int64(c.Value))
	w, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, int64(c.Value),
		key.Script, txscript.SigHashAll, key.Priv[0], true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = w
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

// TestReorgCompetingChain runs the double spend at depths 1 to 6.
func TestReorgCompetingChain(t *testing.T) {
	nodeA := chaintest.StartTB(t, chaintest.Options{Listen: true})
	nodeB := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1})
	a, b := nodeA.T(t), nodeB.T(t)
	b.Connect(nodeA)
	chaintest.WaitSyncTB(t, nodeA, nodeB)

	var keys []*chaintest.Key
	for i := range 6 {
		keys = append(keys, a.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)]))
	}
	entities := []entitySpec{{"one", keys[:3]}, {"two", keys[3:]}}
	paths := siteTargets(entities)
	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, nodeA, "ledger.db", entities)

	for depth := 1; depth <= 6; depth++ {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			a, b := nodeA.T(t), nodeB.T(t)
			// Shared history: payments to watched addresses, and the coin
			// the doomed payment will spend, on both nodes.
			from := a.NewKey(chaintest.P2WPKH)
			away := a.NewKey(chaintest.P2WPKH)
			watched := keys[depth%len(keys)]
			fund := a.Pay(chaintest.Output{Script: from.Script, Value: 300_000},
				chaintest.Output{Script: keys[0].Script, Value: btcutil.Amount(10_000 * depth)},
				chaintest.Output{Script: keys[4].Script, Value: btcutil.Amount(20_000 * depth)})
			a.Mine()
			chaintest.WaitSyncTB(t, nodeA, nodeB)
			mustCLI(t, "sync", "-config", cfg, "-log-level", "error")

			// Apart: A confirms the payment in depth blocks, and the
			// ledger stores it.
			b.Disconnect(nodeA)
			coin := chaintest.CoinsOf(fund, from.Script)
			doomed := a.Spend(coin, []chaintest.Output{{Script: watched.Script, Value: coin[0].Value - reorgFee}}, reorgFee)
			fork := a.Height()
			deadBlocks := a.Generate(uint32(depth))
			dead := deadBranch(t, a, deadBlocks)
			if !strings.Contains(strings.Join(dead, " "), doomed.TxHash().String()) {
				t.Fatalf("the doomed payment %s is not in A's blocks", doomed.TxHash())
			}
			mustCLI(t, "sync", "-config", cfg, "-log-level", "error")
			stored := mustCLI(t, "history", "-config", cfg, "-address", watched.Address.String(), "-json")
			if !strings.Contains(stored, doomed.TxHash().String()) {
				t.Fatalf("the ledger did not store the doomed payment on A's branch:\n%s", stored)
			}

			// B double-spends its input and mines a longer branch.
			b.RawRequest("sendrawtransaction", doubleSpend(t, from, coin[0], away.Script))
			winning := b.Generate(uint32(depth + 1))
			b.Connect(nodeA)
			chaintest.WaitSyncTB(t, nodeA, nodeB)
			if tip := a.BlockHash(a.Height()); tip != winning[len(winning)-1] {
				t.Fatalf("A's tip after the reorg is %s, not B's %s", tip, winning[len(winning)-1])
			}
			for i, h := range deadBlocks {
				if a.BlockHash(fork+1+int64(i)) == h {
					t.Fatalf("block %s of A's branch is still on the best chain", h)
				}
			}
			// Before it syncs, the ledger still serves A's branch: what
			// the checks below look for is there to be found.
			stale := serveLedger(t, cfg, paths)
			shown := 0
			for _, p := range paths {
				if strings.Contains(stale[p], doomed.TxHash().String()) {
					shown++
				}
			}
			if shown == 0 {
				t.Fatalf("no answer of the ledger on A's branch shows the doomed payment %s", doomed.TxHash())
			}
			mustCLI(t, "sync", "-config", cfg, "-log-level", "error")

			freshDir := t.TempDir()
			fresh := writeWatchlist(t, freshDir, nodeA, "fresh.db", entities)
			mustCLI(t, "sync", "-config", fresh, "-log-level", "error")
			if got, want := dumpDB(t, filepath.Join(dir, "ledger.db")), dumpDB(t, filepath.Join(freshDir, "fresh.db")); got != want {
				t.Errorf("ledger after the reorg differs from a fresh sync:\n%s\n--- fresh:\n%s", got, want)
			}

			got, want := serveLedger(t, cfg, paths), serveLedger(t, fresh, paths)
			for _, p := range paths {
				if got[p] != want[p] {
					t.Errorf("GET %s after the reorg differs from a fresh ledger's:\n%s\n--- fresh:\n%s", p, got[p], want[p])
				}
				for _, id := range dead {
					if strings.Contains(got[p], id) || strings.Contains(got[p], id[:16]) {
						t.Errorf("GET %s shows %s of the dead branch", p, id)
					}
				}
			}
		})
		if t.Failed() {
			return
		}
	}
}
