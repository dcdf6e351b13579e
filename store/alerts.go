package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// AlertState is where an announced flow stands.
type AlertState string

// The states of an alert row: an alert is pending until every channel took
// it, then sent; a reorg turns a sent alert into retracting until every
// channel took the retraction, then retracted.
const (
	AlertPending    AlertState = "pending"
	AlertSent       AlertState = "sent"
	AlertRetracting AlertState = "retracting"
	AlertRetracted  AlertState = "retracted"
)

// Alert is one flow a rule announced, kept so that it is announced once,
// even across restarts, and retracted if the chain takes it back.
type Alert struct {
	ID        int64
	Rule      string
	Entity    string
	Txid      chainhash.Hash
	Kind      string
	Amount    int64  // the entity's delta, satoshis
	Fee       *int64 // nil when unknown
	Height    int64
	BlockHash chainhash.Hash
	BlockTime time.Time

	State       AlertState
	Delivered   []string // channels that took the current state's message
	CreatedAt   time.Time
	SentAt      time.Time // zero until sent
	RetractedAt time.Time // zero until retracted
	Attempts    int64
	LastError   string
}

// AlertRuleSince returns the height a rule starts at: tip when the rule is
// new (it is recorded then), the recorded height otherwise. Flows already
// deep enough at that height are history, not news.
func (s *Store) AlertRuleSince(ctx context.Context, rule string, tip int64, now time.Time) (int64, error) {
	if rule == "" {
		return 0, errors.New("store: alert rule: empty key")
	}
	var since int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_rules (rule, since_height, created_at) VALUES (?, ?, ?)
			ON CONFLICT (rule) DO NOTHING`, rule, tip, now.Unix()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT since_height FROM alert_rules WHERE rule = ?`, rule).Scan(&since)
	})
	if err != nil {
		return 0, fmt.Errorf("store: alert rule: %w", err)
	}
	return since, nil
}

// AddAlert records a flow about to be announced, as pending, and returns
// its id: the message carries it, so a delivery retried after a crash
// carries the same id. A flow the rule already announces is refused.
func (s *Store) AddAlert(ctx context.Context, a Alert) (int64, error) {
	if a.Rule == "" || a.Entity == "" || a.Kind == "" {
		return 0, fmt.Errorf("store: add alert: rule, entity and kind are required")
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO alerts (rule, entity, txid, kind, amount, fee, height, block_hash,
		block_time, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
		a.Rule, a.Entity, a.Txid[:], a.Kind, a.Amount, a.Fee, a.Height, a.BlockHash[:], a.BlockTime.Unix(), a.CreatedAt.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: add alert %s %s: %w", a.Entity, a.Txid, err)
	}
	return res.LastInsertId()
}

// UpdateAlert writes what delivery changed: state, delivered channels,
// times, attempts and last error. The identifying and chain fields of a
// stored alert never change.
func (s *Store) UpdateAlert(ctx context.Context, a Alert) error {
	switch a.State {
	case AlertPending, AlertSent, AlertRetracting, AlertRetracted:
	default:
		return fmt.Errorf("store: update alert %d: unknown state %q", a.ID, a.State)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE alerts SET state = ?, delivered = ?, sent_at = ?, retracted_at = ?,
		attempts = ?, last_error = ? WHERE id = ?`,
		string(a.State), strings.Join(a.Delivered, ","), unixOrNull(a.SentAt), unixOrNull(a.RetractedAt),
		a.Attempts, a.LastError, a.ID)
	if err != nil {
		return fmt.Errorf("store: update alert %d: %w", a.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("store: update alert %d: no such alert", a.ID)
	}
	return nil
}

// DeleteAlert forgets a pending alert that no channel took and whose flow
// the chain took back: nothing was announced, so nothing is retracted.
func (s *Store) DeleteAlert(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM alerts WHERE id = ? AND state = 'pending' AND delivered = ''`, id)
	if err != nil {
		return fmt.Errorf("store: delete alert %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("store: delete alert %d: not a pending alert nobody took", id)
	}
	return nil
}

// StandingAlerts returns a rule's alerts that are not retracted, oldest
// first: those still to deliver, to keep, or to retract.
func (s *Store) StandingAlerts(ctx context.Context, rule string) ([]Alert, error) {
	return s.queryAlerts(ctx, `WHERE rule = ? AND state <> 'retracted' ORDER BY id`, rule)
}

// Alerts returns every alert of every rule, oldest first, for operators
// and tests.
func (s *Store) Alerts(ctx context.Context) ([]Alert, error) {
	return s.queryAlerts(ctx, `ORDER BY id`)
}

func (s *Store) queryAlerts(ctx context.Context, where string, args ...any) ([]Alert, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, rule, entity, txid, kind, amount, fee, height, block_hash, block_time,
		state, delivered, created_at, sent_at, retracted_at, attempts, last_error FROM alerts `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var txid, hash []byte
		var fee, sent, retracted sql.NullInt64
		var bt, created int64
		var state, delivered string
		if err := rows.Scan(&a.ID, &a.Rule, &a.Entity, &txid, &a.Kind, &a.Amount, &fee, &a.Height, &hash, &bt,
			&state, &delivered, &created, &sent, &retracted, &a.Attempts, &a.LastError); err != nil {
			return nil, fmt.Errorf("store: alerts: %w", err)
		}
		if len(txid) != chainhash.HashSize || len(hash) != chainhash.HashSize {
			return nil, fmt.Errorf("store: alert %d: malformed txid or block hash", a.ID)
		}
		copy(a.Txid[:], txid)
		copy(a.BlockHash[:], hash)
		if fee.Valid {
			a.Fee = &fee.Int64
		}
		a.State = AlertState(state)
		if delivered != "" {
			a.Delivered = strings.Split(delivered, ",")
		}
		a.BlockTime, a.CreatedAt = time.Unix(bt, 0).UTC(), time.Unix(created, 0).UTC()
		if sent.Valid {
			a.SentAt = time.Unix(sent.Int64, 0).UTC()
		}
		if retracted.Valid {
			a.RetractedAt = time.Unix(retracted.Int64, 0).UTC()
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeliveredTo reports whether channel already took the alert's current
// message.
func (a Alert) DeliveredTo(channel string) bool { return slices.Contains(a.Delivered, channel) }

func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}
