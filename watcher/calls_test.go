package watcher_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/treasurywatch/treasurywatch/watcher"
)

func TestCallCounts(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after watcher.CallCounts
		sub           watcher.CallCounts
		str           string // after.String()
		total         int64  // after.Total()
	}{
		{name: "empty", sub: watcher.CallCounts{}},
		{
			name:  "from nothing",
			after: watcher.CallCounts{"getblock": 2, "estimatefee": 1},
			sub:   watcher.CallCounts{"getblock": 2, "estimatefee": 1},
			str:   "estimatefee=1 getblock=2",
			total: 3,
		},
		{
			name:   "unchanged methods dropped",
			before: watcher.CallCounts{"a": 1, "b": 5, "c": 0},
			after:  watcher.CallCounts{"a": 4, "b": 5, "c": 0, "d": 2},
			sub:    watcher.CallCounts{"a": 3, "d": 2},
			str:    "a=4 b=5 c=0 d=2",
			total:  11,
		},
		{
			name:   "endpoints with spaces",
			before: watcher.CallCounts{"GET /blocks/tip/hash": 1},
			after:  watcher.CallCounts{"GET /blocks/tip/hash": 2, "GET /scripthash/:h": 3},
			sub:    watcher.CallCounts{"GET /blocks/tip/hash": 1, "GET /scripthash/:h": 3},
			str:    "GET /blocks/tip/hash=2 GET /scripthash/:h=3",
			total:  5,
		},
	} {
		if got := tc.after.Sub(tc.before); !maps.Equal(got, tc.sub) {
			t.Errorf("%s: Sub = %v, want %v", tc.name, got, tc.sub)
		}
		if got := tc.after.String(); got != tc.str {
			t.Errorf("%s: String = %q, want %q", tc.name, got, tc.str)
		}
		if got := tc.after.Total(); got != tc.total {
			t.Errorf("%s: Total = %d, want %d", tc.name, got, tc.total)
		}
	}
}

func TestCallCounter(t *testing.T) {
	var c watcher.CallCounter
	if c.Requests() != 0 || len(c.Calls()) != 0 {
		t.Fatalf("zero value: %d requests, calls %s", c.Requests(), c.Calls())
	}
	const workers, rounds = 8, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				c.Count("tip")                    // one call per request
				c.Count("status", "status", "tx") // a batch of three
				_ = c.Calls()                     // snapshots race with counting
			}
		})
	}
	wg.Wait()
	if got, want := c.Requests(), int64(2*workers*rounds); got != want {
		t.Errorf("Requests = %d, want %d", got, want)
	}
	want := watcher.CallCounts{"tip": workers * rounds, "status": 2 * workers * rounds, "tx": workers * rounds}
	if got := c.Calls(); !maps.Equal(got, want) {
		t.Errorf("Calls = %s, want %s", got, want)
	}

	// A snapshot is a copy: changing it or counting on leaves the other alone.
	snap := c.Calls()
	snap["tip"] = 0
	c.Count("tip")
	if got := c.Calls().Sub(want); !maps.Equal(got, watcher.CallCounts{"tip": 1}) {
		t.Errorf("one more call: Sub = %s, want tip=1", got)
	}
	if snap["tip"] != 0 {
		t.Errorf("the snapshot changed with the counter: %s", snap)
	}
}

// TestOutcomes classifies how round trips end and counts them apart from
// calls.
func TestOutcomes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, watcher.OutcomeOK},
		{fmt.Errorf("get tip: %w", context.Canceled), watcher.OutcomeCanceled},
		{fmt.Errorf("get tip: %w", context.DeadlineExceeded), watcher.OutcomeError},
		{errors.New("connection refused"), watcher.OutcomeError},
	} {
		if got := watcher.OutcomeOf(tt.err); got != tt.want {
			t.Errorf("watcher.OutcomeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
	var c watcher.CallCounter
	c.Count("a", "b")
	c.Finish(watcher.OutcomeOK)
	c.Count("a")
	c.Finish(watcher.OutcomeError)
	if got := c.Outcomes(); got.String() != "error=1 ok=1" {
		t.Errorf("outcomes %s", got)
	}
	if got := c.Calls(); got.String() != "a=2 b=1" {
		t.Errorf("calls %s", got)
	}
	var _ watcher.Counted = &c
}
