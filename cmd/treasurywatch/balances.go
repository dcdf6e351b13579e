package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// balancesCommand prints the balance sheet at the last synced block. It
// reads only the store, so it is instant and works with the backend down.
type balancesCommand struct {
	env *Env
}

// Run implements `treasurywatch balances -config F [-json]`.
func (c *balancesCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("balances")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	b, err := watcher.NewLedger(m.Store, m.Watchlist).Balances(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.env.Stdout, b)
	}
	return writeBalancesText(c.env.Stdout, b)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeBalancesText(w io.Writer, b *watcher.Balances) error {
	fmt.Fprintf(w, "Balances on %s as of block %d (%s, %s)\n\n", b.Network, b.AsOf.Height, b.AsOf.Hash,
		b.AsOf.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ENTITY / ADDRESS\tLABEL\tCONFIRMED BTC\tUNCONFIRMED BTC\tTXS\t")
	var total int64
	for _, e := range b.Entities {
		total += e.ConfirmedSat
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\n", e.ID, e.Name, watcher.FormatBTC(e.ConfirmedSat), watcher.FormatBTC(e.UnconfirmedSat))
		for _, a := range e.Addresses {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t\n", a.Address, a.Label, watcher.FormatBTC(a.ConfirmedSat),
				watcher.FormatBTC(a.UnconfirmedSat), a.TxCount)
		}
	}
	fmt.Fprintf(tw, "TOTAL\t\t%s\t\t\t\n", watcher.FormatBTC(total))
	return tw.Flush()
}
