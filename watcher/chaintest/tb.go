package chaintest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// StartTB starts a node for a test or benchmark and stops it in
// tb.Cleanup; on failure it calls tb.Fatal. When the test has failed, the
// cleanup logs the tail of btcd's output.
func StartTB(tb testing.TB, opts Options) *Node {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), TBTimeout)
	defer cancel()
	n, err := Start(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("btcd %s output (tail):\n%s", n.RPCAddr, n.LogTail(40))
		}
		if err := n.Close(); err != nil {
			tb.Errorf("chaintest: closing node: %v", err)
		}
	})
	return n
}

// TBTimeout bounds each call made through T and WaitSyncTB, so that a
// node that never syncs fails the test instead of hanging it.
const TBTimeout = 2 * time.Minute

// T binds a Node to a test so that setup steps read as one line each: every
// method calls tb.Helper and tb.Fatal on error, with tb.Context() limited
// to TBTimeout as context.
type T struct {
	*Node
	tb testing.TB
}

// T returns the Node's failing-on-error view for tb.
func (n *Node) T(tb testing.TB) T { return T{n, tb} }

func (t T) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.tb.Context(), TBTimeout)
}

func (t T) check(err error) {
	t.tb.Helper()
	if err != nil {
		t.tb.Fatal(err)
	}
}

// NewKey is Node.NewKey or Fatal.
func (t T) NewKey(kind Kind) *Key {
	t.tb.Helper()
	k, err := t.Node.NewKey(kind)
	t.check(err)
	return k
}

// Pay is Node.Pay or Fatal.
func (t T) Pay(outputs ...Output) *wire.MsgTx {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	tx, err := t.Node.Pay(ctx, outputs...)
	t.check(err)
	return tx
}

// Spend is Node.Spend or Fatal.
func (t T) Spend(inputs []Coin, outputs []Output, fee btcutil.Amount) *wire.MsgTx {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	tx, err := t.Node.Spend(ctx, inputs, outputs, fee)
	t.check(err)
	return tx
}

// Mine is Node.Mine or Fatal.
func (t T) Mine() chainhash.Hash {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	h, err := t.Node.Mine(ctx)
	t.check(err)
	return h
}

// Generate is Node.Generate or Fatal.
func (t T) Generate(count uint32) []chainhash.Hash {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	hs, err := t.Node.Generate(ctx, count)
	t.check(err)
	return hs
}

// Invalidate is Node.Invalidate or Fatal.
func (t T) Invalidate(hash chainhash.Hash) {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	t.check(t.Node.Invalidate(ctx, hash))
}

// Reconsider is Node.Reconsider or Fatal.
func (t T) Reconsider(hash chainhash.Hash) {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	t.check(t.Node.Reconsider(ctx, hash))
}

// Height is Node.Height or Fatal.
func (t T) Height() int64 {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	h, err := t.Node.Height(ctx)
	t.check(err)
	return h
}

// BlockHash is Node.BlockHash or Fatal.
func (t T) BlockHash(height int64) chainhash.Hash {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	h, err := t.Node.BlockHash(ctx, height)
	t.check(err)
	return h
}

// FundMany is Node.FundMany or Fatal.
func (t T) FundMany(scripts [][]byte, perScript int, value btcutil.Amount) {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	t.check(t.Node.FundMany(ctx, scripts, perScript, value))
}

// RawRequest is Node.RawRequest or Fatal.
func (t T) RawRequest(method string, params ...any) json.RawMessage {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	r, err := t.Node.RawRequest(ctx, method, params...)
	t.check(err)
	return r
}

// Connect is Node.Connect or Fatal.
func (t T) Connect(peer *Node) {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	t.check(t.Node.Connect(ctx, peer))
}

// Disconnect is Node.Disconnect or Fatal.
func (t T) Disconnect(peer *Node) {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	t.check(t.Node.Disconnect(ctx, peer))
}

// WaitSyncTB is WaitSync or Fatal.
func WaitSyncTB(tb testing.TB, nodes ...*Node) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), TBTimeout)
	defer cancel()
	if err := WaitSync(ctx, nodes...); err != nil {
		tb.Fatal(err)
	}
}

// MineAt is Node.MineAt or Fatal.
func (t T) MineAt(at time.Time) chainhash.Hash {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	h, err := t.Node.MineAt(ctx, at)
	t.check(err)
	return h
}

// DropMined is Node.DropMined or Fatal.
func (t T) DropMined() {
	t.tb.Helper()
	ctx, cancel := t.ctx()
	defer cancel()
	t.check(t.Node.DropMined(ctx))
}
