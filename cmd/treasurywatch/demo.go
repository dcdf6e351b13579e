package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
	"github.com/treasurywatch/treasurywatch/watcher/demo"
)

// demoCommand is the whole product offline in one command: a private
// regtest btcd with over a year of plausible history for a few fictitious
// public bodies, synced and served on the dashboard. Ctrl-C stops the node
// and removes every file it made.
type demoCommand struct {
	env *Env
}

// Run implements `treasurywatch demo [-listen A]`.
func (c *demoCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("demo")
	listen := fs.String("listen", "127.0.0.1:8080", "serve the dashboard on this `host:port`")
	days := fs.Int("days", 420, "how many `days` of history to write")
	btcdPath := fs.String("btcd", "", "btcd `binary` (default: $"+chaintest.EnvBtcd+", else the version pinned in go.mod via `go tool`)")
	lf := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *days < 60 || *days > 1000 {
		return usageError{"-days must be between 60 and 1000"}
	}
	logger, err := lf.logger(c.env.Stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "treasurywatch-demo-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()

	fmt.Fprintln(c.env.Stdout, "starting a private regtest btcd and writing the demo history…")
	started := time.Now()
	node, err := chaintest.Start(ctx, chaintest.Options{InitialBlocks: -1, Btcd: *btcdPath})
	if err != nil {
		return fmt.Errorf("start btcd: %w", err)
	}
	defer func() { err = errors.Join(err, node.Close()) }()
	sc, err := demo.Build(ctx, node, time.Now().AddDate(0, 0, -*days), logger)
	if err != nil {
		return fmt.Errorf("build demo history: %w", err)
	}
	cfg := filepath.Join(dir, "demo.toml")
	toml := sc.WatchlistTOML(node, filepath.Join(dir, "demo.db")) +
		fmt.Sprintf("\n[schedule]\nsync = \"@every 10s\"\n\n[http]\nlisten = %q\n", *listen) +
		demoReportsTOML(dir)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		return err
	}

	m := &Main{ConfigPath: cfg, Logger: logger}
	defer func() { err = errors.Join(err, m.Close()) }()
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	if err := m.OpenBackend(); err != nil {
		return err
	}
	// The first sync before serving, so the dashboard opens populated.
	if err := m.CheckBackend(ctx); err != nil {
		return err
	}
	if _, err := m.Engine.Sync(ctx); err != nil {
		return err
	}
	reports, err := produceDemoReports(ctx, m, time.Now())
	if err != nil {
		return err
	}
	d, err := newDaemon(m, "")
	if err != nil {
		return err
	}
	if err := d.Open(); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "demo ready in %s: %d blocks from %s to %s, %d reports filed\ndashboard at %s — Ctrl-C stops the node and removes %s\n",
		time.Since(started).Round(100*time.Millisecond), sc.Height, sc.First.Format("2006-01-02"), sc.Last.Format("2006-01-02"),
		reports, d.web.URL(), dir)
	<-ctx.Done()
	return d.Close()
}
