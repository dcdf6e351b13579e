package watcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Benchmarks of the sync engine against a real btcd. Each builds its own
// node with the same data set (benchScripts P2WPKH scripts with
// benchTxsPerScript confirmed payments each, via FundMany, a few seconds)
// before its timer starts. Run them with
//
//	go test -run '^$' -bench . -benchtime 5x ./watcher/
//
// They report rpc/op (RPC calls counted by the btcd client, a batch of n
// counting n) next to ns/op; they assert nothing about time.

const (
	benchScripts      = 1000
	benchTxsPerScript = 10
	benchValue        = btcutil.Amount(10_000)
)

// benchFixture starts a node holding the data set and returns it with the
// watched scripts.
func benchFixture(b *testing.B) (*chaintest.Node, []watcher.Script) {
	b.Helper()
	node := chaintest.StartTB(b, chaintest.Options{})
	n := node.T(b)
	raw := make([][]byte, benchScripts)
	scripts := make([]watcher.Script, benchScripts)
	for i := range raw {
		raw[i] = n.NewKey(chaintest.P2WPKH).Script
		scripts[i] = raw[i]
	}
	n.FundMany(raw, benchTxsPerScript, benchValue)
	return node, scripts
}

// benchSync runs one sync and fails the benchmark on error.
func benchSync(b *testing.B, eng *watcher.Engine) watcher.Result {
	res, err := eng.Sync(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkInitialSync1000x10 is a first sync of the whole data set: a
// fresh store and a fresh client (no cached headers) per op.
func BenchmarkInitialSync1000x10(b *testing.B) {
	node, scripts := benchFixture(b)
	var ops, calls, reqs, txs int64
	for b.Loop() {
		b.StopTimer()
		client := newBtcdClient(b, node)
		st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "ledger.db"))
		if err != nil {
			b.Fatal(err)
		}
		eng := watcher.NewEngine(client, st, scripts, nil)
		b.StartTimer()

		res := benchSync(b, eng)

		b.StopTimer()
		if res.FetchedScripts != benchScripts || res.FetchedTxs < benchScripts*benchTxsPerScript {
			b.Fatalf("initial sync: %+v, want %d scripts and at least %d txs", res, benchScripts, benchScripts*benchTxsPerScript)
		}
		ops++
		calls += client.Calls().Total()
		reqs += client.Requests()
		txs += int64(res.FetchedTxs)
		if ops == 1 {
			b.Logf("calls of one initial sync: %s", client.Calls())
		}
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(ops), "rpc/op")
	b.ReportMetric(float64(reqs)/float64(ops), "http/op")
	b.ReportMetric(float64(txs)/float64(ops), "txs/op")
}

// BenchmarkFloorSearchRaw8Workers is the floor of an initial sync: only
// the searchrawtransactions pages of every address, as the btcd backend
// asks for them (verbose=1, skip, count = its page size, paging until a
// short page, reverse=false), on 8 workers, decoding the JSON and nothing
// else. vinextra=0 is what the backend sends; vinextra=1 (btcd then looks
// up every input's previous output) is shown for comparison.
// "backend" is the btcd client's own Histories (hex decoding, block
// headers) in the engine's chunks, without the engine and the store.
func BenchmarkFloorSearchRaw8Workers(b *testing.B) {
	node, scripts := benchFixture(b)
	addrs := make([]string, len(scripts))
	for i, s := range scripts {
		_, as, _, err := txscript.ExtractPkScriptAddrs(s, node.Params)
		if err != nil || len(as) != 1 {
			b.Fatalf("script %s: %v", s, err)
		}
		addrs[i] = as[0].EncodeAddress()
	}
	for _, vinExtra := range []int{0, 1} {
		b.Run(fmt.Sprintf("vinextra=%d", vinExtra), func(b *testing.B) {
			f := &floor{url: "http://" + node.RPCAddr, user: node.User, pass: node.Pass, vinExtra: vinExtra,
				http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
			var ops int64
			for b.Loop() {
				n, err := f.run(b.Context(), addrs, 8)
				if err != nil {
					b.Fatal(err)
				}
				if n != benchScripts*benchTxsPerScript {
					b.Fatalf("floor read %d entries, want %d", n, benchScripts*benchTxsPerScript)
				}
				ops++
			}
			b.ReportMetric(float64(f.calls.Load())/float64(ops), "rpc/op")
		})
	}
	b.Run("backend", func(b *testing.B) {
		var ops, calls int64
		for b.Loop() {
			b.StopTimer()
			client := newBtcdClient(b, node)
			b.StartTimer()
			const chunk = 256 // the engine's default ChunkSize
			n := 0
			for lo := 0; lo < len(scripts); lo += chunk {
				hists, err := client.Histories(b.Context(), scripts[lo:min(lo+chunk, len(scripts))])
				if err != nil {
					b.Fatal(err)
				}
				for _, h := range hists {
					n += len(h)
				}
			}
			if n != benchScripts*benchTxsPerScript {
				b.Fatalf("backend read %d items, want %d", n, benchScripts*benchTxsPerScript)
			}
			ops++
			calls += client.Calls().Total()
		}
		b.ReportMetric(float64(calls)/float64(ops), "rpc/op")
	})
}

// floor is a bare JSON-RPC client for BenchmarkFloorSearchRaw8Workers.
type floor struct {
	url, user, pass string
	vinExtra        int
	http            *http.Client
	calls           atomic.Int64
	id              atomic.Uint64
}

// run reads every address's pages on workers goroutines and returns the
// number of entries read.
func (f *floor) run(ctx context.Context, addrs []string, workers int) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan string)
	var total atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for addr := range next {
				n, err := f.address(ctx, addr)
				if err != nil {
					cancel(err)
					return
				}
				total.Add(int64(n))
			}
		})
	}
feed:
	for _, a := range addrs {
		select {
		case next <- a:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return int(total.Load()), nil
}

// address pages through one address's history.
func (f *floor) address(ctx context.Context, addr string) (int, error) {
	n := 0
	for skip := 0; ; {
		page, err := f.page(ctx, addr, skip)
		if err != nil {
			return 0, err
		}
		n += len(page)
		if len(page) < btcd.DefaultPageSize {
			return n, nil
		}
		skip += len(page)
	}
}

// floorEntry is what the backend reads of a verbose entry.
type floorEntry struct {
	Hex           string `json:"hex"`
	Txid          string `json:"txid"`
	BlockHash     string `json:"blockhash"`
	Confirmations uint64 `json:"confirmations"`
}

func (f *floor) page(ctx context.Context, addr string, skip int) ([]floorEntry, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": f.id.Add(1), "method": "searchrawtransactions",
		"params": []any{addr, 1, skip, btcd.DefaultPageSize, f.vinExtra, false}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(f.user, f.pass)
	f.calls.Add(1)
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Result []floorEntry      `json:"result"`
		Error  *btcjson.RPCError `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("searchrawtransactions %s: %w", addr, err)
	}
	if r.Error != nil {
		if r.Error.Code == btcjson.ErrRPCNoTxInfo {
			return nil, nil // no (more) transactions
		}
		return nil, errors.Join(fmt.Errorf("searchrawtransactions %s", addr), r.Error)
	}
	return r.Result, nil
}

// BenchmarkNoChangeResync is a sync with nothing changed since the last.
func BenchmarkNoChangeResync(b *testing.B) {
	node, scripts := benchFixture(b)
	client := newBtcdClient(b, node)
	st := openStore(b)
	eng := watcher.NewEngine(client, st, scripts, nil)
	benchSync(b, eng)
	before := client.Calls()
	var ops int64
	for b.Loop() {
		if res := benchSync(b, eng); res.FetchedTxs != 0 || res.FetchedScripts != 0 || res.ScannedBlocks != 0 {
			b.Fatalf("no-change sync did work: %+v", res)
		}
		ops++
	}
	d := callDelta(before, client.Calls())
	b.ReportMetric(float64(d.Total())/float64(ops), "rpc/op")
	b.Logf("calls of %d no-change syncs: %s", ops, d)
}

// BenchmarkNewBlock10Addresses is a sync after one new block paying 10 of
// the 1,000 watched scripts (paying and mining are outside the timer).
func BenchmarkNewBlock10Addresses(b *testing.B) {
	node, scripts := benchFixture(b)
	n := node.T(b)
	client := newBtcdClient(b, node)
	st := openStore(b)
	eng := watcher.NewEngine(client, st, scripts, nil)
	benchSync(b, eng)
	var ops, calls int64
	for b.Loop() {
		b.StopTimer()
		outs := make([]chaintest.Output, 10)
		for k := range outs {
			outs[k] = chaintest.Output{Script: scripts[(int(ops)*10+k)%len(scripts)], Value: 20_000}
		}
		n.Pay(outs...)
		n.Mine()
		before := client.Calls()
		b.StartTimer()

		res := benchSync(b, eng)

		b.StopTimer()
		if res.ScannedBlocks != 1 || res.FetchedScripts != 0 {
			b.Fatalf("new-block sync: %+v, want one block scanned and no history", res)
		}
		d := callDelta(before, client.Calls())
		calls += d.Total()
		if ops == 0 {
			b.Logf("calls of one new-block sync: %s", d)
		}
		ops++
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(ops), "rpc/op")
}
