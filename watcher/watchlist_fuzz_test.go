package watcher

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadWatchlist loads arbitrary bytes as a watchlist file. Whatever the
// bytes, LoadWatchlist never panics, and it either returns a watchlist
// that validates or Problems: at least one, each naming the file, with a
// message, and a line inside the file (0 only for what has no line, such
// as a missing section). A TOML syntax error always has its line. The
// seeds (testdata/fuzz/FuzzLoadWatchlist) are the shipped examples and the
// many-problems fixture.
func FuzzLoadWatchlist(f *testing.F) {
	path := filepath.Join(f.TempDir(), "watchlist.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := LoadWatchlist(path)
		if err == nil {
			if w == nil {
				t.Fatal("no watchlist and no error")
			}
			if err := w.Validate(); err != nil {
				t.Fatalf("loaded watchlist does not validate: %v", err)
			}
			_ = w.Summary()
			for _, s := range w.Scripts() {
				if _, _, ok := w.Lookup(s); !ok {
					t.Fatalf("script %s of the watchlist is not found by Lookup", s)
				}
			}
			return
		}
		if w != nil {
			t.Fatal("a watchlist along with an error")
		}
		var ps Problems
		if !errors.As(err, &ps) {
			t.Fatalf("error %T %q, want Problems", err, err)
		}
		if len(ps) == 0 {
			t.Fatal("empty Problems")
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range ps {
			if p.File != path {
				t.Fatalf("problem %q names file %q, want %q", p.Error(), p.File, path)
			}
			if strings.TrimSpace(p.Msg) == "" {
				t.Fatalf("problem without a message: %#v", p)
			}
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("problem %q at line %d of a %d-line file", p.Error(), p.Line, lines)
			}
			if strings.HasPrefix(p.Msg, "TOML syntax") && p.Line == 0 {
				t.Fatalf("syntax problem without a line: %q", p.Error())
			}
			if !strings.HasPrefix(p.Error(), path+":") {
				t.Fatalf("problem %q does not start with the file name", p.Error())
			}
		}
	})
}

// TestSyntaxErrorLines checks the line of TOML syntax errors, at the end
// of the input too, where the TOML library itself reports one line too
// low (found by FuzzLoadWatchlist).
func TestSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		name, toml string
		line       int
	}{
		{"unterminated escape on line 1", "\"\\", 1},
		{"unterminated escape on line 2", "network = \"regtest\"\nx = \"\\", 2},
		{"unterminated escape after a blank line", "network = \"regtest\"\n\n\"\\", 3},
		{"newline in a string", "network = \"mainnet\n", 1},
		{"bad value mid-file", "network = \"regtest\"\nx = =\n[store]\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "watchlist.toml")
			if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadWatchlist(path)
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 || !strings.HasPrefix(ps[0].Msg, "TOML syntax") {
				t.Fatalf("error %v, want one TOML syntax problem", err)
			}
			if ps[0].Line != tt.line {
				t.Errorf("%q at line %d, want %d", ps[0].Error(), ps[0].Line, tt.line)
			}
		})
	}
}
