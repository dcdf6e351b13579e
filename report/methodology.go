package report

import (
	"fmt"
	"strings"
)

// methodology says, in the report itself, how every figure was derived, so
// that a filed copy can be checked without the software that made it.
func methodology(d Data) []string {
	out := []string{
		fmt.Sprintf("Figures are computed by treasurywatch from the raw transactions of the Bitcoin %s chain: for each transaction "+
			"touching a watched address, the change of its balance is the sum of the outputs paying it minus the sum of the inputs "+
			"spending outputs previously paid to it. No server's balance figure is used, so the btcd, Esplora and Electrum backends "+
			"give the same figures on the same chain. An entity's balance is the sum over its addresses.", d.Network),
		fmt.Sprintf("Opening balances are stated at block %d (%s), the last block whose time is at or before the start of the period; "+
			"closing balances at block %d (%s), the last block whose time is at or before its end. A transaction counts once it is "+
			"in a block at or below the closing block (one confirmation); unconfirmed transactions are excluded. The movements are "+
			"the transactions in the blocks above the opening block up to and including the closing block.",
			d.Opening.Height, d.Opening.Hash, d.Closing.Height, d.Closing.Hash),
		"Each movement is classified from the entity's side: inflow (no input is the entity's), outflow (every input is the " +
			"entity's and some output leaves it), internal (every input and output is the entity's; only the fee leaves) and mixed " +
			"(inputs from the entity and from outside). An input is known to be the entity's because it spends an output already in " +
			"the entity's own history. A fee is known when every input is the entity's. The figures reconcile: closing = opening + " +
			"inflow - outflow - fees + mixed net. Per address, the gross amounts received and sent are given instead of flows.",
		"Each transaction is stored with its block hash, and on a chain reorganisation the ledger is rolled back to the fork " +
			"point and re-synced. Regenerating this report from the ledger gives identical bytes as long as the blocks it is " +
			"stated at remain in the best chain; if a block at or below the closing block leaves it, the figures and the digest " +
			"change, and the block hashes stated here show why.",
	}
	if d.Price != nil {
		out = append(out, fmt.Sprintf("Fiat values use the last stored BTC/%s price at or before the end of the period, "+
			"multiplied exactly and rounded half away from zero to the cent.", strings.ToUpper(d.Price.Currency)))
	}
	out = append(out, "The digest is the SHA-256 of the report's data as canonical JSON (keys sorted, no whitespace, the digest "+
		"field removed); for the JSON file: jq -cjS 'del(.digest)' report.json | sha256sum.")
	return out
}
