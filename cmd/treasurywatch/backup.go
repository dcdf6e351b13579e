package main

import (
	"context"
	"fmt"
)

// backupCommand copies the ledger to a file while the daemon keeps
// running, so an operator can keep dated copies without stopping the
// dashboard. A restore is pointing a watchlist's [store] path at a copy.
type backupCommand struct {
	env *Env
}

// Run implements `treasurywatch backup -config F -out FILE`.
func (c *backupCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("backup")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	out := fs.String("out", "", "write the copy to this new `file` (never overwritten)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"-out is required"}
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	info, err := m.Store.Backup(ctx, *out)
	if err != nil {
		return err
	}
	if !info.Synced {
		fmt.Fprintf(c.env.Stdout, "backed up the ledger (never synced, %d bytes) to %s\n", info.Bytes, info.Path)
		return nil
	}
	fmt.Fprintf(c.env.Stdout, "backed up the ledger at block %d %s (generation %d, %d bytes) to %s\n",
		info.Block.Height, info.Block.Hash, info.Generation, info.Bytes, info.Path)
	return nil
}
