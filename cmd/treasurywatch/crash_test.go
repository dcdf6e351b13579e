package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestMain lets the test binary act as the treasurywatch command, so the
// crash test can SIGKILL a real process without building another binary.
func TestMain(m *testing.M) {
	if os.Getenv("TREASURYWATCH_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestSyncSurvivesKill kills `sync` at random moments (SIGKILL: no
// deferred cleanup runs), then lets it finish, and requires the database
// to be intact after every kill and, at the end, to hold exactly what one
// clean sync writes.
func TestSyncSurvivesKill(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	var keys []*chaintest.Key
	var scripts [][]byte
	for i := 0; i < 48; i++ {
		k := n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)])
		keys = append(keys, k)
		scripts = append(scripts, k.Script)
	}
	n.FundMany(scripts, 3, 50_000)
	entities := []entitySpec{{"one", keys[:24]}, {"two", keys[24:]}}

	cleanCfg := writeWatchlist(t, t.TempDir(), n.Node, "clean.db", entities)
	mustCLI(t, "sync", "-config", cleanCfg, "-log-level", "warn")
	want := dumpDB(t, filepath.Join(filepath.Dir(cleanCfg), "clean.db"))

	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, n.Node, "crash.db", entities)
	sync := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "sync", "-config", cfg, "-chunk-size", "3", "-log-level", "warn")
		cmd.Env = append(os.Environ(), "TREASURYWATCH_TEST_MAIN=1")
		return cmd
	}
	// How long a whole sync takes as a process, to spread the kills over it.
	probe := writeWatchlist(t, t.TempDir(), n.Node, "probe.db", entities)
	start := time.Now()
	cmd := sync()
	cmd.Args[3] = probe
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("probe sync: %v\n%s", err, out)
	}
	full := time.Since(start)

	const kills = 30
	partial := 0
	for i := 0; i < kills; i++ {
		cmd := sync()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(full))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if st := inspect(t, filepath.Join(dir, "crash.db")); st == "partial" {
			partial++
		}
	}
	t.Logf("%d kills over a %v sync; %d left a partly synced ledger", kills, full, partial)
	if out, err := sync().CombinedOutput(); err != nil {
		t.Fatalf("final sync: %v\n%s", err, out)
	}
	if got := dumpDB(t, filepath.Join(dir, "crash.db")); got != want {
		t.Errorf("ledger after kills differs from a clean sync:\n%s\n---\n%s", got, want)
	}
}

// inspect checks the database's integrity and says how far the killed
// sync got: "empty", "partial" (some steps committed, nothing published)
// or "published".
func inspect(tb testing.TB, path string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		return "empty"
	}
	st, err := store.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("open after kill: %v", err)
	}
	defer st.Close()
	var res string
	if err := st.DB().QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		tb.Fatalf("integrity_check after kill: %q %v", res, err)
	}
	var synced, published int
	st.DB().QueryRow("SELECT COUNT(*) FROM scripts WHERE synced_height IS NOT NULL").Scan(&synced)
	st.DB().QueryRow("SELECT COUNT(*) FROM sync_state").Scan(&published)
	switch {
	case published > 0:
		return "published"
	case synced > 0:
		return "partial"
	}
	return "empty"
}
