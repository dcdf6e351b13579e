package chaintest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/mining"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// ErrBlockTime is returned (wrapped) by MineAt for a time the chain would
// reject: not after the median time past of the last 11 blocks, or more
// than two hours ahead of the clock.
var ErrBlockTime = errors.New("chaintest: block time out of range")

const (
	// mineAtVersion is the header version of MineAt's blocks: BIP9's
	// top bits with no deployment signalled (regtest activates segwit,
	// taproot and CSV at height 1 regardless).
	mineAtVersion = 0x20000000
	// blockReserveWeight is kept free for the header, the transaction
	// count and the coinbase (with its witness commitment).
	blockReserveWeight = 4000
	// coinbaseTag ends every MineAt coinbase script, to tell its blocks
	// from those of btcd's own miner ("/P2SH/btcd/").
	coinbaseTag = "/chaintest/"
)

// MineAt mines one block whose header time is t (truncated to the second)
// and submits it ("submitblock"), then brings the wallet up to date as
// Generate does; it returns the block's hash. btcd's own "generate" always
// stamps blocks with the current time, so a chain whose history must span
// months (the demo's year of disclosures) is mined with MineAt from a node
// started with Options{InitialBlocks: -1}, each block a little later than
// the one before.
//
// The block holds the unconfirmed mempool transactions, parents before
// children, as many as fit under the consensus weight and base-size limits
// (a transaction that does not fit waits, and so do its descendants; the
// signature-operation limit is not counted, which transactions built by
// this package are far below). The coinbase pays the miner key the
// subsidy of the height plus the fees, carries the height (BIP 34) and,
// when a transaction has witness data, the segwit witness commitment. The
// proof of work is solved against the chain's fixed target, so MineAt
// refuses a network that retargets (regtest has none).
//
// t must be after the median time past of the last 11 blocks and at most
// two hours ahead of the clock; otherwise the error wraps ErrBlockTime.
//
// While the best block is more than 24 hours old, btcd considers itself
// out of sync and does not drop mined transactions from its mempool (its
// netsync skips mempool maintenance then): getrawmempool and
// searchrawtransactions keep listing them as unconfirmed. MineAt knows
// the chain and leaves them out; call DropMined once the past is written,
// before anything else reads the mempool.
func (n *Node) MineAt(ctx context.Context, t time.Time) (chainhash.Hash, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mineAtLocked(ctx, t)
}

func (n *Node) mineAtLocked(ctx context.Context, t time.Time) (chainhash.Hash, error) {
	params := n.Params
	if !params.PoWNoRetargeting {
		return chainhash.Hash{}, fmt.Errorf("chaintest: MineAt: network %s retargets its difficulty; only regtest is supported", params.Name)
	}
	t = time.Unix(t.Unix(), 0)
	// Every RPC costs a connection (~1 ms): the wallet rescans only when
	// the best block is not the one it scanned last.
	var info btcjson.GetBlockChainInfoResult
	var prev *chainhash.Hash
	for range 2 {
		if err := n.callInto(ctx, &info, "getblockchaininfo"); err != nil {
			return chainhash.Hash{}, err
		}
		var err error
		if prev, err = chainhash.NewHashFromStr(info.BestBlockHash); err != nil {
			return chainhash.Hash{}, fmt.Errorf("chaintest: getblockchaininfo: %w", err)
		}
		if n.w.tipIs(int64(info.Blocks), *prev) {
			break
		}
		if err := n.syncLocked(ctx); err != nil {
			return chainhash.Hash{}, err
		}
	}
	if !n.w.tipIs(int64(info.Blocks), *prev) {
		return chainhash.Hash{}, errors.New("chaintest: MineAt: the chain keeps changing")
	}
	height := int64(info.Blocks) + 1
	if mtp := time.Unix(info.MedianTime, 0); !t.After(mtp) {
		return chainhash.Hash{}, fmt.Errorf("%w: %s is not after %s, the median time of the 11 blocks up to height %d",
			ErrBlockTime, t.UTC().Format(time.RFC3339), mtp.UTC().Format(time.RFC3339), info.Blocks)
	}
	if limit := time.Now().Add(blockchain.MaxTimeOffsetSeconds * time.Second); t.After(limit) {
		return chainhash.Hash{}, fmt.Errorf("%w: %s is more than 2 hours ahead of the clock",
			ErrBlockTime, t.UTC().Format(time.RFC3339))
	}

	txs, fees, err := n.blockTxs(ctx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	block, err := newBlock(*prev, height, t, params.PowLimitBits, txs,
		blockchain.CalcBlockSubsidy(int32(height), params)+int64(fees), n.w.miner.Script)
	if err != nil {
		return chainhash.Hash{}, err
	}
	var buf bytes.Buffer
	if err := block.Serialize(&buf); err != nil {
		return chainhash.Hash{}, err
	}
	raw, err := n.call(ctx, "submitblock", []any{hex.EncodeToString(buf.Bytes())})
	if err != nil {
		return chainhash.Hash{}, err
	}
	var reason *string // btcd answers null, or a "rejected: …" string
	if err := json.Unmarshal(raw, &reason); err != nil {
		return chainhash.Hash{}, fmt.Errorf("chaintest: submitblock: %w", err)
	}
	hash := block.BlockHash()
	if reason != nil {
		return chainhash.Hash{}, fmt.Errorf("chaintest: MineAt: btcd refused block %d (%s): %s", height, hash, *reason)
	}
	// The block extends the tip the wallet scanned: apply it directly.
	// Should another block have won meanwhile, the next sync notices the
	// mismatch and rescans.
	if !n.w.applyBlock(block, height) {
		n.w.reset()
		return hash, n.syncLocked(ctx)
	}
	n.w.chain = append(n.w.chain, hash)
	return hash, nil
}

// poolTx is an unconfirmed mempool transaction.
type poolTx struct {
	id      chainhash.Hash
	tx      *wire.MsgTx
	fee     btcutil.Amount
	added   int64
	parents []chainhash.Hash // unconfirmed parents in the mempool
}

// unconfirmed returns the mempool's transactions that are not in the
// chain the wallet scanned, oldest first (txid breaking ties, for
// reproducible blocks) and each after its unconfirmed parents.
func (n *Node) unconfirmed(ctx context.Context) ([]*poolTx, error) {
	var pool map[string]btcjson.GetRawMempoolVerboseResult
	if err := n.callInto(ctx, &pool, "getrawmempool", true); err != nil {
		return nil, err
	}
	cands := map[chainhash.Hash]*poolTx{}
	var list []*poolTx
	var params [][]any
	for s, e := range pool {
		id, err := chainhash.NewHashFromStr(s)
		if err != nil {
			return nil, fmt.Errorf("chaintest: getrawmempool: %w", err)
		}
		if _, mined := n.w.inChain[*id]; mined {
			continue // kept by a btcd that thinks it is still syncing
		}
		fee, err := btcutil.NewAmount(e.Fee)
		if err != nil {
			return nil, fmt.Errorf("chaintest: getrawmempool: fee of %s: %w", s, err)
		}
		p := &poolTx{id: *id, fee: fee, added: e.Time}
		for _, d := range e.Depends {
			h, err := chainhash.NewHashFromStr(d)
			if err != nil {
				return nil, fmt.Errorf("chaintest: getrawmempool: %w", err)
			}
			if _, mined := n.w.inChain[*h]; !mined {
				p.parents = append(p.parents, *h)
			}
		}
		cands[*id] = p
		list = append(list, p)
		params = append(params, []any{s, 0})
	}
	if len(list) == 0 {
		return nil, nil
	}
	raws, err := n.batch(ctx, "getrawtransaction", params)
	if err != nil {
		return nil, err
	}
	for i, r := range raws {
		if list[i].tx, err = decodeTx(r); err != nil {
			return nil, fmt.Errorf("chaintest: getrawtransaction %s: %w", list[i].id, err)
		}
	}
	slices.SortFunc(list, func(a, b *poolTx) int {
		if a.added != b.added {
			return cmp.Compare(a.added, b.added)
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	order := make([]*poolTx, 0, len(list))
	visited := map[chainhash.Hash]bool{}
	var visit func(p *poolTx)
	visit = func(p *poolTx) {
		if visited[p.id] {
			return
		}
		visited[p.id] = true
		for _, id := range p.parents {
			if parent, ok := cands[id]; ok {
				visit(parent)
			}
		}
		order = append(order, p)
	}
	for _, p := range list {
		visit(p)
	}
	return order, nil
}

// blockTxs returns the unconfirmed mempool transactions that fit in one
// block, parents first, and their total fee.
func (n *Node) blockTxs(ctx context.Context) ([]*wire.MsgTx, btcutil.Amount, error) {
	order, err := n.unconfirmed(ctx)
	if err != nil {
		return nil, 0, err
	}
	var txs []*wire.MsgTx
	var fees btcutil.Amount
	weight, base := int64(blockReserveWeight), int64(blockReserveWeight/blockchain.WitnessScaleFactor)
	waiting := map[chainhash.Hash]bool{}
	for _, p := range order {
		ok := true
		for _, id := range p.parents {
			ok = ok && !waiting[id] // a parent that waits makes it wait
		}
		w := blockchain.GetTransactionWeight(btcutil.NewTx(p.tx))
		b := int64(p.tx.SerializeSizeStripped())
		if !ok || weight+w > blockchain.MaxBlockWeight || base+b > blockchain.MaxBlockBaseSize {
			waiting[p.id] = true
			continue
		}
		weight, base = weight+w, base+b
		txs = append(txs, p.tx)
		fees += p.fee
	}
	return txs, fees, nil
}

// newBlock assembles and solves a block on prev at height with header time
// t: a coinbase paying value to payTo, then txs.
func newBlock(prev chainhash.Hash, height int64, t time.Time, bits uint32, txs []*wire.MsgTx, value int64, payTo []byte) (*wire.MsgBlock, error) {
	sigScript, err := txscript.NewScriptBuilder().AddInt64(height).AddInt64(0).
		AddData([]byte(coinbaseTag)).Script()
	if err != nil {
		return nil, err
	}
	coinbase := wire.NewMsgTx(wire.TxVersion)
	coinbase.AddTxIn(&wire.TxIn{
		PreviousOutPoint: *wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex),
		SignatureScript:  sigScript,
		Sequence:         wire.MaxTxInSequenceNum,
	})
	coinbase.AddTxOut(wire.NewTxOut(value, payTo))

	all := make([]*btcutil.Tx, 0, len(txs)+1)
	all = append(all, btcutil.NewTx(coinbase))
	witness := false
	for _, tx := range txs {
		all = append(all, btcutil.NewTx(tx))
		witness = witness || tx.HasWitness()
	}
	if witness {
		mining.AddWitnessCommitment(all[0], all)
		all[0] = btcutil.NewTx(coinbase) // the coinbase changed: no stale cached hashes
	}
	block := &wire.MsgBlock{Header: wire.BlockHeader{
		Version:    mineAtVersion,
		PrevBlock:  prev,
		MerkleRoot: blockchain.CalcMerkleRoot(all, false),
		Timestamp:  t,
		Bits:       bits,
	}}
	for _, tx := range all {
		block.AddTransaction(tx.MsgTx())
	}
	target := blockchain.CompactToBig(bits)
	for nonce := uint64(0); nonce <= 0xffffffff; nonce++ {
		block.Header.Nonce = uint32(nonce)
		hash := block.Header.BlockHash()
		if blockchain.HashToBig(&hash).Cmp(target) <= 0 {
			return block, nil
		}
	}
	return nil, fmt.Errorf("chaintest: MineAt: no nonce solves block %d at bits %08x", height, bits)
}

// decodeTx decodes a hex transaction as getrawtransaction returns it.
func decodeTx(raw json.RawMessage) (*wire.MsgTx, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return tx, nil
}
