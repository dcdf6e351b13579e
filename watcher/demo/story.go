package demo

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// cast holds the scripts of the story's parties: the three bodies'
// disclosed addresses and the outsiders they deal with (not watched).
type cast struct {
	b *builder
	// National Bitcoin Office.
	hot, donations, cold []byte
	coldABC              [3][]byte
	// Supreme Court.
	escrow, custody []byte
	// Ministry of Finance.
	reserve, vault []byte
	// Outsiders.
	coop, exchange, buyer, supplier []byte
}

// source is the fictitious disclosure an address was published in.
func source(entity, slug string) string {
	return "https://example.org/disclosures/demoland/" + entity + "/" + slug
}

// cast creates the entities and every key of the story.
func (b *builder) cast() (*cast, error) {
	c := &cast{b: b}
	var err error
	entity := func(id, name string) *Entity {
		b.sc.Entities = append(b.sc.Entities, Entity{ID: id, Name: name, Country: Country})
		return &b.sc.Entities[len(b.sc.Entities)-1]
	}
	addr := func(e *Entity, kind chaintest.Kind, label, slug string) []byte {
		if err != nil {
			return nil
		}
		var k *chaintest.Key
		if k, err = b.newKey(kind); err != nil {
			return nil
		}
		e.Addresses = append(e.Addresses, Address{Address: k.Address.EncodeAddress(), Label: label,
			Source: source(e.ID, slug), Key: k})
		return k.Script
	}
	office := entity(OfficeID, "Republic of Demoland — National Bitcoin Office (demo)")
	c.hot = addr(office, chaintest.P2WPKH, "Daily purchases (hot wallet)", "hot-wallet")
	c.donations = addr(office, chaintest.P2PKH, "Public donations (legacy address)", "donations")
	c.cold = addr(office, chaintest.P2TR, "Consolidated cold storage", "cold-storage")
	for i, l := range []string{"A", "B", "C"} {
		c.coldABC[i] = addr(office, chaintest.P2WSH, "Cold wallet "+l+" (2-of-3 multisig)", "cold-wallet-"+strings.ToLower(l))
	}
	court := entity(CourtID, "Demoland Supreme Court — seized assets (demo)")
	c.escrow = addr(court, chaintest.P2SHMultisig, "Seizure escrow (2-of-3 multisig)", "case-dl-117/escrow")
	c.custody = addr(court, chaintest.P2TR, "Custody after auction", "case-dl-117/custody")
	ministry := entity(MinistryID, "Demoland Ministry of Finance — strategic reserve (demo)")
	c.reserve = addr(ministry, chaintest.P2TR, "Strategic reserve", "reserve-report/strategic-reserve")
	c.vault = addr(ministry, chaintest.P2WSH, "Reserve vault (2-of-3 multisig)", "reserve-report/vault")
	if err != nil {
		return nil, err
	}
	for _, o := range []struct {
		script *[]byte
		kind   chaintest.Kind
	}{{&c.coop, chaintest.P2TR}, {&c.exchange, chaintest.P2WPKH}, {&c.buyer, chaintest.P2WPKH}, {&c.supplier, chaintest.P2SHMultisig}} {
		k, err := b.newKey(o.kind)
		if err != nil {
			return nil, err
		}
		*o.script = k.Script
	}
	return c, nil
}

// step is one event of the story, due once the daily blocks reach frac of
// the span.
type step struct {
	frac float64
	name string
	do   func() error
}

// btc converts whole and fractional bitcoin amounts of the story.
func btc(v float64) btcutil.Amount {
	a, _ := btcutil.NewAmount(v)
	return a
}

// purchaseAmount is one day's purchase: a fixed budget in local currency
// buys between 0.1 and 1 BTC, rounded to 0.001 BTC.
func (c *cast) purchaseAmount() btcutil.Amount {
	return btcutil.Amount(1e7 + c.b.rng.Int64N(901)*1e5)
}

// purchase is the Bitcoin Office's daily buy: an inflow to its hot wallet.
func (c *cast) purchase() error {
	v := c.purchaseAmount()
	if _, err := c.b.pay(c.hot, v); err != nil {
		return fmt.Errorf("demo: daily purchase: %w", err)
	}
	c.b.sc.Purchases++
	c.b.sc.PurchasedSat += int64(v)
	return nil
}

// story returns the events in order for a history spanning span.
func (c *cast) story(span time.Duration) []step {
	b := c.b
	days := span.Hours() / 24
	steps := []step{
		{0.03, "co-op funding", func() error {
			_, err := b.pay(c.coop, btc(10)) // the outsider's own coins, for the joint purchase
			return err
		}},
		{0.04, "donations 1", c.donate(0.25)},
		{0.15, "seizure", func() error {
			tx, err := b.pay(c.escrow, btc(120))
			if err == nil {
				b.event(tx, "Court: 120 BTC seized in case DL-117 deposited in escrow", CourtID)
			}
			return err
		}},
		{0.20, "donations 2", c.donate(0.4)},
		{0.30, "consolidation", func() error {
			coins := b.coins[string(c.hot)]
			coins = coins[:min(len(coins), 250)]
			tx, err := b.sweep(coins, c.cold)
			if err == nil {
				b.event(tx, fmt.Sprintf("Office: %d purchases consolidated into cold storage", len(coins)), OfficeID)
			}
			return err
		}},
		{0.38, "joint purchase", c.jointPurchase},
		{0.45, "donations 3", c.donate(0.15)},
		{0.50, "split", func() error {
			tx, err := b.sweep(b.coins[string(c.cold)], c.coldABC[0], c.coldABC[1], c.coldABC[2])
			if err == nil {
				b.event(tx, "Office: cold storage split into three 2-of-3 multisig wallets", OfficeID)
			}
			return err
		}},
		{0.55, "donations sweep", func() error {
			tx, err := b.sweep(b.coins[string(c.donations)], c.hot)
			if err == nil {
				b.event(tx, "Office: donations swept into the hot wallet", OfficeID)
			}
			return err
		}},
		{0.62, "auction", func() error {
			ins, err := b.pick(c.escrow, btc(45))
			if err != nil {
				return err
			}
			tx, err := b.spend(ins, []chaintest.Output{{Script: c.buyer, Value: btc(45)}}, c.escrow)
			if err == nil {
				b.event(tx, "Court: 45 BTC of the seized coins sold at auction", CourtID)
			}
			return err
		}},
		{0.70, "payment to the ministry", func() error {
			v := min(btc(15), b.balance(c.hot)/2)
			ins, err := b.pick(c.hot, v+btc(0.01))
			if err != nil {
				return err
			}
			tx, err := b.spend(ins, []chaintest.Output{{Script: c.vault, Value: v}}, c.hot)
			if err == nil {
				b.event(tx, fmt.Sprintf("Office pays %v to the Ministry of Finance's vault", v), OfficeID, MinistryID)
			}
			return err
		}},
		{0.78, "exchange transfer", func() error {
			ins := b.coins[string(c.coldABC[0])]
			var in btcutil.Amount
			for _, c := range ins {
				in += c.Value
			}
			v := (in * 8 / 10 / 1e6) * 1e6 // 80%, rounded to 0.01 BTC
			tx, err := b.spend(ins, []chaintest.Output{{Script: c.exchange, Value: v}}, c.coldABC[0])
			if err == nil {
				b.event(tx, fmt.Sprintf("Office: %v moved from cold wallet A to an exchange", v), OfficeID)
			}
			return err
		}},
		{0.80, "custody", func() error {
			tx, err := b.sweep(b.coins[string(c.escrow)], c.custody)
			if err == nil {
				b.event(tx, "Court: the unsold seized coins moved to custody", CourtID)
			}
			return err
		}},
		{0.90, "reserve to vault", func() error {
			tx, err := b.sweep(b.coins[string(c.reserve)], c.vault)
			if err == nil {
				b.event(tx, "Ministry: strategic reserve moved into the multisig vault", MinistryID)
			}
			return err
		}},
	}
	// Quarterly purchases of the Ministry, from day 30.
	for q, day := 1, 30.0; day < days-5; q, day = q+1, day+91 {
		v := btc([]float64{10, 12.5, 8, 15}[(q-1)%4])
		steps = append(steps, step{day / days, fmt.Sprintf("quarterly purchase %d", q), func() error {
			tx, err := b.pay(c.reserve, v)
			if err == nil {
				b.event(tx, fmt.Sprintf("Ministry: quarterly purchase %d, %v", q, v), MinistryID)
			}
			return err
		}})
	}
	slices.SortStableFunc(steps, func(x, y step) int { return cmp.Compare(x.frac, y.frac) })
	return steps
}

// donate pays a donation from the public to the Office's legacy address.
func (c *cast) donate(v float64) func() error {
	return func() error {
		tx, err := c.b.pay(c.donations, btc(v))
		if err == nil {
			c.b.event(tx, fmt.Sprintf("Office: %v donated to the legacy address", btc(v)), OfficeID)
		}
		return err
	}
}

// jointPurchase is the mixed transaction: the Office and the (unwatched)
// Demoland Geothermal Mining Co-op co-sign one transaction paying a
// hardware supplier 12 BTC, 6 BTC each, with change back to each.
func (c *cast) jointPurchase() error {
	b := c.b
	const share = 6e8
	office, err := b.pick(c.hot, share+btc(0.01))
	if err != nil {
		return err
	}
	coop, err := b.pick(c.coop, share+btc(0.01))
	if err != nil {
		return err
	}
	var officeIn, coopIn btcutil.Amount
	for _, x := range office {
		officeIn += x.Value
	}
	for _, x := range coop {
		coopIn += x.Value
	}
	ins := append(office, coop...)
	outs := []chaintest.Output{{Script: c.supplier, Value: 2 * share}, {Script: c.hot}, {Script: c.coop}}
	fee := b.fee(ins, outs)
	outs[1].Value = officeIn - share - fee/2
	outs[2].Value = coopIn - share - (fee - fee/2)
	tx, err := b.node.Spend(b.ctx, ins, outs, fee)
	if err != nil {
		return err
	}
	b.track(tx)
	b.event(tx, "Office and the Geothermal Mining Co-op co-sign a 12 BTC hardware purchase", OfficeID)
	return nil
}
