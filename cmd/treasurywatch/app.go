package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora"
)

// Version is the program's version, shown by `version` and sent as
// User-Agent by the HTTP backends.
var Version = "0.1.0-dev"

// Exit codes of the CLI contract.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a command line that could not be understood (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// command is one subcommand.
type command interface {
	Run(ctx context.Context, args []string) error
}

// Run runs the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	env := &Env{Stdout: stdout, Stderr: stderr}
	cmds := map[string]command{
		"check":    &checkCommand{env: env},
		"sync":     &syncCommand{env: env},
		"balances": &balancesCommand{env: env},
		"history":  &historyCommand{env: env},
		"run":      &runCommand{env: env},
		"demo":     &demoCommand{env: env},
		"backup":   &backupCommand{env: env},
		"report":   &reportCommand{env: env},
		"reports":  &reportsCommand{env: env},
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return exitOK
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "treasurywatch", Version)
		return exitOK
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "treasurywatch: unknown command %q\n", name)
		printUsage(stderr)
		return exitUsage
	}
	err := cmd.Run(ctx, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "treasurywatch %s: %s\n", name, ue.msg)
		return exitUsage
	case errors.As(err, new(watcher.Problems)):
		// Each problem already names its file and line.
		fmt.Fprintln(stderr, err.Error())
		return exitFailure
	default:
		msg := err.Error()
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		fmt.Fprintf(stderr, "treasurywatch %s: %s", name, msg)
		return exitFailure
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: treasurywatch <command> [flags]

commands:
  check     -config F            validate a watchlist, reporting every problem
  sync      -config F            sync the ledger to the backend's tip, then exit
  balances  -config F [-json]    balances per entity and address at the last synced block
  history   -config F (-address A | -entity ID) [-json]
                                 confirmed history, oldest first
  run       -config F [-listen A] the daemon: dashboard, API and scheduled syncs
  report    -config F -name N [-at T] [-no-deliver]
                                 sync, then produce, archive and deliver one report
  reports   -config F [-name N] [-json]
                                 the report archive: instants, blocks, digests, deliveries
  backup    -config F -out FILE  a consistent copy of the ledger, also while the daemon runs
  demo      [-listen A]          the whole product offline: a private chain with a year of history
  version                        print the version

Run 'treasurywatch <command> -h' for a command's flags.
`)
}

// Env is what every command shares: where to write, and how to log.
type Env struct {
	Stdout, Stderr io.Writer
}

// newFlagSet returns a flag set that reports usage mistakes as usageError.
func (e *Env) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// Main wires configuration to store to backend to engine, in that order,
// and closes them in reverse. Commands and end-to-end tests build one and
// use only the parts they need.
type Main struct {
	ConfigPath string
	Logger     *slog.Logger

	Watchlist *watcher.Watchlist
	Store     *store.Store
	Backend   watcher.Backend
	Engine    *watcher.Engine
	// Verifier serves syncs with failover to the next backend and, with
	// verify > 1, cross-checks them; nil when the watchlist names one
	// backend.
	Verifier *watcher.Verifier
	// others are the backends after the first, built for the Verifier.
	others []watcher.Backend
}

// OpenWatchlist loads and validates the watchlist.
func (m *Main) OpenWatchlist() error {
	if m.ConfigPath == "" {
		return usageError{"-config is required"}
	}
	wl, err := watcher.LoadWatchlist(m.ConfigPath)
	if err != nil {
		return err
	}
	m.Watchlist = wl
	return nil
}

// OpenStore opens the ledger named by the watchlist.
func (m *Main) OpenStore(ctx context.Context) error {
	st, err := store.Open(ctx, m.Watchlist.Store.Path)
	if err != nil {
		return err
	}
	m.Store = st
	return nil
}

// OpenBackend builds the client of the watchlist's first backend and the
// engine; it does not connect yet.
func (m *Main) OpenBackend() error {
	if len(m.Watchlist.Backends) == 0 {
		return errors.New("the watchlist names no backend")
	}
	cfg := m.Watchlist.Backends[0]
	b, err := newBackend(cfg, m.Watchlist.Network.Params, m.Logger)
	if err != nil {
		return fmt.Errorf("%s:%d: %w", m.Watchlist.Path, cfg.Line, err)
	}
	m.Backend = b
	m.Engine = watcher.NewEngine(b, m.Store, m.Watchlist.Scripts(), m.Logger)
	return m.openVerifier()
}

// CheckBackend asks the backend whether it serves the watchlist's network
// with what the engine needs; a sync must not start otherwise.
func (m *Main) CheckBackend(ctx context.Context) error {
	return m.Backend.CheckNetwork(ctx, m.Watchlist.Network.Params)
}

// Close closes what was opened, in reverse order.
func (m *Main) Close() error {
	var errs []error
	if m.Verifier != nil {
		errs = append(errs, m.Verifier.Close())
	}
	for _, b := range m.others {
		errs = append(errs, b.Close())
	}
	if m.Backend != nil {
		errs = append(errs, m.Backend.Close())
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

// closeInto closes m for a command that defers it: a failed close is
// the command's error unless something failed before.
func (m *Main) closeInto(err *error) {
	if cerr := m.Close(); *err == nil {
		*err = cerr
	}
}

// newBackend builds the client for one [[backends]] entry.
func newBackend(cfg watcher.BackendConfig, params *chaincfg.Params, logger *slog.Logger) (watcher.Backend, error) {
	switch cfg.Kind {
	case "btcd":
		secret, err := cfg.Secret()
		if err != nil {
			return nil, err
		}
		return btcd.New(btcd.Config{URL: cfg.URL, User: cfg.User, Password: secret, TLSCertFile: cfg.TLSCert,
			Timeout: cfg.Timeout.Duration, Concurrency: cfg.Concurrency, PageSize: cfg.BatchSize}, params, logger)
	case "esplora":
		return esplora.New(esplora.Config{URL: cfg.URL, Timeout: cfg.Timeout.Duration, RatePerSecond: cfg.RatePerSecond,
			Concurrency: cfg.Concurrency, Retries: cfg.Retries, UserAgent: esplora.UserAgent(Version)}, params, logger)
	case "electrum":
		return electrum.New(electrum.Config{URL: cfg.URL, TLSFingerprint: cfg.TLSFingerprint,
			InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout.Duration, BatchSize: cfg.BatchSize,
			ClientVersion: "treasurywatch " + Version}, params, logger)
	default:
		return nil, fmt.Errorf("backend kind %q is not supported", cfg.Kind)
	}
}
