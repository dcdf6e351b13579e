package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Block is a block the ledger refers to.
type Block struct {
	Height int64
	Hash   chainhash.Hash
	Time   time.Time
}

// Tx is a transaction touching at least one watched script. Height is -1
// and BlockHash zero while it is unconfirmed.
type Tx struct {
	Txid      chainhash.Hash
	Height    int64
	BlockHash chainhash.Hash
	Pos       int64 // position in block, -1 when unknown
	NIn, NOut int64
	OutTotal  int64 // satoshis
	Coinbase  bool
	Raw       []byte
}

// Row is what one transaction did to one script, in satoshis.
type Row struct {
	ScriptID  int64
	Txid      chainhash.Hash
	Received  int64
	Spent     int64
	NIn, NOut int64
	Vouts     []Output // outputs of Txid paying the script
}

// Output is an output paid to a watched script.
type Output struct {
	Vout  uint32
	Value int64
}

// ScriptSync records that a script's history is complete at a tip.
type ScriptSync struct {
	ScriptID int64
	Block    Block
	// Status is the backend's change-detection status; nil stores NULL,
	// which makes the next sync fetch the history again.
	Status *string
}

// Step is one atomic write of the sync engine: everything in it commits
// together or not at all.
type Step struct {
	Blocks []Block
	Txs    []Tx
	// ReplaceScripts drops every row and output of these scripts before
	// Rows are written: their full history is in this step.
	ReplaceScripts []int64
	Rows           []Row
	// DropTxids removes these transactions and their rows (mempool
	// transactions that left the mempool without confirming).
	DropTxids []chainhash.Hash
	Synced    []ScriptSync
	// MempoolSeen, when non-nil, replaces the set of inspected mempool txids.
	MempoolSeen []chainhash.Hash
	// Publish, when set, makes the step's ledger visible to readers as of
	// this block (the last step of a sync).
	Publish *Block
	Now     time.Time
}

const (
	upsertBlock = `INSERT INTO blocks(height, hash, time) VALUES (?, ?, ?)
		ON CONFLICT(height) DO UPDATE SET hash = excluded.hash, time = excluded.time`
	// The inserts below take many rows per statement (see bulk).
	upsertTxHead = `INSERT INTO txs(txid, block_hash, height, pos, n_in, n_out, out_total, coinbase, raw, first_seen) VALUES `
	upsertTxTail = ` ON CONFLICT(txid) DO UPDATE SET
			pos = CASE WHEN excluded.pos >= 0 THEN excluded.pos
			           WHEN txs.height IS excluded.height THEN txs.pos ELSE -1 END,
			block_hash = excluded.block_hash, height = excluded.height`
	insertRowHead = `INSERT INTO script_txs(script_id, txid, received, spent, n_in, n_out) VALUES `
	insertRowTail = ` ON CONFLICT(script_id, txid) DO UPDATE SET received = excluded.received, spent = excluded.spent,
			n_in = excluded.n_in, n_out = excluded.n_out`
	insertOutputHead = `INSERT INTO outputs(txid, vout, script_id, value) VALUES `
	insertOutputTail = ` ON CONFLICT(txid, vout) DO UPDATE SET script_id = excluded.script_id, value = excluded.value`
	pruneOrphanTxs   = `DELETE FROM txs WHERE NOT EXISTS (SELECT 1 FROM script_txs st WHERE st.txid = txs.txid)`
	// Keep block hashes of txs, of the published tip and of the last 100
	// heights below it (for reorg detection); drop the rest.
	pruneBlocks = `DELETE FROM blocks WHERE height < ? - 100
		AND NOT EXISTS (SELECT 1 FROM txs WHERE txs.block_hash = blocks.hash)`
	// A position is kept exactly when it orders something (two or more
	// ledger transactions in one block), so a ledger holds the same rows
	// however it was synced: by scanning blocks, which sees every
	// position, or by fetching histories, which asks only where needed.
	normalizePositions = `UPDATE txs SET pos = -1 WHERE pos >= 0 AND block_hash IN
		(SELECT block_hash FROM txs WHERE block_hash IS NOT NULL GROUP BY block_hash HAVING COUNT(*) = 1)`
	publishState = `INSERT INTO sync_state(id, height, hash, time, synced_at, generation) VALUES (1, ?, ?, ?, ?, 1)
		ON CONFLICT(id) DO UPDATE SET height = excluded.height, hash = excluded.hash, time = excluded.time,
			synced_at = excluded.synced_at, generation = sync_state.generation + 1`
)

// Apply writes a step in one SQL transaction. Statements are prepared
// once per step: an initial sync writes thousands of rows per step.
func (s *Store) Apply(ctx context.Context, st Step) error {
	now := st.Now
	if now.IsZero() {
		now = time.Now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ps := &prepared{tx: tx, ctx: ctx, stmts: map[string]*sql.Stmt{}}
		defer ps.close()
		for _, b := range st.Blocks {
			if err := ps.exec(upsertBlock, b.Height, b.Hash[:], b.Time.Unix()); err != nil {
				return fmt.Errorf("block %d: %w", b.Height, err)
			}
		}
		txArgs := make([]any, 0, 10*len(st.Txs))
		for _, t := range st.Txs {
			var bh, h any
			if t.Height >= 0 {
				bh, h = t.BlockHash[:], t.Height
			}
			txArgs = append(txArgs, t.Txid[:], bh, h, t.Pos, t.NIn, t.NOut, t.OutTotal, boolInt(t.Coinbase), t.Raw, now.Unix())
		}
		if err := ps.bulk(upsertTxHead, upsertTxTail, 10, txArgs); err != nil {
			return fmt.Errorf("txs: %w", err)
		}
		for _, id := range st.ReplaceScripts {
			if err := ps.exec(`DELETE FROM script_txs WHERE script_id = ?`, id); err != nil {
				return err
			}
			if err := ps.exec(`DELETE FROM outputs WHERE script_id = ?`, id); err != nil {
				return err
			}
		}
		rowArgs := make([]any, 0, 6*len(st.Rows))
		var outArgs []any
		for _, r := range st.Rows {
			rowArgs = append(rowArgs, r.ScriptID, r.Txid[:], r.Received, r.Spent, r.NIn, r.NOut)
			for _, o := range r.Vouts {
				outArgs = append(outArgs, r.Txid[:], o.Vout, r.ScriptID, o.Value)
			}
		}
		if err := ps.bulk(insertRowHead, insertRowTail, 6, rowArgs); err != nil {
			return fmt.Errorf("rows: %w", err)
		}
		if err := ps.bulk(insertOutputHead, insertOutputTail, 4, outArgs); err != nil {
			return fmt.Errorf("outputs: %w", err)
		}
		for _, id := range st.DropTxids {
			if err := ps.exec(`DELETE FROM txs WHERE txid = ?`, id[:]); err != nil {
				return err
			}
		}
		for _, sy := range st.Synced {
			var status any
			if sy.Status != nil {
				status = *sy.Status
			}
			if err := ps.exec(`UPDATE scripts SET synced_height = ?, synced_hash = ?, status = ? WHERE id = ?`,
				sy.Block.Height, sy.Block.Hash[:], status, sy.ScriptID); err != nil {
				return err
			}
		}
		if st.MempoolSeen != nil {
			if err := ps.exec(`DELETE FROM mempool_seen`); err != nil {
				return err
			}
			for _, id := range st.MempoolSeen {
				if err := ps.exec(`INSERT OR IGNORE INTO mempool_seen(txid) VALUES (?)`, id[:]); err != nil {
					return err
				}
			}
		}
		// Only replaced rows can leave a transaction without rows.
		if len(st.ReplaceScripts) > 0 {
			if err := ps.exec(pruneOrphanTxs); err != nil {
				return err
			}
		}
		if p := st.Publish; p != nil {
			for _, q := range []struct {
				q    string
				args []any
			}{
				{normalizePositions, nil},
				{upsertBlock, []any{p.Height, p.Hash[:], p.Time.Unix()}},
				{publishState, []any{p.Height, p.Hash[:], p.Time.Unix(), now.Unix()}},
				{pruneBlocks, []any{p.Height}},
			} {
				if err := ps.exec(q.q, q.args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: apply sync step: %w", err)
	}
	return nil
}

// prepared caches the statements of one SQL transaction.
type prepared struct {
	tx    *sql.Tx
	ctx   context.Context
	stmts map[string]*sql.Stmt
}

func (p *prepared) exec(q string, args ...any) error {
	st, ok := p.stmts[q]
	if !ok {
		var err error
		if st, err = p.tx.PrepareContext(p.ctx, q); err != nil {
			return err
		}
		p.stmts[q] = st
	}
	_, err := st.ExecContext(p.ctx, args...)
	return err
}

// bulkRows is how many rows one bulk statement inserts: the per-statement
// cost of the SQLite driver dominates single-row inserts.
const bulkRows = 100

// bulk runs head + "(?,…),(?,…)…" + tail over args, n values a row,
// bulkRows rows a statement.
func (p *prepared) bulk(head, tail string, n int, args []any) error {
	tuple := "(?" + strings.Repeat(",?", n-1) + ")"
	for lo := 0; lo < len(args); lo += n * bulkRows {
		hi := min(lo+n*bulkRows, len(args))
		rows := (hi - lo) / n
		q := head + tuple + strings.Repeat(","+tuple, rows-1) + tail
		if err := p.exec(q, args[lo:hi]...); err != nil {
			return err
		}
	}
	return nil
}

func (p *prepared) close() {
	for _, st := range p.stmts {
		st.Close()
	}
}

// Rollback undoes everything above forkHeight after a reorg: blocks above
// it and their transactions go, every script must fetch its history again,
// and the published state falls back to the fork block (or is cleared).
// Unconfirmed transactions go too: the mempool is re-read after a reorg.
func (s *Store) Rollback(ctx context.Context, fork *Block) error {
	h := int64(-1)
	if fork != nil {
		h = fork.Height
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmts := []struct {
			q    string
			args []any
		}{
			{`DELETE FROM blocks WHERE height > ?`, []any{h}},
			{`DELETE FROM txs WHERE height IS NULL`, nil},
			{`UPDATE scripts SET status = NULL`, nil},
			{`DELETE FROM mempool_seen`, nil},
			{pruneOrphanTxs, nil},
		}
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return err
			}
		}
		if fork == nil {
			if _, err := tx.ExecContext(ctx, `UPDATE scripts SET synced_height = NULL, synced_hash = NULL`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM sync_state`)
			return err
		}
		// Scripts complete above the fork are complete at the fork now.
		if _, err := tx.ExecContext(ctx, `UPDATE scripts SET synced_height = ?, synced_hash = ? WHERE synced_height > ?`,
			fork.Height, fork.Hash[:], fork.Height); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE sync_state SET height = ?, hash = ?, time = ?, generation = generation + 1
			WHERE height > ?`, fork.Height, fork.Hash[:], fork.Time.Unix(), fork.Height)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: roll back to height %d: %w", h, err)
	}
	return nil
}

// EnsureScripts registers scripts (idempotently) and returns their ids in
// the same order.
func (s *Store) EnsureScripts(ctx context.Context, scripts [][]byte) ([]int64, error) {
	ids := make([]int64, len(scripts))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO scripts(script) VALUES (?) ON CONFLICT(script) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		sel, err := tx.PrepareContext(ctx, `SELECT id FROM scripts WHERE script = ?`)
		if err != nil {
			return err
		}
		defer sel.Close()
		for i, sc := range scripts {
			if _, err := ins.ExecContext(ctx, sc); err != nil {
				return err
			}
			if err := sel.QueryRowContext(ctx, sc).Scan(&ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: register scripts: %w", err)
	}
	return ids, nil
}

// ScriptState is the sync bookkeeping of one script.
type ScriptState struct {
	ID           int64
	Status       *string
	SyncedHeight int64 // -1 when never synced
	SyncedHash   chainhash.Hash
}

// ScriptStates returns the state of the given script ids, by id.
func (s *Store) ScriptStates(ctx context.Context) (map[int64]ScriptState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, status, synced_height, synced_hash FROM scripts`)
	if err != nil {
		return nil, fmt.Errorf("store: script states: %w", err)
	}
	defer rows.Close()
	out := map[int64]ScriptState{}
	for rows.Next() {
		var st ScriptState
		var status sql.NullString
		var h sql.NullInt64
		var hash []byte
		if err := rows.Scan(&st.ID, &status, &h, &hash); err != nil {
			return nil, err
		}
		if status.Valid {
			st.Status = &status.String
		}
		st.SyncedHeight = -1
		if h.Valid {
			st.SyncedHeight = h.Int64
			copy(st.SyncedHash[:], hash)
		}
		out[st.ID] = st
	}
	return out, rows.Err()
}

// SyncState returns the last published sync, ok=false if there is none.
func (s *Store) SyncState(ctx context.Context) (b Block, syncedAt time.Time, generation int64, ok bool, err error) {
	var hash []byte
	var t, at int64
	err = s.db.QueryRowContext(ctx, `SELECT height, hash, time, synced_at, generation FROM sync_state WHERE id = 1`).
		Scan(&b.Height, &hash, &t, &at, &generation)
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, time.Time{}, 0, false, nil
	}
	if err != nil {
		return Block{}, time.Time{}, 0, false, fmt.Errorf("store: sync state: %w", err)
	}
	copy(b.Hash[:], hash)
	b.Time = time.Unix(t, 0).UTC()
	return b, time.Unix(at, 0).UTC(), generation, true, nil
}

// BlocksDescending returns stored blocks from the highest down, for
// finding the fork point after a reorg.
func (s *Store) BlocksDescending(ctx context.Context, limit int) ([]Block, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT height, hash, time FROM blocks ORDER BY height DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	defer rows.Close()
	var out []Block
	for rows.Next() {
		var b Block
		var hash []byte
		var t int64
		if err := rows.Scan(&b.Height, &hash, &t); err != nil {
			return nil, err
		}
		copy(b.Hash[:], hash)
		b.Time = time.Unix(t, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// RawTxs returns the stored raw transactions among txids.
func (s *Store) RawTxs(ctx context.Context, txids []chainhash.Hash) (map[chainhash.Hash][]byte, error) {
	out := make(map[chainhash.Hash][]byte, len(txids))
	stmt, err := s.db.PrepareContext(ctx, `SELECT raw FROM txs WHERE txid = ?`)
	if err != nil {
		return nil, fmt.Errorf("store: raw txs: %w", err)
	}
	defer stmt.Close()
	for _, id := range txids {
		var raw []byte
		err := stmt.QueryRowContext(ctx, id[:]).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: raw tx %s: %w", id, err)
		}
		out[id] = raw
	}
	return out, nil
}

// OwnedOutput is an output paid to a watched script.
type OwnedOutput struct {
	ScriptID int64
	Value    int64
}

// Outputs returns every output paid to a watched script, so a block scan
// recognises spends without looking up any prevout.
func (s *Store) Outputs(ctx context.Context) (map[wire.OutPoint]OwnedOutput, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT txid, vout, script_id, value FROM outputs`)
	if err != nil {
		return nil, fmt.Errorf("store: outputs: %w", err)
	}
	defer rows.Close()
	out := map[wire.OutPoint]OwnedOutput{}
	for rows.Next() {
		var txid []byte
		var op wire.OutPoint
		var o OwnedOutput
		if err := rows.Scan(&txid, &op.Index, &o.ScriptID, &o.Value); err != nil {
			return nil, err
		}
		copy(op.Hash[:], txid)
		out[op] = o
	}
	return out, rows.Err()
}

// MempoolTxids returns the unconfirmed transactions in the ledger and the
// set of mempool txids already inspected.
func (s *Store) MempoolTxids(ctx context.Context) (ledger, seen map[chainhash.Hash]bool, err error) {
	ledger, seen = map[chainhash.Hash]bool{}, map[chainhash.Hash]bool{}
	for q, m := range map[string]map[chainhash.Hash]bool{
		`SELECT txid FROM txs WHERE height IS NULL`: ledger,
		`SELECT txid FROM mempool_seen`:             seen,
	} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return nil, nil, fmt.Errorf("store: mempool txids: %w", err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, nil, err
			}
			var h chainhash.Hash
			copy(h[:], b)
			m[h] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return ledger, seen, nil
}

// UnorderedBlocks returns blocks holding two or more ledger transactions of
// which some have no known position: they must be ordered from the block.
func (s *Store) UnorderedBlocks(ctx context.Context) ([]chainhash.Hash, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT block_hash FROM txs WHERE block_hash IS NOT NULL
		GROUP BY block_hash HAVING COUNT(*) > 1 AND MIN(pos) < 0`)
	if err != nil {
		return nil, fmt.Errorf("store: unordered blocks: %w", err)
	}
	defer rows.Close()
	var out []chainhash.Hash
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var h chainhash.Hash
		copy(h[:], b)
		out = append(out, h)
	}
	return out, rows.Err()
}

// SetPositions records the block position of a block's ledger
// transactions that lack one; pos is the whole block's txid -> position.
func (s *Store) SetPositions(ctx context.Context, block chainhash.Hash, pos map[chainhash.Hash]int) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT txid, pos FROM txs WHERE block_hash = ?`, block[:])
		if err != nil {
			return err
		}
		type upd struct {
			txid []byte
			pos  int
		}
		var todo []upd
		for rows.Next() {
			var b []byte
			var cur int
			if err := rows.Scan(&b, &cur); err != nil {
				rows.Close()
				return err
			}
			var h chainhash.Hash
			copy(h[:], b)
			p, ok := pos[h]
			if !ok {
				rows.Close()
				return fmt.Errorf("ledger transaction %s is not in the block's list", h)
			}
			if p != cur {
				todo = append(todo, upd{b, p})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `UPDATE txs SET pos = ? WHERE txid = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range todo {
			if _, err := stmt.ExecContext(ctx, u.pos, u.txid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: order block %s: %w", block, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
