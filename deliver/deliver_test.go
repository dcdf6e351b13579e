package deliver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// failing is a Target whose first fails tries fail with err; it exercises
// Deliver's retry loop apart from any protocol.
type failing struct {
	fails int
	err   error
	tries int
}

func (f *failing) Name() string { return "failing" }

func (f *failing) Send(ctx context.Context, m Message) error {
	f.tries++
	if f.tries <= f.fails {
		return fmt.Errorf("try %d: %w", f.tries, f.err)
	}
	return nil
}

var errFlaky = errors.New("flaky receiver")

func TestBackoffBounds(t *testing.T) {
	tests := []Policy{
		{Initial: time.Second, Max: 30 * time.Second},
		{Initial: 100 * time.Millisecond, Max: time.Second},
		{Initial: time.Minute, Max: time.Second}, // Initial above Max is capped
		{},                                       // defaults
		{Initial: time.Nanosecond, Max: 3 * time.Nanosecond},
	}
	for _, p := range tests {
		t.Run(fmt.Sprintf("%v..%v", p.Initial, p.Max), func(t *testing.T) {
			q := p.withDefaults()
			rng := rand.New(rand.NewPCG(1, 2))
			sawMax := false
			for n := 1; n <= 80; n++ {
				full := q.Initial
				for i := 1; i < n && full < q.Max; i++ {
					full *= 2
				}
				full = min(full, q.Max)
				got := q.backoff(n, rng)
				if got > q.Max || got > full || got < full-full/2 {
					t.Fatalf("backoff(%d) = %v, want within [%v, %v] and at most Max %v", n, got, full-full/2, full, q.Max)
				}
				sawMax = sawMax || full == q.Max
			}
			if !sawMax {
				t.Error("backoff never reached Max")
			}
		})
	}
}

func TestDeliverBackoffOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &failing{fails: 100, err: errFlaky}
		p := Policy{Attempts: 10, Initial: time.Second, Max: 4 * time.Second}
		var at []time.Time
		err := Deliver(t.Context(), f, testMessage(), p, func(a Attempt) { at = append(at, a.At) })
		if err == nil || !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), `deliver report "report/daily/2026-12-06T08:00:00Z" via failing: gave up after 10 attempts: try 10: flaky receiver`) {
			t.Fatalf("err = %v", err)
		}
		if len(at) != 10 || f.tries != 10 {
			t.Fatalf("%d attempts recorded, %d made, want 10", len(at), f.tries)
		}
		for i := 1; i < len(at); i++ {
			gap := at[i].Sub(at[i-1])
			full := min(p.Initial<<(i-1), p.Max)
			if gap < full/2 || gap > full {
				t.Errorf("gap before attempt %d = %v, want within [%v, %v]", i+1, gap, full/2, full)
			}
		}
	})
}

func TestDeliverScheduleIsReproducible(t *testing.T) {
	run := func(seed uint64, id string) []time.Duration {
		var gaps []time.Duration
		synctest.Test(t, func(t *testing.T) {
			var last time.Time
			m := testMessage()
			m.ID = id
			Deliver(t.Context(), &failing{fails: 100, err: errFlaky}, m, Policy{Attempts: 6, Seed: seed}, func(a Attempt) {
				if !last.IsZero() {
					gaps = append(gaps, a.At.Sub(last))
				}
				last = a.At
			})
		})
		return gaps
	}
	a, b := run(0, "alert/1"), run(0, "alert/1")
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same message, different schedules: %v vs %v", a, b)
	}
	if c := run(0, "alert/2"); fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("different messages share the schedule %v", a)
	}
	if d, e := run(7, "alert/1"), run(7, "alert/2"); fmt.Sprint(d) != fmt.Sprint(e) {
		t.Errorf("an explicit seed should fix the schedule: %v vs %v", d, e)
	}
}

func TestDeliverStops(t *testing.T) {
	t.Run("on context deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			f := &failing{fails: 100, err: errFlaky}
			var n int
			start := time.Now()
			err := Deliver(ctx, f, testMessage(), Policy{Attempts: 100, Initial: 2 * time.Second, Max: 2 * time.Second}, func(Attempt) { n++ })
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errFlaky) {
				t.Fatalf("err = %v, want the deadline and the last failure", err)
			}
			if el := time.Since(start); el != 10*time.Second {
				t.Errorf("returned after %v, want right at the 10s deadline", el)
			}
			// Pauses are within [1s, 2s]: between 6 and 11 tries fit in 10s.
			if n < 6 || n > 11 || n != f.tries {
				t.Errorf("%d attempts recorded, %d made", n, f.tries)
			}
		})
	})
	t.Run("on cancel before the first try", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		f := &failing{}
		err := Deliver(ctx, f, testMessage(), Policy{}, nil)
		if !errors.Is(err, context.Canceled) || f.tries != 0 || !strings.Contains(err.Error(), "not started") {
			t.Errorf("err = %v after %d tries", err, f.tries)
		}
	})
	t.Run("on a permanent error", func(t *testing.T) {
		f := &failing{fails: 100, err: Permanent(errors.New("401 Unauthorized"))}
		var got []Attempt
		err := Deliver(t.Context(), f, testMessage(), Policy{Attempts: 5}, func(a Attempt) { got = append(got, a) })
		if !IsPermanent(err) || f.tries != 1 || len(got) != 1 || !got[0].Permanent || got[0].Done {
			t.Errorf("err = %v, tries %d, attempts %+v", err, f.tries, got)
		}
	})
	t.Run("on success", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &failing{fails: 2, err: errFlaky}
			var got []Attempt
			if err := Deliver(t.Context(), f, testMessage(), Policy{Attempts: 5}, func(a Attempt) { got = append(got, a) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || !got[2].Done || got[0].Done || got[1].Err == nil || got[2].N != 3 {
				t.Errorf("attempts %+v", got)
			}
		})
	})
}
