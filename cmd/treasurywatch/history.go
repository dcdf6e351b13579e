package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// historyCommand prints the confirmed history of an address or an entity,
// oldest first, with the running balance: the figures an auditor checks
// against a block explorer line by line.
type historyCommand struct {
	env *Env
}

// Run implements `treasurywatch history -config F (-address A | -entity ID) [-json]`.
func (c *historyCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("history")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	addr := fs.String("address", "", "an `address` of the watchlist")
	entity := fs.String("entity", "", "an entity `id` of the watchlist")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*addr == "") == (*entity == "") {
		return usageError{"give exactly one of -address and -entity"}
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	l := watcher.NewLedger(m.Store, m.Watchlist)
	var h *watcher.History
	if *addr != "" {
		h, err = l.AddressHistory(ctx, *addr)
	} else {
		h, err = l.EntityHistory(ctx, *entity)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.env.Stdout, h)
	}
	subject := "entity " + h.Entity
	if h.Address != "" {
		subject = "address " + h.Address + " (entity " + h.Entity + ")"
	}
	fmt.Fprintf(c.env.Stdout, "History of %s as of block %d, %d confirmed transactions\n\n", subject, h.AsOf.Height, len(h.Txs))
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TIME (UTC)\tHEIGHT\tKIND\tDELTA BTC\tBALANCE BTC\tTXID\t")
	for _, t := range h.Txs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", t.Time.UTC().Format("2006-01-02 15:04:05"), t.Height, t.Kind,
			watcher.FormatBTC(t.DeltaSat), watcher.FormatBTC(t.BalanceSat), t.Txid)
	}
	return tw.Flush()
}
