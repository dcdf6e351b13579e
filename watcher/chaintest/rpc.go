package chaintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chainhash/v2"
)

// rpcIDs numbers requests across all nodes; ids only need to be unique per
// HTTP request.
var rpcIDs atomic.Uint64

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	ID     uint64            `json:"id"`
	Result json.RawMessage   `json:"result"`
	Error  *btcjson.RPCError `json:"error"`
}

// RawRequest calls any btcd RPC with positional params and returns the raw
// JSON result. Unlike rpcclient it honours ctx. A server-side error is
// returned wrapped around a *btcjson.RPCError (use errors.As for its Code).
func (n *Node) RawRequest(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	return n.call(ctx, method, params)
}

// call performs one JSON-RPC request.
func (n *Node) call(ctx context.Context, method string, params []any) (json.RawMessage, error) {
	if params == nil {
		params = []any{} // btcd rejects a null params member
	}
	req := rpcRequest{JSONRPC: "1.0", ID: rpcIDs.Add(1), Method: method, Params: params}
	var resp rpcResponse
	if err := n.post(ctx, req, &resp); err != nil {
		return nil, fmt.Errorf("chaintest: %s: %w", method, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("chaintest: %s: %w", method, resp.Error)
	}
	return resp.Result, nil
}

// batch sends one JSON-RPC batch calling method once per params entry; btcd
// runs the entries one after the other in one HTTP exchange, which saves a
// TCP connection per call. The first failing entry's error is returned.
func (n *Node) batch(ctx context.Context, method string, params [][]any) ([]json.RawMessage, error) {
	if len(params) == 0 {
		return nil, nil
	}
	reqs := make([]rpcRequest, len(params))
	index := make(map[uint64]int, len(params))
	for i, p := range params {
		if p == nil {
			p = []any{}
		}
		reqs[i] = rpcRequest{JSONRPC: "1.0", ID: rpcIDs.Add(1), Method: method, Params: p}
		index[reqs[i].ID] = i
	}
	var resps []rpcResponse
	if err := n.post(ctx, reqs, &resps); err != nil {
		return nil, fmt.Errorf("chaintest: %s batch: %w", method, err)
	}
	out := make([]json.RawMessage, len(params))
	seen := 0
	for _, r := range resps {
		i, ok := index[r.ID]
		if !ok {
			continue
		}
		if r.Error != nil {
			return nil, fmt.Errorf("chaintest: %s (batch entry %d): %w", method, i, r.Error)
		}
		out[i] = r.Result
		seen++
	}
	if seen != len(params) {
		return nil, fmt.Errorf("chaintest: %s batch: %d answers for %d requests", method, seen, len(params))
	}
	return out, nil
}

// post sends body as JSON and decodes the reply into out.
func (n *Node) post(ctx context.Context, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(n.User, n.Pass)
	resp, err := n.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("HTTP %s: %q", resp.Status, truncate(string(data), 200))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Generate mines count blocks to the wallet's miner address ("generate";
// btcd has no generatetoaddress), then brings the wallet up to date. The
// blocks include whatever the mempool holds.
func (n *Node) Generate(ctx context.Context, count uint32) ([]chainhash.Hash, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.generateLocked(ctx, count)
}

func (n *Node) generateLocked(ctx context.Context, count uint32) ([]chainhash.Hash, error) {
	raw, err := n.call(ctx, "generate", []any{count})
	if err != nil {
		return nil, err
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err != nil {
		return nil, fmt.Errorf("chaintest: generate: %w", err)
	}
	hashes := make([]chainhash.Hash, len(strs))
	for i, s := range strs {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			return nil, err
		}
		hashes[i] = *h
	}
	return hashes, n.syncLocked(ctx)
}

// Mine mines one block and returns its hash.
func (n *Node) Mine(ctx context.Context) (chainhash.Hash, error) {
	hs, err := n.Generate(ctx, 1)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return hs[0], nil
}

// Invalidate marks a block invalid ("invalidateblock"), which disconnects it
// and its descendants: the one-node way to reproduce a reorg. The wallet
// rescans.
func (n *Node) Invalidate(ctx context.Context, hash chainhash.Hash) error {
	if _, err := n.call(ctx, "invalidateblock", []any{hash.String()}); err != nil {
		return err
	}
	return n.Sync(ctx)
}

// Reconsider undoes Invalidate ("reconsiderblock"); the wallet rescans.
func (n *Node) Reconsider(ctx context.Context, hash chainhash.Hash) error {
	if _, err := n.call(ctx, "reconsiderblock", []any{hash.String()}); err != nil {
		return err
	}
	return n.Sync(ctx)
}

// Height returns the height of the best block.
func (n *Node) Height(ctx context.Context) (int64, error) {
	var h int64
	return h, n.callInto(ctx, &h, "getblockcount")
}

// BlockHash returns the hash of the best-chain block at height.
func (n *Node) BlockHash(ctx context.Context, height int64) (chainhash.Hash, error) {
	var s string
	if err := n.callInto(ctx, &s, "getblockhash", height); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}

// BestHash returns the hash of the best block.
func (n *Node) BestHash(ctx context.Context) (chainhash.Hash, error) {
	var s string
	if err := n.callInto(ctx, &s, "getbestblockhash"); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}

func (n *Node) callInto(ctx context.Context, out any, method string, params ...any) error {
	raw, err := n.call(ctx, method, params)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("chaintest: %s: %w", method, err)
	}
	return nil
}

// Connect makes n connect to peer over loopback ("node connect … perm") and
// waits until the connection is up. peer must have been started with
// Options.Listen. Blocks then flow both ways; use WaitSync to wait for them.
func (n *Node) Connect(ctx context.Context, peer *Node) error {
	if peer.P2PAddr == "" {
		return fmt.Errorf("chaintest: Connect: peer was not started with Options.Listen")
	}
	if _, err := n.call(ctx, "node", []any{"connect", peer.P2PAddr, "perm"}); err != nil {
		return err
	}
	return n.waitPeer(ctx, peer.P2PAddr, true)
}

// Disconnect drops the connection made by Connect ("node remove") and
// waits until it is gone, so that the two nodes can grow competing chains.
func (n *Node) Disconnect(ctx context.Context, peer *Node) error {
	if _, err := n.call(ctx, "node", []any{"remove", peer.P2PAddr}); err != nil {
		return err
	}
	return n.waitPeer(ctx, peer.P2PAddr, false)
}

// waitPeer polls getpeerinfo until the peer at addr is (or is no longer)
// connected with a finished handshake.
func (n *Node) waitPeer(ctx context.Context, addr string, want bool) error {
	for {
		var peers []struct {
			Addr    string `json:"addr"`
			Version uint32 `json:"version"`
		}
		if err := n.callInto(ctx, &peers, "getpeerinfo"); err != nil {
			return err
		}
		found := false
		for _, p := range peers {
			if p.Addr == addr && (p.Version != 0 || !want) {
				found = true
			}
		}
		if found == want {
			return nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("chaintest: waiting for peer %s (connected=%v): %w", addr, want, err)
		}
	}
}

// WaitSync waits until all nodes report the same best block, then brings
// every node's wallet up to date.
func WaitSync(ctx context.Context, nodes ...*Node) error {
	for {
		var first chainhash.Hash
		same := true
		var hashes []string
		for i, n := range nodes {
			h, err := n.BestHash(ctx)
			if err != nil {
				return err
			}
			if i == 0 {
				first = h
			} else if h != first {
				same = false
			}
			hashes = append(hashes, h.String())
		}
		if same {
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("chaintest: nodes did not sync (tips %s): %w", strings.Join(hashes, ", "), err)
		}
	}
	for _, n := range nodes {
		if err := n.Sync(ctx); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
