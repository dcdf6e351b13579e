package price

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of Backfill: at most 96 days a round, one request a second
// (public mempool instances allow 5 a second), a day the source lacked
// asked again after a week.
const (
	DefaultBackfillDays = 96
	DefaultBackfillGap  = time.Second
	DefaultMissRetry    = 7 * 24 * time.Hour
)

// Backfill bounds the fetching of historical prices: pages value each
// flow at the price of its UTC day, read from the store, and these are
// fetched in the background, a few at a time, never while a page waits.
type Backfill struct {
	// Days is the most days asked in one round; 0 turns backfilling off.
	Days int
	// Gap is the pause between two requests to the source.
	Gap time.Duration
	// MissRetry is how long a day the source had no price for is left
	// alone before it is asked again.
	MissRetry time.Duration
}

// SetBackfill replaces the backfill bounds; call it before Open.
func (r *Refresher) SetBackfill(b Backfill) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backfill = b
}

// Backfill fetches the daily price of up to Days UTC days on which a
// ledger transaction was confirmed and no price is stored, newest first,
// one request every Gap, and stores it; it returns how many days got a
// price. The price asked for is the source's last one of the day (for
// today, the latest). A day the source has no price for is recorded and
// skipped until MissRetry has passed. Any other failure ends the round:
// the next one resumes where it stopped.
func (r *Refresher) Backfill(ctx context.Context) (int, error) {
	r.mu.Lock()
	b := r.backfill
	r.mu.Unlock()
	if b.Days <= 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	days, err := r.st.PriceDaysMissing(ctx, r.currency, now, b.Days)
	if err != nil {
		return 0, err
	}
	stored := 0
	for i, d := range days {
		if i > 0 && b.Gap > 0 {
			t := time.NewTimer(b.Gap)
			select {
			case <-ctx.Done():
				t.Stop()
				return stored, ctx.Err()
			case <-t.C:
			}
		}
		end := d.Add(24*time.Hour - time.Second)
		at := end
		if at.After(now) {
			at = now
		}
		p, err := r.client.Historical(ctx, r.currency, at)
		if errors.Is(err, ErrNoPrice) {
			if err := r.st.SavePriceMiss(ctx, r.currency, d, now.Add(b.MissRetry)); err != nil {
				return stored, err
			}
			continue
		}
		if err != nil {
			return stored, fmt.Errorf("price of %s: %w", d.Format(time.DateOnly), err)
		}
		if err := r.st.SavePrice(ctx, p); err != nil {
			return stored, err
		}
		if p.Time.Before(d) || p.Time.After(end) {
			// A true price, kept, but of another day: this one stays
			// without a price until the retry.
			if err := r.st.SavePriceMiss(ctx, r.currency, d, now.Add(b.MissRetry)); err != nil {
				return stored, err
			}
			continue
		}
		stored++
	}
	return stored, nil
}
