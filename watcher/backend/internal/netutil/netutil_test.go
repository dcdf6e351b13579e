package netutil

import (
	"testing"
	"time"
)

func TestOrDefault(t *testing.T) {
	if OrDefault(0, 8) != 8 || OrDefault(-1, 8) != 8 || OrDefault(3, 8) != 3 {
		t.Error("OrDefault int")
	}
	if OrDefault(time.Duration(0), time.Second) != time.Second {
		t.Error("OrDefault duration")
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"http://user:secret@127.0.0.1:8334": "http://user:xxxxx@127.0.0.1:8334",
		"https://mempool.space/api":         "https://mempool.space/api",
		"%zz://user:secret@host":            "…@host",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
