package watcher

import (
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name                     string
		ownIn, nIn, ownOut, nOut int64
		want                     Flow
	}{
		{"purchase", 0, 2, 1, 2, Inflow},
		{"coinbase", 0, 1, 1, 1, Inflow},
		{"payment out with change", 2, 2, 1, 2, Outflow},
		{"sweep out", 1, 1, 0, 1, Outflow},
		{"consolidation", 3, 3, 1, 1, Internal},
		{"split to own wallets", 1, 1, 3, 3, Internal},
		{"coinjoin-like", 1, 3, 1, 4, Mixed},
		{"mixed, nothing back", 1, 2, 0, 1, Mixed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.ownIn, tt.nIn, tt.ownOut, tt.nOut); got != tt.want {
				t.Errorf("Classify(%d,%d,%d,%d) = %s, want %s", tt.ownIn, tt.nIn, tt.ownOut, tt.nOut, got, tt.want)
			}
		})
	}
}

func TestFormatBTC(t *testing.T) {
	tests := []struct {
		sat  int64
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{-1000, "-0.00001000"},
		{100_000_000, "1.00000000"},
		{568_968_000_000, "5689.68000000"},
		{2_099_999_997_690_000, "20999999.97690000"},
		{-9223372036854775808, "-92233720368.54775808"},
	}
	for _, tt := range tests {
		if got := FormatBTC(tt.sat); got != tt.want {
			t.Errorf("FormatBTC(%d) = %s, want %s", tt.sat, got, tt.want)
		}
	}
}

// TestEffectsOrderIndependent checks that a spend listed before its
// funding transaction (as an Esplora page may list a block's transactions)
// is still recognised, and that foreign inputs and outputs are ignored.
func TestEffectsOrderIndependent(t *testing.T) {
	a, b := []byte{0x51}, []byte{0x52}
	foreign := []byte{0x53}
	fund := wire.NewMsgTx(2)
	fund.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{9}, Index: 0}, nil, nil))
	fund.AddTxOut(wire.NewTxOut(70_000, a))
	fund.AddTxOut(wire.NewTxOut(30_000, a))
	fund.AddTxOut(wire.NewTxOut(5_000, foreign))
	fundID := fund.TxHash()

	spend := wire.NewMsgTx(2)
	spend.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: fundID, Index: 0}, nil, nil))
	spend.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{7}, Index: 1}, nil, nil))
	spend.AddTxOut(wire.NewTxOut(60_000, b))
	spend.AddTxOut(wire.NewTxOut(9_000, foreign))

	watched := map[string]int64{string(a): 1, string(b): 2}
	got := effects([]*wire.MsgTx{spend, fund}, watched, map[wire.OutPoint]store.OwnedOutput{})
	if len(got) != 2 {
		t.Fatalf("got %d ledger txs", len(got))
	}
	want := map[chainhash.Hash][]store.Row{
		spend.TxHash(): {
			{ScriptID: 2, Txid: spend.TxHash(), Received: 60_000, NOut: 1, Vouts: []store.Output{{Vout: 0, Value: 60_000}}},
			{ScriptID: 1, Txid: spend.TxHash(), Spent: 70_000, NIn: 1},
		},
		fundID: {
			{ScriptID: 1, Txid: fundID, Received: 100_000, NOut: 2, Vouts: []store.Output{{Vout: 0, Value: 70_000}, {Vout: 1, Value: 30_000}}},
		},
	}
	for _, lt := range got {
		w := want[lt.txid]
		if len(lt.rows) != len(w) {
			t.Fatalf("tx %s: rows %+v, want %+v", lt.txid, lt.rows, w)
		}
		for i := range w {
			g := lt.rows[i]
			if g.ScriptID != w[i].ScriptID || g.Received != w[i].Received || g.Spent != w[i].Spent ||
				g.NIn != w[i].NIn || g.NOut != w[i].NOut || len(g.Vouts) != len(w[i].Vouts) {
				t.Errorf("tx %s row %d: %+v, want %+v", lt.txid, i, g, w[i])
			}
		}
	}
}

func TestScriptHashes(t *testing.T) {
	// protocol-basics.rst: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
	s := Script(mustHex(t, "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"))
	if got, want := s.ElectrumHash(), "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"; got != want {
		t.Errorf("ElectrumHash = %s, want %s", got, want)
	}
	sum := s.SHA256()
	if got, want := Script(sum[:]).String(), "6191c3b590bfcfa0475e877c302da1e323497acf3b42c08d8fa28e364edf018b"; got != want {
		t.Errorf("SHA256 = %s, want %s", got, want)
	}
}
