// Package electrumtest serves a real btcd node's chain over the Electrum
// protocol (newline-delimited JSON-RPC over TCP, with batches), so the
// Electrum backend and the equivalence tests can run against one chain seen
// through every protocol; fault tests plug in their own Handler.
package electrumtest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// This file is a small Electrum protocol server for tests: newline-delimited
// JSON-RPC over TCP (or TLS) on 127.0.0.1, batches included, answering
// either from a real regtest btcd (ChainHandler: the chain is re-read for
// every message, which is simple and fast enough for small chains) or from
// a function a fault test writes.

// WireError is an error answer the test server sends.
type WireError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Handler answers one call. It returns the result or an error answer;
// result HangUp closes the connection without answering the message.
type Handler func(ctx context.Context, method string, params []json.RawMessage) (result any, werr any)

// ConnKey keys the connection in a Handler's context.
type ConnKey struct{}

// HangUp is a Handler result that makes the server close the connection.
var HangUp = new(int)

// Server accepts connections and serves each with a Handler.
type Server struct {
	ln     net.Listener
	h      Handler
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	accept int // connections accepted, for tests of reconnection
	lines  int // messages received
}

// Start serves h on ln (or a new TCP listener on 127.0.0.1:0) until
// the test ends.
func Start(t testing.TB, ln net.Listener, h Handler) *Server {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, h: h, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]bool)}
	s.wg.Go(s.acceptLoop)
	t.Cleanup(s.Close)
	return s
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.cancel()
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Counts returns the connections accepted and messages received so far.
func (s *Server) Counts() (accepted, lines int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accept, s.lines
}

func (s *Server) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = true
		s.accept++
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				conn.Close()
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
			s.serveConn(conn)
		})
	}
}

// request is one call as the server reads it.
type request struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

// response is one answer as the server writes it.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result"`
	Error   any             `json:"error,omitempty"`
}

// serveConn answers the messages of one connection in order. Like
// ElectrumX it insists on server.version first and once.
func (s *Server) serveConn(conn net.Conn) {
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	w := bufio.NewWriter(conn)
	versioned := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		s.mu.Lock()
		s.lines++
		s.mu.Unlock()
		var reqs []request
		batch := line[0] == '['
		if batch {
			if json.Unmarshal(line, &reqs) != nil || len(reqs) == 0 {
				writeLine(w, response{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: WireError{Code: -32700, Message: "invalid JSON"}})
				return
			}
		} else {
			var r request
			if json.Unmarshal(line, &r) != nil {
				writeLine(w, response{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: WireError{Code: -32700, Message: "invalid JSON"}})
				return
			}
			reqs = []request{r}
		}
		resps := make([]response, len(reqs))
		var notes []any
		for i, r := range reqs {
			resps[i] = response{JSONRPC: "2.0", ID: r.ID}
			switch {
			case r.JSONRPC != "2.0" || len(r.ID) == 0:
				resps[i].Error = WireError{Code: -32600, Message: "invalid request"}
				continue
			case !versioned && r.Method != "server.version":
				resps[i].Error = WireError{Code: -32600, Message: "server.version must be the first message"}
				writeLine(w, resps[i])
				return
			case versioned && r.Method == "server.version":
				resps[i].Error = WireError{Code: 1, Message: "server.version already sent"}
				continue
			case r.Method == "server.version":
				versioned = true
			}
			result, werr := s.h(context.WithValue(s.ctx, ConnKey{}, conn), r.Method, r.Params)
			if result == HangUp {
				return
			}
			if werr != nil {
				resps[i].Error = werr
				continue
			}
			resps[i].Result = result
			if r.Method == "blockchain.headers.subscribe" {
				// A notification ahead of the answer, which the
				// client must ignore.
				notes = append(notes, map[string]any{"jsonrpc": "2.0", "method": r.Method, "params": []any{result}})
			}
		}
		for _, n := range notes {
			writeLine(w, n)
		}
		if batch {
			writeLine(w, resps)
		} else {
			writeLine(w, resps[0])
		}
		if w.Flush() != nil {
			return
		}
	}
}

// writeLine writes v as one JSON line (errors show up at Flush).
func writeLine(w *bufio.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	w.WriteByte('\n')
	w.Flush()
}

// VersionOnly answers server.version and fails every other call: the
// base of the fault tests' handlers.
func VersionOnly(method string) (any, any) {
	if method == "server.version" {
		return []string{"testserver 0.1", "1.4"}, nil
	}
	return nil, WireError{Code: -32601, Message: "unknown method " + method}
}

// ChainHandler answers from a real btcd node.
type ChainHandler struct {
	node     *chaintest.Node
	Protocol string // "1.4" (default) or "1.6": the answer of blockchain.block.headers differs

	mu     sync.Mutex
	blocks map[chainhash.Hash]*wire.MsgBlock // every block read, by hash
	txs    map[chainhash.Hash]*wire.MsgTx    // every mempool tx read
	key    string                            // best hash and mempool of snap
	snap   *snapshot
}

// snapshot is the node's chain and mempool at one moment, indexed the way
// an Electrum server indexes it.
type snapshot struct {
	headers [][]byte                     // by height, 80 bytes each
	blocks  []*wire.MsgBlock             // by height
	txs     map[chainhash.Hash][]byte    // raw, confirmed and mempool
	hist    map[string][]historyResponse // by Electrum scripthash
}

// historyResponse is a get_history item as servers send it.
type historyResponse struct {
	Height int64  `json:"height"`
	TxHash string `json:"tx_hash"`
	Fee    *int64 `json:"fee,omitempty"`
}

// NewChainHandler returns a Handler answering from node's chain, as an
// Electrum server indexing that node would.
func NewChainHandler(node *chaintest.Node) *ChainHandler {
	return &ChainHandler{node: node, blocks: make(map[chainhash.Hash]*wire.MsgBlock), txs: make(map[chainhash.Hash]*wire.MsgTx)}
}

// rpc calls btcd and decodes the result into out.
func (ch *ChainHandler) rpc(ctx context.Context, out any, method string, params ...any) error {
	raw, err := ch.node.RawRequest(ctx, method, params...)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// rawHex calls btcd for a hex answer and decodes it into v.
func (ch *ChainHandler) rawHex(ctx context.Context, v interface{ Deserialize(r io.Reader) error }, method string, params ...any) error {
	var s string
	if err := ch.rpc(ctx, &s, method, params...); err != nil {
		return err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	return v.Deserialize(bytes.NewReader(b))
}

// current returns the snapshot of the node's present state, rebuilt when
// the best block or the mempool changed.
func (ch *ChainHandler) current(ctx context.Context) (*snapshot, error) {
	var best string
	var mempool []string
	if err := ch.rpc(ctx, &best, "getbestblockhash"); err != nil {
		return nil, err
	}
	if err := ch.rpc(ctx, &mempool, "getrawmempool"); err != nil {
		return nil, err
	}
	slices.Sort(mempool)
	key := best + " " + strings.Join(mempool, " ")
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if key == ch.key {
		return ch.snap, nil
	}

	// The best chain, walked back from the tip through cached blocks.
	var chain []*wire.MsgBlock
	hash, err := chainhash.NewHashFromStr(best)
	if err != nil {
		return nil, err
	}
	for {
		blk, ok := ch.blocks[*hash]
		if !ok {
			blk = new(wire.MsgBlock)
			if err := ch.rawHex(ctx, blk, "getblock", hash.String(), 0); err != nil {
				return nil, fmt.Errorf("block %s: %w", hash, err)
			}
			ch.blocks[*hash] = blk
		}
		chain = append(chain, blk)
		if blk.Header.PrevBlock == (chainhash.Hash{}) {
			break
		}
		hash = &blk.Header.PrevBlock
	}
	slices.Reverse(chain)
	var memTxs []*wire.MsgTx
	for _, id := range mempool {
		h, err := chainhash.NewHashFromStr(id)
		if err != nil {
			return nil, err
		}
		tx, ok := ch.txs[*h]
		if !ok {
			tx = new(wire.MsgTx)
			if err := ch.rawHex(ctx, tx, "getrawtransaction", id, 0); err != nil {
				// It left the mempool since it was listed:
				// the next message sees the new state.
				return nil, fmt.Errorf("mempool tx %s: %w", id, err)
			}
			ch.txs[*h] = tx
		}
		memTxs = append(memTxs, tx)
	}
	ch.snap = buildSnapshot(chain, memTxs)
	ch.key = key
	return ch.snap, nil
}

// buildSnapshot indexes a chain (from genesis) and a mempool.
func buildSnapshot(chain []*wire.MsgBlock, mempool []*wire.MsgTx) *snapshot {
	s := &snapshot{txs: make(map[chainhash.Hash][]byte), hist: make(map[string][]historyResponse)}
	paid := make(map[wire.OutPoint]string) // outpoint -> scripthash
	value := make(map[wire.OutPoint]int64)
	record := func(tx *wire.MsgTx) {
		var buf bytes.Buffer
		tx.Serialize(&buf)
		s.txs[tx.TxHash()] = buf.Bytes()
		for i, out := range tx.TxOut {
			op := wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}
			paid[op] = watcher.Script(out.PkScript).ElectrumHash()
			value[op] = out.Value
		}
	}
	touched := func(tx *wire.MsgTx) []string {
		var shs []string
		for _, in := range tx.TxIn {
			if sh, ok := paid[in.PreviousOutPoint]; ok && !slices.Contains(shs, sh) {
				shs = append(shs, sh)
			}
		}
		for i := range tx.TxOut {
			if sh := paid[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}]; !slices.Contains(shs, sh) {
				shs = append(shs, sh)
			}
		}
		return shs
	}
	for height, blk := range chain {
		var hdr bytes.Buffer
		blk.Header.Serialize(&hdr)
		s.headers = append(s.headers, hdr.Bytes())
		s.blocks = append(s.blocks, blk)
		for _, tx := range blk.Transactions {
			record(tx)
			for _, sh := range touched(tx) {
				s.hist[sh] = append(s.hist[sh], historyResponse{Height: int64(height), TxHash: tx.TxHash().String()})
			}
		}
	}
	// Mempool transactions may spend each other in any order: learn
	// their outputs first. Height -1 marks one with an unconfirmed input.
	for _, tx := range mempool {
		record(tx)
	}
	inMempool := make(map[chainhash.Hash]bool)
	for _, tx := range mempool {
		inMempool[tx.TxHash()] = true
	}
	var mem []historyResponse
	memOf := make(map[string][]int)
	for _, tx := range mempool {
		height, fee := int64(0), int64(0)
		for _, in := range tx.TxIn {
			if inMempool[in.PreviousOutPoint.Hash] {
				height = -1
			}
			fee += value[in.PreviousOutPoint]
		}
		for _, out := range tx.TxOut {
			fee -= out.Value
		}
		for _, sh := range touched(tx) {
			memOf[sh] = append(memOf[sh], len(mem))
		}
		mem = append(mem, historyResponse{Height: height, TxHash: tx.TxHash().String(), Fee: &fee})
	}
	for sh, idx := range memOf {
		var items []historyResponse
		for _, i := range idx {
			items = append(items, mem[i])
		}
		// The canonical (1.6) mempool order: (-height, tx_hash).
		slices.SortFunc(items, func(a, b historyResponse) int {
			if a.Height != b.Height {
				return int(b.Height - a.Height)
			}
			return strings.Compare(a.TxHash, b.TxHash)
		})
		s.hist[sh] = append(s.hist[sh], items...)
	}
	return s
}

// status is the status hash of a scripthash's history, nil for none: the
// spec's sha256 over "tx_hash:height:" in history order (confirmed in
// block order, then the mempool by (-height, tx_hash)), computed here on
// its own so the client's version is checked, not copied.
func (s *snapshot) status(sh string) any {
	items := s.hist[sh]
	if len(items) == 0 {
		return nil
	}
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "%s:%d:", it.TxHash, it.Height)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Handle answers one call from the snapshot current at the time.
func (ch *ChainHandler) Handle(ctx context.Context, method string, params []json.RawMessage) (any, any) {
	arg := func(i int, v any) bool { return i < len(params) && json.Unmarshal(params[i], v) == nil }
	badParams := WireError{Code: -32602, Message: "invalid params for " + method}
	switch method {
	case "server.version":
		return []string{"testserver 0.1", cmp.Or(ch.Protocol, "1.4")}, nil
	case "server.ping":
		return nil, nil
	}
	s, err := ch.current(ctx)
	if err != nil {
		return nil, WireError{Code: 2, Message: "daemon error: " + err.Error()}
	}
	tip := int64(len(s.headers) - 1)
	switch method {
	case "blockchain.headers.subscribe":
		return map[string]any{"height": tip, "hex": hex.EncodeToString(s.headers[tip])}, nil
	case "blockchain.block.header":
		var h int64
		if !arg(0, &h) {
			return nil, badParams
		}
		if h < 0 || h > tip {
			return nil, WireError{Code: 1, Message: fmt.Sprintf("height %d out of range", h)}
		}
		return hex.EncodeToString(s.headers[h]), nil
	case "blockchain.block.headers":
		var start, count int64
		if !arg(0, &start) || !arg(1, &count) || start < 0 || count < 0 {
			return nil, badParams
		}
		count = max(0, min(count, 2016, tip-start+1))
		var hexes []string
		for h := start; h < start+count; h++ {
			hexes = append(hexes, hex.EncodeToString(s.headers[h]))
		}
		if ch.Protocol == "1.6" {
			return map[string]any{"count": count, "headers": hexes, "max": 2016}, nil
		}
		return map[string]any{"count": count, "hex": strings.Join(hexes, ""), "max": 2016}, nil
	case "blockchain.transaction.get":
		var id string
		if !arg(0, &id) {
			return nil, badParams
		}
		h, err := chainhash.NewHashFromStr(id)
		if err != nil {
			return nil, badParams
		}
		raw, ok := s.txs[*h]
		if !ok {
			// ElectrumX's words for bitcoind's answer.
			return nil, WireError{Code: 2, Message: "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.'})"}
		}
		return hex.EncodeToString(raw), nil
	case "blockchain.transaction.id_from_pos":
		var h, pos int64
		if !arg(0, &h) || !arg(1, &pos) {
			return nil, badParams
		}
		if h < 0 || h > tip {
			return nil, WireError{Code: 1, Message: fmt.Sprintf("height %d out of range", h)}
		}
		txs := s.blocks[h].Transactions
		if pos < 0 || pos >= int64(len(txs)) {
			return nil, WireError{Code: 1, Message: fmt.Sprintf("no tx at position %d in block at height %d", pos, h)}
		}
		return txs[pos].TxHash().String(), nil
	case "blockchain.scripthash.get_history":
		var sh string
		if !arg(0, &sh) || len(sh) != 64 {
			return nil, badParams
		}
		items := s.hist[sh]
		if items == nil {
			items = []historyResponse{}
		}
		return items, nil
	case "blockchain.scripthash.subscribe":
		var sh string
		if !arg(0, &sh) || len(sh) != 64 {
			return nil, badParams
		}
		return s.status(sh), nil
	}
	return nil, WireError{Code: -32601, Message: "unknown method " + method}
}
