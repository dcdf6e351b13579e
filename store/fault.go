package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
)

// SQLite primary result codes of storage faults (sqlite3.h).
const (
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

// FaultError is a failure of the storage under a database file rather than
// of the ledger in it: the disk is full, the file or its directory is
// read-only, or the operating system reported an I/O error. Its message
// says what and where ("store /var/lib/tw/treasury.db: disk full"), since
// the operator fixes it on the machine, not in the watchlist. SQLite rolls
// the failed transaction back, so the last committed state stays intact.
type FaultError struct {
	// Path is the database file.
	Path string
	// What is the fault as an operator reads it: "disk full",
	// "read-only", "I/O error", "cannot open".
	What string
	// Err is SQLite's own error.
	Err error
}

// Error implements error.
func (e *FaultError) Error() string {
	return fmt.Sprintf("store %s: %s (%v)", e.Path, e.What, e.Err)
}

// Unwrap returns SQLite's error.
func (e *FaultError) Unwrap() error { return e.Err }

// storageFault names a storage fault in err, or returns "". SQLite says
// "disk full" and "read-only" itself only on some paths; where it reports
// an I/O error or a file it cannot open (the WAL index of a full or
// read-only disk), the directory of the database at path is probed.
func storageFault(path string, err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqliteFull:
		return "disk full"
	case sqliteReadOnly:
		if what := probeDir(filepath.Dir(path)); what != "" {
			return what
		}
		return "read-only"
	case sqliteIOErr:
		if what := probeDir(filepath.Dir(path)); what != "" {
			return what
		}
		return "I/O error"
	case sqliteCantOpen:
		if what := probeDir(filepath.Dir(path)); what != "" {
			return what
		}
		return "cannot open"
	}
	return ""
}

// probeDir writes a small file in dir and removes it, to tell a full or
// read-only filesystem from other failures; it returns "" when the write
// works or fails otherwise.
func probeDir(dir string) string {
	f, err := os.CreateTemp(dir, ".treasurywatch-probe-*")
	if err == nil {
		_, err = f.Write(make([]byte, 4096))
		f.Close()
		os.Remove(f.Name())
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "disk full"
	case errors.Is(err, syscall.EROFS):
		return "read-only"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return ""
}

// fault wraps err in a FaultError naming path when it is a storage fault
// (and is not one already); other errors are returned as they are.
func fault(path string, err error) error {
	if err == nil || errors.As(err, new(*FaultError)) {
		return err
	}
	if what := storageFault(path, err); what != "" {
		return &FaultError{Path: path, What: what, Err: err}
	}
	return err
}
