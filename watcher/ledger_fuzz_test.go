package watcher

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

// FuzzLedgerEffects feeds two arbitrary byte strings as a funding and a
// spending transaction through decodeTx, effects, Classify and txRecord,
// watching the scripts of the funding outputs that mask selects. Whatever
// the bytes, nothing panics and the ledger's arithmetic holds: a
// transaction's deltas sum to the outputs paying watched scripts minus the
// watched outputs it spends, a row's outputs sum to what it received, and
// an internal transaction's delta is minus its fee. DecodeTx's early
// refusal of impossible counts never refuses what Deserialize accepts. The
// seeds
// (testdata/fuzz/FuzzLedgerEffects) are regtest transactions of every
// script kind: payments, consolidations and spends with change.
func FuzzLedgerEffects(f *testing.F) {
	f.Fuzz(func(t *testing.T, fundRaw, spendRaw []byte, mask uint8) {
		for _, raw := range [][]byte{fundRaw, spendRaw} {
			// DecodeTx refuses early only what Deserialize refuses too.
			if _, err := DecodeTx(raw); errors.Is(err, errTxShape) && len(raw) <= MaxTxBytes {
				if new(wire.MsgTx).Deserialize(bytes.NewReader(raw)) == nil {
					t.Fatalf("DecodeTx refuses a transaction Deserialize accepts: %v", err)
				}
			}
		}
		fund, errF := decodeTx(fundRaw)
		spend, errS := decodeTx(spendRaw)
		if errF != nil || errS != nil {
			return
		}
		watched := map[string]int64{}
		for i, o := range fund.TxOut {
			if i < 8 && mask&(1<<i) != 0 {
				if _, ok := watched[string(o.PkScript)]; !ok {
					watched[string(o.PkScript)] = int64(len(watched) + 1)
				}
			}
		}
		txs := []*wire.MsgTx{fund, spend}
		// The outputs paying watched scripts, computed apart from effects.
		paid := map[wire.OutPoint]int64{}
		for _, tx := range txs {
			id := tx.TxHash()
			for v, o := range tx.TxOut {
				if _, ok := watched[string(o.PkScript)]; ok {
					paid[wire.OutPoint{Hash: id, Index: uint32(v)}] = o.Value
				}
			}
		}
		owned := map[wire.OutPoint]store.OwnedOutput{}
		got := effects(txs, watched, owned)
		if len(got) != len(txs) {
			t.Fatalf("effects returned %d entries for %d txs", len(got), len(txs))
		}
		if len(owned) != len(paid) {
			t.Fatalf("effects owns %d outputs, %d pay watched scripts", len(owned), len(paid))
		}
		for k, lt := range got {
			tx := txs[k]
			if lt.txid != tx.TxHash() {
				t.Fatalf("tx %d: txid %s, want %s", k, lt.txid, tx.TxHash())
			}
			var wantIn, wantOut, inValue, ownIn int64
			for _, o := range tx.TxOut {
				if _, ok := watched[string(o.PkScript)]; ok {
					wantOut += o.Value
				}
			}
			if !isCoinbase(tx) {
				for _, in := range tx.TxIn {
					if v, ok := paid[in.PreviousOutPoint]; ok {
						wantIn += v
						inValue += v
						ownIn++
					}
				}
			}
			var delta, received, spent, nIn, nOut int64
			seen := map[int64]bool{}
			for _, r := range lt.rows {
				if seen[r.ScriptID] {
					t.Fatalf("tx %d: two rows for script %d", k, r.ScriptID)
				}
				seen[r.ScriptID] = true
				if r.Txid != lt.txid {
					t.Fatalf("tx %d: row for %s", k, r.Txid)
				}
				if r.NIn == 0 && r.NOut == 0 {
					t.Fatalf("tx %d: empty row for script %d", k, r.ScriptID)
				}
				var vs int64
				for _, v := range r.Vouts {
					vs += v.Value
					if int(v.Vout) >= len(tx.TxOut) {
						t.Fatalf("tx %d: row names vout %d of %d", k, v.Vout, len(tx.TxOut))
					}
				}
				if vs != r.Received || int64(len(r.Vouts)) != r.NOut {
					t.Fatalf("tx %d: row outputs %v do not add up to received %d / %d outputs", k, r.Vouts, r.Received, r.NOut)
				}
				received += r.Received
				spent += r.Spent
				delta += r.Received - r.Spent
				nIn += r.NIn
				nOut += r.NOut
			}
			if received != wantOut || spent != wantIn || delta != wantOut-wantIn {
				t.Fatalf("tx %d: received %d spent %d delta %d; want received %d spent %d", k, received, spent, delta, wantOut, wantIn)
			}
			if nIn != ownIn {
				t.Fatalf("tx %d: %d own inputs counted, want %d", k, nIn, ownIn)
			}
			flow := Classify(nIn, int64(len(tx.TxIn)), nOut, int64(len(tx.TxOut)))
			switch flow {
			case Internal:
				var outTotal int64
				for _, o := range tx.TxOut {
					outTotal += o.Value
				}
				if fee := inValue - outTotal; delta != -fee {
					t.Fatalf("tx %d: internal flow with delta %d, fee %d", k, delta, fee)
				}
			case Inflow:
				if spent != 0 {
					t.Fatalf("tx %d: inflow spending %d", k, spent)
				}
			case Outflow, Mixed:
				if nIn == 0 {
					t.Fatalf("tx %d: %s without an own input", k, flow)
				}
			default:
				t.Fatalf("tx %d: flow %q", k, flow)
			}
			rec, err := txRecord(tx, lt.txid, 1, chainhash.Hash{}, 0)
			if err != nil {
				t.Fatalf("tx %d: txRecord: %v", k, err)
			}
			back, err := decodeTx(rec.Raw)
			if err != nil {
				t.Fatalf("tx %d: stored form does not decode: %v", k, err)
			}
			if back.TxHash() != lt.txid || rec.NIn != int64(len(tx.TxIn)) || rec.NOut != int64(len(tx.TxOut)) {
				t.Fatalf("tx %d: stored form changed the transaction", k)
			}
			if !bytes.Equal(rec.Raw, rawOf(t, back)) {
				t.Fatalf("tx %d: stored form does not round-trip", k)
			}
		}
	})
}

// rawOf serialises tx.
func rawOf(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
