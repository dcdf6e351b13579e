package schedule

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// clockChain is a chain whose blocks come every ten minutes of the
// (synctest) clock from genesis on: Tip is the newest block not in the
// future. Only the two calls BlockAtTime makes are answered.
type clockChain struct {
	watcher.Backend // nil: any other call panics
	genesis         time.Time
}

func (c clockChain) block(h int64) watcher.BlockRef {
	return watcher.BlockRef{Height: h, Hash: chainhash.Hash{byte(h), byte(h >> 8), 0xcc}, Time: c.genesis.Add(time.Duration(h) * 10 * time.Minute)}
}

func (c clockChain) height(t time.Time) int64 { return int64(t.Sub(c.genesis) / (10 * time.Minute)) }

func (c clockChain) Tip(context.Context) (watcher.BlockRef, error) {
	return c.block(c.height(time.Now())), nil
}

func (c clockChain) BlockAt(_ context.Context, h int64) (watcher.BlockRef, error) {
	if h < 0 || h > c.height(time.Now()) {
		return watcher.BlockRef{}, fmt.Errorf("no block at height %d", h)
	}
	return c.block(h), nil
}

// producer renders a spec as JSON and counts how often each (name,
// instant) was rendered, so tests can see that nothing is produced twice.
type producer struct {
	mu    sync.Mutex
	calls map[string]int
	fail  error
}

func (p *producer) produce(_ context.Context, spec report.Spec, formats []string) (Output, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return Output{}, p.fail
	}
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[spec.Name+"@"+spec.To.UTC().Format(time.RFC3339)]++
	data, err := json.Marshal(spec)
	if err != nil {
		return Output{}, err
	}
	files := make([]report.File, len(formats))
	for i, f := range formats {
		files[i] = report.File{Name: spec.Name + "." + f, ContentType: "application/json", Data: data}
	}
	return Output{Files: files, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256(data))}, nil
}

func openStore(tb testing.TB, dir string) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// testWatchlist has one entity and the given reports, archive only unless
// deliver is set.
func testWatchlist(tb testing.TB, reports ...watcher.ReportConfig) *watcher.Watchlist {
	tb.Helper()
	wl := &watcher.Watchlist{Reports: reports}
	for i := range wl.Reports {
		if wl.Reports[i].Deliver == nil {
			wl.Reports[i].Deliver = []string{}
		}
	}
	return wl
}

func mustSchedule(tb testing.TB, spec string) watcher.Schedule {
	tb.Helper()
	s, err := watcher.ParseSchedule(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func intp(n int) *int { return &n }

// instants lists the archive's instants of name, oldest first, as
// "15:04" UTC.
func instants(tb testing.TB, st *store.Store, name string) []string {
	tb.Helper()
	rs, err := st.Reports(context.Background(), name, 0)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r.Instant.UTC().Format("15:04")
	}
	return out
}
