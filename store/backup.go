package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// BackupInfo describes a finished backup: what the copy holds, so an
// operator knows which sync a restore brings back.
type BackupInfo struct {
	// Path is the backup file.
	Path string
	// Bytes is its size.
	Bytes int64
	// Synced reports whether the copy holds a published ledger; Block and
	// Generation are zero otherwise.
	Synced bool
	// Block is the block the copy's ledger is published at.
	Block Block
	// Generation is the copy's sync generation (it grows with every
	// published sync and rollback), the same number the source had when
	// the copy was taken.
	Generation int64
}

// Backup writes a consistent copy of the ledger to dest with SQLite's
// VACUUM INTO. It reads one snapshot of the database, so it runs beside a
// daemon that keeps syncing (WAL: the writer is not blocked and the copy
// holds no half-written transaction). It never overwrites: an existing
// dest is refused. The copy is written to a temporary name next to dest,
// synced to disk and checked with PRAGMA integrity_check, and only then
// moved to dest; on any failure no file is left at dest nor beside it.
func (s *Store) Backup(ctx context.Context, dest string) (info BackupInfo, err error) {
	if _, err := os.Lstat(dest); err == nil {
		return info, fmt.Errorf("backup %s: %w; refusing to overwrite it", dest, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("backup %s: %w", dest, err)
	}
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return info, fmt.Errorf("backup %s: %w", dest, err)
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	// VACUUM INTO accepts an empty file as its target.
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return info, backupFault(dest, tmp, err)
	}
	if err := syncFile(tmp); err != nil {
		return info, backupFault(dest, tmp, err)
	}
	info, err = checkCopy(ctx, tmp)
	if err != nil {
		return info, backupFault(dest, tmp, err)
	}
	if err := renameNoReplace(tmp, dest); err != nil {
		return info, fmt.Errorf("backup %s: %w", dest, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the new name durable; best effort
		d.Close()
	}
	info.Path = dest
	return info, nil
}

// backupFault names a storage fault of the copy plainly ("disk full"), so
// an operator need not decode SQLite's or the kernel's wording.
func backupFault(dest, tmp string, err error) error {
	what := storageFault(tmp, err)
	if what == "" && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		what = "disk full"
	}
	if what != "" {
		return fmt.Errorf("backup %s: %s (writing %s: %v)", dest, what, filepath.Base(tmp), err)
	}
	return fmt.Errorf("backup %s: %w", dest, err)
}

// syncFile flushes path to disk.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkCopy opens the copy at path on its own, runs PRAGMA
// integrity_check and reads which sync it holds.
func checkCopy(ctx context.Context, path string) (BackupInfo, error) {
	var info BackupInfo
	st, err := os.Stat(path)
	if err != nil {
		return info, err
	}
	info.Bytes = st.Size()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return info, err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return info, fmt.Errorf("integrity check of the copy: %w", err)
	}
	if result != "ok" {
		return info, fmt.Errorf("integrity check of the copy failed: %s", result)
	}
	var hash []byte
	var t int64
	err = db.QueryRowContext(ctx, `SELECT height, hash, time, generation FROM sync_state WHERE id = 1`).
		Scan(&info.Block.Height, &hash, &t, &info.Generation)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return info, nil
	case err != nil:
		return info, fmt.Errorf("read the copy's sync state: %w", err)
	}
	if len(hash) != chainhash.HashSize {
		return info, fmt.Errorf("the copy's sync state has a %d-byte block hash", len(hash))
	}
	copy(info.Block.Hash[:], hash)
	info.Block.Time = time.Unix(t, 0).UTC()
	info.Synced = true
	return info, nil
}

// renameNoReplace moves from to to unless to exists. A hard link is the
// atomic "create only if absent" a plain rename lacks; on a filesystem
// without hard links it falls back to checking, then renaming.
func renameNoReplace(from, to string) error {
	err := os.Link(from, to)
	switch {
	case err == nil:
		return os.Remove(from)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w (it appeared while the backup ran); refusing to overwrite it", fs.ErrExist)
	}
	if _, serr := os.Lstat(to); serr == nil {
		return fmt.Errorf("%w (it appeared while the backup ran); refusing to overwrite it", fs.ErrExist)
	}
	return os.Rename(from, to)
}
