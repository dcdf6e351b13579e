package chaintest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Pay sends the outputs in one transaction funded from the wallet's own
// coins (mature coinbases, change), with change to the wallet's P2WPKH
// change key and a fee of FeeRate sat/vB. It signs, verifies every input,
// broadcasts and returns the transaction; it does not mine.
func (n *Node) Pay(ctx context.Context, outputs ...Output) (*wire.MsgTx, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.payLocked(ctx, outputs)
}

func (n *Node) payLocked(ctx context.Context, outputs []Output) (*wire.MsgTx, error) {
	if len(outputs) == 0 {
		return nil, errors.New("chaintest: Pay: no outputs")
	}
	if err := n.syncLocked(ctx); err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(2)
	var total btcutil.Amount
	for _, o := range outputs {
		if o.Value <= 0 || len(o.Script) == 0 {
			return nil, fmt.Errorf("chaintest: Pay: invalid output %x %v", o.Script, o.Value)
		}
		total += o.Value
		tx.AddTxOut(wire.NewTxOut(int64(o.Value), o.Script))
	}
	outBytes := int64(tx.SerializeSizeStripped())
	prevs, err := n.w.selectCoins(total, outBytes)
	if err != nil {
		return nil, err
	}
	var in btcutil.Amount
	keys := make([]*Key, len(prevs))
	for i, p := range prevs {
		tx.AddTxIn(wire.NewTxIn(&p.OutPoint, nil, nil))
		in += p.Value
		keys[i] = n.w.keys[string(p.Script)]
	}
	change := wire.NewTxOut(int64(in-total), n.w.change.Script)
	tx.AddTxOut(change)
	// Sign once to learn the exact size; one spare vbyte per input covers
	// a signature that comes out a byte longer the second time.
	if err := signTx(tx, prevs, keys); err != nil {
		return nil, err
	}
	fee := btcutil.Amount(FeeRate * (vsize(tx) + int64(len(prevs))))
	if change.Value -= int64(fee); change.Value < dustLimit {
		tx.TxOut = tx.TxOut[:len(tx.TxOut)-1]
		if in-total < btcutil.Amount(FeeRate*vsize(tx)) {
			return nil, fmt.Errorf("chaintest: Pay: coin selection left %v for the fee", in-total)
		}
	}
	if err := signTx(tx, prevs, keys); err != nil {
		return nil, err
	}
	if err := n.broadcastLocked(ctx, tx, prevs); err != nil {
		return nil, err
	}
	return tx, nil
}

// Spend spends exactly the given coins into exactly the given outputs (the
// caller adds any change), signing each input as its key's kind requires.
// Inputs may belong to several keys of any kinds: a "mixed" transaction of
// two owners is Spend with coins of both. fee must equal inputs minus
// outputs; it is a check against arithmetic slips, not a setting.
func (n *Node) Spend(ctx context.Context, inputs []Coin, outputs []Output, fee btcutil.Amount) (*wire.MsgTx, error) {
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, errors.New("chaintest: Spend needs inputs and outputs")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.syncLocked(ctx); err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(2)
	keys := make([]*Key, len(inputs))
	var in, out btcutil.Amount
	for i, c := range inputs {
		k, ok := n.w.keys[string(c.Script)]
		if !ok {
			return nil, fmt.Errorf("chaintest: Spend: input %d (%v) pays a script the wallet has no key for: %x", i, c.OutPoint, c.Script)
		}
		keys[i] = k
		in += c.Value
		op := c.OutPoint
		tx.AddTxIn(wire.NewTxIn(&op, nil, nil))
	}
	for _, o := range outputs {
		out += o.Value
		tx.AddTxOut(wire.NewTxOut(int64(o.Value), o.Script))
	}
	if in-out != fee {
		return nil, fmt.Errorf("chaintest: Spend: inputs %v - outputs %v = %v, not the fee %v", in, out, in-out, fee)
	}
	if err := signTx(tx, inputs, keys); err != nil {
		return nil, err
	}
	if err := n.broadcastLocked(ctx, tx, inputs); err != nil {
		return nil, err
	}
	return tx, nil
}

// broadcastLocked verifies, sends and records tx.
func (n *Node) broadcastLocked(ctx context.Context, tx *wire.MsgTx, prevs []Coin) error {
	if err := verifyTx(tx, prevs); err != nil {
		return err
	}
	if _, err := n.call(ctx, "sendrawtransaction", []any{txHex(tx)}); err != nil {
		return err
	}
	n.w.record(tx, prevs)
	return nil
}

func txHex(tx *wire.MsgTx) string {
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	tx.Serialize(&buf)
	return hex.EncodeToString(buf.Bytes())
}
