package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Delivery statuses of a report to one target.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// ArchivedReport is one produced report as archived: its period, the
// blocks it is stated at (so regenerating it gives the same figures), its
// digest and where it has been delivered.
type ArchivedReport struct {
	ID            int64
	Name          string
	Instant, From time.Time
	Manual        bool // produced on request, not at a scheduled instant
	FromBlock     Block
	ToBlock       Block
	Digest        string
	ProducedAt    time.Time
	Deliveries    []Delivery       // by target name; filled by the read methods
	Files         []ReportFileInfo // without their bytes; filled by the read methods
}

// ReportFile is one archived document of a report.
type ReportFile struct {
	Name, ContentType string
	Data              []byte
}

// ReportFileInfo describes an archived file without its bytes, for lists.
type ReportFileInfo struct {
	Name, ContentType string
	Size              int64
}

// Delivery is the current state of one report's delivery to one target.
type Delivery struct {
	ReportID  int64
	Target    string
	Status    string // DeliveryPending, DeliveryDelivered or DeliveryFailed
	Attempts  int
	Permanent bool // failed in a way retrying cannot fix
	LastError string
	UpdatedAt time.Time
}

// DeliveryAttempt is one try to deliver a report to a target.
type DeliveryAttempt struct {
	ReportID  int64
	Target    string
	N         int
	At        time.Time
	Err       string // empty when delivered
	Permanent bool
	Done      bool
}

// SaveReport archives r with its files and a pending delivery per target,
// all in one transaction. If a report of the same name and instant is
// already archived nothing is written and created is false: that is how a
// scheduled instant is produced exactly once, whoever (daemon or command)
// gets there first.
func (s *Store) SaveReport(ctx context.Context, r ArchivedReport, files []ReportFile, targets []string) (id int64, created bool, err error) {
	if r.Name == "" || r.Instant.IsZero() || r.Digest == "" {
		return 0, false, fmt.Errorf("store: save report: name, instant and digest are required")
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO reports (name, instant, from_instant, manual,
			from_height, from_hash, from_time, to_height, to_hash, to_time, digest, produced_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, instant) DO NOTHING`,
			r.Name, r.Instant.Unix(), r.From.Unix(), boolInt(r.Manual),
			r.FromBlock.Height, r.FromBlock.Hash[:], r.FromBlock.Time.Unix(),
			r.ToBlock.Height, r.ToBlock.Hash[:], r.ToBlock.Time.Unix(), r.Digest, r.ProducedAt.Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = tx.QueryRowContext(ctx, `SELECT id FROM reports WHERE name = ? AND instant = ?`, r.Name, r.Instant.Unix()).Scan(&id)
			}
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		created = true
		for _, f := range files {
			if _, err := tx.ExecContext(ctx, `INSERT INTO report_files (report_id, name, content_type, data) VALUES (?, ?, ?, ?)`,
				id, f.Name, f.ContentType, f.Data); err != nil {
				return fmt.Errorf("file %s: %w", f.Name, err)
			}
		}
		for _, t := range targets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO report_deliveries (report_id, target, updated_at) VALUES (?, ?, ?)`,
				id, t, r.ProducedAt.Unix()); err != nil {
				return fmt.Errorf("delivery %s: %w", t, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: save report %s at %s: %w", r.Name, r.Instant.UTC().Format(time.RFC3339), err)
	}
	return id, created, nil
}

const reportCols = `id, name, instant, from_instant, manual, from_height, from_hash, from_time,
	to_height, to_hash, to_time, digest, produced_at`

// ReportAt returns the archived report of name at instant.
func (s *Store) ReportAt(ctx context.Context, name string, instant time.Time) (ArchivedReport, bool, error) {
	rs, err := s.queryReports(ctx, `SELECT `+reportCols+` FROM reports WHERE name = ? AND instant = ?`, name, instant.Unix())
	if err != nil || len(rs) == 0 {
		return ArchivedReport{}, false, err
	}
	return rs[0], true, nil
}

// ReportByID returns the archived report with id.
func (s *Store) ReportByID(ctx context.Context, id int64) (ArchivedReport, bool, error) {
	rs, err := s.queryReports(ctx, `SELECT `+reportCols+` FROM reports WHERE id = ?`, id)
	if err != nil || len(rs) == 0 {
		return ArchivedReport{}, false, err
	}
	return rs[0], true, nil
}

// Reports lists archived reports newest instant first; an empty name means
// every report, limit <= 0 means no limit.
func (s *Store) Reports(ctx context.Context, name string, limit int) ([]ArchivedReport, error) {
	if limit <= 0 {
		limit = -1
	}
	return s.queryReports(ctx, `SELECT `+reportCols+` FROM reports WHERE ? = '' OR name = ?
		ORDER BY instant DESC, name LIMIT ?`, name, name, limit)
}

// LastScheduledInstant returns the newest scheduled (not manual) instant
// archived for name, from which the scheduler continues.
func (s *Store) LastScheduledInstant(ctx context.Context, name string) (time.Time, bool, error) {
	var t sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(instant) FROM reports WHERE name = ? AND manual = 0`, name).Scan(&t); err != nil {
		return time.Time{}, false, fmt.Errorf("store: last report instant of %s: %w", name, err)
	}
	if !t.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(t.Int64, 0).UTC(), true, nil
}

// ReportScheduleSince returns when the scheduler first saw report name,
// recording now if it never did.
func (s *Store) ReportScheduleSince(ctx context.Context, name string, now time.Time) (time.Time, error) {
	var since int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_schedules (name, since) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, now.Unix()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT since FROM report_schedules WHERE name = ?`, name).Scan(&since)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: report schedule %s: %w", name, err)
	}
	return time.Unix(since, 0).UTC(), nil
}

// ReportFiles returns the archived files of a report, in name order.
func (s *Store) ReportFiles(ctx context.Context, reportID int64) ([]ReportFile, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, content_type, data FROM report_files WHERE report_id = ? ORDER BY name`, reportID)
	if err != nil {
		return nil, fmt.Errorf("store: report files: %w", err)
	}
	defer rows.Close()
	var out []ReportFile
	for rows.Next() {
		var f ReportFile
		if err := rows.Scan(&f.Name, &f.ContentType, &f.Data); err != nil {
			return nil, fmt.Errorf("store: report files: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: report files: %w", err)
	}
	return out, nil
}

// RecordDeliveryAttempt stores one attempt and the delivery's resulting
// status: delivered when done, failed when the attempt failed for good or
// was the last of its round (final), pending otherwise.
func (s *Store) RecordDeliveryAttempt(ctx context.Context, a DeliveryAttempt, final bool) error {
	outcome, status := "error", DeliveryPending
	switch {
	case a.Done:
		outcome, status = "delivered", DeliveryDelivered
	case a.Permanent:
		outcome, status = "permanent", DeliveryFailed
	case final:
		status = DeliveryFailed
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE report_deliveries SET status = ?, attempts = attempts + 1,
			permanent = ?, last_error = ?, updated_at = ? WHERE report_id = ? AND target = ?`,
			status, boolInt(a.Permanent), a.Err, a.At.Unix(), a.ReportID, a.Target)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("no delivery of report %d to %s", a.ReportID, a.Target))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO report_delivery_attempts (report_id, target, n, at, outcome, error)
			VALUES (?, ?, ?, ?, ?, ?)`, a.ReportID, a.Target, a.N, a.At.Unix(), outcome, a.Err)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record delivery of report %d to %s: %w", a.ReportID, a.Target, err)
	}
	return nil
}

// DeliveriesToRetry lists deliveries not yet delivered that retrying may
// fix (pending, or failed but not permanently), oldest report first.
func (s *Store) DeliveriesToRetry(ctx context.Context) ([]Delivery, error) {
	return s.queryDeliveries(ctx, `SELECT report_id, target, status, attempts, permanent, last_error, updated_at
		FROM report_deliveries WHERE status != 'delivered' AND permanent = 0 ORDER BY report_id, target`)
}

// DeliveryAttempts lists every attempt of one report, oldest first.
func (s *Store) DeliveryAttempts(ctx context.Context, reportID int64) ([]DeliveryAttempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT report_id, target, n, at, outcome, error FROM report_delivery_attempts
		WHERE report_id = ? ORDER BY id`, reportID)
	if err != nil {
		return nil, fmt.Errorf("store: delivery attempts: %w", err)
	}
	defer rows.Close()
	var out []DeliveryAttempt
	for rows.Next() {
		var a DeliveryAttempt
		var at int64
		var outcome string
		if err := rows.Scan(&a.ReportID, &a.Target, &a.N, &at, &outcome, &a.Err); err != nil {
			return nil, fmt.Errorf("store: delivery attempts: %w", err)
		}
		a.At, a.Done, a.Permanent = time.Unix(at, 0).UTC(), outcome == "delivered", outcome == "permanent"
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *Store) queryReports(ctx context.Context, q string, args ...any) ([]ArchivedReport, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: reports: %w", err)
	}
	var out []ArchivedReport
	for rows.Next() {
		var r ArchivedReport
		var inst, from, fromT, toT, produced int64
		var manual int
		var fromHash, toHash []byte
		if err := rows.Scan(&r.ID, &r.Name, &inst, &from, &manual, &r.FromBlock.Height, &fromHash, &fromT,
			&r.ToBlock.Height, &toHash, &toT, &r.Digest, &produced); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: reports: %w", err)
		}
		r.Instant, r.From, r.ProducedAt = time.Unix(inst, 0).UTC(), time.Unix(from, 0).UTC(), time.Unix(produced, 0).UTC()
		r.Manual = manual == 1
		r.FromBlock.Time, r.ToBlock.Time = time.Unix(fromT, 0).UTC(), time.Unix(toT, 0).UTC()
		copy(r.FromBlock.Hash[:], fromHash)
		copy(r.ToBlock.Hash[:], toHash)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reports: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// Deliveries and files of the listed reports: two queries per
	// reportsPerQuery reports, not two per report.
	index := make(map[int64]*ArchivedReport, len(out))
	for i := range out {
		index[out[i].ID] = &out[i]
	}
	for start := 0; start < len(out); start += reportsPerQuery {
		part := out[start:min(start+reportsPerQuery, len(out))]
		ids := make([]any, len(part))
		for i := range part {
			ids[i] = part[i].ID
		}
		in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
		ds, err := s.queryDeliveries(ctx, `SELECT report_id, target, status, attempts, permanent, last_error, updated_at
			FROM report_deliveries WHERE report_id IN `+in+` ORDER BY report_id, target`, ids...)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			r := index[d.ReportID]
			r.Deliveries = append(r.Deliveries, d)
		}
		if err := s.reportFileInfos(ctx, in, ids, index); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reportsPerQuery bounds the ids in one IN list, well below SQLite's
// limit on bound parameters.
const reportsPerQuery = 500

// reportFileInfos fills the file lists (without bytes) of the reports
// in index, whose ids are the arguments of the placeholder list in.
func (s *Store) reportFileInfos(ctx context.Context, in string, ids []any, index map[int64]*ArchivedReport) error {
	rows, err := s.db.QueryContext(ctx, `SELECT report_id, name, content_type, length(data) FROM report_files
		WHERE report_id IN `+in+` ORDER BY report_id, name`, ids...)
	if err != nil {
		return fmt.Errorf("store: report files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var f ReportFileInfo
		if err := rows.Scan(&id, &f.Name, &f.ContentType, &f.Size); err != nil {
			return fmt.Errorf("store: report files: %w", err)
		}
		r := index[id]
		r.Files = append(r.Files, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: report files: %w", err)
	}
	return nil
}

func (s *Store) queryDeliveries(ctx context.Context, q string, args ...any) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var perm int
		var at int64
		if err := rows.Scan(&d.ReportID, &d.Target, &d.Status, &d.Attempts, &perm, &d.LastError, &at); err != nil {
			return nil, fmt.Errorf("store: deliveries: %w", err)
		}
		d.Permanent, d.UpdatedAt = perm == 1, time.Unix(at, 0).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	return out, nil
}

// String names a report for logs and messages: "daily@2026-12-06T08:00:00Z".
func (r ArchivedReport) String() string {
	return r.Name + "@" + r.Instant.UTC().Format(time.RFC3339)
}
