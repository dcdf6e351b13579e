package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// ledgerView is what readers of one ledger see, and its canonical dump.
type ledgerView struct {
	reads map[string]string // command line -> stdout
	dump  string
}

// readViews runs the read commands against cfg; it returns an error
// instead of failing, so that it can run off the test's goroutine.
func readViews(ctx context.Context, cfg string, entities []entitySpec) (map[string]string, error) {
	cmds := [][]string{{"balances", "-json"}, {"balances"}}
	for _, e := range entities {
		cmds = append(cmds, []string{"history", "-entity", e.id, "-json"})
		for _, k := range e.keys {
			cmds = append(cmds, []string{"history", "-address", k.Address.String(), "-json"})
		}
	}
	reads := map[string]string{}
	for _, c := range cmds {
		var out, errb strings.Builder
		if code := Run(ctx, append([]string{c[0], "-config", cfg}, c[1:]...), &out, &errb); code != 0 {
			return nil, fmt.Errorf("%s: exit %d: %s", strings.Join(c, " "), code, errb.String())
		}
		reads[strings.Join(c, " ")] = out.String()
	}
	return reads, nil
}

// dumpPath dumps the ledger at path, returning errors instead of failing.
func dumpPath(ctx context.Context, path string) (string, error) {
	st, err := store.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer st.Close()
	var b strings.Builder
	err = st.Dump(ctx, &b)
	return b.String(), err
}

// betweenSteps reports whether the ledger at path holds steps of a sync
// that had not published yet when it was copied: scripts already synced
// above the published block.
func betweenSteps(tb testing.TB, path string) bool {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM scripts WHERE synced_height IS NOT
		(SELECT height FROM sync_state WHERE id = 1)`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n > 0
}

var backupGeneration = regexp.MustCompile(`\(generation (\d+), \d+ bytes\) to `)

// TestBackupWhileSyncing takes backups with `treasurywatch backup` while
// `treasurywatch sync` keeps writing new blocks into the ledger, then
// restores each (a watchlist whose [store] path is the copy) and requires
// what readers see (balances, histories) and the ledger's dump to equal
// the source's at the copy's sync generation. A copy taken between two
// steps of one sync holds the published figures of its generation and,
// synced once more, the same ledger as the source.
func TestBackupWhileSyncing(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	n := node.T(t)
	var keys []*chaintest.Key
	var scripts [][]byte
	for i := range 8 {
		k := n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)])
		keys = append(keys, k)
		scripts = append(scripts, k.Script)
	}
	n.FundMany(scripts, 3, 20_000)
	entities := []entitySpec{{"one", keys[:4]}, {"two", keys[4:]}}
	srcDir := t.TempDir()
	cfg := writeWatchlist(t, srcDir, node, "source.db", entities)
	src := filepath.Join(srcDir, "source.db")
	mustCLI(t, "sync", "-config", cfg, "-log-level", "error")

	ctx := t.Context()
	var mu sync.Mutex
	views := map[int64]ledgerView{}
	record := func() error {
		st, err := store.Open(ctx, src)
		if err != nil {
			return err
		}
		_, _, gen, _, err := st.SyncState(ctx)
		st.Close()
		if err != nil {
			return err
		}
		reads, err := readViews(ctx, cfg, entities)
		if err != nil {
			return err
		}
		dump, err := dumpPath(ctx, src)
		if err != nil {
			return err
		}
		mu.Lock()
		views[gen] = ledgerView{reads, dump}
		mu.Unlock()
		return nil
	}
	if err := record(); err != nil {
		t.Fatal(err)
	}

	// The writer: new blocks paying every watched script, each synced.
	const rounds = 6
	done := make(chan error, 1)
	go func() {
		for range rounds {
			if err := node.FundMany(ctx, scripts, 4, 15_000); err != nil {
				done <- err
				return
			}
			var out, errb strings.Builder
			if code := Run(ctx, []string{"sync", "-config", cfg, "-log-level", "error"}, &out, &errb); code != 0 {
				done <- fmt.Errorf("sync: exit %d: %s", code, errb.String())
				return
			}
			if err := record(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	type copyOf struct {
		path string
		gen  int64
	}
	var copies []copyOf
	backups := t.TempDir()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		path := filepath.Join(backups, fmt.Sprintf("backup-%03d.db", len(copies)))
		out := mustCLI(t, "backup", "-config", cfg, "-out", path)
		m := backupGeneration.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("backup printed %q", out)
		}
		gen, _ := strconv.ParseInt(m[1], 10, 64)
		copies = append(copies, copyOf{path, gen})
		time.Sleep(50 * time.Millisecond) // a few copies per sync are enough
	}
	entries, err := os.ReadDir(backups)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(copies) {
		t.Errorf("%d files beside %d backups: temporary files were left", len(entries), len(copies))
	}

	final, err := dumpPath(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	// A backup never replaces a file, even an older backup.
	kept, err := os.ReadFile(copies[0].path)
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, "backup", "-config", cfg, "-out", copies[0].path)
	if code != 1 || out != "" || !strings.HasPrefix(errs, "treasurywatch backup: backup "+copies[0].path+": ") ||
		!strings.Contains(errs, "refusing to overwrite") || strings.Count(errs, "\n") != 1 {
		t.Errorf("backup onto an existing file: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if now, _ := os.ReadFile(copies[0].path); !bytes.Equal(now, kept) {
		t.Error("a backup overwrote an existing file")
	}
	if _, errs, code := runCLI(t, "backup", "-config", cfg); code != 2 || !strings.Contains(errs, "-out is required") {
		t.Errorf("backup without -out: exit %d, stderr %q", code, errs)
	}
	gens := map[int64]bool{}
	whole := 0
	for i, c := range copies {
		t.Run(fmt.Sprintf("copy %d generation %d", i, c.gen), func(t *testing.T) {
			gens[c.gen] = true
			if res := integrityCheck(t, c.path); res != "ok" {
				t.Errorf("integrity_check: %s", res)
			}
			mu.Lock()
			want, ok := views[c.gen]
			mu.Unlock()
			if !ok {
				t.Fatalf("the source never published generation %d", c.gen)
			}
			restored := writeWatchlist(t, t.TempDir(), node, c.path, entities)
			reads, err := readViews(ctx, restored, entities)
			if err != nil {
				t.Fatal(err)
			}
			for cmd, w := range want.reads {
				if reads[cmd] != w {
					t.Errorf("%s on the restored copy:\n%s\n--- source at generation %d:\n%s", cmd, reads[cmd], c.gen, w)
				}
			}
			if betweenSteps(t, c.path) {
				t.Logf("taken between two steps of the sync after generation %d", c.gen)
			} else {
				whole++
				if got := dumpDB(t, c.path); got != want.dump {
					t.Errorf("dump of the restored copy differs from the source's at generation %d:\n%s\n--- source:\n%s", c.gen, got, want.dump)
				}
			}
			// The restored ledger carries on: one sync brings it where the
			// source is.
			mustCLI(t, "sync", "-config", restored, "-log-level", "error")
			if got := dumpDB(t, c.path); got != final {
				t.Errorf("the restored copy, synced, differs from the source:\n%s\n--- source:\n%s", got, final)
			}
		})
	}
	t.Logf("%d backups over %d generations, %d at a sync boundary", len(copies), len(gens), whole)
	if len(gens) < 2 {
		t.Errorf("every backup holds generation(s) %v: none ran beside a sync", gens)
	}
	if whole == 0 {
		t.Error("no backup was taken at a sync boundary; nothing compared the whole dump")
	}
}
