package watcher

import (
	"bytes"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

// Flow says, from an entity's side, why its balance moved in a
// transaction. It is what separates a purchase from coins shuffled between
// a government's own wallets.
type Flow string

// The four flows of DESIGN.md.
const (
	// Inflow: no input is the entity's (a purchase, a seizure deposit).
	Inflow Flow = "inflow"
	// Outflow: every input is the entity's and some output leaves it.
	Outflow Flow = "outflow"
	// Internal: every input and every output is the entity's; the delta
	// is minus the fee.
	Internal Flow = "internal"
	// Mixed: inputs from the entity and from outside.
	Mixed Flow = "mixed"
)

// Classify returns the flow of a transaction with nIn inputs and nOut
// outputs, of which ownIn spend and ownOut pay the entity's scripts.
func Classify(ownIn, nIn, ownOut, nOut int64) Flow {
	switch {
	case ownIn == 0:
		return Inflow
	case ownIn < nIn:
		return Mixed
	case ownOut == nOut:
		return Internal
	default:
		return Outflow
	}
}

// ledgerTx is a transaction with its row per touched script.
type ledgerTx struct {
	tx   *wire.MsgTx
	txid chainhash.Hash
	rows []store.Row
}

// effects computes what each transaction of txs did to each watched
// script. watched maps Script.Key() to the script's id; owned holds the
// outputs already known to pay watched scripts and is extended with the
// outputs of txs. Outputs are collected over all txs before any input is
// looked at, so the order of txs does not matter (a spend in the same
// block as its funding is still seen).
func effects(txs []*wire.MsgTx, watched map[string]int64, owned map[wire.OutPoint]store.OwnedOutput) []ledgerTx {
	out := make([]ledgerTx, len(txs))
	for i, tx := range txs {
		out[i] = ledgerTx{tx: tx, txid: tx.TxHash()}
		for vout, o := range tx.TxOut {
			if id, ok := watched[string(o.PkScript)]; ok {
				owned[wire.OutPoint{Hash: out[i].txid, Index: uint32(vout)}] = store.OwnedOutput{ScriptID: id, Value: o.Value}
			}
		}
	}
	for i, tx := range txs {
		byScript := map[int64]*store.Row{}
		var order []int64
		row := func(id int64) *store.Row {
			r, ok := byScript[id]
			if !ok {
				r = &store.Row{ScriptID: id, Txid: out[i].txid}
				byScript[id] = r
				order = append(order, id)
			}
			return r
		}
		for vout, o := range tx.TxOut {
			if id, ok := watched[string(o.PkScript)]; ok {
				r := row(id)
				r.Received += o.Value
				r.NOut++
				r.Vouts = append(r.Vouts, store.Output{Vout: uint32(vout), Value: o.Value})
			}
		}
		if !isCoinbase(tx) {
			for _, in := range tx.TxIn {
				if o, ok := owned[in.PreviousOutPoint]; ok {
					r := row(o.ScriptID)
					r.Spent += o.Value
					r.NIn++
				}
			}
		}
		for _, id := range order {
			out[i].rows = append(out[i].rows, *byScript[id])
		}
	}
	return out
}

// txRecord turns a transaction into its stored form.
func txRecord(tx *wire.MsgTx, txid chainhash.Hash, height int64, block chainhash.Hash, pos int64) (store.Tx, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return store.Tx{}, err
	}
	var total int64
	for _, o := range tx.TxOut {
		total += o.Value
	}
	return store.Tx{
		Txid: txid, Height: height, BlockHash: block, Pos: pos,
		NIn: int64(len(tx.TxIn)), NOut: int64(len(tx.TxOut)), OutTotal: total,
		Coinbase: isCoinbase(tx), Raw: buf.Bytes(),
	}, nil
}

func isCoinbase(tx *wire.MsgTx) bool {
	if len(tx.TxIn) != 1 {
		return false
	}
	p := tx.TxIn[0].PreviousOutPoint
	return p.Index == wire.MaxPrevOutIndex && p.Hash == (chainhash.Hash{})
}

func decodeTx(raw []byte) (*wire.MsgTx, error) { return DecodeTx(raw) }
