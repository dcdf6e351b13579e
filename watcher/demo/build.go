package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Shape of the history. About 560 blocks for 14 months keeps Build at a
// few seconds; every block after the first matureBlocks carries a day's
// purchase.
const (
	// matureBlocks are mined ten minutes apart before the story starts:
	// a coinbase is spendable 100 blocks later, and the first 149 blocks
	// pay 50 BTC each (regtest halves every 150 blocks), which funds
	// the whole story.
	matureBlocks = 101
	earlySpacing = 10 * time.Minute
	// minGap and maxGap bound the time between two daily blocks.
	minGap, maxGap = 20 * time.Hour, 24 * time.Hour
	// MinSpan and MaxSpan bound now - start: the story needs room for its
	// events, and a longer chain only costs time.
	MinSpan = 60 * 24 * time.Hour
	MaxSpan = 3 * 365 * 24 * time.Hour
	// dropEvery is how many daily blocks Build mines between two
	// DropMined calls.
	dropEvery = 50
	// dust is the smallest change output Build creates.
	dust = 1000
)

// builder holds Build's state: the node, the keys Build spends from and
// the coins they hold, and the block being filled.
type builder struct {
	ctx   context.Context
	node  *chaintest.Node
	log   *slog.Logger
	rng   *rand.Rand
	sc    *Scenario
	keys  map[string]*chaintest.Key // by script
	coins map[string][]chaintest.Coin
	at    time.Time // time of the block being filled
	next  int64     // its height
}

// Build mines the demo history onto node, which must be a fresh regtest
// node started with Options{InitialBlocks: -1}, from start (the first
// block's time, about 14 months ago for a year of daily purchases) to a
// few minutes ago, and returns the entities and the story. One payment
// is left unconfirmed. Build is deterministic but for the node's keys
// (Options.Seed fixes those) and the clock; it takes a few seconds.
func Build(ctx context.Context, node *chaintest.Node, start time.Time, logger *slog.Logger) (*Scenario, error) {
	began := time.Now()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if node.Params.Name != chaincfg.RegressionNetParams.Name {
		return nil, fmt.Errorf("demo: the node runs %s, want regtest", node.Params.Name)
	}
	switch span := began.Sub(start); {
	case span < MinSpan:
		return nil, fmt.Errorf("demo: start %s is less than %v ago", start.Format(time.DateOnly), MinSpan)
	case span > MaxSpan:
		return nil, fmt.Errorf("demo: start %s is more than %v ago", start.Format(time.DateOnly), MaxSpan)
	}
	if h, err := node.Height(ctx); err != nil || h != 0 {
		if err == nil {
			err = fmt.Errorf("demo: the node is at height %d; start it with chaintest.Options{InitialBlocks: -1}", h)
		}
		return nil, err
	}
	b := &builder{
		ctx: ctx, node: node, log: logger,
		rng:   rand.New(rand.NewPCG(2024, 7)),
		sc:    &Scenario{},
		keys:  map[string]*chaintest.Key{},
		coins: map[string][]chaintest.Coin{},
		next:  1,
	}
	c, err := b.cast()
	if err != nil {
		return nil, err
	}
	b.at = start.Truncate(time.Second)
	for range matureBlocks {
		if err := b.mine(); err != nil {
			return nil, err
		}
		b.at = b.at.Add(earlySpacing)
	}
	b.sc.First = start.Truncate(time.Second)

	story := c.story(began.Sub(start))
	end := began.Add(-time.Hour)
	last := b.at
	for day := 0; ; day++ {
		gap := minGap + time.Duration(b.rng.Int64N(int64(maxGap-minGap)))
		if last.Add(gap).After(end) {
			// One more block a few minutes ago, so that the chain ends
			// now and btcd counts itself in sync.
			last = began.Add(-5 * time.Minute).Truncate(time.Second)
		} else {
			last = last.Add(gap)
		}
		b.at = last
		frac := float64(last.Sub(start)) / float64(began.Sub(start))
		for len(story) > 0 && story[0].frac <= frac {
			if err := story[0].do(); err != nil {
				return nil, fmt.Errorf("demo: %s: %w", story[0].name, err)
			}
			story = story[1:]
		}
		if err := c.purchase(); err != nil {
			return nil, err
		}
		if err := b.mine(); err != nil {
			return nil, err
		}
		if day%dropEvery == dropEvery-1 {
			// Keep btcd's mempool small: it lists every past block's
			// transactions, and each MineAt reads it whole.
			if err := node.DropMined(ctx); err != nil {
				return nil, err
			}
		}
		if last.After(end) {
			break
		}
	}

	// btcd kept the past blocks' transactions in its mempool; make it
	// forget them before anything reads the node, then leave today's
	// purchase unconfirmed.
	dropped := time.Now()
	if err := node.DropMined(ctx); err != nil {
		return nil, err
	}
	logger.Debug("demo: mempool cleared", "duration", time.Since(dropped))
	b.at, b.next = began, -1
	tx, err := b.pay(c.hot, c.purchaseAmount())
	if err != nil {
		return nil, err
	}
	b.event(tx, "Today's purchase, not yet in a block", OfficeID)
	b.sc.Pending = append(b.sc.Pending, tx.TxHash())
	b.sc.Last = last
	if b.sc.Height, err = node.Height(ctx); err != nil {
		return nil, err
	}
	logger.Info("demo: history written", "blocks", b.sc.Height, "from", b.sc.First.Format(time.DateOnly),
		"to", b.sc.Last.Format(time.DateOnly), "purchases", b.sc.Purchases,
		"purchased_btc", btcutil.Amount(b.sc.PurchasedSat).ToBTC(), "duration", time.Since(began).Round(time.Millisecond))
	return b.sc, nil
}

// mine mines the block being filled and moves on to the next height.
func (b *builder) mine() error {
	if _, err := b.node.MineAt(b.ctx, b.at); err != nil {
		return fmt.Errorf("demo: block %d at %s: %w", b.next, b.at.Format(time.RFC3339), err)
	}
	b.next++
	return nil
}

// newKey makes a key Build can spend from.
func (b *builder) newKey(kind chaintest.Kind) (*chaintest.Key, error) {
	k, err := b.node.NewKey(kind)
	if err != nil {
		return nil, err
	}
	b.keys[string(k.Script)] = k
	return k, nil
}

// track updates the coin book with a transaction Build made.
func (b *builder) track(tx *wire.MsgTx) {
	spent := map[wire.OutPoint]bool{}
	for _, in := range tx.TxIn {
		spent[in.PreviousOutPoint] = true
	}
	for s, coins := range b.coins {
		b.coins[s] = slices.DeleteFunc(coins, func(c chaintest.Coin) bool { return spent[c.OutPoint] })
	}
	for s := range b.keys {
		b.coins[s] = append(b.coins[s], chaintest.CoinsOf(tx, []byte(s))...)
	}
}

// balance is what script holds in Build's coin book.
func (b *builder) balance(script []byte) btcutil.Amount {
	var sum btcutil.Amount
	for _, c := range b.coins[string(script)] {
		sum += c.Value
	}
	return sum
}

// pick returns coins of script, largest first, worth at least amount.
func (b *builder) pick(script []byte, amount btcutil.Amount) ([]chaintest.Coin, error) {
	coins := slices.Clone(b.coins[string(script)])
	slices.SortFunc(coins, func(x, y chaintest.Coin) int { return int(y.Value - x.Value) })
	var sum btcutil.Amount
	for i, c := range coins {
		if sum += c.Value; sum >= amount {
			return coins[:i+1], nil
		}
	}
	return nil, fmt.Errorf("%x holds %v, not %v", script, sum, amount)
}

// pay pays to from the node's wallet: money from outside (an exchange, a
// seller, a donor).
func (b *builder) pay(to []byte, v btcutil.Amount) (*wire.MsgTx, error) {
	tx, err := b.node.Pay(b.ctx, chaintest.Output{Script: to, Value: v})
	if err != nil {
		return nil, err
	}
	b.track(tx)
	return tx, nil
}

// spend spends ins into outs, sending what is left after the fee to
// change (or adding it to the fee when it is dust).
func (b *builder) spend(ins []chaintest.Coin, outs []chaintest.Output, change []byte) (*wire.MsgTx, error) {
	var in, out btcutil.Amount
	for _, c := range ins {
		in += c.Value
	}
	for _, o := range outs {
		out += o.Value
	}
	fee := b.fee(ins, append(slices.Clone(outs), chaintest.Output{Script: change}))
	rest := in - out - fee
	if rest < 0 {
		return nil, fmt.Errorf("inputs %v do not cover outputs %v and fee %v", in, out, fee)
	}
	if rest >= dust {
		outs = append(outs, chaintest.Output{Script: change, Value: rest})
	} else {
		fee += rest
	}
	tx, err := b.node.Spend(b.ctx, ins, outs, fee)
	if err != nil {
		return nil, err
	}
	b.track(tx)
	return tx, nil
}

// sweep spends ins into equal outputs to each of tos, minus the fee.
func (b *builder) sweep(ins []chaintest.Coin, tos ...[]byte) (*wire.MsgTx, error) {
	if len(ins) == 0 {
		return nil, errors.New("nothing to sweep")
	}
	outs := make([]chaintest.Output, len(tos))
	var in btcutil.Amount
	for _, c := range ins {
		in += c.Value
	}
	for i, s := range tos {
		outs[i].Script = s
	}
	fee := b.fee(ins, outs)
	share := (in - fee) / btcutil.Amount(len(tos))
	for i := range outs {
		outs[i].Value = share
	}
	outs[0].Value += in - fee - share*btcutil.Amount(len(tos))
	tx, err := b.node.Spend(b.ctx, ins, outs, fee)
	if err != nil {
		return nil, err
	}
	b.track(tx)
	return tx, nil
}

// inputVsize bounds the virtual size of an input of each kind, signed as
// chaintest signs (2-of-3 multisig, compressed keys, key-path taproot).
var inputVsize = map[chaintest.Kind]int64{
	chaintest.P2PKH:        149,
	chaintest.P2SHMultisig: 300,
	chaintest.P2WPKH:       69,
	chaintest.P2WSH:        106,
	chaintest.P2TR:         58,
}

// fee is chaintest.FeeRate times an upper bound of the transaction's
// virtual size, so the rate never falls below btcd's relay minimum.
func (b *builder) fee(ins []chaintest.Coin, outs []chaintest.Output) btcutil.Amount {
	v := int64(11)
	if len(ins) > 252 || len(outs) > 252 {
		v += 4 // three-byte counts
	}
	for _, c := range ins {
		v += inputVsize[b.keys[string(c.Script)].Kind]
	}
	for _, o := range outs {
		v += 9 + int64(len(o.Script))
	}
	return btcutil.Amount(chaintest.FeeRate * v)
}

// event records a notable transaction of the block being filled.
func (b *builder) event(tx *wire.MsgTx, what string, entities ...string) {
	e := Event{Time: b.at, Height: b.next, Txid: tx.TxHash(), Entities: entities, What: what}
	if b.next < 0 {
		e.Height = -1
	}
	b.sc.Events = append(b.sc.Events, e)
	b.log.Info("demo: "+what, "height", e.Height, "time", e.Time.Format(time.DateOnly), "txid", e.Txid.String())
}
