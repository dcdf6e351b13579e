// Package esploratest serves a real btcd node's chain over the Esplora HTTP
// API, as the public servers shape it, so the Esplora backend and the
// equivalence tests can run against one chain seen through every protocol.
package esploratest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Server is a test Esplora server answering from a real btcd: the
// endpoints the client uses, with the protocol's shapes as the real servers
// send them (Blockstream/esplora API.md, electrs): 25 confirmed
// transactions per page, newest first (within a block in descending txid
// byte order, as electrs' history rows sort, not in block order), a page
// cursor that is skipped past and yields an empty page when unknown,
// {"confirmed":false} without block fields for the mempool, scripthash =
// sha256(script) not reversed, text/plain answers for hashes and 404 "Block
// not found" above the tip. Its index is rebuilt from the node whenever the
// best block or the mempool changed: simple, and fast enough for small
// regtest chains.
type Server struct {
	node *chaintest.Node
	*httptest.Server

	mu     sync.Mutex
	blocks map[chainhash.Hash]*srvBlock // every block ever read, best chain or not
	txs    map[chainhash.Hash]*wire.MsgTx
	idx    *srvIndex
}

// srvBlock is a block the server has read, with its height.
type srvBlock struct {
	hash   chainhash.Hash
	height int64
	blk    *wire.MsgBlock
}

// srvIndex is the server's view of the best chain and mempool.
type srvIndex struct {
	tip     chainhash.Hash
	memKey  string
	chain   []*srvBlock // by height
	scripts map[[32]byte]*srvScript
	where   map[chainhash.Hash]*srvBlock // confirmed tx -> block
}

// srvScript is one scripthash's history and counters.
type srvScript struct {
	chain   []srvEntry // chain order
	mempool []srvEntry
	cstats  srvStats
	mstats  srvStats
}

type srvEntry struct {
	tx  *wire.MsgTx
	blk *srvBlock // nil for the mempool
}

type srvStats struct {
	TxCount        int64 `json:"tx_count"`
	FundedTxoCount int64 `json:"funded_txo_count"`
	FundedTxoSum   int64 `json:"funded_txo_sum"`
	SpentTxoCount  int64 `json:"spent_txo_count"`
	SpentTxoSum    int64 `json:"spent_txo_sum"`
}

// Start serves node's chain over the Esplora API until the
// test ends.
func Start(t testing.TB, node *chaintest.Node) *Server {
	s := &Server{
		node:   node,
		blocks: make(map[chainhash.Hash]*srvBlock),
		txs:    make(map[chainhash.Hash]*wire.MsgTx),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) rpc(ctx context.Context, out any, method string, params ...any) error {
	raw, err := s.node.RawRequest(ctx, method, params...)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// isNotFound reports whether btcd answered "no information" (code -5).
func isNotFound(err error) bool {
	var re *btcjson.RPCError
	return errors.As(err, &re) && re.Code == btcjson.ErrRPCNoTxInfo
}

// block returns the block with hash, reading it from the node once.
func (s *Server) block(ctx context.Context, hash chainhash.Hash) (*srvBlock, error) {
	if b, ok := s.blocks[hash]; ok {
		return b, nil
	}
	var verbose struct {
		Height int64 `json:"height"`
	}
	if err := s.rpc(ctx, &verbose, "getblockheader", hash.String(), true); err != nil {
		return nil, err
	}
	var h string
	if err := s.rpc(ctx, &h, "getblock", hash.String(), 0); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	if blk.BlockHash() != hash {
		return nil, fmt.Errorf("getblock %s returned %s", hash, blk.BlockHash())
	}
	b := &srvBlock{hash: hash, height: verbose.Height, blk: &blk}
	s.blocks[hash] = b
	return b, nil
}

// tx returns a transaction by txid, reading it from the node once.
func (s *Server) tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	if tx, ok := s.txs[txid]; ok {
		return tx, nil
	}
	var h string
	if err := s.rpc(ctx, &h, "getrawtransaction", txid.String(), 0); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	s.txs[txid] = &tx
	return &tx, nil
}

// index returns the index of the node's current best chain and mempool.
func (s *Server) index(ctx context.Context) (*srvIndex, error) {
	var tipStr string
	if err := s.rpc(ctx, &tipStr, "getbestblockhash"); err != nil {
		return nil, err
	}
	tip, err := chainhash.NewHashFromStr(tipStr)
	if err != nil {
		return nil, err
	}
	var memIDs []string
	if err := s.rpc(ctx, &memIDs, "getrawmempool"); err != nil {
		return nil, err
	}
	slices.Sort(memIDs)
	memKey := strings.Join(memIDs, ",")
	if s.idx != nil && s.idx.tip == *tip && s.idx.memKey == memKey {
		return s.idx, nil
	}

	idx := &srvIndex{tip: *tip, memKey: memKey, scripts: make(map[[32]byte]*srvScript), where: make(map[chainhash.Hash]*srvBlock)}
	for hash := *tip; ; {
		b, err := s.block(ctx, hash)
		if err != nil {
			return nil, err
		}
		idx.chain = append(idx.chain, b)
		if b.height == 0 {
			break
		}
		hash = b.blk.Header.PrevBlock
	}
	slices.Reverse(idx.chain)

	type coin struct {
		sh    [32]byte
		value int64
	}
	coins := make(map[wire.OutPoint]coin)
	script := func(sh [32]byte) *srvScript {
		sc := idx.scripts[sh]
		if sc == nil {
			sc = &srvScript{}
			idx.scripts[sh] = sc
		}
		return sc
	}
	// add indexes one transaction; outputs and inputs are separate
	// passes so that mempool transactions may spend each other in any
	// order.
	addOutputs := func(tx *wire.MsgTx, touched map[[32]byte]bool, mempool bool) {
		for i, out := range tx.TxOut {
			sh := sha256.Sum256(out.PkScript)
			coins[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}] = coin{sh, out.Value}
			st := &script(sh).cstats
			if mempool {
				st = &script(sh).mstats
			}
			st.FundedTxoCount++
			st.FundedTxoSum += out.Value
			touched[sh] = true
		}
	}
	addInputs := func(tx *wire.MsgTx, touched map[[32]byte]bool, mempool bool) {
		for _, in := range tx.TxIn {
			c, ok := coins[in.PreviousOutPoint]
			if !ok {
				continue // coinbase
			}
			st := &script(c.sh).cstats
			if mempool {
				st = &script(c.sh).mstats
			}
			st.SpentTxoCount++
			st.SpentTxoSum += c.value
			touched[c.sh] = true
		}
	}
	for _, b := range idx.chain {
		for _, tx := range b.blk.Transactions {
			touched := make(map[[32]byte]bool)
			addInputs(tx, touched, false)
			addOutputs(tx, touched, false)
			idx.where[tx.TxHash()] = b
			for sh := range touched {
				sc := script(sh)
				sc.chain = append(sc.chain, srvEntry{tx: tx, blk: b})
				sc.cstats.TxCount++
			}
		}
	}
	var mempool []*wire.MsgTx
	for _, id := range memIDs {
		txid, err := chainhash.NewHashFromStr(id)
		if err != nil {
			return nil, err
		}
		tx, err := s.tx(ctx, *txid)
		if err != nil {
			return nil, err
		}
		mempool = append(mempool, tx)
	}
	touched := make([]map[[32]byte]bool, len(mempool))
	for i, tx := range mempool {
		touched[i] = make(map[[32]byte]bool)
		addOutputs(tx, touched[i], true)
	}
	for i, tx := range mempool {
		addInputs(tx, touched[i], true)
		for sh := range touched[i] {
			sc := script(sh)
			sc.mempool = append(sc.mempool, srvEntry{tx: tx})
			sc.mstats.TxCount++
		}
	}
	s.idx = idx
	return idx, nil
}

// srvPageSize is Esplora's confirmed page size; srvMempoolMax the most
// mempool transactions it lists.
const (
	srvPageSize   = 25
	srvMempoolMax = 50
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := r.Context()
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	idx, err := s.index(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	text := func(v string) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, v)
	}
	jsonOut := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	hashArg := func(s string) (chainhash.Hash, bool) {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil || len(s) != 64 {
			http.Error(w, "Invalid hex string", http.StatusBadRequest)
			return chainhash.Hash{}, false
		}
		return *h, true
	}
	tipBlock := idx.chain[len(idx.chain)-1]

	switch {
	case len(parts) == 3 && parts[0] == "blocks" && parts[1] == "tip" && parts[2] == "hash":
		text(tipBlock.hash.String())
	case len(parts) == 3 && parts[0] == "blocks" && parts[1] == "tip" && parts[2] == "height":
		text(strconv.FormatInt(tipBlock.height, 10))
	case len(parts) == 2 && parts[0] == "block-height":
		h, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || h < 0 {
			http.Error(w, "Invalid height", http.StatusBadRequest)
			return
		}
		if h >= int64(len(idx.chain)) {
			http.Error(w, "Block not found", http.StatusNotFound)
			return
		}
		text(idx.chain[h].hash.String())
	case (len(parts) == 2 || len(parts) == 3) && parts[0] == "block":
		hash, ok := hashArg(parts[1])
		if !ok {
			return
		}
		b, err := s.block(ctx, hash)
		if isNotFound(err) {
			http.Error(w, "Block not found", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(parts) == 3 {
			if parts[2] != "txids" {
				http.NotFound(w, r)
				return
			}
			ids := make([]string, len(b.blk.Transactions))
			for i, tx := range b.blk.Transactions {
				ids[i] = tx.TxHash().String()
			}
			jsonOut(ids)
			return
		}
		hdr := b.blk.Header
		jsonOut(map[string]any{
			"id": b.hash.String(), "height": b.height, "version": hdr.Version,
			"timestamp": hdr.Timestamp.Unix(), "bits": hdr.Bits, "nonce": hdr.Nonce,
			"merkle_root": hdr.MerkleRoot.String(), "tx_count": len(b.blk.Transactions),
			"size": b.blk.SerializeSize(), "weight": 0, "previousblockhash": hdr.PrevBlock.String(),
		})
	case len(parts) == 3 && parts[0] == "tx" && parts[2] == "hex":
		txid, ok := hashArg(parts[1])
		if !ok {
			return
		}
		tx, err := s.tx(ctx, txid)
		if isNotFound(err) {
			http.Error(w, "Transaction not found", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		tx.Serialize(&buf)
		text(hex.EncodeToString(buf.Bytes()))
	case len(parts) >= 2 && parts[0] == "scripthash":
		raw, err := hex.DecodeString(parts[1])
		if err != nil || len(raw) != 32 {
			http.Error(w, "Invalid scripthash", http.StatusBadRequest)
			return
		}
		sh := [32]byte(raw)
		sc := idx.scripts[sh]
		if sc == nil {
			sc = &srvScript{}
		}
		switch {
		case len(parts) == 2:
			jsonOut(map[string]any{"scripthash": parts[1], "chain_stats": sc.cstats, "mempool_stats": sc.mstats})
		case len(parts) == 4 && parts[2] == "txs" && parts[3] == "mempool":
			out := []any{}
			for i := len(sc.mempool) - 1; i >= 0 && len(out) < srvMempoolMax; i-- {
				out = append(out, s.txJSON(sc.mempool[i]))
			}
			jsonOut(out)
		case (len(parts) == 4 || len(parts) == 5) && parts[2] == "txs" && parts[3] == "chain":
			rows := slices.Clone(sc.chain)
			// Newest first: height descending, then txid bytes
			// descending (electrs' history row order).
			slices.SortFunc(rows, func(a, b srvEntry) int {
				if a.blk.height != b.blk.height {
					return int(b.blk.height - a.blk.height)
				}
				ha, hb := a.tx.TxHash(), b.tx.TxHash()
				return bytes.Compare(hb[:], ha[:])
			})
			if len(parts) == 5 {
				cursor, ok := hashArg(parts[4])
				if !ok {
					return
				}
				i := slices.IndexFunc(rows, func(e srvEntry) bool { return e.tx.TxHash() == cursor })
				if i < 0 {
					rows = nil // electrs: an unknown cursor gives an empty page
				} else {
					rows = rows[i+1:]
				}
			}
			out := []any{}
			for _, e := range rows[:min(len(rows), srvPageSize)] {
				out = append(out, s.txJSON(e))
			}
			jsonOut(out)
		default:
			http.NotFound(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// txJSON renders a transaction in Esplora's format (the parts the client
// might read, plus enough of the rest to look real).
func (s *Server) txJSON(e srvEntry) map[string]any {
	tx := e.tx
	status := map[string]any{"confirmed": false} // block fields absent, not null
	if e.blk != nil {
		status = map[string]any{
			"confirmed": true, "block_height": e.blk.height,
			"block_hash": e.blk.hash.String(), "block_time": e.blk.blk.Header.Timestamp.Unix(),
		}
	}
	vin := make([]any, len(tx.TxIn))
	for i, in := range tx.TxIn {
		vin[i] = map[string]any{
			"txid": in.PreviousOutPoint.Hash.String(), "vout": in.PreviousOutPoint.Index,
			"scriptsig": hex.EncodeToString(in.SignatureScript), "sequence": in.Sequence,
			"is_coinbase": in.PreviousOutPoint.Index == wire.MaxPrevOutIndex,
		}
	}
	vout := make([]any, len(tx.TxOut))
	for i, out := range tx.TxOut {
		vout[i] = map[string]any{"scriptpubkey": hex.EncodeToString(out.PkScript), "value": out.Value}
	}
	return map[string]any{
		"txid": tx.TxHash().String(), "version": tx.Version, "locktime": tx.LockTime,
		"vin": vin, "vout": vout, "size": tx.SerializeSize(), "weight": 0, "fee": 0, "status": status,
	}
}
