package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// TestReadsForPagesMatch checks that the dashboard's reads give exactly
// History's and Balances' answers: same transactions, order (height,
// position, txid) and per-transaction sums over several scripts, also
// below the tip and after a rollback; same balances at every height, and
// the same last activity from their last heights.
func TestReadsForPagesMatch(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}, {0x52}, {0x53}})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ids[0], ids[1], ids[2]
	b10, b11, b12 := blk(10), blk(11), blk(12)
	step := Step{
		Blocks: []Block{b10, b11, b12},
		Txs: []Tx{txAt(9, b10, 3), txAt(1, b10, 1), txAt(2, b11, -1), txAt(7, b11, -1), txAt(3, b12, 0),
			{Txid: chainhash.Hash{4}, Height: -1, Pos: -1, NIn: 1, NOut: 1, Raw: []byte{4}}},
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
		},
		Publish: &b12,
	}
	if err := st.Apply(ctx, step); err != nil {
		t.Fatal(err)
	}
	compare := func(t *testing.T, scripts []int64, height int64, wantLen int) {
		t.Helper()
		want, err := st.History(ctx, scripts, height)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.HistoryForPages(ctx, scripts, height)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != wantLen {
			t.Fatalf("History has %d transactions, want %d", len(want), wantLen)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("HistoryForPages(%v, %d) =\n%+v\nHistory =\n%+v", scripts, height, got, want)
		}
	}
	for _, tc := range []struct {
		name    string
		scripts []int64
		height  int64
		n       int
	}{
		{"all scripts", []int64{a, b, c}, 12, 5},
		{"two scripts", []int64{a, b}, 12, 5},
		{"one script", []int64{c}, 12, 2},
		{"below the tip", []int64{a, b, c}, 11, 4},
		{"none", nil, 12, 0},
	} {
		t.Run(tc.name, func(t *testing.T) { compare(t, tc.scripts, tc.height, tc.n) })
	}
	for _, h := range []int64{9, 10, 11, 12} {
		want, err := st.Balances(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.BalancesForPages(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 3 || !reflect.DeepEqual(got, want) {
			t.Errorf("BalancesForPages(%d) = %+v, Balances = %+v", h, got, want)
		}
	}
	for _, h := range []int64{10, 11, 12} {
		bal, _ := st.BalancesForPages(ctx, h)
		last, err := st.LastActivity(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		var heights []int64
		for _, b := range bal {
			if b.LastHeight >= 0 {
				heights = append(heights, b.LastHeight)
			}
		}
		blocks, err := st.BlocksAtHeights(ctx, heights)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]Block{}
		for id, b := range bal {
			if b.LastHeight >= 0 {
				got[id] = blocks[b.LastHeight]
			}
		}
		if !reflect.DeepEqual(got, last) {
			t.Errorf("at %d: last activity from balances = %+v, LastActivity = %+v", h, got, last)
		}
	}
	if err := st.Rollback(ctx, &b10); err != nil {
		t.Fatal(err)
	}
	t.Run("after rollback", func(t *testing.T) { compare(t, []int64{a, b, c}, 100, 2) })
}
