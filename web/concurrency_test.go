package web

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadersDuringSyncs serves concurrent readers while syncs publish
// new blocks, and checks that no answer mixes two blocks: the balance
// (read with the balances) equals the sum of the monthly flows (read with
// the history) and the as-of headers name the answer's own block. An
// answer overtaken by syncs more often than maxAttempts may be a 503
// "retry"; never a mix, never a 500.
func TestReadersDuringSyncs(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Second)
	l := buildSynth(t, 300, end.AddDate(0, -6, 0), end)
	s, err := New(Config{}, l.wl, l.st, nil, slog.New(slog.NewTextHandler(tlog{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	var ok atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, body := get(t, h, "GET", "/api/v1/entities/big")
				if res.StatusCode == 503 && res.Header.Get("Retry-After") != "" {
					continue
				}
				if res.StatusCode != 200 {
					errs <- "status " + strconv.Itoa(res.StatusCode) + ": " + body
					return
				}
				var e entityJSON
				if err := json.Unmarshal([]byte(body), &e); err != nil {
					errs <- err.Error()
					return
				}
				var net int64
				for _, m := range e.Monthly {
					net += m.NetSat
				}
				if net != e.ConfirmedSat || res.Header.Get("X-As-Of-Height") != strconv.FormatInt(e.AsOf.Height, 10) {
					errs <- "mixed blocks: balance " + strconv.FormatInt(e.ConfirmedSat, 10) + ", flows " +
						strconv.FormatInt(net, 10) + " at " + res.Header.Get("X-As-Of-Height")
					return
				}
				if res, _ := get(t, h, "GET", "/entity/big"); res.StatusCode != 200 && res.StatusCode != 503 {
					errs <- "page status " + strconv.Itoa(res.StatusCode)
					return
				}
				ok.Add(1)
			}
		})
	}
	for range 15 {
		l.extend(t, 3)
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if ok.Load() == 0 {
		t.Error("no reader got an answer during the syncs")
	}
	var e entityJSON
	decodeJSON(t, s, "/api/v1/entities/big", &e)
	if e.AsOf.Height != l.tip.Height || e.ConfirmedSat != l.balanceAtHeight(l.tip.Height) {
		t.Errorf("after the syncs: %d at %d, want %d at %d", e.ConfirmedSat, e.AsOf.Height, l.balanceAtHeight(l.tip.Height), l.tip.Height)
	}
}

// tlog writes a logger's lines to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestWarmAfterSync checks that an open server reads the new ledger when
// the daemon reports a successful sync, before any reader asks.
func TestWarmAfterSync(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Second)
	l := buildSynth(t, 50, end.AddDate(0, -1, 0), end)
	s, err := New(Config{Listen: "127.0.0.1:0"}, l.wl, l.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l.extend(t, 1)
	s.SetSyncStatus(SyncStatus{At: time.Now(), OK: true})
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		snap := s.snap
		s.mu.Unlock()
		if snap != nil && snap.asOf.Height == l.tip.Height {
			lz := lazyIn(&snap.mu, snap.hist, "big")
			lz.mu.Lock()
			loaded := lz.done
			lz.mu.Unlock()
			if loaded {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the new ledger was not read ahead of readers")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecheckAfter: with RecheckAfter, requests rely on the last check of
// the published ledger (no query each), yet a sync the daemon reports is
// shown at once, and one published elsewhere once RecheckAfter has passed.
func TestRecheckAfter(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Second)
	l := buildSynth(t, 20, end.AddDate(0, -1, 0), end)
	height := func(s *Server) int64 {
		t.Helper()
		var sum summaryJSON
		decodeJSON(t, s, "/api/v1/summary", &sum)
		return sum.AsOf.Height
	}
	t.Run("reported sync shown at once", func(t *testing.T) {
		s := newSynthServer(t, l, time.Hour)
		before := height(s)
		l.extend(t, 1)
		if got := height(s); got != before {
			t.Fatalf("height %d within RecheckAfter, want the checked %d", got, before)
		}
		s.SetSyncStatus(SyncStatus{At: time.Now(), OK: true})
		if got := height(s); got != l.tip.Height {
			t.Fatalf("height %d after the reported sync, want %d", got, l.tip.Height)
		}
	})
	t.Run("other writer shown after RecheckAfter", func(t *testing.T) {
		s := newSynthServer(t, l, 50*time.Millisecond)
		height(s)
		l.extend(t, 1)
		time.Sleep(60 * time.Millisecond)
		if got := height(s); got != l.tip.Height {
			t.Fatalf("height %d after RecheckAfter, want %d", got, l.tip.Height)
		}
	})
}

func newSynthServer(tb testing.TB, l *synthLedger, recheck time.Duration) *Server {
	tb.Helper()
	s, err := New(Config{RecheckAfter: recheck}, l.wl, l.st, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
