package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// dumpString is the store's canonical dump.
func dumpString(tb testing.TB, st *Store) string {
	tb.Helper()
	var b strings.Builder
	if err := st.Dump(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// openCopy opens a backup as a store, the way a restore does.
func openCopy(tb testing.TB, path string) *Store {
	tb.Helper()
	st, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// publishBlock is one whole sync in one step: a block paying script id,
// published.
func publishBlock(ctx context.Context, st *Store, id int64, h int64) error {
	b := blk(h)
	return st.Apply(ctx, Step{Blocks: []Block{b}, Txs: []Tx{txAt(byte(h), b, -1)},
		Rows: []Row{{ScriptID: id, Txid: chainhash.Hash{byte(h)}, Received: 1000 * h, NOut: 1,
			Vouts: []Output{{Vout: 0, Value: 1000 * h}}}},
		Synced: []ScriptSync{{ScriptID: id, Block: b}}, Publish: &b})
}

// TestBackupWhileWriting takes copies while a writer keeps publishing: each
// copy is intact and dumps exactly as the source did at the copy's
// generation, and nothing but the copies is left in the directory.
func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	st := openTest(t)
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}})
	if err != nil {
		t.Fatal(err)
	}
	const syncs = 60
	var mu sync.Mutex
	dumps := map[int64]string{0: dumpString(t, st)}
	done := make(chan error, 1)
	go func() {
		for h := int64(1); h <= syncs; h++ {
			if err := publishBlock(ctx, st, ids[0], h); err != nil {
				done <- err
				return
			}
			_, _, gen, _, err := st.SyncState(ctx)
			if err != nil {
				done <- err
				return
			}
			d := dumpString(t, st)
			mu.Lock()
			dumps[gen] = d
			mu.Unlock()
		}
		done <- nil
	}()
	dir := t.TempDir()
	var infos []BackupInfo
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		info, err := st.Backup(ctx, filepath.Join(dir, fmt.Sprintf("copy-%03d.db", len(infos))))
		if err != nil {
			t.Fatalf("backup %d: %v", len(infos), err)
		}
		infos = append(infos, info)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "copy-") || !strings.HasSuffix(e.Name(), ".db") {
			t.Errorf("left beside the copies: %s", e.Name())
		}
	}
	gens := map[int64]bool{}
	for _, info := range infos {
		gens[info.Generation] = true
		cp := openCopy(t, info.Path)
		var ok string
		if err := cp.DB().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Errorf("%s: integrity_check %q %v", info.Path, ok, err)
		}
		pub, _, gen, synced, err := cp.SyncState(ctx)
		if err != nil || gen != info.Generation || synced != info.Synced || pub.Hash != info.Block.Hash {
			t.Errorf("%s: sync state %+v gen %d synced %v (%v); reported %+v", info.Path, pub, gen, synced, err, info)
		}
		mu.Lock()
		want, ok2 := dumps[gen]
		mu.Unlock()
		if !ok2 {
			t.Errorf("%s: generation %d was never published by the writer", info.Path, gen)
		} else if got := dumpString(t, cp); got != want {
			t.Errorf("%s (generation %d) differs from the source at that generation:\n%s\n--- source:\n%s", info.Path, gen, got, want)
		}
	}
	t.Logf("%d copies over %d generations", len(infos), len(gens))
	if len(gens) < 2 {
		t.Errorf("all %d copies hold generation(s) %v: the writer did not run beside the backups", len(infos), gens)
	}
}

// TestBackupRefusesToOverwrite: an existing file, even an empty one, is
// never replaced, and no temporary file is left behind.
func TestBackupRefusesToOverwrite(t *testing.T) {
	ctx := t.Context()
	st := openTest(t)
	for _, tc := range []struct {
		name, body string
	}{
		{"empty", ""},
		{"other data", "keep me"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "ledger-backup.db")
			if err := os.WriteFile(dest, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := st.Backup(ctx, dest)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), dest) || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("backup onto an existing file: %v", err)
			}
			if got, _ := os.ReadFile(dest); string(got) != tc.body {
				t.Errorf("the existing file now holds %q", got)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the existing file", len(entries))
			}
		})
	}
}

// TestBackupUncommittedWrite: a write transaction open during the backup
// is not in the copy, and does not block it (WAL).
func TestBackupUncommittedWrite(t *testing.T) {
	ctx := t.Context()
	st := openTest(t)
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}})
	if err != nil {
		t.Fatal(err)
	}
	if err := publishBlock(ctx, st, ids[0], 1); err != nil {
		t.Fatal(err)
	}
	want := dumpString(t, st)
	tx, err := st.DB().BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE sync_state SET height = 99, generation = 99`); err != nil {
		t.Fatal(err)
	}
	info, err := st.Backup(ctx, filepath.Join(t.TempDir(), "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Generation != 1 || info.Block.Height != 1 {
		t.Errorf("copy reports %+v, want generation 1 at height 1", info)
	}
	if got := dumpString(t, openCopy(t, info.Path)); got != want {
		t.Errorf("copy holds the uncommitted write:\n%s\n--- committed:\n%s", got, want)
	}
}

// TestCheckCopyFindsCorruption: the check a backup passes before it is
// reported done fails on a damaged file.
func TestCheckCopyFindsCorruption(t *testing.T) {
	ctx := t.Context()
	st := openTest(t)
	ids, err := st.EnsureScripts(ctx, [][]byte{{0x51}})
	if err != nil {
		t.Fatal(err)
	}
	for h := int64(1); h <= 50; h++ {
		if err := publishBlock(ctx, st, ids[0], h); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if _, err := st.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	if _, err := checkCopy(ctx, path); err != nil {
		t.Fatalf("intact copy: %v", err)
	}
	// Overwrite the middle of every page but the first (the header and
	// schema stay readable, the b-trees do not).
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var pageSize int
	err = db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for p := pageSize; p+pageSize <= len(raw); p += pageSize {
		for i := p + 8; i < p+pageSize/2; i++ {
			raw[i] = 0x5a
		}
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkCopy(ctx, path); err == nil {
		t.Fatal("checkCopy accepted a damaged file")
	} else {
		t.Logf("damaged copy: %v", err)
	}
}
