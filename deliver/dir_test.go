package deliver

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listTree returns every file under root, relative and sorted.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestDirWritesAtomically(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out") // created on first use
	d := NewDir(root)
	m := testMessage()
	folder := "report/daily/2026-12-06T08:00:00Z/"
	want := []string{folder + "daily.csv", folder + "daily.pdf"}

	check := func(t *testing.T, m Message) {
		t.Helper()
		if got := listTree(t, root); !slices.Equal(got, want) {
			t.Fatalf("files %q, want %q (no temporary file left)", got, want)
		}
		for _, f := range m.Files {
			got, err := os.ReadFile(filepath.Join(root, folder, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(f.Data) {
				t.Errorf("%s: %d bytes on disk differ from the %d sent", f.Name, len(got), len(f.Data))
			}
			if fi, _ := os.Stat(filepath.Join(root, folder, f.Name)); fi.Mode().Perm() != 0o644 {
				t.Errorf("%s mode %v, want 0644", f.Name, fi.Mode().Perm())
			}
		}
	}
	if err := d.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	check(t, m)
	t.Run("same message again is idempotent", func(t *testing.T) {
		if err := d.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		check(t, m)
	})
	t.Run("corrected message replaces the files", func(t *testing.T) {
		m2 := m
		m2.Files = []File{{Name: "daily.csv", Data: []byte("height,sat\n870001,1\n")}, m.Files[1]}
		if err := d.Send(t.Context(), m2); err != nil {
			t.Fatal(err)
		}
		check(t, m2)
	})
}

func TestDirWritesBodiesWithoutFiles(t *testing.T) {
	root := t.TempDir()
	m := Message{Kind: KindAlert, ID: "alert/outflow/870000", Text: "outflow of 5 BTC", JSON: []byte(`{"sat":500000000}`)}
	if err := NewDir(root).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	want := []string{"alert/outflow/870000/message.json", "alert/outflow/870000/message.txt"}
	if got := listTree(t, root); !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	b, _ := os.ReadFile(filepath.Join(root, "alert/outflow/870000/message.json"))
	if string(b) != string(m.JSON) {
		t.Errorf("message.json = %q", b)
	}
}

func TestDirErrors(t *testing.T) {
	base := t.TempDir()
	blocker := filepath.Join(base, "not-a-dir")
	if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := testMessage()
	tests := []struct {
		name string
		root string
		m    func(Message) Message
		want string
	}{
		{"root under a regular file", filepath.Join(blocker, "reports"), nil, "not a directory"},
		{"root is a regular file", blocker, nil, "not a directory"},
		{"id climbs out", base, func(m Message) Message { m.ID = "report/../../etc"; return m }, `segment ".." cannot be a folder name`},
		{"id with empty segment", base, func(m Message) Message { m.ID = "report//x"; return m }, `segment "" cannot be a folder name`},
		{"id with space", base, func(m Message) Message { m.ID = "report/daily run"; return m }, `character ' ' not allowed`},
		{"empty id", base, func(m Message) Message { m.ID = ""; return m }, "message id is empty"},
		{"file name with slash", base, func(m Message) Message {
			m.Files = []File{{Name: "../x.csv", Data: []byte("x")}}
			return m
		}, `file 1: file name "../x.csv" may not start with a dot`},
		{"file name with folder", base, func(m Message) Message {
			m.Files = []File{{Name: "a/x.csv", Data: []byte("x")}}
			return m
		}, `file name "a/x.csv": character '/' not allowed`},
		{"duplicate file", base, func(m Message) Message {
			m.Files = []File{ok.Files[0], ok.Files[0]}
			return m
		}, `file name "daily.csv" appears twice`},
		{"nothing to write", base, func(m Message) Message {
			m.Files, m.Text, m.JSON = nil, "", nil
			return m
		}, "has no files, text or JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			if tc.m != nil {
				m = tc.m(m)
			}
			err := NewDir(tc.root).Send(t.Context(), m)
			if err == nil {
				t.Fatal("written, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "deliver to directory "+tc.root) {
				t.Errorf("error %q, want it to start with the directory and mention %q", err, tc.want)
			}
			if !IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
			if got := listTree(t, base); !slices.Equal(got, []string{"not-a-dir"}) {
				t.Errorf("files after the error: %q", got)
			}
		})
	}
}
