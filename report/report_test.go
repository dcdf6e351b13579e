package report_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// EnvSamples names a directory where the test leaves the HTML and PDF it
// built, to look at them.
const envSamples = "TREASURYWATCH_REPORT_SAMPLES"

const btc = btcutil.Amount(1e8)

// TestReport builds a report over a back-dated regtest chain whose period
// holds inflows, an outflow, an internal consolidation and a mixed
// transaction, and checks it against the test's own account of the chain.
func TestReport(t *testing.T) {
	c := startChain(t)
	tn := c.tn
	a1, a2, a3 := tn.NewKey(chaintest.P2WPKH), tn.NewKey(chaintest.P2TR), tn.NewKey(chaintest.P2PKH)
	b1, b2 := tn.NewKey(chaintest.P2WPKH), tn.NewKey(chaintest.P2WSH)
	outsider := tn.NewKey(chaintest.P2WPKH)
	c.writeWatchlist(t, []testEntity{
		{"alpha", "Republic of Alpha <Treasury> & Co", "AL", []*chaintest.Key{a1, a2, a3}},
		{"beta", "Beta Central Bank", "BT", []*chaintest.Key{b1, b2}},
	})
	out := func(k *chaintest.Key, v btcutil.Amount) chaintest.Output {
		return chaintest.Output{Script: k.Script, Value: v}
	}
	clock := base
	next := func() time.Time { clock = clock.Add(10 * time.Minute); return clock }
	for range 110 {
		c.mineAt(t, next())
	}
	// One transaction per block: MineAt orders a block's transactions by
	// their mempool arrival second, which would make block hashes, hence
	// the golden file, vary from run to run.
	// Before the period: alpha and beta are funded.
	tx0 := c.pay(t, map[string]watcher.Flow{"alpha": watcher.Inflow, "beta": watcher.Inflow}, out(a1, 1*btc), out(b1, 3*btc))
	c.mineAt(t, next())
	txOut := c.pay(t, nil, out(outsider, 40_000_000))
	pre := c.mineAt(t, next())
	from := pre.Time.Add(5 * time.Minute)

	// In the period: inflows, a consolidation, an outflow with change, a
	// mixed payment, then a block with no ledger transaction.
	clock = clock.Add(5 * time.Minute)
	txIn := c.pay(t, map[string]watcher.Flow{"alpha": watcher.Inflow}, out(a2, 2*btc), out(a1, 50_000_000))
	c.mineAt(t, next())
	c.pay(t, map[string]watcher.Flow{"beta": watcher.Inflow}, out(b2, 70_000_000))
	c.mineAt(t, next())
	c.spend(t, map[string]watcher.Flow{"alpha": watcher.Internal},
		append(chaintest.CoinsOf(tx0, a1.Script), chaintest.CoinsOf(txIn, a1.Script)...), 10_000, out(a3, 150_000_000-10_000))
	c.mineAt(t, next())
	c.spend(t, map[string]watcher.Flow{"beta": watcher.Outflow},
		chaintest.CoinsOf(tx0, b1.Script), 20_000, out(outsider, 1*btc), out(b2, 2*btc-20_000))
	c.mineAt(t, next())
	c.spend(t, map[string]watcher.Flow{"alpha": watcher.Mixed},
		append(chaintest.CoinsOf(txIn, a2.Script), chaintest.CoinsOf(txOut, outsider.Script)...), 15_000,
		out(outsider, 230_000_000), out(a2, 9_985_000))
	c.mineAt(t, next())
	last := c.mineAt(t, next())
	salvador, err := time.LoadLocation("America/El_Salvador")
	if err != nil {
		t.Fatal(err)
	}
	to := last.Time.Add(3 * time.Minute)
	c.sync(t)

	spec := report.Spec{Name: "daily", From: from.In(salvador), To: to.In(salvador)}
	t.Run("anchors from the chain", func(t *testing.T) {
		for _, a := range []struct {
			at   time.Time
			want store.Block
			got  *store.Block
		}{{from, pre, &spec.FromBlock}, {to, last, &spec.ToBlock}} {
			ref, err := watcher.BlockAtTime(t.Context(), c.client, a.at, last.Height)
			if err != nil {
				t.Fatal(err)
			}
			*a.got = store.Block{Height: ref.Height, Hash: ref.Hash, Time: ref.Time}
			if ref.Height != a.want.Height || ref.Hash != a.want.Hash || !ref.Time.Equal(a.want.Time) {
				t.Fatalf("block at %v: %d %s, want %d %s", a.at, ref.Height, ref.Hash, a.want.Height, a.want.Hash)
			}
		}
	})
	if spec.ToBlock.Height == 0 {
		t.FailNow()
	}
	price := store.Price{Currency: "usd", Time: to.Add(-time.Hour), Cents: 9_512_345, Source: "https://prices.example.org/btc", FetchedAt: to}
	later := store.Price{Currency: "usd", Time: to.Add(time.Minute), Cents: 1_000_000_00, Source: "https://prices.example.org/btc", FetchedAt: to}
	for _, p := range []store.Price{price, later} {
		if err := c.st.SavePrice(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	opt := report.Options{Currency: "usd", PriceSource: "https://prices.example.org/btc"}
	r := c.build(t, spec, opt)
	d := r.Data

	t.Run("balances", func(t *testing.T) { checkBalances(t, c, d, spec) })
	t.Run("flows", func(t *testing.T) { checkFlows(t, c, d, spec) })
	t.Run("movements", func(t *testing.T) { checkMovements(t, c, d, spec) })
	t.Run("period and price", func(t *testing.T) {
		if d.Period.TimeZone != "America/El_Salvador" || !strings.HasSuffix(d.Period.ToLocal, "-06:00") || !d.Period.To.Equal(to) {
			t.Errorf("period %+v, want the El Salvador zone and To %v", d.Period, to)
		}
		p := d.Price
		if p == nil || !p.Available || p.CentsPerBTC == nil || *p.CentsPerBTC != price.Cents || !p.Time.Equal(price.Time) || p.Source != price.Source {
			t.Fatalf("price %+v, want %+v", p, price)
		}
		// closing × price, rounded half up to the cent, by the test's own big-number arithmetic.
		want := (d.Totals.ClosingSat*price.Cents + 50_000_000) / 100_000_000
		if p.ClosingCents == nil || *p.ClosingCents != want {
			t.Errorf("closing value %v cents, want %d", p.ClosingCents, want)
		}
		noPrice := c.build(t, spec, report.Options{Currency: "eur"})
		if noPrice.Data.Price == nil || noPrice.Data.Price.Available {
			t.Errorf("eur price %+v, want present and not available", noPrice.Data.Price)
		}
		h, err := noPrice.HTML()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(h, []byte("No price")) {
			t.Error("HTML without a stored price does not say \"No price\"")
		}
	})

	first := files(t, r)
	t.Run("file names", func(t *testing.T) {
		stamp := "daily-" + to.UTC().Format("20060102T1504Z")
		var names []string
		for n := range first {
			names = append(names, n)
		}
		slices.Sort(names)
		want := []string{stamp + "-movements.csv", stamp + "-summary.csv", stamp + ".html", stamp + ".json", stamp + ".pdf"}
		if !slices.Equal(names, want) {
			t.Errorf("files %v, want %v", names, want)
		}
	})
	t.Run("identical when built again", func(t *testing.T) {
		sameFiles(t, first, files(t, c.build(t, spec, opt)))
	})
	t.Run("entity subset in the given order", func(t *testing.T) {
		sub := spec
		sub.Entities = []string{"beta"}
		r := c.build(t, sub, report.Options{})
		if len(r.Data.Entities) != 1 || r.Data.Entities[0].ID != "beta" || r.Data.Price != nil {
			t.Fatalf("entities %+v price %+v, want beta alone and no price", r.Data.Entities, r.Data.Price)
		}
		for _, m := range r.Data.Movements {
			if m.Entity != "beta" {
				t.Errorf("movement of %s in a report on beta", m.Entity)
			}
		}
		if r.Digest() == c.build(t, spec, report.Options{}).Digest() {
			t.Error("a report on fewer entities has the same digest")
		}
	})
	t.Run("bad specs", func(t *testing.T) {
		// The block after the opening one holds a ledger transaction, so
		// the ledger stores it and can tell its hash is not this one.
		wrongHash := spec
		wrongHash.FromBlock = c.blocks[spec.FromBlock.Height+1]
		wrongHash.From = wrongHash.FromBlock.Time
		wrongHash.FromBlock.Hash[0] ^= 0xff
		early := spec
		early.To = spec.ToBlock.Time.Add(-time.Second)
		swapped := spec
		swapped.FromBlock, swapped.ToBlock = spec.ToBlock, spec.FromBlock
		unknown := spec
		unknown.Entities = []string{"alpha", "gamma"}
		twice := spec
		twice.Entities = []string{"beta", "alpha", "beta"}
		for _, tc := range []struct {
			name string
			spec report.Spec
			want string
		}{
			{"anchor hash differs from the ledger", wrongHash, "reorganised"},
			{"closing block later than the closing instant", early, "later than the instant"},
			{"blocks out of order", swapped, "below opening block"},
			{"unknown entity", unknown, `entity "gamma"`},
			{"entity named twice", twice, `entity "beta" is named twice`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := report.Build(t.Context(), c.st, c.wl, tc.spec, opt)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `report "daily"`) {
					t.Fatalf("error %v, want one naming the report and saying %q", err, tc.want)
				}
			})
		}
		if _, err := r.Files([]string{"html", "docx"}); err == nil || !strings.Contains(err.Error(), `"docx"`) {
			t.Errorf("unknown format: %v, want an error naming it", err)
		}
	})
	t.Run("refused above the synced block", func(t *testing.T) {
		c.pay(t, map[string]watcher.Flow{"alpha": watcher.Inflow}, out(a3, 10_000_000))
		after := c.mineAt(t, to.Add(7*time.Minute))
		late := spec
		late.To, late.ToBlock = after.Time.Add(time.Minute), after
		_, err := report.Build(t.Context(), c.st, c.wl, late, opt)
		if !errors.Is(err, report.ErrNotSynced) {
			t.Fatalf("build above the synced block: %v, want ErrNotSynced", err)
		}
		t.Log(err)
	})
	t.Run("identical after syncing past the period", func(t *testing.T) {
		c.mineAt(t, to.Add(17*time.Minute))
		c.sync(t)
		again := files(t, c.build(t, spec, opt))
		sameFiles(t, first, again)
	})
	stamp := "daily-" + to.UTC().Format("20060102T1504Z")
	t.Run("digest", func(t *testing.T) { checkDigest(t, r, first[stamp+".json"]) })
	t.Run("csv", func(t *testing.T) { checkCSV(t, r, first[stamp+"-movements.csv"], first[stamp+"-summary.csv"]) })
	t.Run("html", func(t *testing.T) { checkHTML(t, r, first[stamp+".html"]) })
	t.Run("pdf", func(t *testing.T) { checkPDF(t, r, first[stamp+".pdf"]) })
	t.Run("golden json", func(t *testing.T) { golden(t, "daily.golden.json", first[stamp+".json"]) })
	if dir := os.Getenv(envSamples); dir != "" {
		for _, ext := range []string{".html", ".pdf"} {
			if err := os.WriteFile(filepath.Join(dir, "report-sample"+ext), first[stamp+ext], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
