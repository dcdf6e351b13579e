package watcher

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestSyncerSchedule runs the syncer on synctest's fake clock: a sync at
// start, then one per schedule instant, an instant skipped while a slow
// sync runs, failures reported, and Close cancelling a sync in flight.
func TestSyncerSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sched, err := ParseSchedule("@every 10m")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var calls, running, overlap atomic.Int32
		var reports []SyncReport
		slow := 2 // the second sync takes 25 minutes
		sync := func(ctx context.Context) (Result, error) {
			n := calls.Add(1)
			if running.Add(1) > 1 {
				overlap.Add(1)
			}
			defer running.Add(-1)
			if int(n) == slow {
				select {
				case <-time.After(25 * time.Minute):
				case <-ctx.Done():
					return Result{}, ctx.Err()
				}
			}
			if n == 3 {
				return Result{}, errors.New("backend down")
			}
			return Result{Tip: BlockRef{Height: int64(n)}}, nil
		}
		s := NewSyncer(sync, sched, nil, func(r SyncReport) { reports = append(reports, r) })
		s.Open()
		synctest.Wait()
		if calls.Load() != 1 || !s.Last().OK() {
			t.Fatalf("after start: %d calls, last %+v", calls.Load(), s.Last())
		}
		// 10m: sync 2 starts and runs 25 minutes; the 20m and 30m instants
		// pass while it runs.
		time.Sleep(36 * time.Minute)
		synctest.Wait()
		if got := calls.Load(); got != 2 {
			t.Fatalf("after 36m: %d calls, want 2 (no sync while one runs)", got)
		}
		// Sync 2 ended at 35m; the next instant is 45m: sync 3 fails.
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if calls.Load() != 3 || s.Last().OK() || s.Last().Err.Error() != "backend down" {
			t.Fatalf("after 46m: %d calls, last %+v", calls.Load(), s.Last())
		}
		if got := s.Last().Started.Sub(start); got != 45*time.Minute {
			t.Errorf("third sync started at %v, want 45m", got)
		}
		slow = 4
		time.Sleep(10 * time.Minute) // sync 4 starts at 55m and hangs
		synctest.Wait()
		s.Close()
		if overlap.Load() != 0 {
			t.Errorf("%d overlapping syncs", overlap.Load())
		}
		if len(reports) != 3 {
			t.Errorf("%d reports, want 3 (the cancelled sync is not a failure)", len(reports))
		}
	})
}
