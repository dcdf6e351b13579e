package deliver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Dir writes each message into its own folder under a root directory, for
// operators who publish reports from disk (a web server, a sync tool, an
// archive). The folder is Message.ID split at "/", e.g.
// root/report/daily/2026-12-06T08:00:00Z/. Each file is written atomically
// (temporary file in the same folder, fsync, rename, fsync of the folder),
// so a reader sees either the old or the new complete file, never a part;
// writing the same message again replaces its files with equal ones.
//
// A message without Files is written as message.txt (Text) and
// message.json (JSON), so alerts land on disk too.
type Dir struct {
	root string
}

// NewDir returns a Target writing under path, which is created on first
// use if missing.
func NewDir(path string) *Dir { return &Dir{root: path} }

// Name is "dir".
func (d *Dir) Name() string { return "dir" }

// Send writes m's files. Bad ids or file names and unwritable paths are
// permanent errors; others (a full disk) are retryable.
func (d *Dir) Send(ctx context.Context, m Message) error {
	rel, err := idPath(m.ID)
	if err != nil {
		return Permanent(fmt.Errorf("deliver to directory %s: %w", d.root, err))
	}
	files := m.Files
	if len(files) == 0 {
		if m.Text != "" {
			files = append(files, File{Name: "message.txt", ContentType: "text/plain", Data: []byte(m.Text)})
		}
		if len(m.JSON) > 0 {
			files = append(files, File{Name: "message.json", ContentType: "application/json", Data: m.JSON})
		}
		if len(files) == 0 {
			return Permanent(fmt.Errorf("deliver to directory %s: message %q has no files, text or JSON", d.root, m.ID))
		}
	}
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		if err := checkFileName(f.Name); err != nil {
			return Permanent(fmt.Errorf("deliver to directory %s: message %q file %d: %w", d.root, m.ID, i+1, err))
		}
		if seen[f.Name] {
			return Permanent(fmt.Errorf("deliver to directory %s: message %q: file name %q appears twice", d.root, m.ID, f.Name))
		}
		seen[f.Name] = true
	}
	dir := filepath.Join(d.root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return classifyFS(fmt.Errorf("deliver to directory %s: create folder: %w", d.root, err))
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deliver to directory %s: %w", d.root, err)
		}
		if err := writeAtomic(dir, f.Name, f.Data); err != nil {
			return classifyFS(fmt.Errorf("deliver to directory %s: %w", d.root, err))
		}
	}
	if err := syncDir(dir); err != nil {
		return classifyFS(fmt.Errorf("deliver to directory %s: %w", d.root, err))
	}
	return nil
}

// writeAtomic replaces dir/name with data so that no reader ever sees a
// partly written file, and the file survives a crash once it returns.
func writeAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// idPath turns a Message.ID into a relative folder path. Rather than
// rewriting odd characters (which could make two ids share a folder), it
// refuses them.
func idPath(id string) (string, error) {
	if id == "" {
		return "", errors.New("message id is empty")
	}
	parts := strings.Split(id, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".") {
			return "", fmt.Errorf("message id %q: segment %q cannot be a folder name", id, p)
		}
		for _, r := range p {
			if !safeRune(r) {
				return "", fmt.Errorf("message id %q: character %q not allowed in a folder name (use letters, digits and . _ - : + = @)", id, r)
			}
		}
	}
	return filepath.Join(parts...), nil
}

// checkFileName accepts plain base names only, so a file cannot escape
// the message's folder.
func checkFileName(name string) error {
	if name == "" {
		return errors.New("file name is empty")
	}
	if name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return fmt.Errorf("file name %q may not start with a dot", name)
	}
	for _, r := range name {
		if !safeRune(r) {
			return fmt.Errorf("file name %q: character %q not allowed (use letters, digits and . _ - : + = @)", name, r)
		}
	}
	return nil
}

func safeRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("._-:+=@", r)
}

// classifyFS marks errors that a retry cannot fix as permanent: a path
// that is not a folder, missing permission, a read-only file system.
func classifyFS(err error) error {
	for _, perm := range []error{fs.ErrPermission, syscall.ENOTDIR, syscall.EROFS, syscall.EISDIR, fs.ErrExist} {
		if errors.Is(err, perm) {
			return Permanent(err)
		}
	}
	return err
}
