package main

import (
	"context"
	"fmt"
)

// syncCommand runs one sync to the backend's tip and exits: for cron jobs
// and for a first, long initial sync before the daemon starts.
type syncCommand struct {
	env *Env
}

// Run implements `treasurywatch sync -config F`.
func (c *syncCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("sync")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	chunk := fs.Int("chunk-size", 256, "scripts whose histories are fetched and committed per `step`")
	lf := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if m.Logger, err = lf.logger(c.env.Stderr); err != nil {
		return err
	}
	if *chunk < 1 {
		return usageError{"-chunk-size must be at least 1"}
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	if err := m.OpenBackend(); err != nil {
		return err
	}
	if m.Verifier != nil {
		m.Verifier.ChunkSize = *chunk
		return verifiedSync(ctx, m.Verifier, c.env)
	}
	if err := m.CheckBackend(ctx); err != nil {
		return err
	}
	m.Engine.ChunkSize = *chunk
	res, err := m.Engine.Sync(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "synced to block %d %s (%s)\n", res.Tip.Height, res.Tip.Hash,
		res.Tip.Time.UTC().Format("2006-01-02T15:04:05Z"))
	return nil
}
