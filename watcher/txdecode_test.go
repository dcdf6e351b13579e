package watcher

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

// hugeCountTxs are a few dozen bytes each that declare counts far beyond
// their length: wire.MsgTx.Deserialize alone allocates for the count
// before it finds the bytes missing.
var hugeCountTxs = map[string]string{
	// version, marker+flag, 1 input, 1 empty output, 4,000,000 witness items.
	"witness items": "02000000" + "0001" + "01" + strings.Repeat("00", 36) + "00" + "ffffffff" + "01" + "0000000000000000" + "00" + "fe00093d00",
	// version, 800,000 inputs and nothing after.
	"inputs": "02000000" + "fe00350c00",
	// version, no input marker, 3,000,000 outputs.
	"outputs": "02000000" + "01" + strings.Repeat("00", 36) + "00" + "ffffffff" + "fec0c62d00",
	// a 4 MB script length.
	"script length": "02000000" + "01" + strings.Repeat("00", 36) + "fe00093d00",
}

// TestDecodeTxBoundsAllocation decodes transactions whose declared counts
// cannot fit their bytes: DecodeTx refuses each with little memory, where
// Deserialize allocates for the count first.
func TestDecodeTxBoundsAllocation(t *testing.T) {
	for name, h := range hugeCountTxs {
		t.Run(name, func(t *testing.T) {
			raw, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			refusedCheaply(t, raw, func() error { _, err := DecodeTx(raw); return err })
			n := allocated(func() { err = new(wire.MsgTx).Deserialize(bytes.NewReader(raw)) })
			if err == nil {
				t.Error("Deserialize accepts what DecodeTx refuses")
			}
			t.Logf("%d bytes: DecodeTx refuses them, Deserialize alone allocates %d bytes", len(raw), n)
		})
	}
}

// TestDecodeTxAcceptsRealTransactions decodes the regtest transactions of
// the fuzz seeds (every script kind, with and without witness) exactly as
// Deserialize does.
func TestDecodeTxAcceptsRealTransactions(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzLedgerEffects/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range corpusByteArgs(t, data) {
			want := new(wire.MsgTx)
			if err := want.Deserialize(bytes.NewReader(raw)); err != nil {
				continue
			}
			got, err := DecodeTx(raw)
			if err != nil {
				t.Fatalf("%s: DecodeTx refuses a valid transaction: %v", f, err)
			}
			if got.TxHash() != want.TxHash() || got.WitnessHash() != want.WitnessHash() {
				t.Fatalf("%s: DecodeTx decoded another transaction", f)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d transactions checked", n)
	}
}

// corpusByteArgs returns the []byte arguments of a fuzz corpus file.
func corpusByteArgs(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "[]byte(") {
			continue
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// refusedCheaply fails tb unless decode refuses raw while allocating at
// most 1 MiB.
func refusedCheaply(tb testing.TB, raw []byte, decode func() error) {
	tb.Helper()
	var err error
	if n := allocated(func() { err = decode() }); n > 1<<20 {
		tb.Errorf("decoding %d bytes allocated %d bytes", len(raw), n)
	}
	if err == nil {
		tb.Fatal("the decoder accepted it")
	}
}
