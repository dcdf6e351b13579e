package esplora

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// newTestClient returns a client for url with fast retries and no rate
// limit unless cfg says otherwise.
func newTestClient(t *testing.T, url string, cfg Config) *Client {
	t.Helper()
	cfg.URL = url
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond, cfg.Burst = 1e6, 1000
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	c, err := New(cfg, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = time.Millisecond
	t.Cleanup(func() { c.Close() })
	return c
}

// serve starts a test server closed when the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hashOf(s string) chainhash.Hash { return chainhash.DoubleHashH([]byte(s)) }

func mustHash(t *testing.T, s string) chainhash.Hash {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}

func TestParseRecordedTransactions(t *testing.T) {
	var tx txJSON
	if err := json.Unmarshal(readTestdata(t, "tx_unconfirmed.json"), &tx); err != nil {
		t.Fatal(err)
	}
	if tx.Txid != "b6a53d8a8025c0c5b194345925a99741b645cae0b1f180f0613273029f2bf698" {
		t.Errorf("txid %s", tx.Txid)
	}
	if tx.Status == nil || tx.Status.Confirmed || tx.Status.BlockHeight != nil || tx.Status.BlockHash != nil || tx.Status.BlockTime != nil {
		t.Errorf("unconfirmed status parsed as %+v, want confirmed=false and no block fields", tx.Status)
	}

	c := newTestClient(t, "http://127.0.0.1:1", Config{})
	if _, err := c.confirmedItem("/x", tx); !errors.Is(err, ErrHistoryChanged) {
		t.Errorf("an unconfirmed tx on a chain page: error %v, want ErrHistoryChanged", err)
	}

	var conf txJSON
	if err := json.Unmarshal(readTestdata(t, "tx_confirmed_status.json"), &conf); err != nil {
		t.Fatal(err)
	}
	it, err := c.confirmedItem("/x", conf)
	if err != nil {
		t.Fatal(err)
	}
	if it.Height != 363348 || it.BlockHash != mustHash(t, "0000000000000000139385d7aa78ffb45469e0c715b8d6ea6cb2ffa98acc7171") ||
		it.Txid != mustHash(t, "15e10745f15593a899cef391191bdd3d7c12412cc4696b7bcb669d0feadc8521") || it.Tx != nil {
		t.Errorf("confirmed item %+v", it)
	}
}

// TestScripthash checks the /scripthash/ path against the Electrum
// protocol's scripthash vectors unreversed: Esplora takes the plain sha256.
func TestScripthash(t *testing.T) {
	for script, want := range map[string]string{
		"76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac": "6191c3b590bfcfa0475e877c302da1e323497acf3b42c08d8fa28e364edf018b",
		"00149f9aa3795e57c535d2f7b160ff023804c60fca6e":       "2d11a6d40c7c2a2001d9f208c46e9e364ea2a70d54102faaab276ac16ff24bf0",
		"a91423e522dfc6656a8fda3d47b4fa53f7585ac758cd87":     "09689aedb296cc5072d328ab1b102f9b5cd652b0745083dc3c5e81f7bbf27523",
	} {
		s, _ := hex.DecodeString(script)
		if got := scripthashPath(s); got != "/scripthash/"+want {
			t.Errorf("%s: %s, want /scripthash/%s", script, got, want)
		}
	}
}

func TestStatusesFromRecordedStats(t *testing.T) {
	stats := readTestdata(t, "address_stats.json")
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Write(stats)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	s, _ := hex.DecodeString("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac")
	got, err := c.Statuses(t.Context(), []watcher.Script{s, s})
	if err != nil {
		t.Fatal(err)
	}
	want := "c7/5/15007599040/5/15007599040 m0/0/0/0/0"
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("Statuses = %q, want %q twice", got, want)
	}
	if len(paths) != 1 || paths[0] != "/scripthash/6191c3b590bfcfa0475e877c302da1e323497acf3b42c08d8fa28e364edf018b" {
		t.Errorf("requests %v, want one for the scripthash", paths)
	}

	// Elements-style stats without sums still give a status; a
	// missing tx_count is refused.
	c2 := newTestClient(t, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"chain_stats":{"tx_count":3,"funded_txo_count":2,"spent_txo_count":1},"mempool_stats":{"tx_count":0}}`)
	})).URL, Config{})
	if got, err := c2.Statuses(t.Context(), []watcher.Script{s}); err != nil || got[0] != "c3/2/-/1/- m0/0/-/0/-" {
		t.Errorf("Statuses without sums = %q, %v", got, err)
	}
	c3 := newTestClient(t, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"chain_stats":{}}`)
	})).URL, Config{})
	if _, err := c3.Statuses(t.Context(), []watcher.Script{s}); err == nil || !strings.Contains(err.Error(), "lacks chain_stats or mempool_stats tx_count") {
		t.Errorf("Statuses of a bad answer: %v", err)
	}
}

// fakeTx is a confirmed transaction of fakeHistory.
type fakeTx struct {
	id     chainhash.Hash
	height int64
	block  chainhash.Hash
}

// fakeHistory serves one script's history from recorded-style data with
// knobs for the server faults the client must survive.
type fakeHistory struct {
	chain   []fakeTx          // chain order, oldest first
	mempool []json.RawMessage // served as is
	blocks  map[chainhash.Hash][]chainhash.Hash

	txCount      int64 // chain_stats.tx_count to claim; -1: len(chain)
	ignoreCursor bool  // answer page 1 whatever the cursor
	dropCursor   bool  // answer an empty page for any cursor
	cursor422    bool  // answer 422 for any cursor (mempool/electrs)

	mu    sync.Mutex
	paths []string
}

// newFakeHistory makes a history of n confirmed transactions, one block
// each except chain positions pair and pair+1, which share a block (and
// are served newest first, i.e. against block order).
func newFakeHistory(n, pair int) *fakeHistory {
	f := &fakeHistory{txCount: -1, blocks: make(map[chainhash.Hash][]chainhash.Hash)}
	height := int64(100)
	for i := 0; i < n; i++ {
		if i != pair+1 {
			height++
		}
		blk := hashOf(fmt.Sprintf("block %d", height))
		tx := fakeTx{id: hashOf(fmt.Sprintf("tx %d", i)), height: height, block: blk}
		f.chain = append(f.chain, tx)
		if len(f.blocks[blk]) == 0 {
			f.blocks[blk] = []chainhash.Hash{hashOf(fmt.Sprintf("coinbase %d", height))}
		}
		f.blocks[blk] = append(f.blocks[blk], tx.id)
	}
	return f
}

func (f *fakeHistory) requests(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.paths {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

func (f *fakeHistory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case parts[0] == "block" && len(parts) >= 2:
		hash := mustHashNoT(parts[1])
		ids, ok := f.blocks[hash]
		if !ok {
			http.Error(w, "Block not found", http.StatusNotFound)
			return
		}
		if len(parts) == 3 {
			json.NewEncoder(w).Encode(ids)
			return
		}
		var height int64
		for _, tx := range f.chain {
			if tx.block == hash {
				height = tx.height
			}
		}
		fmt.Fprintf(w, `{"id":%q,"height":%d,"timestamp":1700000000,"merkle_root":%q,"tx_count":%d}`, hash, height, merkleRoot(ids), len(ids))
	case parts[0] == "scripthash" && len(parts) == 2:
		n := f.txCount
		if n < 0 {
			n = int64(len(f.chain))
		}
		fmt.Fprintf(w, `{"scripthash":%q,"chain_stats":{"tx_count":%d,"funded_txo_count":0,"funded_txo_sum":0,"spent_txo_count":0,"spent_txo_sum":0},`+
			`"mempool_stats":{"tx_count":%d,"funded_txo_count":0,"funded_txo_sum":0,"spent_txo_count":0,"spent_txo_sum":0}}`, parts[1], n, len(f.mempool))
	case parts[0] == "scripthash" && len(parts) == 4 && parts[3] == "mempool":
		json.NewEncoder(w).Encode(f.mempool)
	case parts[0] == "scripthash" && len(parts) >= 4 && parts[3] == "chain":
		rows := slices.Clone(f.chain)
		slices.Reverse(rows) // newest first
		if len(parts) == 5 && f.cursor422 {
			http.Error(w, "after_txid not found", http.StatusUnprocessableEntity)
			return
		}
		if len(parts) == 5 && !f.ignoreCursor {
			cursor := mustHashNoT(parts[4])
			i := slices.IndexFunc(rows, func(tx fakeTx) bool { return tx.id == cursor })
			if i < 0 || f.dropCursor {
				rows = nil
			} else {
				rows = rows[i+1:]
			}
		}
		out := []json.RawMessage{}
		for _, tx := range rows[:min(len(rows), PageSize)] {
			out = append(out, json.RawMessage(fmt.Sprintf(`{"txid":%q,"vin":[],"vout":[],"status":{"confirmed":true,"block_height":%d,"block_hash":%q,"block_time":1700000000}}`,
				tx.id, tx.height, tx.block)))
		}
		json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

func mustHashNoT(s string) chainhash.Hash {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}
	}
	return *h
}

// TestHistoryPaging reads 60 confirmed transactions over three pages (25,
// 25, 10) with the last txid of each page as the cursor, restores block
// order for two transactions of one block split across pages, and appends
// the recorded unconfirmed transaction as a mempool item.
func TestHistoryPaging(t *testing.T) {
	f := newFakeHistory(60, 34) // chain 34 and 35 share a block: served 25th and 26th
	f.mempool = []json.RawMessage{readTestdata(t, "tx_unconfirmed.json")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	script := watcher.Script{0x51}
	got, err := c.Histories(t.Context(), []watcher.Script{script})
	if err != nil {
		t.Fatal(err)
	}
	h := got[0]
	if len(h) != 61 {
		t.Fatalf("%d items, want 61", len(h))
	}
	for i, tx := range f.chain {
		if h[i].Txid != tx.id || h[i].Height != tx.height || h[i].BlockHash != tx.block || h[i].Tx != nil {
			t.Errorf("item %d = %s@%d, want %s@%d", i, h[i].Txid, h[i].Height, tx.id, tx.height)
		}
	}
	m := h[60]
	if m.Txid != mustHash(t, "b6a53d8a8025c0c5b194345925a99741b645cae0b1f180f0613273029f2bf698") || m.Height != watcher.Mempool || m.BlockHash != (chainhash.Hash{}) {
		t.Errorf("mempool item %+v", m)
	}

	base := scripthashPath(script) + "/txs/chain"
	wantPages := []string{base, base + "/" + f.chain[35].id.String(), base + "/" + f.chain[10].id.String()}
	if pages := f.requests(base); !slices.Equal(pages, wantPages) {
		t.Errorf("pages requested:\n%s\nwant\n%s", strings.Join(pages, "\n"), strings.Join(wantPages, "\n"))
	}
	if txids := f.requests("/block/"); len(txids) != 2 { // the shared block's txids and header
		t.Errorf("block requests %v, want the shared block's txids and header", txids)
	}

	// A second read asks no block again (cached).
	if _, err := c.Histories(t.Context(), []watcher.Script{script}); err != nil {
		t.Fatal(err)
	}
	if txids := f.requests("/block/"); len(txids) != 2 {
		t.Errorf("block requests after a second read: %v", txids)
	}
}

// TestHistoryExactPage: 25 transactions need a second, empty page to know
// the history ended.
func TestHistoryExactPage(t *testing.T) {
	f := newFakeHistory(25, -5)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	got, err := c.Histories(t.Context(), []watcher.Script{{0x51}})
	if err != nil || len(got[0]) != 25 {
		t.Fatalf("%d items, %v", len(got[0]), err)
	}
	if n := len(f.requests(scripthashPath(watcher.Script{0x51}) + "/txs/chain")); n != 2 {
		t.Errorf("%d chain pages, want 2", n)
	}
}

func TestHistoryRepeatedPage(t *testing.T) {
	f := newFakeHistory(60, -5)
	f.ignoreCursor = true // as mempool's Electrum-backed API does for a cursor at index 0
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	_, err := c.Histories(t.Context(), []watcher.Script{{0x51}})
	if err == nil || !strings.Contains(err.Error(), "repeats transaction") || !strings.Contains(err.Error(), "refusing to loop") {
		t.Fatalf("error %v, want a refusal to loop", err)
	}
	if n := len(f.requests(scripthashPath(watcher.Script{0x51}) + "/txs/chain")); n != 2 {
		t.Errorf("%d chain pages, want 2", n)
	}
}

func TestHistoryVanishedCursor(t *testing.T) {
	f := newFakeHistory(60, -5)
	f.dropCursor = true // electrs: an unknown cursor (reorg) gives an empty page
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	_, err := c.Histories(t.Context(), []watcher.Script{{0x51}})
	if !errors.Is(err, ErrHistoryChanged) || !strings.Contains(err.Error(), "changed during paging (25 confirmed transactions read, the server counts 60") {
		t.Fatalf("error %v, want the history-changed error", err)
	}
	// Read again historyAttempts times, two pages each.
	if n := len(f.requests(scripthashPath(watcher.Script{0x51}) + "/txs/chain")); n != 2*historyAttempts {
		t.Errorf("%d chain pages, want %d", n, 2*historyAttempts)
	}
}

func TestHistoryCursor422(t *testing.T) {
	f := newFakeHistory(30, -5)
	f.cursor422 = true
	srv := serve(t, f)
	c := newTestClient(t, srv.URL, Config{})
	_, err := c.Histories(t.Context(), []watcher.Script{{0x51}})
	if !errors.Is(err, ErrHistoryChanged) || !strings.Contains(err.Error(), "the page cursor "+f.chain[5].id.String()+" is no longer in it") {
		t.Fatalf("error %v, want the history-changed error", err)
	}
	if n := len(f.requests(scripthashPath(watcher.Script{0x51}) + "/txs/chain")); n != 2*historyAttempts {
		t.Errorf("%d chain pages, want %d (no HTTP retry of a 422)", n, 2*historyAttempts)
	}
}

func TestHistoryCountMismatch(t *testing.T) {
	f := newFakeHistory(10, -5)
	f.txCount = 11
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	if _, err := c.Histories(t.Context(), []watcher.Script{{0x51}}); !errors.Is(err, ErrHistoryChanged) {
		t.Fatalf("error %v, want ErrHistoryChanged", err)
	}
}

// countingServer answers with fn and counts requests.
func countingServer(t *testing.T, fn func(w http.ResponseWriter, r *http.Request, n int64)) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn(w, r, n.Add(1))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const regtestGenesis = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"

func TestRetryAfter429(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n <= 2 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, regtestGenesis)
	})
	c := newTestClient(t, srv.URL, Config{Retries: 3})
	c.backoff = time.Hour // Retry-After: 0 must win over the backoff
	if err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3", n.Load())
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, regtestGenesis)
	})
	c := newTestClient(t, srv.URL, Config{})
	start := time.Now()
	if err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || n.Load() != 2 {
		t.Errorf("took %v in %d requests, want a 1 s wait and 2 requests", d, n.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":                              -1,
		"0":                             0,
		"7":                             7 * time.Second,
		"-3":                            -1,
		"soon":                          -1,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0, // in the past
	} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(future); got < 80*time.Second || got > 90*time.Second {
		t.Errorf("parseRetryAfter(%q) = %v, want about 90 s", future, got)
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c := newTestClient(t, srv.URL, Config{})
	_, err := c.Tip(t.Context())
	if err == nil || !strings.Contains(err.Error(), "asks to wait 1h0m0s before trying again; try later") || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1", n.Load())
	}
}

func TestServerErrorsBeyondRetries(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
	})
	c := newTestClient(t, srv.URL, Config{Retries: 3})
	_, err := c.Tip(t.Context())
	want := fmt.Sprintf(`esplora at %s: GET /blocks/tip/hash: server error "500 Internal Server Error": Internal Server Error (gave up after 4 tries)`, srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrUnreachable) || !hasStatus(err, 500) {
		t.Errorf("error does not wrap ErrUnreachable and the 500")
	}
	if n.Load() != 4 {
		t.Errorf("%d requests, want 4", n.Load())
	}
}

func TestNoRetries(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newTestClient(t, srv.URL, Config{Retries: -1})
	_, err := c.Tip(t.Context())
	want := fmt.Sprintf(`esplora at %s: GET /blocks/tip/hash: server error "503 Service Unavailable": (empty answer)`, srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1", n.Load())
	}
}

func TestTruncatedBody(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Content-Length", "64")
		fmt.Fprint(w, regtestGenesis[:10]) // the connection closes early
	})
	c := newTestClient(t, srv.URL, Config{Retries: 1})
	err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams)
	if err == nil || !strings.Contains(err.Error(), "GET /block-height/0: the answer was cut off (truncated body) (gave up after 2 tries)") {
		t.Fatalf("error %v", err)
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
}

func TestOversizedBody(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprint(w, "[", strings.Repeat(`"`+regtestGenesis+`",`, 100), "]")
	})
	c := newTestClient(t, srv.URL, Config{MaxResponseBytes: 1000})
	_, err := c.BlockTxids(t.Context(), hashOf("x"))
	if err == nil || !strings.Contains(err.Error(), "the answer is larger than 1000 bytes (MaxResponseBytes); refusing it") {
		t.Fatalf("error %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1 (no retry)", n.Load())
	}
}

func TestSlowServer(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := newTestClient(t, srv.URL, Config{Timeout: 50 * time.Millisecond, Retries: 1})
	start := time.Now()
	_, err := c.Tip(t.Context())
	if err == nil || !strings.Contains(err.Error(), "GET /blocks/tip/hash: no whole answer within 50ms (gave up after 2 tries)") || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 3*time.Second || n.Load() != 2 {
		t.Errorf("took %v in %d requests", d, n.Load())
	}
}

func TestCallerCancelIsNotRetried(t *testing.T) {
	release := make(chan struct{})
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := newTestClient(t, srv.URL, Config{Retries: 5})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Tip(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the caller's deadline", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1", n.Load())
	}
}

func TestRateLimit(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprint(w, regtestGenesis)
	})
	c := newTestClient(t, srv.URL, Config{RatePerSecond: 20, Burst: 1})
	start := time.Now()
	for range 5 {
		if err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("5 requests at 20/s took %v, want at least 200 ms", d)
	}
}

func TestConcurrencyBound(t *testing.T) {
	var inFlight, most atomic.Int64
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		w.Write([]byte(`{"chain_stats":{"tx_count":0},"mempool_stats":{"tx_count":0}}`))
	})
	c := newTestClient(t, srv.URL, Config{Concurrency: 2})
	var scripts []watcher.Script
	for i := range 12 {
		scripts = append(scripts, watcher.Script{byte(i)})
	}
	if _, err := c.Statuses(t.Context(), scripts); err != nil {
		t.Fatal(err)
	}
	if m := most.Load(); m > 2 {
		t.Errorf("%d requests in flight at once, want at most 2", m)
	}
	if c.Requests() != 12 || c.Calls()["GET /scripthash/:h"] != 12 {
		t.Errorf("counted %d requests: %s", c.Requests(), c.Calls())
	}
}

func TestUserAgentAndName(t *testing.T) {
	var ua atomic.Value
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		ua.Store(r.UserAgent())
		fmt.Fprint(w, regtestGenesis)
	})
	c := newTestClient(t, srv.URL, Config{})
	if err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams); err != nil {
		t.Fatal(err)
	}
	if got := ua.Load(); got != "treasurywatch/dev (+https://github.com/treasurywatch/treasurywatch)" {
		t.Errorf("User-Agent %q", got)
	}
	c = newTestClient(t, srv.URL, Config{UserAgent: UserAgent("1.2.3")})
	if err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams); err != nil {
		t.Fatal(err)
	}
	if got := ua.Load(); got != "treasurywatch/1.2.3 (+https://github.com/treasurywatch/treasurywatch)" {
		t.Errorf("User-Agent %q", got)
	}

	c, err := New(Config{URL: "https://user:secret@esplora.example/api/"}, &chaincfg.MainNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "esplora https://esplora.example/api" {
		t.Errorf("Name() = %q", c.Name())
	}
	for _, bad := range []string{"", "esplora.example", "ftp://x/api", "https://x/api?x=1", "https://user:secret@/api"} {
		if _, err := New(Config{URL: bad}, &chaincfg.MainNetParams, nil); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("New(%q): %v", bad, err)
		}
	}
}

func TestCheckNetworkOtherChain(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.URL.Path != "/block-height/0" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, chaincfg.MainNetParams.GenesisHash.String())
	})
	c := newTestClient(t, srv.URL, Config{})
	err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams)
	want := "esplora at " + srv.URL + " is on another chain (genesis 000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f), not the watchlist's regtest; refusing to sync"
	if err == nil || err.Error() != want || !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func TestNotFound(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		http.Error(w, "Block not found", http.StatusNotFound)
	})
	c := newTestClient(t, srv.URL, Config{})
	ctx := t.Context()
	if _, err := c.BlockAt(ctx, 7); !errors.Is(err, watcher.ErrNotFound) || err.Error() != "esplora at "+srv.URL+": no block at height 7" {
		t.Errorf("BlockAt: %v", err)
	}
	if _, err := c.BlockAt(ctx, -1); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("BlockAt(-1): %v", err)
	}
	if _, err := c.BlockTxids(ctx, hashOf("b")); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("BlockTxids: %v", err)
	}
	if _, err := c.Transactions(ctx, []chainhash.Hash{hashOf("t")}); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("Transactions: %v", err)
	}
	if c.Requests() != 3 {
		t.Errorf("%d requests, want 3 (no retry of a 404)", c.Requests())
	}
}

func TestTransactionMismatch(t *testing.T) {
	// A valid transaction, but not the one asked for.
	const txHex = "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0100ffffffff0100000000000000000000000000"
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request, n int64) { fmt.Fprint(w, txHex) })
	c := newTestClient(t, srv.URL, Config{})
	_, err := c.Transactions(t.Context(), []chainhash.Hash{hashOf("t")})
	if err == nil || !strings.Contains(err.Error(), "refusing it") {
		t.Fatalf("error %v", err)
	}
}

func TestBlockTxidsMerkleCheck(t *testing.T) {
	f := newFakeHistory(3, 0)
	blk := f.chain[0].block
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/txids") {
			ids := slices.Clone(f.blocks[blk])
			ids[1], ids[2] = ids[2], ids[1] // wrong order
			json.NewEncoder(w).Encode(ids)
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	if _, err := c.BlockTxids(t.Context(), blk); err == nil || !strings.Contains(err.Error(), "do not match the block's merkle root") {
		t.Fatalf("error %v", err)
	}
	good := newTestClient(t, serve(t, f).URL, Config{})
	ids, err := good.BlockTxids(t.Context(), blk)
	if err != nil || !slices.Equal(ids, f.blocks[blk]) {
		t.Fatalf("BlockTxids = %v, %v", ids, err)
	}
}
