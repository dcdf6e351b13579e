package store

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

func openTest(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(context.Background(), filepath.Join(tb.TempDir(), "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func blk(h int64) Block {
	return Block{Height: h, Hash: chainhash.Hash{byte(h), 0xb}, Time: time.Unix(1_700_000_000+h*600, 0).UTC()}
}

func txAt(id byte, b Block, pos int64) Tx {
	return Tx{Txid: chainhash.Hash{id}, Height: b.Height, BlockHash: b.Hash, Pos: pos, NIn: 1, NOut: 2, OutTotal: 1000, Raw: []byte{id}}
}

func TestOpenMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	for i := 0; i < 2; i++ {
		st, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var v int
		var mode string
		st.DB().QueryRow("PRAGMA user_version").Scan(&v)
		st.DB().QueryRow("PRAGMA journal_mode").Scan(&mode)
		names, _ := fs.Glob(migrations, "migrations/*.sql")
		if v != len(names) || v < 2 || mode != "wal" {
			t.Errorf("user_version=%d journal_mode=%s", v, mode)
		}
		st.Close()
	}
}

func TestApplyBalancesHistoryRollback(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}, {0x52}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ids[0], ids[1]
	b10, b11, b12 := blk(10), blk(11), blk(12)
	step := Step{
		Blocks: []Block{b10, b11, b12},
		Txs:    []Tx{txAt(1, b10, 3), txAt(2, b11, 1), txAt(3, b12, 0), {Txid: chainhash.Hash{4}, Height: -1, Pos: -1, NIn: 1, NOut: 1, Raw: []byte{4}}},
		Rows: []Row{
			{ScriptID: a, Txid: chainhash.Hash{1}, Received: 5000, NOut: 1, Vouts: []Output{{Vout: 0, Value: 5000}}},
			{ScriptID: a, Txid: chainhash.Hash{2}, Spent: 5000, NIn: 1},
			{ScriptID: b, Txid: chainhash.Hash{2}, Received: 4000, NOut: 1, Vouts: []Output{{Vout: 1, Value: 4000}}},
			{ScriptID: b, Txid: chainhash.Hash{3}, Received: 1, NOut: 1},
			{ScriptID: b, Txid: chainhash.Hash{4}, Spent: 4000, NIn: 1},
		},
		Publish: &b12,
	}
	if err := st.Apply(ctx, step); err != nil {
		t.Fatal(err)
	}
	bal, err := st.Balances(ctx, 11)
	if err != nil {
		t.Fatal(err)
	}
	if got := bal[a]; got.Confirmed != 0 || got.TxCount != 2 || got.LastHeight != 11 {
		t.Errorf("a at 11: %+v", got)
	}
	if got := bal[b]; got.Confirmed != 4000 || got.Unconfirmed != -4000 || got.TxCount != 1 {
		t.Errorf("b at 11: %+v", got)
	}
	h, err := st.History(ctx, []int64{a, b}, 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[1].Received != 4000 || h[1].Spent != 5000 || h[1].OwnIn != 1 || h[1].OwnOut != 1 {
		t.Fatalf("entity history: %+v", h)
	}
	_, _, gen, ok, _ := st.SyncState(ctx)
	if !ok || gen != 1 {
		t.Fatalf("generation %d ok %v", gen, ok)
	}

	// A reorg at 11 takes blocks 11, 12, their txs and the mempool tx.
	if err := st.Rollback(ctx, &b10); err != nil {
		t.Fatal(err)
	}
	h, _ = st.History(ctx, []int64{a, b}, 100)
	if len(h) != 1 || h[0].Txid != (chainhash.Hash{1}) {
		t.Fatalf("after rollback: %+v", h)
	}
	pub, _, gen, _, _ := st.SyncState(ctx)
	if pub.Height != 10 || gen != 2 {
		t.Errorf("after rollback: published %d, generation %d", pub.Height, gen)
	}
	outs, _ := st.Outputs(ctx)
	if len(outs) != 1 {
		t.Errorf("outputs after rollback: %v", outs)
	}
	ledger, _, _ := st.MempoolTxids(ctx)
	if len(ledger) != 0 {
		t.Errorf("mempool txs survived the rollback: %v", ledger)
	}
}

func TestDumpIgnoresWallClock(t *testing.T) {
	ctx := context.Background()
	dump := func(now time.Time) []byte {
		st := openTest(t)
		ids, _ := st.EnsureScripts(ctx, [][]byte{{0x51}})
		b := blk(5)
		err := st.Apply(ctx, Step{Blocks: []Block{b}, Txs: []Tx{txAt(1, b, -1)},
			Rows: []Row{{ScriptID: ids[0], Txid: chainhash.Hash{1}, Received: 7, NOut: 1}}, Publish: &b, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := st.Dump(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	d1, d2 := dump(time.Unix(1, 0)), dump(time.Unix(999999, 0))
	if !bytes.Equal(d1, d2) {
		t.Errorf("dumps differ:\n%s\n---\n%s", d1, d2)
	}
	if !bytes.Contains(d1, []byte("# script_txs")) {
		t.Errorf("dump lacks sections:\n%s", d1)
	}
}

// TestOpenConcurrently opens one new file from several goroutines at once,
// as a daemon and a command started together do: each must see the schema
// applied exactly once.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			st, err := Open(context.Background(), path)
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
