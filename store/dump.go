package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// dumpQueries list the ledger in a canonical order, leaving out wall-clock
// bookkeeping (when a row was first seen, when a sync ran) and the block
// hashes kept only for reorg detection: two databases that hold the same
// ledger dump to the same bytes, however they got there.
var dumpQueries = []struct {
	name string
	q    string
}{
	{"sync_state", `SELECT height, hash, time FROM sync_state`},
	{"blocks", `SELECT b.height, b.hash, b.time FROM blocks b
		WHERE EXISTS (SELECT 1 FROM txs WHERE txs.block_hash = b.hash)
		   OR b.hash = (SELECT hash FROM sync_state) ORDER BY b.height`},
	{"scripts", `SELECT script, synced_height, synced_hash FROM scripts ORDER BY script`},
	{"txs", `SELECT txid, height, block_hash, pos, n_in, n_out, out_total, coinbase, raw FROM txs ORDER BY txid`},
	{"script_txs", `SELECT s.script, st.txid, st.received, st.spent, st.n_in, st.n_out
		FROM script_txs st JOIN scripts s ON s.id = st.script_id ORDER BY s.script, st.txid`},
	{"outputs", `SELECT o.txid, o.vout, s.script, o.value FROM outputs o JOIN scripts s ON s.id = o.script_id
		ORDER BY o.txid, o.vout`},
}

// Dump writes the ledger in canonical text form, for comparing databases
// (a resumed sync against a clean one) and for auditors.
func (s *Store) Dump(ctx context.Context, w io.Writer) error {
	for _, d := range dumpQueries {
		if _, err := fmt.Fprintf(w, "# %s\n", d.name); err != nil {
			return err
		}
		rows, err := s.db.QueryContext(ctx, d.q)
		if err != nil {
			return fmt.Errorf("store: dump %s: %w", d.name, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
			for i, v := range vals {
				sep := "\t"
				if i == len(vals)-1 {
					sep = "\n"
				}
				if _, err := fmt.Fprintf(w, "%s%s", dumpValue(cols[i], v), sep); err != nil {
					rows.Close()
					return err
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func dumpValue(col string, v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		if (col == "txid" || col == "hash" || col == "block_hash" || col == "synced_hash") && len(x) == chainhash.HashSize {
			var h chainhash.Hash
			copy(h[:], x)
			return h.String()
		}
		return hex.EncodeToString(x)
	default:
		return fmt.Sprint(x)
	}
}
