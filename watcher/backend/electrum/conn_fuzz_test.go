package electrum

import (
	"encoding/hex"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// fuzzWaiting is how many requests the fuzzed connection has in flight.
const fuzzWaiting = 4

// FuzzElectrumStream feeds arbitrary bytes, as a server's side of a
// connection, to the client's reader (readLoop, splitLines, dispatch,
// parseID, parseRPCError) with requests 1 to 4 waiting, then decodes every
// delivered answer the way the client's calls do (history, status, header,
// headers, transaction). Whatever the bytes, nothing panics or hangs, a
// line longer than the limit fails the connection, every waiting request
// gets exactly one reply, and the connection ends failed. The seeds
// (testdata/fuzz/FuzzElectrumStream) are answers of the electrumtest
// server on a regtest chain.
func FuzzElectrumStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte) {
		c, err := New(Config{URL: "tcp://127.0.0.1:50001", MaxLineBytes: 1 << 16}, &chaincfg.RegressionNetParams, nil)
		if err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		s := &session{conn: client, pending: make(map[uint64]chan reply), done: make(chan struct{})}
		ids := make([]uint64, fuzzWaiting)
		for i := range ids {
			ids[i] = uint64(i + 1)
		}
		chans, err := s.register(ids)
		if err != nil {
			t.Fatal(err)
		}
		go c.readLoop(s)
		server.SetWriteDeadline(time.Now().Add(5 * time.Second))
		server.Write(stream) // fails once the reader gave up
		server.Close()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the reader did not finish after the connection closed")
		}
		// fail closes done before it fails the waiting requests, under
		// s.mu: taking the lock waits for it to finish.
		s.mu.Lock()
		sessErr := s.err
		s.mu.Unlock()
		if sessErr == nil {
			t.Fatal("the session ended without an error")
		}
		for i, ch := range chans {
			var r reply
			select {
			case r = <-ch:
			default:
				t.Fatalf("request %d got no reply", ids[i])
			}
			select {
			case <-ch:
				t.Fatalf("request %d got two replies", ids[i])
			default:
			}
			if r.err != nil {
				if r.err != sessErr {
					t.Fatalf("request %d failed with %v, the session with %v", ids[i], r.err, sessErr)
				}
				continue
			}
			if r.rpcErr != nil {
				_ = r.rpcErr.Error()
				continue
			}
			decodeFuzzResult(t, c, r.result)
		}
	})
}

// decodeFuzzResult decodes a result as each of the client's calls would
// and runs the client's checks on what decodes.
func decodeFuzzResult(t *testing.T, c *Client, result json.RawMessage) {
	t.Helper()
	if isNull(result) {
		result = json.RawMessage("null")
	}
	var hist []historyEntry
	if json.Unmarshal(result, &hist) == nil {
		items, err := c.historyItems(watcher.Script{0x51}, hist)
		if err == nil {
			if len(items) != len(hist) {
				t.Fatalf("%d history items from %d entries", len(items), len(hist))
			}
			for i := 1; i < len(items); i++ {
				if historyOrder(items[i-1], items[i]) > 0 {
					t.Fatalf("history out of order: %+v", items)
				}
			}
		}
	}
	var status *string
	_ = json.Unmarshal(result, &status)
	var tip headerNotification
	if json.Unmarshal(result, &tip) == nil {
		_, _ = c.blockRef("blockchain.headers.subscribe", tip.Height, tip.Hex)
	}
	var s string
	if json.Unmarshal(result, &s) == nil {
		if hdr, hash, err := c.parseHeader("blockchain.block.header", s); err == nil && (hdr == nil || hash != hdr.BlockHash()) {
			t.Fatalf("header %s hashed to %s", s, hash)
		}
		_, _ = c.parseHash("blockchain.transaction.id_from_pos", s)
		_, _ = hex.DecodeString(s)
	}
	var hs headersResult
	_ = json.Unmarshal(result, &hs)
	var version []string
	_ = json.Unmarshal(result, &version)
}
