package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Storage faults at the product level: the disk under the ledger fills up
// or turns read-only. A sync that cannot write must exit 1 with one line
// naming the fault and the file, and leave the last committed ledger
// intact; once the fault is gone, the next sync catches up. A backup onto
// a full disk fails the same way and leaves no partial file.

// tmpfsSize is the size of the filesystem the ledger lives on: room for
// the ledger and its WAL, small enough to fill in a moment.
const tmpfsSize = "8m"

// mountTmpfs mounts a fresh tmpfs of tmpfsSize on a new directory and
// unmounts it when the test ends. Mounting needs root (CI runs as root);
// elsewhere the test is skipped.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("storage faults need a tmpfs of their own, and mounting one needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+tmpfsSize); err != nil {
		t.Skipf("storage faults need a tmpfs of their own: mount -t tmpfs -o size=%s on %s: %v", tmpfsSize, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds a file open: detach now, free later.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// remountTmpfs makes the tmpfs at dir read-only or writable again.
func remountTmpfs(t *testing.T, dir string, readOnly bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size="+tmpfsSize); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", dir, readOnly, err)
	}
}

// fillDisk writes a file in dir until the filesystem has no room left, and
// returns its path (remove it to free the space).
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

// integrityCheck runs PRAGMA integrity_check on the database at path without
// writing to it.
func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatalf("integrity_check of %s: %v", path, err)
	}
	return res
}

// storageFixture is a synced ledger on its own tmpfs and a chain that has
// moved on, so that the next sync has plenty to write.
type storageFixture struct {
	n        chaintest.T
	keys     []*chaintest.Key
	entities []entitySpec
	mnt      string // the tmpfs
	cfg, db  string
	before   string // dumpDB after the last good sync
}

func newStorageFixture(t *testing.T) *storageFixture {
	t.Helper()
	fx := &storageFixture{mnt: mountTmpfs(t)}
	fx.n = chaintest.StartTB(t, chaintest.Options{}).T(t)
	var scripts [][]byte
	for i := range 8 {
		k := fx.n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)])
		fx.keys = append(fx.keys, k)
		scripts = append(scripts, k.Script)
	}
	fx.n.FundMany(scripts, 2, 40_000)
	fx.entities = []entitySpec{{"one", fx.keys[:4]}, {"two", fx.keys[4:]}}
	fx.db = filepath.Join(fx.mnt, "treasury.db")
	fx.cfg = writeWatchlist(t, t.TempDir(), fx.n.Node, fx.db, fx.entities)
	mustCLI(t, "sync", "-config", fx.cfg, "-log-level", "error")
	fx.before = dumpDB(t, fx.db)
	// Many new outputs: the next sync writes many rows.
	fx.n.FundMany(scripts, 40, 10_000)
	return fx
}

// failSync runs a sync that must fail with exit 1 and one line naming
// every part of want.
func (fx *storageFixture) failSync(t *testing.T, want ...string) {
	t.Helper()
	out, errs, code := runCLI(t, "sync", "-config", fx.cfg, "-log-level", "error")
	t.Logf("failed sync: %s", strings.TrimSpace(errs))
	if code != 1 {
		t.Errorf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if !strings.HasPrefix(errs, "treasurywatch sync: ") || strings.Count(errs, "\n") != 1 {
		t.Errorf("stderr is not one line starting %q:\n%s", "treasurywatch sync: ", errs)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
}

// intact checks the ledger is whole and holds what the last good sync
// wrote.
func (fx *storageFixture) intact(t *testing.T) {
	t.Helper()
	if res := integrityCheck(t, fx.db); res != "ok" {
		t.Errorf("integrity_check after the fault: %s", res)
	}
	if after := dumpDB(t, fx.db); after != fx.before {
		t.Errorf("the failed sync changed the ledger:\n%s\n--- before:\n%s", after, fx.before)
	}
}

// recover syncs once the fault is gone and requires the ledger a clean
// sync writes.
func (fx *storageFixture) recover(t *testing.T) {
	t.Helper()
	mustCLI(t, "sync", "-config", fx.cfg, "-log-level", "error")
	got := dumpDB(t, fx.db)
	if got == fx.before {
		t.Error("the sync after the fault left the ledger as it was")
	}
	dir := t.TempDir()
	clean := writeWatchlist(t, dir, fx.n.Node, "clean.db", fx.entities)
	mustCLI(t, "sync", "-config", clean, "-log-level", "error")
	if want := dumpDB(t, filepath.Join(dir, "clean.db")); got != want {
		t.Errorf("the ledger after the fault differs from a clean sync's:\n%s\n--- clean:\n%s", got, want)
	}
}

// TestStorageFaultDiskFull: the disk fills up before a sync writes,
// either while nothing has the ledger open (the sync fails opening it:
// there is no room for SQLite's WAL index) or while a reader holds it
// open, as the daemon's web server does (the sync fails writing).
func TestStorageFaultDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reader bool
	}{
		{"nothing open", false},
		{"reader open", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newStorageFixture(t)
			var reader *store.Store
			if tc.reader {
				var err error
				if reader, err = store.Open(context.Background(), fx.db); err != nil {
					t.Fatal(err)
				}
				defer reader.Close()
			}
			filler := fillDisk(t, fx.mnt)
			fx.failSync(t, "store "+fx.db+": disk full")
			if tc.reader {
				// The ledger still reads on the full disk.
				fx.intact(t)
				balances := mustCLI(t, "balances", "-config", fx.cfg, "-json")
				if !strings.Contains(balances, `"one"`) {
					t.Errorf("balances on the full disk: %s", balances)
				}
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			fx.intact(t)
			if reader != nil {
				reader.Close()
			}
			fx.recover(t)
		})
	}
}

// TestStorageFaultReadOnly: the filesystem under the ledger turns
// read-only (a remount; chmod would not stop root).
func TestStorageFaultReadOnly(t *testing.T) {
	fx := newStorageFixture(t)
	remountTmpfs(t, fx.mnt, true)
	fx.failSync(t, "store "+fx.db+": read-only")
	remountTmpfs(t, fx.mnt, false)
	fx.intact(t)
	fx.recover(t)
}

// TestStorageFaultBackupDiskFull: a backup onto a full disk fails clearly
// and leaves nothing behind; the ledger is untouched.
func TestStorageFaultBackupDiskFull(t *testing.T) {
	mnt := mountTmpfs(t)
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	var keys []*chaintest.Key
	var scripts [][]byte
	for i := range 8 {
		k := n.NewKey(chaintest.Kinds[i%len(chaintest.Kinds)])
		keys = append(keys, k)
		scripts = append(scripts, k.Script)
	}
	n.FundMany(scripts, 40, 10_000)
	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, n.Node, "treasury.db", []entitySpec{{"one", keys}})
	mustCLI(t, "sync", "-config", cfg, "-log-level", "error")
	before := dumpDB(t, filepath.Join(dir, "treasury.db"))
	filler := fillDisk(t, mnt)
	// Leave some room: the copy starts, then runs out.
	if err := os.Truncate(filler, mustSize(t, filler)-64*1024); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(mnt, "backup.db")
	out, errs, code := runCLI(t, "backup", "-config", cfg, "-out", dest)
	t.Logf("backup onto a full disk: %s", strings.TrimSpace(errs))
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, w := range []string{"treasurywatch backup: ", "backup " + dest, "disk full"} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	entries, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "filler" {
			t.Errorf("left on the full disk: %s", e.Name())
		}
	}
	if after := dumpDB(t, filepath.Join(dir, "treasury.db")); after != before {
		t.Error("the failed backup changed the ledger")
	}
	// With room again, the same command succeeds.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "backup", "-config", cfg, "-out", dest)
	if res := integrityCheck(t, dest); res != "ok" {
		t.Errorf("integrity_check of the backup: %s", res)
	}
	st, err := store.Open(context.Background(), dest)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := dumpDB(t, dest); got != before {
		t.Error("the backup differs from the ledger")
	}
}

func mustSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
