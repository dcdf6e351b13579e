package chaintest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

const (
	// maxFanOut is the number of outputs per splitting transaction:
	// 2,000 P2WPKH outputs are ~62 kvB, under the 100 kvB standard limit.
	maxFanOut = 2000
	// txsPerBlock is how many payments FundMany broadcasts before mining:
	// ~2,500 one-in-one-out payments (~200 bytes each) fit in btcd's
	// default 750 kB block template.
	txsPerBlock = 2500
	// rpcBatch is the number of sendrawtransaction calls per HTTP request.
	rpcBatch = 250
	// maxFundingBlocks bounds how many blocks FundMany mines to find funds.
	maxFundingBlocks = 3000
)

// FundMany gives each script perScript distinct confirmed transactions,
// each paying it value, for benchmarks and load tests: payment j of script
// s is a one-input, one-output transaction, and round j of all scripts is
// broadcast before round j+1, so each script's history spreads over
// several blocks. It first splits wallet coins with fan-out transactions
// (mining more blocks when the wallet is short), then signs in parallel,
// broadcasts in JSON-RPC batches and mines every txsPerBlock payments.
// Whatever else is in the mempool gets mined too.
func (n *Node) FundMany(ctx context.Context, scripts [][]byte, perScript int, value btcutil.Amount) error {
	if len(scripts) == 0 || perScript <= 0 {
		return nil
	}
	if value < dustLimit {
		return fmt.Errorf("chaintest: FundMany: value %v below %d sat", value, dustLimit)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.syncLocked(ctx); err != nil {
		return err
	}
	fundKey, err := n.w.newKey(P2WPKH, false)
	if err != nil {
		return err
	}
	count := len(scripts) * perScript
	coins := make([]Output, count)
	var total btcutil.Amount
	for i := range coins {
		// 92 vB bounds a one-P2WPKH-input tx with one output, plus the script.
		fee := btcutil.Amount(FeeRate * (92 + len(scripts[i%len(scripts)])))
		coins[i] = Output{Script: fundKey.Script, Value: value + fee}
		total += coins[i].Value
	}
	// Fees of the fan-outs: 31 vB per output, generously 1,000 sat per tx.
	fanOutFees := btcutil.Amount(FeeRate*31*count + 1000*(count/maxFanOut+1))
	if err := n.ensureFunds(ctx, total+fanOutFees); err != nil {
		return err
	}

	// Split: coin i is output i%maxFanOut of fan-out i/maxFanOut.
	prevs := make([]Coin, count)
	for start := 0; start < count; start += maxFanOut {
		end := min(start+maxFanOut, count)
		tx, err := n.payLocked(ctx, coins[start:end])
		if err != nil {
			return fmt.Errorf("chaintest: FundMany: splitting: %w", err)
		}
		txid := tx.TxHash()
		for i := start; i < end; i++ {
			prevs[i] = Coin{OutPoint: wire.OutPoint{Hash: txid, Index: uint32(i - start)}, Value: coins[i].Value, Script: fundKey.Script}
		}
	}
	if err := n.mineAllLocked(ctx); err != nil {
		return err
	}

	txs, err := buildPayments(ctx, prevs, fundKey, scripts, value)
	if err != nil {
		return err
	}
	for start := 0; start < count; start += txsPerBlock {
		end := min(start+txsPerBlock, count)
		for b := start; b < end; b += rpcBatch {
			var params [][]any
			for _, tx := range txs[b:min(b+rpcBatch, end)] {
				params = append(params, []any{txHex(tx)})
			}
			if _, err := n.batch(ctx, "sendrawtransaction", params); err != nil {
				return fmt.Errorf("chaintest: FundMany: %w", err)
			}
		}
		if _, err := n.generateLocked(ctx, 1); err != nil {
			return err
		}
	}
	return n.mineAllLocked(ctx)
}

// ensureFunds mines until the wallet's spendable coins cover amount.
func (n *Node) ensureFunds(ctx context.Context, amount btcutil.Amount) error {
	for mined := 0; ; mined += 100 {
		_, err := n.w.selectCoins(amount, 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNoFunds) || mined >= maxFundingBlocks {
			return fmt.Errorf("chaintest: FundMany: %w", err)
		}
		if _, err := n.generateLocked(ctx, 100); err != nil {
			return err
		}
	}
}

// mineAllLocked mines until the mempool is empty.
func (n *Node) mineAllLocked(ctx context.Context) error {
	for range 20 {
		var ids []string
		if err := n.callInto(ctx, &ids, "getrawmempool"); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := n.generateLocked(ctx, 1); err != nil {
			return err
		}
	}
	return errors.New("chaintest: mempool still not empty after mining 20 blocks")
}

// buildPayments signs and verifies payment i (prevs[i] to
// scripts[i%len(scripts)]) on all CPUs.
func buildPayments(ctx context.Context, prevs []Coin, key *Key, scripts [][]byte, value btcutil.Amount) ([]*wire.MsgTx, error) {
	txs := make([]*wire.MsgTx, len(prevs))
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(prevs); i += workers {
				if ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				tx := wire.NewMsgTx(2)
				tx.AddTxIn(wire.NewTxIn(&prevs[i].OutPoint, nil, nil))
				tx.AddTxOut(wire.NewTxOut(int64(value), scripts[i%len(scripts)]))
				in := prevs[i : i+1]
				if err := signTx(tx, in, []*Key{key}); err != nil {
					errs[w] = err
					return
				}
				if err := verifyTx(tx, in); err != nil {
					errs[w] = err
					return
				}
				txs[i] = tx
			}
		}()
	}
	wg.Wait()
	return txs, errors.Join(errs...)
}
