package report_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/watcher"
)

func checkBalances(t *testing.T, c *chain, d report.Data, spec report.Spec) {
	t.Helper()
	if len(d.Entities) != len(c.wl.Entities) {
		t.Fatalf("%d entities, want %d", len(d.Entities), len(c.wl.Entities))
	}
	var total int64
	for i, e := range c.wl.Entities {
		got := d.Entities[i]
		if got.ID != e.ID || got.Name != e.Name {
			t.Fatalf("entity %d is %q %q, want %q %q", i, got.ID, got.Name, e.ID, e.Name)
		}
		var open, closing int64
		for j, a := range e.Addresses {
			s := string(a.Address.Script)
			wo, wc := c.balance(s, spec.FromBlock.Height), c.balance(s, spec.ToBlock.Height)
			ga := got.Addresses[j]
			if ga.Address != a.Address.Text || ga.OpeningSat != wo || ga.ClosingSat != wc {
				t.Errorf("%s %s: opening %d closing %d, want %d %d", e.ID, ga.Address, ga.OpeningSat, ga.ClosingSat, wo, wc)
			}
			var recv, sent int64
			for _, d := range c.deltas {
				if d.script == s && d.height > spec.FromBlock.Height && d.height <= spec.ToBlock.Height {
					if d.sat > 0 {
						recv += d.sat
					} else {
						sent -= d.sat
					}
				}
			}
			if ga.ReceivedSat != recv || ga.SentSat != sent {
				t.Errorf("%s %s: received %d sent %d, want %d %d", e.ID, ga.Address, ga.ReceivedSat, ga.SentSat, recv, sent)
			}
			open, closing = open+wo, closing+wc
		}
		if got.OpeningSat != open || got.ClosingSat != closing || got.ChangeSat != closing-open {
			t.Errorf("%s: opening %d closing %d change %d, want %d %d %d", e.ID, got.OpeningSat, got.ClosingSat, got.ChangeSat,
				open, closing, closing-open)
		}
		if open == closing {
			t.Errorf("%s: the period moves nothing; the scenario is wrong", e.ID)
		}
		total += closing
	}
	if d.Totals.ClosingSat != total {
		t.Errorf("total closing %d, want %d", d.Totals.ClosingSat, total)
	}
}

// wantMove is a movement as the test computes it from the transactions it
// built.
type wantMove struct {
	entity, txid string
	height       int64
	kind         watcher.Flow
	amount       int64
	fee          int64 // -1 when unknown
}

func (c *chain) expected(spec report.Spec) (map[string]report.Flows, []wantMove) {
	flows := map[string]report.Flows{}
	var moves []wantMove
	for txid, b := range c.txs {
		if b.height <= spec.FromBlock.Height || b.height > spec.ToBlock.Height {
			continue
		}
		for entity, kind := range b.kinds {
			var entIn, entOut, extOut int64
			allIn := true
			for i, in := range b.tx.TxIn {
				if v, ok := c.coins[in.PreviousOutPoint]; ok && c.owner[v.script] == entity {
					entIn += b.inValue[i]
				} else {
					allIn = false
				}
			}
			for _, o := range b.tx.TxOut {
				if c.owner[string(o.PkScript)] == entity {
					entOut += o.Value
				} else {
					extOut += o.Value
				}
			}
			f := flows[entity]
			fee := int64(-1)
			if allIn {
				fee = entIn - entOut - extOut
			}
			switch kind {
			case watcher.Inflow:
				f.InflowSat += entOut
			case watcher.Outflow:
				f.OutflowSat += extOut
				f.FeesSat += fee
			case watcher.Internal:
				f.InternalSat += entOut
				f.FeesSat += fee
			case watcher.Mixed:
				f.MixedNetSat += entOut - entIn
			}
			flows[entity] = f
			moves = append(moves, wantMove{entity, txid.String(), b.height, kind, entOut - entIn, fee})
		}
	}
	return flows, moves
}

func checkFlows(t *testing.T, c *chain, d report.Data, spec report.Spec) {
	t.Helper()
	want, _ := c.expected(spec)
	kinds := map[watcher.Flow]bool{}
	for _, m := range d.Movements {
		kinds[m.Kind] = true
	}
	for _, k := range []watcher.Flow{watcher.Inflow, watcher.Outflow, watcher.Internal, watcher.Mixed} {
		if !kinds[k] {
			t.Errorf("no %s movement in the period", k)
		}
	}
	for _, e := range d.Entities {
		if e.Flows != want[e.ID] {
			t.Errorf("%s flows %+v, want %+v", e.ID, e.Flows, want[e.ID])
		}
		if got := e.OpeningSat + e.InflowSat - e.OutflowSat - e.FeesSat + e.MixedNetSat; got != e.ClosingSat {
			t.Errorf("%s: opening + flows = %d, closing %d", e.ID, got, e.ClosingSat)
		}
	}
}

func checkMovements(t *testing.T, c *chain, d report.Data, spec report.Spec) {
	t.Helper()
	_, want := c.expected(spec)
	var got []wantMove
	for i, m := range d.Movements {
		fee := int64(-1)
		if m.FeeSat != nil {
			fee = *m.FeeSat
		}
		got = append(got, wantMove{m.Entity, m.Txid, m.Height, m.Kind, m.AmountSat, fee})
		if i > 0 && m.Entity == d.Movements[i-1].Entity && m.Height < d.Movements[i-1].Height {
			t.Errorf("movement %d (height %d) after height %d", i, m.Height, d.Movements[i-1].Height)
		}
		if m.Height <= spec.FromBlock.Height || m.Height > spec.ToBlock.Height {
			t.Errorf("movement %s at %d outside (%d, %d]", m.Txid, m.Height, spec.FromBlock.Height, spec.ToBlock.Height)
		}
	}
	order := func(a, b wantMove) int {
		return cmp.Or(cmp.Compare(a.entity, b.entity), cmp.Compare(a.height, b.height), cmp.Compare(a.txid, b.txid))
	}
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if !slices.Equal(got, want) {
		t.Errorf("movements\n got %+v\nwant %+v", got, want)
	}
	if len(want) != 5 {
		t.Errorf("%d movements expected by the scenario, want 5", len(want))
	}
}

func sameFiles(t *testing.T, a, b map[string][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d files, then %d", len(a), len(b))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs when built again (%d vs %d bytes)", name, len(data), len(b[name]))
		}
	}
}

// checkDigest re-derives the digest from the published JSON with jq, as
// the methodology tells an auditor to.
func checkDigest(t *testing.T, r *report.Report, js []byte) {
	t.Helper()
	c, err := report.Canonical(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c)
	if want := "sha256:" + hex.EncodeToString(sum[:]); r.Digest() != want {
		t.Fatalf("digest %s, want %s", r.Digest(), want)
	}
	var pub struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(js, &pub); err != nil || pub.Digest != r.Digest() {
		t.Fatalf("published digest %q (%v), want %s", pub.Digest, err, r.Digest())
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed")
	}
	cmd := exec.CommandContext(t.Context(), "jq", "-cjS", "del(.digest)")
	cmd.Stdin = bytes.NewReader(js)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sum = sha256.Sum256(out)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != r.Digest() {
		t.Errorf("jq re-derives %s, want %s", got, r.Digest())
	}
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func checkCSV(t *testing.T, r *report.Report, movements, summary []byte) {
	t.Helper()
	d := r.Data
	rows := readCSV(t, movements)
	if len(rows) != len(d.Movements)+1 {
		t.Fatalf("%d movement rows, want %d and a header", len(rows)-1, len(d.Movements))
	}
	head := rows[0]
	col := func(name string) int {
		i := slices.Index(head, name)
		if i < 0 {
			t.Fatalf("no %q column in %v", name, head)
		}
		return i
	}
	for i, m := range d.Movements {
		row := rows[i+1]
		sat, _ := strconv.ParseInt(row[col("amount_sat")], 10, 64)
		if row[col("txid")] != m.Txid || sat != m.AmountSat || row[col("amount_btc")] != watcher.FormatBTC(m.AmountSat) ||
			row[col("kind")] != string(m.Kind) || row[col("report_digest")] != r.Digest() {
			t.Errorf("movement row %v, want %+v", row, m)
		}
	}
	rows = readCSV(t, summary)
	head = rows[0]
	for _, e := range d.Entities {
		i := slices.IndexFunc(rows, func(r []string) bool { return r[0] == "entity" && r[1] == e.ID })
		if i < 0 {
			t.Fatalf("no summary row for %s", e.ID)
		}
		row := rows[i]
		for name, v := range map[string]int64{"opening_sat": e.OpeningSat, "closing_sat": e.ClosingSat, "inflow_sat": e.InflowSat,
			"outflow_sat": e.OutflowSat, "internal_sat": e.InternalSat, "fees_sat": e.FeesSat} {
			if row[col(name)] != strconv.FormatInt(v, 10) {
				t.Errorf("%s %s = %s, want %d", e.ID, name, row[col(name)], v)
			}
		}
		for j, a := range e.Addresses {
			ar := rows[i+1+j]
			if ar[0] != "address" || ar[col("address")] != a.Address || ar[col("closing_sat")] != strconv.FormatInt(a.ClosingSat, 10) {
				t.Errorf("address row %v, want %+v", ar, a)
			}
		}
	}
}

func checkHTML(t *testing.T, r *report.Report, h []byte) {
	t.Helper()
	s := string(h)
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url(", "<Treasury>"} {
		if strings.Contains(s, bad) {
			t.Errorf("HTML contains %q: it must be self-contained and escaped", bad)
		}
	}
	for _, want := range []string{"Republic of Alpha &lt;Treasury&gt; &amp; Co", "@media print", r.Digest(),
		watcher.FormatBTC(r.Data.Entities[0].ClosingSat), r.Data.Closing.Hash, "America/El_Salvador"} {
		if !strings.Contains(s, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func checkPDF(t *testing.T, r *report.Report, pdf []byte) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed")
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	want := []string{"Page 1 of", r.Digest(), r.Data.Closing.Hash, "Methodology"}
	for _, e := range r.Data.Entities {
		want = append(want, e.Name, watcher.FormatBTC(e.ClosingSat))
		for _, a := range e.Addresses {
			want = append(want, watcher.FormatBTC(a.ClosingSat))
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
	info, err := exec.CommandContext(t.Context(), "pdfinfo", path).Output()
	if err == nil && !strings.Contains(string(info), "Pages:") {
		t.Errorf("pdfinfo: %s", info)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Fatalf("%s differs from line %d:\n got %s\nwant %s\n(rewrite it with -update)", path, i+1, g[i], w[i])
		}
	}
	t.Fatalf("%s differs in length: %d lines, want %d (rewrite it with -update)", path, len(g), len(w))
}
