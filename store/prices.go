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
