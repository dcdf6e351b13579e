package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Price is the price of one bitcoin in a fiat currency at a time, in
// integer cents (hundredths of the currency's unit, also for JPY), with
// the source it came from and when it was fetched.
type Price struct {
	Currency  string
	Time      time.Time
	Cents     int64
	Source    string
	FetchedAt time.Time
}

// SavePrice stores p, replacing a price of the same currency and time.
func (s *Store) SavePrice(ctx context.Context, p Price) error {
	if p.Currency == "" || p.Cents <= 0 {
		return fmt.Errorf("store: save price: invalid price %+v", p)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO prices (currency, time, price_cents, source, fetched_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (currency, time) DO UPDATE SET price_cents = excluded.price_cents,
			source = excluded.source, fetched_at = excluded.fetched_at`,
		p.Currency, p.Time.Unix(), p.Cents, p.Source, p.FetchedAt.Unix())
	if err != nil {
		return fmt.Errorf("store: save price: %w", err)
	}
	return nil
}

// LatestPrice returns the newest stored price in currency; ok=false when
// none is stored.
func (s *Store) LatestPrice(ctx context.Context, currency string) (Price, bool, error) {
	return s.queryPrice(ctx, `SELECT currency, time, price_cents, source, fetched_at FROM prices
		WHERE currency = ? ORDER BY time DESC LIMIT 1`, currency)
}

// PriceAt returns the latest stored price in currency at or before t;
// ok=false when none is stored.
func (s *Store) PriceAt(ctx context.Context, currency string, t time.Time) (Price, bool, error) {
	return s.queryPrice(ctx, `SELECT currency, time, price_cents, source, fetched_at FROM prices
		WHERE currency = ? AND time <= ? ORDER BY time DESC LIMIT 1`, currency, t.Unix())
}

func (s *Store) queryPrice(ctx context.Context, q string, args ...any) (Price, bool, error) {
	var p Price
	var t, f int64
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&p.Currency, &t, &p.Cents, &p.Source, &f)
	if errors.Is(err, sql.ErrNoRows) {
		return Price{}, false, nil
	}
	if err != nil {
		return Price{}, false, fmt.Errorf("store: price: %w", err)
	}
	p.Time, p.FetchedAt = time.Unix(t, 0).UTC(), time.Unix(f, 0).UTC()
	return p, true, nil
}

// day is the length of the UTC days the daily prices are kept for.
const day = 24 * 60 * 60

// PricesBetween returns the stored prices in currency whose time is in
// [from, to), oldest first: the dashboard values each flow at the price
// of its day from these.
func (s *Store) PricesBetween(ctx context.Context, currency string, from, to time.Time) ([]Price, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT time, price_cents, source, fetched_at FROM prices
		WHERE currency = ? AND time >= ? AND time < ? ORDER BY time`, currency, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("store: prices: %w", err)
	}
	defer rows.Close()
	var out []Price
	for rows.Next() {
		p := Price{Currency: currency}
		var t, f int64
		if err := rows.Scan(&t, &p.Cents, &p.Source, &f); err != nil {
			return nil, fmt.Errorf("store: prices: %w", err)
		}
		p.Time, p.FetchedAt = time.Unix(t, 0).UTC(), time.Unix(f, 0).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: prices: %w", err)
	}
	return out, nil
}

// PriceVersion changes whenever a price is stored (a new one, or one
// replaced): readers that keep answers derived from prices start again
// when it changes. Two indexed look-ups, cheap enough for every request.
func (s *Store) PriceVersion(ctx context.Context, currency string) (string, error) {
	var id, fetched sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT MAX(rowid) FROM prices),
		(SELECT MAX(fetched_at) FROM prices WHERE currency = ?)`, currency).Scan(&id, &fetched)
	if err != nil {
		return "", fmt.Errorf("store: price version: %w", err)
	}
	return fmt.Sprintf("%d.%d", id.Int64, fetched.Int64), nil
}

// queryPriceDaysMissing lists the UTC days holding a block of a stored
// transaction, without a stored price of that day and not recorded as
// missing at the source until after now; newest first.
const queryPriceDaysMissing = `
SELECT d FROM (
    SELECT DISTINCT (b.time / 86400) * 86400 AS d FROM blocks b
    WHERE EXISTS (SELECT 1 FROM txs t WHERE t.block_hash = b.hash))
WHERE NOT EXISTS (SELECT 1 FROM prices p WHERE p.currency = ?1 AND p.time >= d AND p.time < d + 86400)
  AND NOT EXISTS (SELECT 1 FROM price_misses m WHERE m.currency = ?1 AND m.day = d AND m.retry_after > ?2)
ORDER BY d DESC
LIMIT ?3`

// PriceDaysMissing returns up to limit UTC days (their 00:00) on which a
// ledger transaction was confirmed and no price in currency is stored,
// newest first, leaving out days the source lacked until their retry time.
// The price refresher fetches these in the background.
func (s *Store) PriceDaysMissing(ctx context.Context, currency string, now time.Time, limit int) ([]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, queryPriceDaysMissing, currency, now.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: days without a price: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("store: days without a price: %w", err)
		}
		out = append(out, time.Unix(d, 0).UTC())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: days without a price: %w", err)
	}
	return out, nil
}

// SavePriceMiss records that the source had no price in currency for the
// UTC day starting at dayStart, so that it is not asked again before
// retryAfter.
func (s *Store) SavePriceMiss(ctx context.Context, currency string, dayStart, retryAfter time.Time) error {
	d := dayStart.Unix() / day * day
	_, err := s.db.ExecContext(ctx, `INSERT INTO price_misses (currency, day, retry_after) VALUES (?, ?, ?)
		ON CONFLICT (currency, day) DO UPDATE SET retry_after = excluded.retry_after`, currency, d, retryAfter.Unix())
	if err != nil {
		return fmt.Errorf("store: save price miss: %w", err)
	}
	return nil
}
