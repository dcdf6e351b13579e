package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Fault tests at the product level: `treasurywatch sync` against an
// Esplora or Electrum server that misbehaves after a good first sync and a
// new block. A sync that cannot finish must exit 1 with one clear line on
// stderr (no stack trace) and leave the ledger byte for byte as it was; a
// fault the client may ride out (429 with Retry-After, a body cut off once)
// must not fail the sync nor change what it stores.

// faultFunc handles a request instead of the real server and returns true,
// or returns false to let it through. n counts the requests for the same
// path since the fault was set, from 1.
type faultFunc func(w http.ResponseWriter, r *http.Request, n int) bool

// faultProxy is an HTTP front of an esploratest server (a reverse proxy)
// that lets a test switch a fault on and off.
type faultProxy struct {
	*httptest.Server
	upstream *httputil.ReverseProxy

	mu    sync.Mutex
	fault faultFunc
	hits  map[string]int // requests per path since the fault was set
	hurt  map[string]int // requests the fault handled, per path
}

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{upstream: httputil.NewSingleHostReverseProxy(u), hits: map[string]int{}, hurt: map[string]int{}}
	// A client that gives up (timeout) makes the proxy log; not news.
	p.upstream.ErrorLog = log.New(io.Discard, "", 0)
	p.Server = httptest.NewServer(p)
	t.Cleanup(p.Close)
	return p
}

// set puts f in force (nil: none) and resets the counts.
func (p *faultProxy) set(f faultFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.hits, p.hurt = f, map[string]int{}, map[string]int{}
}

// counts returns the requests per path since the fault was set, and those
// the fault handled.
func (p *faultProxy) counts() (hits, hurt map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hits, hurt = map[string]int{}, map[string]int{}
	for k, v := range p.hits {
		hits[k] = v
	}
	for k, v := range p.hurt {
		hurt[k] = v
	}
	return hits, hurt
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	f := p.fault
	p.hits[r.URL.Path]++
	n := p.hits[r.URL.Path]
	p.mu.Unlock()
	if f != nil && f(w, r, n) {
		p.mu.Lock()
		p.hurt[r.URL.Path]++
		p.mu.Unlock()
		return
	}
	p.upstream.ServeHTTP(w, r)
}

// record returns the real server's answer to r.
func (p *faultProxy) record(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	p.upstream.ServeHTTP(rec, r)
	return rec
}

// historyPath reports whether path is a history list of a script
// (/scripthash/:h/txs/...).
func historyPath(path string) bool {
	return strings.HasPrefix(path, "/scripthash/") && strings.Contains(path, "/txs")
}

// statsPath reports whether path is a script's counters (/scripthash/:h).
func statsPath(path string) bool {
	return strings.HasPrefix(path, "/scripthash/") && strings.Count(path, "/") == 2
}

// faultFixture is a regtest chain with six watched addresses of every
// type, synced once through the backend under test, then moved on by a
// block paying three of them: the next sync has work to do.
type faultFixture struct {
	n        chaintest.T
	keys     []*chaintest.Key
	entities []entitySpec
	cfg, db  string
	before   string // dumpDB before the faulty sync
	balances string // `balances -json` before the faulty sync
}

// newFaultChain starts the node and pays every watched address.
func newFaultChain(t *testing.T) *faultFixture {
	t.Helper()
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	fx := &faultFixture{n: n}
	for i := range 6 {
		fx.keys = append(fx.keys, n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)]))
	}
	for i, k := range fx.keys {
		n.Pay(chaintest.Output{Script: k.Script, Value: btcutil.Amount(1_000_000 * (i + 1))})
	}
	n.Mine()
	fx.entities = []entitySpec{{"one", fx.keys[:3]}, {"two", fx.keys[3:]}}
	return fx
}

// start writes the watchlist for backend, syncs, and moves the chain on.
func (fx *faultFixture) start(t *testing.T, backend string) {
	t.Helper()
	dir := t.TempDir()
	fx.cfg = writeWatchlistWith(t, dir, backend, "ledger.db", fx.entities)
	fx.db = filepath.Join(dir, "ledger.db")
	mustCLI(t, "sync", "-config", fx.cfg, "-log-level", "warn")
	fx.advance(t)
}

// advance mines a block paying three watched addresses and records the
// ledger as it stands.
func (fx *faultFixture) advance(t *testing.T) {
	t.Helper()
	for _, i := range []int{1, 3, 4} {
		fx.n.Pay(chaintest.Output{Script: fx.keys[i].Script, Value: 77_000})
	}
	fx.n.Mine()
	fx.before = dumpDB(t, fx.db)
	fx.balances = mustCLI(t, "balances", "-config", fx.cfg, "-json")
}

// failSync runs a sync that must fail: exit 1, one line on stderr naming
// every part of want, no stack trace, and the ledger unchanged.
func (fx *faultFixture) failSync(t *testing.T, want ...string) {
	t.Helper()
	start := time.Now()
	out, errs, code := runCLI(t, "sync", "-config", fx.cfg, "-log-level", "error")
	t.Logf("failed in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(errs))
	if code != 1 {
		t.Errorf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if !strings.HasPrefix(errs, "treasurywatch sync: ") || strings.Count(errs, "\n") != 1 {
		t.Errorf("stderr is not one line starting %q:\n%s", "treasurywatch sync: ", errs)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(errs, bad) {
			t.Errorf("stderr has %q (a stack trace?):\n%s", bad, errs)
		}
	}
	if out != "" {
		t.Errorf("a failed sync printed %q", out)
	}
	if after := dumpDB(t, fx.db); after != fx.before {
		t.Errorf("the failed sync changed the ledger:\n%s\n--- before:\n%s", after, fx.before)
	}
	if got := mustCLI(t, "balances", "-config", fx.cfg, "-json"); got != fx.balances {
		t.Errorf("the failed sync changed the balances:\n%s\n--- before:\n%s", got, fx.balances)
	}
}

// okSync runs a sync that must succeed and leave the ledger a clean sync
// through reference (a [[backends]] body without faults) writes.
func (fx *faultFixture) okSync(t *testing.T, reference string) {
	t.Helper()
	mustCLI(t, "sync", "-config", fx.cfg, "-log-level", "warn")
	got := dumpDB(t, fx.db)
	if got == fx.before {
		t.Errorf("the sync left the ledger as it was; the new block is missing")
	}
	dir := t.TempDir()
	clean := writeWatchlistWith(t, dir, reference, "clean.db", fx.entities)
	mustCLI(t, "sync", "-config", clean, "-log-level", "warn")
	if want := dumpDB(t, filepath.Join(dir, "clean.db")); got != want {
		t.Errorf("the ledger after riding out the fault differs from a clean sync's:\n%s\n--- clean:\n%s", got, want)
	}
}

// esploraBackend is the [[backends]] body for an Esplora server at url.
func esploraBackend(url, timeout string) string {
	return fmt.Sprintf("kind = \"esplora\"\nurl = %q\nrate_per_second = 1000\ntimeout = %q\n", url, timeout)
}

// startEsplora serves the fixture's chain over Esplora, warmed up, behind a
// fault proxy.
func startEsplora(t *testing.T, fx *faultFixture) (*esploratest.Server, *faultProxy) {
	t.Helper()
	esp := esploratest.Start(t, fx.n.Node)
	resp, err := http.Get(esp.URL + "/blocks/tip/hash") // builds its index
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return esp, newFaultProxy(t, esp.URL)
}

// TestEsploraFaults: after a good sync and a new block, the Esplora
// server fails in turn: 500 on everything and on histories only, beyond
// the retry budget (1 try + 6 retries; Retry-After: 0 keeps it fast);
// JSON answers cut in half (a complete HTTP answer, so not retried). Each
// sync exits 1 with a clear line and leaves the ledger byte-identical.
// Then faults the client rides out: 429 once per path with Retry-After: 0,
// and a history page whose connection is cut mid-body once. Those syncs
// succeed and store exactly what a clean sync stores.
func TestEsploraFaults(t *testing.T) {
	t.Parallel()
	fx := newFaultChain(t)
	esp, proxy := startEsplora(t, fx)
	fx.start(t, esploraBackend(proxy.URL, "1s"))
	reference := esploraBackend(esp.URL, "1s")

	serverError := func(match func(string) bool) faultFunc {
		return func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !match(r.URL.Path) {
				return false
			}
			w.Header().Set("Retry-After", "0")
			http.Error(w, "upstream exploded", http.StatusInternalServerError)
			return true
		}
	}

	t.Run("500 on everything", func(t *testing.T) {
		proxy.set(serverError(func(string) bool { return true }))
		defer proxy.set(nil)
		fx.failSync(t, "esplora at "+proxy.URL, "GET /block-height/0", `server error "500 Internal Server Error"`,
			"upstream exploded", "gave up after 7 tries")
		if hits, _ := proxy.counts(); hits["/block-height/0"] != 7 {
			t.Errorf("%d tries of the network check, want 7 (1 + 6 retries): %v", hits["/block-height/0"], hits)
		}
	})

	t.Run("500 on histories", func(t *testing.T) {
		proxy.set(serverError(historyPath))
		defer proxy.set(nil)
		fx.failSync(t, "histories: esplora at "+proxy.URL, "/txs/", `server error "500 Internal Server Error"`, "gave up after 7 tries")
		hits, hurt := proxy.counts()
		for path, n := range hurt {
			if n > 7 {
				t.Errorf("%s tried %d times, more than 1 + 6 retries", path, n)
			}
		}
		stats := 0
		for path, n := range hits {
			if statsPath(path) {
				stats += n
			}
		}
		if stats < len(fx.keys) || len(hurt) == 0 {
			t.Errorf("the statuses were not all read (%d) before histories failed (%v)", stats, hurt)
		}
	})

	t.Run("truncated JSON", func(t *testing.T) {
		proxy.set(func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !statsPath(r.URL.Path) {
				return false
			}
			rec := proxy.record(r)
			if r.Context().Err() != nil {
				return true // the client gave up on it: the first failure cancels the rest
			}
			body := rec.Body.Bytes()
			if !json.Valid(body) {
				t.Errorf("%s: the server's answer is not JSON: %q", r.URL.Path, body)
			}
			half := body[:len(body)/2]
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.Header().Set("Content-Length", strconv.Itoa(len(half)))
			w.WriteHeader(rec.Code)
			w.Write(half)
			return true
		})
		defer proxy.set(nil)
		fx.failSync(t, "statuses: esplora at "+proxy.URL, "GET /scripthash/", "unexpected answer", "unexpected end of JSON input")
		if _, hurt := proxy.counts(); len(hurt) == 0 {
			t.Error("no answer was truncated")
		} else {
			for path, n := range hurt {
				if n != 1 {
					t.Errorf("%s: a malformed answer was asked %d times; it is not worth a retry", path, n)
				}
			}
		}
	})

	t.Run("429 then success", func(t *testing.T) {
		proxy.set(func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n > 1 {
				return false
			}
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		})
		defer proxy.set(nil)
		start := time.Now()
		fx.okSync(t, reference)
		hits, hurt := proxy.counts()
		t.Logf("rode out %d throttled requests (%d paths asked) in %v", len(hurt), len(hits), time.Since(start).Round(time.Millisecond))
		if len(hurt) < 2*len(fx.keys) || len(hurt) != len(hits) {
			t.Errorf("%d paths throttled of %d asked, want every path once", len(hurt), len(hits))
		}
	})

	fx.advance(t)
	t.Run("cut off mid-body once", func(t *testing.T) {
		var cut atomic.Bool
		proxy.set(func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !strings.HasSuffix(r.URL.Path, "/txs/chain") || !cut.CompareAndSwap(false, true) {
				return false
			}
			rec := proxy.record(r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // close the connection mid-body
		})
		defer proxy.set(nil)
		fx.okSync(t, reference)
		if !cut.Load() {
			t.Error("no answer was cut off")
		}
	})
}

// TestEsploraTimeout: after a good sync and a new block, the Esplora
// server answers the script requests slower than the watchlist's
// timeout = "100ms". With retries = 2 the client tries each 3 times, then
// the sync exits 1 saying so, and the ledger is unchanged. Once the server
// is quick again the next sync catches up.
func TestEsploraTimeout(t *testing.T) {
	t.Parallel()
	fx := newFaultChain(t)
	esp, proxy := startEsplora(t, fx)
	fx.start(t, esploraBackend(proxy.URL, "100ms")+"retries = 2\n")

	proxy.set(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if !strings.HasPrefix(r.URL.Path, "/scripthash/") {
			return false
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return true
	})
	fx.failSync(t, "statuses: esplora at "+proxy.URL, "GET /scripthash/", "no whole answer within 100ms", "gave up after 3 tries")
	// No path was tried more than the budget (a last try that timed out
	// before reaching the proxy is not counted there).
	_, hurt := proxy.counts()
	for path, n := range hurt {
		if n > 3 {
			t.Errorf("%s: %d tries, want at most 3 (1 + 2 retries)", path, n)
		}
	}
	proxy.set(nil)
	fx.okSync(t, esploraBackend(esp.URL, "100ms"))
}

// TestElectrumFaults: after a good sync and a new block, the Electrum
// server (a) closes the connection in the middle of the history batch,
// every time: the client retries once on a new connection, then the sync
// exits 1 saying the connection was lost; (b) answers the history batch
// later than the watchlist's timeout = "1s": exit 1 naming the timeout.
// The ledger is unchanged after each; once the server behaves, the next
// sync stores exactly what a clean sync stores.
func TestElectrumFaults(t *testing.T) {
	t.Parallel()
	fx := newFaultChain(t)
	ch := electrumtest.NewChainHandler(fx.n.Node)
	if _, werr := ch.Handle(t.Context(), "blockchain.headers.subscribe", nil); werr != nil {
		t.Fatal(werr) // builds its snapshot
	}

	type mode int
	const (
		behave mode = iota
		hangUp
		stall
	)
	var (
		current  atomic.Int32
		mu       sync.Mutex
		perConn  = map[net.Conn]int{} // get_history calls per connection
		hangUps  int
		answered int                   // get_history calls answered on a connection later hung up
		release  = make(chan struct{}) // ends the stalls
	)
	srv := electrumtest.Start(t, nil, func(ctx context.Context, method string, params []json.RawMessage) (any, any) {
		if method == "blockchain.scripthash.get_history" {
			switch mode(current.Load()) {
			case hangUp:
				conn := ctx.Value(electrumtest.ConnKey{}).(net.Conn)
				mu.Lock()
				perConn[conn]++
				second := perConn[conn] == 2
				if second {
					hangUps++
				} else {
					answered++
				}
				mu.Unlock()
				if second { // the first call of the batch is answered, then the line goes dead
					return electrumtest.HangUp, nil
				}
			case stall:
				select {
				case <-ctx.Done():
				case <-release:
				}
			}
		}
		return ch.Handle(ctx, method, params)
	})
	backend := fmt.Sprintf("kind = \"electrum\"\nurl = \"tcp://%s\"\ntimeout = \"1s\"\n", srv.Addr())
	fx.start(t, backend)

	t.Run("hang-up mid-batch", func(t *testing.T) {
		current.Store(int32(hangUp))
		defer current.Store(int32(behave))
		fx.failSync(t, "histories: electrum at tcp://"+srv.Addr(), "3×blockchain.scripthash.get_history", "connection lost: the server closed it")
		mu.Lock()
		defer mu.Unlock()
		if hangUps != 2 || answered != 2 {
			t.Errorf("%d hang-ups after %d answered calls, want 2 and 2 (one retry on a new connection)", hangUps, answered)
		}
	})

	t.Run("slower than the timeout", func(t *testing.T) {
		current.Store(int32(stall))
		defer current.Store(int32(behave))
		defer close(release)
		fx.failSync(t, "histories: electrum at tcp://"+srv.Addr(), "no answer to 3×blockchain.scripthash.get_history within 1s")
	})

	t.Run("recovered", func(t *testing.T) {
		fx.okSync(t, backend)
	})
}
