package esplora

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Reasons the client refuses an answer, as counted by Client.Refused.
const (
	// RefusedClaim: the outputs a history page listed for a transaction
	// (value, scriptpubkey) disagree with its raw transaction.
	RefusedClaim = "tx JSON disagrees with raw tx"
)

// claimsMax bounds the claims kept; past it the map starts over (a claim
// not kept is simply not checked).
const claimsMax = 1 << 16

// voutJSON is one output of an Esplora transaction as the JSON states it.
type voutJSON struct {
	ScriptPubKey string `json:"scriptpubkey"`
	Value        *int64 `json:"value"`
}

// noteClaim remembers the outputs a history page listed for txid, so the
// raw transaction fetched later is held to them. A page without outputs
// (a server that omits them) claims nothing.
func (c *Client) noteClaim(txid chainhash.Hash, vout []voutJSON) {
	if vout == nil {
		return
	}
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if c.claims == nil || len(c.claims) >= claimsMax {
		c.claims = make(map[chainhash.Hash][]voutJSON)
	}
	c.claims[txid] = vout
}

// checkClaim refuses a raw transaction whose outputs disagree with what a
// history page listed for it: one of the two answers is false, so neither
// is used. The raw transaction is what the engine computes from, and it is
// bound to its txid; the JSON is bound to nothing, which is why it is held
// to the raw bytes and not the other way round.
func (c *Client) checkClaim(path string, txid chainhash.Hash, tx *wire.MsgTx) error {
	c.cacheMu.Lock()
	vout, ok := c.claims[txid]
	delete(c.claims, txid)
	c.cacheMu.Unlock()
	if !ok {
		return nil
	}
	if msg := claimMismatch(vout, tx); msg != "" {
		c.Refuse(RefusedClaim)
		c.logger.Warn("esplora answer refused", "backend", c.url, "reason", RefusedClaim, "txid", txid.String(), "mismatch", msg)
		return c.errorf(nil, nil, ": GET %s: the transaction disagrees with the history page that listed it (%s); refusing both", path, msg)
	}
	return nil
}

// claimMismatch describes the first difference between the claimed
// outputs and the transaction's, or returns "".
func claimMismatch(vout []voutJSON, tx *wire.MsgTx) string {
	if len(vout) != len(tx.TxOut) {
		return fmt.Sprintf("%d outputs listed, %d in the transaction", len(vout), len(tx.TxOut))
	}
	for i, v := range vout {
		o := tx.TxOut[i]
		if v.Value == nil || *v.Value != o.Value {
			got := "no value"
			if v.Value != nil {
				got = fmt.Sprintf("%d sat", *v.Value)
			}
			return fmt.Sprintf("output %d: %s listed, %d sat in the transaction", i, got, o.Value)
		}
		script, err := hex.DecodeString(v.ScriptPubKey)
		if err != nil || !bytes.Equal(script, o.PkScript) {
			return fmt.Sprintf("output %d: scriptpubkey %.80q listed, %x in the transaction", i, v.ScriptPubKey, o.PkScript)
		}
	}
	return ""
}
