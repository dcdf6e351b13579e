package chaintest

import (
	"fmt"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// prevFetcher returns the previous outputs of tx's inputs, which segwit v0
// signs the amount of and taproot signs all of.
func prevFetcher(tx *wire.MsgTx, prevs []Coin) *txscript.MultiPrevOutFetcher {
	f := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		f.AddPrevOut(in.PreviousOutPoint, &wire.TxOut{Value: int64(prevs[i].Value), PkScript: prevs[i].Script})
	}
	return f
}

// signTx fills the signature script or witness of every input; input i
// spends prevs[i], locked to keys[i]. It signs with SIGHASH_ALL (taproot:
// SIGHASH_DEFAULT).
func signTx(tx *wire.MsgTx, prevs []Coin, keys []*Key) error {
	fetcher := prevFetcher(tx, prevs)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		k, amt := keys[i], int64(prevs[i].Value)
		var err error
		switch k.Kind {
		case P2PKH:
			in.SignatureScript, err = txscript.SignatureScript(tx, i, k.Script, txscript.SigHashAll, k.Priv[0], true)
		case P2WPKH:
			in.Witness, err = txscript.WitnessSignature(tx, sigHashes, i, amt, k.Script, txscript.SigHashAll, k.Priv[0], true)
		case P2TR:
			in.Witness, err = txscript.TaprootWitnessSignature(tx, sigHashes, i, amt, k.Script, txscript.SigHashDefault, k.Priv[0])
		case P2SHMultisig:
			b := txscript.NewScriptBuilder().AddOp(txscript.OP_0) // CHECKMULTISIG's extra pop
			for _, p := range k.Priv[:2] {
				sig, err := txscript.RawTxInSignature(tx, i, k.Redeem, txscript.SigHashAll, p)
				if err != nil {
					return err
				}
				b.AddData(sig)
			}
			in.SignatureScript, err = b.AddData(k.Redeem).Script()
		case P2WSH:
			w := wire.TxWitness{nil}
			for _, p := range k.Priv[:2] {
				sig, err := txscript.RawTxInWitnessSignature(tx, sigHashes, i, amt, k.Redeem, txscript.SigHashAll, p)
				if err != nil {
					return err
				}
				w = append(w, sig)
			}
			in.Witness = append(w, k.Redeem)
		default:
			err = fmt.Errorf("unknown key kind %v", k.Kind)
		}
		if err != nil {
			return fmt.Errorf("chaintest: signing input %d (%v): %w", i, k.Kind, err)
		}
	}
	return nil
}

// verifyTx runs every input through the script engine with the standard
// flags, so that a signing bug shows up here with the input's index rather
// than as an opaque rejection from btcd.
func verifyTx(tx *wire.MsgTx, prevs []Coin) error {
	fetcher := prevFetcher(tx, prevs)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i := range tx.TxIn {
		vm, err := txscript.NewEngine(prevs[i].Script, tx, i, txscript.StandardVerifyFlags, nil, sigHashes, int64(prevs[i].Value), fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Errorf("chaintest: input %d of %s does not verify: %w", i, tx.TxHash(), err)
		}
	}
	return nil
}

// vsize is the virtual size (BIP 141) that fee rates apply to.
func vsize(tx *wire.MsgTx) int64 {
	weight := int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize())
	return (weight + 3) / 4
}
