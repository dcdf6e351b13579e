package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// scriptHistoryJoin is what script_history must hold: the confirmed rows
// of script_txs with their transaction's and block's columns.
const scriptHistoryJoin = `
SELECT st.script_id, t.height, t.pos, t.txid, b.time, t.block_hash, st.received, st.spent, st.n_in, st.n_out,
       t.n_in, t.n_out, t.out_total, t.coinbase
FROM script_txs st
JOIN txs t ON t.txid = st.txid
JOIN blocks b ON b.height = t.height AND b.hash = t.block_hash`

// checkScriptHistory fails tb unless script_history equals its join, row
// for row, and is not empty when the join is not.
func checkScriptHistory(tb testing.TB, st *Store) {
	tb.Helper()
	ctx := context.Background()
	var joined, kept, extra, missing int
	for _, q := range []struct {
		q   string
		out *int
	}{
		{`SELECT COUNT(*) FROM (` + scriptHistoryJoin + `)`, &joined},
		{`SELECT COUNT(*) FROM script_history`, &kept},
		{`SELECT COUNT(*) FROM (SELECT * FROM script_history EXCEPT ` + scriptHistoryJoin + `)`, &extra},
		{`SELECT COUNT(*) FROM (` + scriptHistoryJoin + ` EXCEPT SELECT * FROM script_history)`, &missing},
	} {
		if err := st.DB().QueryRowContext(ctx, q.q).Scan(q.out); err != nil {
			tb.Fatal(err)
		}
	}
	if joined != kept || extra != 0 || missing != 0 {
		tb.Fatalf("script_history has %d rows (%d not in the ledger), the ledger %d (%d missing)", kept, extra, joined, missing)
	}
}

// entityTxsFromHistory is EntityTxs computed from HistoryForPages.
func entityTxsFromHistory(h []HistoryTx) []EntityTx {
	var out []EntityTx
	for _, t := range h {
		out = append(out, EntityTx{Txid: t.Txid, Height: t.Height, Pos: t.Pos, Time: t.Time.Unix(),
			Delta: t.Received - t.Spent, OwnIn: t.OwnIn, OwnOut: t.OwnOut, NIn: t.NIn, NOut: t.NOut})
	}
	return out
}

// TestScriptHistoryFollowsLedger writes the ledger through every write
// path (sync steps with confirmed and unconfirmed transactions, a
// confirmation, positions found later, a block stored again with another
// time, replaced scripts, dropped transactions, a rollback) and checks
// after each that script_history equals its join, and that EntityTxs and
// HistoryBetween agree with History.
func TestScriptHistoryFollowsLedger(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}, {0x52}, {0x53}})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ids[0], ids[1], ids[2]
	all := []int64{a, b, c}
	b10, b11, b12, b13 := blk(10), blk(11), blk(12), blk(13)
	unconfirmed := Tx{Txid: chainhash.Hash{4}, Height: -1, Pos: -1, NIn: 2, NOut: 1, Raw: []byte{4}}
	check := func(t *testing.T, height int64) {
		t.Helper()
		checkScriptHistory(t, st)
		for _, scripts := range [][]int64{all, {a, b}, {c}} {
			want, err := st.History(ctx, scripts, height)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.HistoryForPages(ctx, scripts, height)
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
				t.Fatalf("HistoryForPages(%v, %d) =\n%+v\nHistory =\n%+v", scripts, height, got, want)
			}
			brief, err := st.EntityTxs(ctx, scripts, height)
			if err != nil {
				t.Fatal(err)
			}
			if w := entityTxsFromHistory(want); (len(brief) > 0 || len(w) > 0) && !reflect.DeepEqual(brief, w) {
				t.Fatalf("EntityTxs(%v, %d) =\n%+v\nfrom History =\n%+v", scripts, height, brief, w)
			}
			for i := range want {
				for j := i; j < len(want); j++ {
					lo, hi := want[i].Height, want[j].Height
					got, err := st.HistoryBetween(ctx, scripts, lo, hi)
					if err != nil {
						t.Fatal(err)
					}
					var w []HistoryTx
					for _, h := range want {
						if h.Height >= lo && h.Height <= hi {
							w = append(w, h)
						}
					}
					if !reflect.DeepEqual(got, w) {
						t.Fatalf("HistoryBetween(%v, %d, %d) = %+v, want %+v", scripts, lo, hi, got, w)
					}
				}
			}
		}
	}
	steps := []struct {
		name   string
		write  func() error
		height int64 // read at
	}{
		{"first sync", func() error {
			return st.Apply(ctx, Step{
				Blocks: []Block{b10, b11, b12},
				Txs:    []Tx{txAt(9, b10, 3), txAt(1, b10, 1), txAt(2, b11, -1), txAt(7, b11, -1), txAt(3, b12, 0), unconfirmed},
				Rows: []Row{
					{ScriptID: a, Txid: chainhash.Hash{1}, Received: 5000, NOut: 1},
					{ScriptID: a, Txid: chainhash.Hash{9}, Received: 70, NOut: 1},
					{ScriptID: a, Txid: chainhash.Hash{2}, Spent: 5000, NIn: 1},
					{ScriptID: b, Txid: chainhash.Hash{2}, Received: 4000, NOut: 1},
					{ScriptID: c, Txid: chainhash.Hash{2}, Received: 900, NOut: 1},
					{ScriptID: b, Txid: chainhash.Hash{7}, Received: 3, NOut: 1},
					{ScriptID: b, Txid: chainhash.Hash{3}, Received: 1, NOut: 1},
					{ScriptID: c, Txid: chainhash.Hash{3}, Spent: 900, NIn: 1},
					{ScriptID: b, Txid: chainhash.Hash{4}, Spent: 4000, NIn: 1},
					{ScriptID: c, Txid: chainhash.Hash{4}, Spent: 1, NIn: 1},
				},
				Publish: &b12,
			})
		}, 12},
		{"same rows again", func() error {
			return st.Apply(ctx, Step{Blocks: []Block{b11}, Txs: []Tx{txAt(2, b11, -1)},
				Rows: []Row{{ScriptID: a, Txid: chainhash.Hash{2}, Spent: 5000, NIn: 1}}, Publish: &b12})
		}, 12},
		{"positions found", func() error {
			return st.SetPositions(ctx, b11.Hash, map[chainhash.Hash]int{{2}: 5, {7}: 2})
		}, 12},
		{"unconfirmed confirms, row changed", func() error {
			conf := unconfirmed
			conf.Height, conf.BlockHash = b13.Height, b13.Hash
			return st.Apply(ctx, Step{Blocks: []Block{b13}, Txs: []Tx{conf},
				Rows:    []Row{{ScriptID: b, Txid: chainhash.Hash{4}, Spent: 3997, NIn: 1}},
				Publish: &b13})
		}, 13},
		{"block stored again with another time", func() error {
			moved := b11
			moved.Time = b11.Time.Add(-time.Hour)
			return st.Apply(ctx, Step{Blocks: []Block{moved}, Publish: &b13})
		}, 13},
		{"script replaced", func() error {
			return st.Apply(ctx, Step{ReplaceScripts: []int64{c}, Txs: []Tx{txAt(3, b12, 0)},
				Rows: []Row{{ScriptID: c, Txid: chainhash.Hash{3}, Spent: 900, NIn: 1}}, Publish: &b13})
		}, 13},
		{"below the tip", func() error { return nil }, 11},
		{"new unconfirmed, then dropped", func() error {
			u := Tx{Txid: chainhash.Hash{5}, Height: -1, Pos: -1, NIn: 1, NOut: 1, Raw: []byte{5}}
			if err := st.Apply(ctx, Step{Txs: []Tx{u}, Rows: []Row{{ScriptID: a, Txid: u.Txid, Received: 8, NOut: 1}}}); err != nil {
				return err
			}
			checkScriptHistory(t, st)
			return st.Apply(ctx, Step{DropTxids: []chainhash.Hash{u.Txid}})
		}, 13},
		{"rollback", func() error { return st.Rollback(ctx, &b11) }, 11},
		{"rollback to nothing", func() error { return st.Rollback(ctx, nil) }, 100},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.write(); err != nil {
				t.Fatal(err)
			}
			check(t, s.height)
		})
	}
}

// TestScriptHistoryBackfilled opens a ledger written before
// script_history existed: the migration fills it from the ledger.
func TestScriptHistoryBackfilled(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}, {0x52}})
	if err != nil {
		t.Fatal(err)
	}
	b10, b11 := blk(10), blk(11)
	if err := st.Apply(ctx, Step{
		Blocks: []Block{b10, b11},
		Txs: []Tx{txAt(1, b10, -1), txAt(2, b11, 0), txAt(3, b11, 1),
			{Txid: chainhash.Hash{4}, Height: -1, Pos: -1, NIn: 1, NOut: 1, Raw: []byte{4}}},
		Rows: []Row{
			{ScriptID: ids[0], Txid: chainhash.Hash{1}, Received: 5000, NOut: 1},
			{ScriptID: ids[0], Txid: chainhash.Hash{2}, Spent: 5000, NIn: 1},
			{ScriptID: ids[1], Txid: chainhash.Hash{2}, Received: 4000, NOut: 1},
			{ScriptID: ids[1], Txid: chainhash.Hash{3}, Received: 7, NOut: 1},
			{ScriptID: ids[1], Txid: chainhash.Hash{4}, Spent: 4000, NIn: 1},
		},
		Publish: &b11,
	}); err != nil {
		t.Fatal(err)
	}
	// Back to the schema before script_history.
	var triggers []string
	rows, err := st.DB().QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name IN ('script_txs', 'txs', 'blocks')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		triggers = append(triggers, name)
	}
	rows.Close()
	if len(triggers) == 0 {
		t.Fatal("no trigger keeps script_history")
	}
	for _, q := range append(prefix("DROP TRIGGER ", triggers), "DROP TABLE script_history", "PRAGMA user_version = 6") {
		if _, err := st.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	st, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM script_history`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("script_history has %d rows after the migration, want the 4 confirmed ones", n)
	}
	checkScriptHistory(t, st)
}

// prefix returns p+s for each s.
func prefix(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
