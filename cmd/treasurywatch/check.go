package main

import (
	"context"
	"fmt"
)

// checkCommand validates a watchlist without touching the store or any
// backend, reporting every problem at once.
type checkCommand struct {
	env *Env
}

// Run implements `treasurywatch check -config F`.
func (c *checkCommand) Run(ctx context.Context, args []string) error {
	fs := c.env.newFlagSet("check")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stdout, m.Watchlist.Summary())
	return nil
}
