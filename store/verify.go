package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// Verification records that several independent backends reported the
// same balances at one block: the claim behind "checked against N
// independent sources at block H".
type Verification struct {
	Height int64
	Hash   chainhash.Hash
	// Sources are the backends that agreed, primary first (redacted names).
	Sources   []string
	CheckedAt time.Time
}

// IncidentFigure is what one backend reported in a disagreement.
type IncidentFigure struct {
	Backend      string
	Hash         chainhash.Hash // its block at the incident's height
	ConfirmedSat int64
}

// Incident is a disagreement between backends that holds figures back.
type Incident struct {
	ID       int64
	OpenedAt time.Time
	SeenAt   time.Time
	// ResolvedAt is zero while the incident holds data back.
	ResolvedAt time.Time
	Height     int64
	// Entity is the entity whose balances differ; empty when the backends'
	// blocks at Height differ.
	Entity  string
	Summary string
	Figures []IncidentFigure
}

// PublishVerified publishes the ledger at b (as a sync's last step does),
// records the verification and resolves any open incident, in one SQL
// transaction: readers never see the figures without the check that
// allowed them.
func (s *Store) PublishVerified(ctx context.Context, b Block, v Verification) error {
	now := v.CheckedAt
	if now.IsZero() {
		now = time.Now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []struct {
			q    string
			args []any
		}{
			{normalizePositions, nil},
			{upsertBlock, []any{b.Height, b.Hash[:], b.Time.Unix()}},
			{publishState, []any{b.Height, b.Hash[:], b.Time.Unix(), now.Unix()}},
			{pruneBlocks, []any{b.Height}},
			{`INSERT INTO verifications(height, hash, sources, n_sources, checked_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT(height, hash) DO UPDATE SET sources = excluded.sources, n_sources = excluded.n_sources,
				checked_at = excluded.checked_at`,
				[]any{v.Height, v.Hash[:], strings.Join(v.Sources, "\n"), len(v.Sources), now.Unix()}},
			{`UPDATE verify_incidents SET resolved_at = ? WHERE resolved_at IS NULL`, []any{now.Unix()}},
		} {
			if _, err := tx.ExecContext(ctx, q.q, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: publish verified block %d: %w", b.Height, err)
	}
	return nil
}

// VerificationAt returns the verification of the block height/hash;
// ok=false when that block was not cross-checked.
func (s *Store) VerificationAt(ctx context.Context, height int64, hash chainhash.Hash) (v Verification, ok bool, err error) {
	var sources string
	var at int64
	err = s.db.QueryRowContext(ctx, `SELECT sources, checked_at FROM verifications WHERE height = ? AND hash = ?`,
		height, hash[:]).Scan(&sources, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Verification{}, false, nil
	}
	if err != nil {
		return Verification{}, false, fmt.Errorf("store: verification of block %d: %w", height, err)
	}
	return Verification{Height: height, Hash: hash, Sources: strings.Split(sources, "\n"),
		CheckedAt: time.Unix(at, 0).UTC()}, true, nil
}

// RecordIncident stores a disagreement. While an incident is open, a
// later disagreement updates it (figures, height, when last seen) instead
// of opening another, so one dispute is one incident however many syncs
// it lasts; opened reports whether this call opened it.
func (s *Store) RecordIncident(ctx context.Context, inc Incident) (id int64, opened bool, err error) {
	now := inc.SeenAt
	if now.IsZero() {
		now = time.Now()
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM verify_incidents WHERE resolved_at IS NULL ORDER BY id DESC LIMIT 1`).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			opened = true
			res, err := tx.ExecContext(ctx, `INSERT INTO verify_incidents(opened_at, seen_at, height, entity, summary)
				VALUES (?, ?, ?, ?, ?)`, now.Unix(), now.Unix(), inc.Height, inc.Entity, inc.Summary)
			if err != nil {
				return err
			}
			if id, err = res.LastInsertId(); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE verify_incidents SET seen_at = ?, height = ?, entity = ?, summary = ?
				WHERE id = ?`, now.Unix(), inc.Height, inc.Entity, inc.Summary, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM verify_incident_figures WHERE incident_id = ?`, id); err != nil {
				return err
			}
		}
		for _, f := range inc.Figures {
			if _, err := tx.ExecContext(ctx, `INSERT INTO verify_incident_figures(incident_id, backend, hash, confirmed_sat)
				VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET hash = excluded.hash, confirmed_sat = excluded.confirmed_sat`,
				id, f.Backend, f.Hash[:], f.ConfirmedSat); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: record incident: %w", err)
	}
	return id, opened, nil
}

// Incidents returns the most recent incidents, newest first, with their
// figures.
func (s *Store) Incidents(ctx context.Context, limit int) ([]Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, opened_at, seen_at, resolved_at, height, entity, summary
		FROM verify_incidents ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	var out []Incident
	for rows.Next() {
		var in Incident
		var opened, seen int64
		var resolved sql.NullInt64
		if err := rows.Scan(&in.ID, &opened, &seen, &resolved, &in.Height, &in.Entity, &in.Summary); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: incidents: %w", err)
		}
		in.OpenedAt, in.SeenAt = time.Unix(opened, 0).UTC(), time.Unix(seen, 0).UTC()
		if resolved.Valid {
			in.ResolvedAt = time.Unix(resolved.Int64, 0).UTC()
		}
		out = append(out, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	for i := range out {
		if out[i].Figures, err = s.incidentFigures(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OpenIncident returns the incident holding data back, if any.
func (s *Store) OpenIncident(ctx context.Context) (Incident, bool, error) {
	all, err := s.Incidents(ctx, 1)
	if err != nil || len(all) == 0 || !all[0].ResolvedAt.IsZero() {
		return Incident{}, false, err
	}
	return all[0], true, nil
}

func (s *Store) incidentFigures(ctx context.Context, id int64) ([]IncidentFigure, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT backend, hash, confirmed_sat FROM verify_incident_figures
		WHERE incident_id = ? ORDER BY rowid`, id)
	if err != nil {
		return nil, fmt.Errorf("store: incident %d figures: %w", id, err)
	}
	defer rows.Close()
	var out []IncidentFigure
	for rows.Next() {
		var f IncidentFigure
		var hash []byte
		if err := rows.Scan(&f.Backend, &hash, &f.ConfirmedSat); err != nil {
			return nil, fmt.Errorf("store: incident %d figures: %w", id, err)
		}
		copy(f.Hash[:], hash)
		out = append(out, f)
	}
	return out, rows.Err()
}

// ForgetStatuses clears every script's change-detection status, so that
// the next sync fetches every history again instead of trusting that an
// unchanged status means an unchanged (and correct) history: after a
// disagreement, any source may have been the one that lied.
func (s *Store) ForgetStatuses(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE scripts SET status = NULL`); err != nil {
		return fmt.Errorf("store: forget statuses: %w", err)
	}
	return nil
}
