package schedule

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// syncer tells sch of a successful sync every interval, as the daemon's
// syncer does, until ctx ends.
func syncer(ctx context.Context, sch *Scheduler, chain clockChain, interval time.Duration) {
	for {
		now := time.Now()
		sch.SyncDone(watcher.SyncReport{Started: now, Finished: now,
			Result: watcher.Result{Tip: chain.block(chain.height(now))}})
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func TestExactlyOnceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock starts at 2000-01-01 00:00 UTC.
		chain := clockChain{genesis: time.Now().Add(-24 * time.Hour)}
		st := openStore(t, dir)
		defer st.Close()
		wl := testWatchlist(t, watcher.ReportConfig{Name: "hourly", Schedule: mustSchedule(t, "0 * * * *"), CatchUp: intp(3)})
		prod := &producer{}
		run := func(d time.Duration) {
			t.Helper()
			sch, err := New(Config{Watchlist: wl, Store: st, Backend: chain, Produce: prod.produce})
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Open(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); syncer(ctx, sch, chain, 5*time.Minute) }()
			time.Sleep(d)
			cancel()
			<-done
			sch.Close()
		}

		run(3*time.Hour + 30*time.Minute) // 01:00 02:00 03:00
		run(0)                            // a restart at once produces nothing
		time.Sleep(10 * time.Hour)        // down from 03:30 to 13:30: 04:00…13:00 missed
		run(2 * time.Hour)                // catch up 11:00 12:00 13:00, then 14:00 15:00

		want := []string{"01:00", "02:00", "03:00", "11:00", "12:00", "13:00", "14:00", "15:00"}
		if got := instants(t, st, "hourly"); !reflect.DeepEqual(got, want) {
			t.Fatalf("archived instants %v, want %v", got, want)
		}
		for k, n := range prod.calls {
			if n != 1 {
				t.Errorf("%s produced %d times", k, n)
			}
		}
		if len(prod.calls) != len(want) {
			t.Errorf("produced %d reports, want %d", len(prod.calls), len(want))
		}
		rs, err := st.Reports(context.Background(), "hourly", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			// Each period runs from the previous instant, also across
			// the gap: 11:00 covers 10:00 to 11:00.
			if !r.From.Equal(r.Instant.Add(-time.Hour)) {
				t.Errorf("%s: from %s", r, r.From)
			}
			if wantTo := chain.block(chain.height(r.Instant)); !sameBlock(r.ToBlock, wantTo) {
				t.Errorf("%s: closing block %+v, want %+v", r, r.ToBlock, wantTo)
			}
			if wantFrom := chain.block(chain.height(r.From)); !sameBlock(r.FromBlock, wantFrom) {
				t.Errorf("%s: opening block %+v, want %+v", r, r.FromBlock, wantFrom)
			}
		}
	})
}

func TestCatchUpZeroAndFirstStart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		chain := clockChain{genesis: time.Now().Add(-24 * time.Hour)}
		st := openStore(t, dir)
		defer st.Close()
		wl := testWatchlist(t, watcher.ReportConfig{Name: "hourly", Schedule: mustSchedule(t, "30 * * * *"), CatchUp: intp(0)})
		prod := &producer{}
		sch, err := New(Config{Watchlist: wl, Store: st, Backend: chain, Produce: prod.produce})
		if err != nil {
			t.Fatal(err)
		}
		// First start: the schedule is seen now; nothing before it is due.
		if err := sch.Open(); err != nil {
			t.Fatal(err)
		}
		sch.SyncDone(watcher.SyncReport{Started: time.Now(), Finished: time.Now(), Result: watcher.Result{Tip: chain.block(chain.height(time.Now()))}})
		synctest.Wait()
		sch.Close()
		if got := instants(t, st, "hourly"); len(got) != 0 {
			t.Fatalf("first start produced %v", got)
		}
		time.Sleep(5 * time.Hour) // 00:30…04:30 missed, catch_up = 0
		sch, _ = New(Config{Watchlist: wl, Store: st, Backend: chain, Produce: prod.produce})
		if err := sch.Open(); err != nil {
			t.Fatal(err)
		}
		sch.SyncDone(watcher.SyncReport{Started: time.Now(), Finished: time.Now(), Result: watcher.Result{Tip: chain.block(chain.height(time.Now()))}})
		synctest.Wait()
		time.Sleep(31 * time.Minute)
		sch.SyncDone(watcher.SyncReport{Started: time.Now(), Finished: time.Now(), Result: watcher.Result{Tip: chain.block(chain.height(time.Now()))}})
		synctest.Wait()
		sch.Close()
		if got, want := instants(t, st, "hourly"), []string{"05:30"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("instants %v, want %v (nothing caught up with catch_up = 0)", got, want)
		}
		r, _, _ := st.ReportAt(context.Background(), "hourly", time.Date(2000, 1, 1, 5, 30, 0, 0, time.UTC))
		if want := time.Date(2000, 1, 1, 4, 30, 0, 0, time.UTC); !r.From.Equal(want) {
			t.Errorf("from %s, want %s", r.From, want)
		}
	})
}

func TestWaitsForCoveringSync(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		chain := clockChain{genesis: time.Now().Add(-24 * time.Hour)}
		st := openStore(t, dir)
		defer st.Close()
		wl := testWatchlist(t, watcher.ReportConfig{Name: "hourly", Schedule: mustSchedule(t, "0 * * * *")})
		prod := &producer{}
		sch, err := New(Config{Watchlist: wl, Store: st, Backend: chain, Produce: prod.produce})
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Open(); err != nil {
			t.Fatal(err)
		}
		defer sch.Close()
		// A sync that starts 10 minutes before the instant and ends
		// after it does not cover it.
		time.Sleep(50 * time.Minute)
		early := time.Now()
		early1 := chain.block(chain.height(early))
		time.Sleep(20 * time.Minute)
		sch.SyncDone(watcher.SyncReport{Started: early, Finished: time.Now(), Result: watcher.Result{Tip: early1}})
		synctest.Wait()
		// Neither does a failed one.
		sch.SyncDone(watcher.SyncReport{Started: time.Now(), Finished: time.Now(), Err: errors.New("backend down")})
		synctest.Wait()
		if got := instants(t, st, "hourly"); len(got) != 0 {
			t.Fatalf("produced %v before a covering sync", got)
		}
		// A sync started after the instant, synced only to a height a
		// few blocks back: the closing block is bounded by it.
		time.Sleep(30 * time.Minute)
		synced := chain.block(chain.height(time.Now()) - 9) // 00:10
		sch.SyncDone(watcher.SyncReport{Started: time.Now(), Finished: time.Now(), Result: watcher.Result{Tip: synced}})
		synctest.Wait()
		rs, err := st.Reports(context.Background(), "hourly", 0)
		if err != nil || len(rs) != 1 {
			t.Fatalf("reports %v %v", rs, err)
		}
		if !sameBlock(rs[0].ToBlock, synced) {
			t.Errorf("closing block %+v, want the synced %+v", rs[0].ToBlock, synced)
		}
	})
}

func TestProduceFailureRetriedAfterNextSync(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		chain := clockChain{genesis: time.Now().Add(-24 * time.Hour)}
		st := openStore(t, dir)
		defer st.Close()
		wl := testWatchlist(t, watcher.ReportConfig{Name: "hourly", Schedule: mustSchedule(t, "0 * * * *")})
		prod := &producer{fail: errors.New("ledger busy")}
		sch, _ := New(Config{Watchlist: wl, Store: st, Backend: chain, Produce: prod.produce})
		if err := sch.Open(); err != nil {
			t.Fatal(err)
		}
		defer sch.Close()
		time.Sleep(61 * time.Minute)
		sync := func() {
			sch.SyncDone(watcher.SyncReport{Started: time.Now(), Finished: time.Now(), Result: watcher.Result{Tip: chain.block(chain.height(time.Now()))}})
			synctest.Wait()
		}
		sync()
		if got := instants(t, st, "hourly"); len(got) != 0 {
			t.Fatalf("a failed production archived %v", got)
		}
		prod.mu.Lock()
		prod.fail = nil
		prod.mu.Unlock()
		time.Sleep(time.Minute)
		sync()
		if got := instants(t, st, "hourly"); !reflect.DeepEqual(got, []string{"01:00"}) {
			t.Fatalf("after the next sync: %v", got)
		}
	})
}

func sameBlock(b store.Block, r watcher.BlockRef) bool {
	return b.Height == r.Height && b.Hash == r.Hash && b.Time.Equal(r.Time)
}
