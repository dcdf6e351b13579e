package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// A4 in points, and the printable frame.
const (
	pageW, pageH        = 595.28, 841.89
	marginX             = 48.0
	marginTop           = 50.0
	contentBottom       = pageH - 64.0
	contentW            = pageW - 2*marginX
	fontRegular         = "regular"
	fontBold            = "bold"
	fontMono            = "mono"
	lineGap             = 1.25
	cellPad             = 3.0
	headR, headG, headB = 31, 58, 95 // the heading blue of the HTML page
)

// PDF is the document to file: title, entities, period and anchor
// blocks, tables with right-aligned amounts, the methodology, the digest,
// and "Page N of M" on every page. Fonts (the Go fonts, BSD licence) are
// embedded, and the creation date is the closing instant, so the bytes
// depend on the data alone.
func (r *Report) PDF() ([]byte, error) {
	d := &pdfDoc{pdf: &gopdf.GoPdf{}}
	d.pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	d.pdf.SetInfo(gopdf.PdfInfo{
		Title:        "Balance report " + r.Data.Report + " " + utcTime(r.Data.Period.To),
		Subject:      "Bitcoin holdings at block " + strconv.FormatInt(r.Data.Closing.Height, 10) + ", " + r.digest,
		Creator:      "treasurywatch",
		Producer:     "treasurywatch",
		CreationDate: r.Data.Period.To.UTC(),
	})
	for _, f := range []struct {
		name string
		ttf  []byte
	}{{fontRegular, goregular.TTF}, {fontBold, gobold.TTF}, {fontMono, gomono.TTF}} {
		if err := d.pdf.AddTTFFontData(f.name, f.ttf); err != nil {
			return nil, fmt.Errorf("pdf font %s: %w", f.name, err)
		}
	}
	d.newPage()
	r.pdfCover(d)
	r.pdfSummary(d)
	v := r.view()
	for _, s := range v.Sections {
		r.pdfEntity(d, s)
	}
	r.pdfMethodology(d)
	if d.err != nil {
		return nil, d.err
	}
	r.pdfFooters(d)
	if d.err != nil {
		return nil, d.err
	}
	b, err := d.pdf.GetBytesPdfReturnErr()
	if err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	return b, nil
}

func (r *Report) pdfCover(d *pdfDoc) {
	dt := r.Data
	d.color(headR, headG, headB)
	d.line(fontBold, 8, marginX, "TREASURYWATCH  ·  PUBLIC BITCOIN HOLDINGS  ·  "+strings.ToUpper(dt.Network), gopdf.Left, contentW)
	d.y += 4
	d.line(fontBold, 18, marginX, "Balance report “"+dt.Report+"”", gopdf.Left, contentW)
	d.color(0, 0, 0)
	d.line(fontRegular, 10.5, marginX, "Period "+utcTime(dt.Period.From)+"  →  "+utcTime(dt.Period.To), gopdf.Left, contentW)
	d.y += 4
	d.rule(1.5, headR, headG, headB)
	d.y += 10

	var names []string
	for _, e := range dt.Entities {
		names = append(names, e.Name)
	}
	start, end := utcTime(dt.Period.From), utcTime(dt.Period.To)
	if dt.Period.TimeZone != "UTC" {
		start += "   ·   " + localTime(dt.Period.FromLocal, dt.Period.TimeZone)
		end += "   ·   " + localTime(dt.Period.ToLocal, dt.Period.TimeZone)
	}
	facts := []struct{ k, v, mono string }{
		{"Period start", start, ""},
		{"Period end", end, ""},
		{"Opening block", "height " + strconv.FormatInt(dt.Opening.Height, 10) + "   ·   " + utcTime(dt.Opening.Time), dt.Opening.Hash},
		{"Closing block", "height " + strconv.FormatInt(dt.Closing.Height, 10) + "   ·   " + utcTime(dt.Closing.Time), dt.Closing.Hash},
		{"Entities", strings.Join(names, "; "), ""},
		{"Movements", strconv.Itoa(dt.Totals.Movements) + " in the period", ""},
		{"Closing balance", watcher.FormatBTC(dt.Totals.ClosingSat) + " BTC", ""},
	}
	const keyW = 110.0
	for _, f := range facts {
		lines := d.wrap(fontRegular, 9.5, f.v, contentW-keyW)
		h := float64(len(lines)) * 9.5 * lineGap
		if f.mono != "" {
			h += 8 * lineGap
		}
		d.ensure(h + 4)
		top := d.y
		d.line(fontBold, 9.5, marginX, f.k, gopdf.Left, keyW)
		d.y = top
		for _, l := range lines {
			d.line(fontRegular, 9.5, marginX+keyW, l, gopdf.Left, contentW-keyW)
		}
		if f.mono != "" {
			d.line(fontMono, 7.5, marginX+keyW, f.mono, gopdf.Left, contentW-keyW)
		}
		d.y += 4
	}
	d.y += 6
	d.digestBox(r.digest)
}

func (d *pdfDoc) digestBox(digest string) {
	d.ensure(34)
	d.pdf.SetStrokeColor(headR, headG, headB)
	d.pdf.SetFillColor(240, 244, 249)
	d.pdf.SetLineWidth(0.8)
	d.pdf.RectFromUpperLeftWithStyle(marginX, d.y, contentW, 30, "FD")
	top := d.y
	d.y += 4
	d.line(fontBold, 8.5, marginX+8, "Digest of the report's data (SHA-256 of its canonical JSON)", gopdf.Left, contentW-16)
	d.line(fontMono, 7.8, marginX+8, digest, gopdf.Left, contentW-16)
	d.y = top + 30 + 8
}

func (r *Report) pdfSummary(d *pdfDoc) {
	dt := r.Data
	d.heading("Summary (BTC)")
	cols := []pdfCol{{"Entity", 103, gopdf.Left, fontRegular}}
	for _, h := range []string{"Opening", "Inflow", "Outflow", "Internal", "Fees", "Mixed net", "Closing"} {
		cols = append(cols, pdfCol{h, (contentW - 103) / 7, gopdf.Right, fontRegular})
	}
	row := func(name string, f Flows, open, closing int64) []string {
		b := watcher.FormatBTC
		return []string{name, b(open), b(f.InflowSat), b(f.OutflowSat), b(f.InternalSat), b(f.FeesSat), b(f.MixedNetSat), b(closing)}
	}
	var rows [][]string
	for _, e := range dt.Entities {
		rows = append(rows, row(e.Name, e.Flows, e.OpeningSat, e.ClosingSat))
	}
	total := row("Total", dt.Totals.Flows, dt.Totals.OpeningSat, dt.Totals.ClosingSat)
	d.table(cols, rows, total, 7.5)
	d.para(fontRegular, 8, "Closing = opening + inflow - outflow - fees + mixed net. Internal transfers move coins between an entity's own addresses; only their fee leaves it.")
	if p := dt.Price; p != nil {
		d.y += 4
		d.line(fontBold, 10, marginX, "Value at close ("+strings.ToUpper(p.Currency)+")", gopdf.Left, contentW)
		if p.Available {
			src := p.Source
			if p.ConfiguredSource != "" && p.ConfiguredSource != p.Source {
				src += " (configured source " + p.ConfiguredSource + ")"
			}
			d.para(fontRegular, 9, money(*p.ClosingCents, p.Currency)+" for "+watcher.FormatBTC(dt.Totals.ClosingSat)+" BTC at "+
				money(*p.CentsPerBTC, p.Currency)+" per BTC, price of "+utcTime(*p.Time)+" from "+src+".")
		} else {
			msg := "No price: no " + strings.ToUpper(p.Currency) + " price at or before the end of the period is stored"
			if p.ConfiguredSource != "" {
				msg += " (source " + p.ConfiguredSource + ")"
			}
			d.para(fontRegular, 9, msg+".")
		}
	}
}

func (r *Report) pdfEntity(d *pdfDoc, s section) {
	d.newPage()
	title := s.Name
	if s.Country != "" {
		title += " (" + s.Country + ")"
	}
	d.heading(title)
	line := "Opening " + watcher.FormatBTC(s.OpeningSat) + " BTC   ·   closing " + watcher.FormatBTC(s.ClosingSat) +
		" BTC   ·   change " + watcher.FormatBTC(s.ChangeSat) + " BTC"
	if s.ClosingCents != nil && r.Data.Price != nil {
		line += "   ·   value " + money(*s.ClosingCents, r.Data.Price.Currency)
	}
	d.para(fontRegular, 9.5, line)
	d.subheading("Addresses")
	cols := []pdfCol{{"Label", 80, gopdf.Left, fontRegular}, {"Address", 175, gopdf.Left, fontMono}}
	for _, h := range []string{"Opening", "Received", "Sent", "Closing"} {
		cols = append(cols, pdfCol{h + " (BTC)", (contentW - 255) / 4, gopdf.Right, fontRegular})
	}
	var rows [][]string
	for _, a := range s.Addresses {
		rows = append(rows, []string{a.Label, a.Address, watcher.FormatBTC(a.OpeningSat), watcher.FormatBTC(a.ReceivedSat),
			watcher.FormatBTC(a.SentSat), watcher.FormatBTC(a.ClosingSat)})
	}
	d.table(cols, rows, nil, 7.5)
	d.subheading("Movements")
	if len(s.Movements) == 0 {
		d.para(fontRegular, 9, "No movement in the period.")
		return
	}
	cols = []pdfCol{{"Time (UTC)", 82, gopdf.Left, fontRegular}, {"Block", 38, gopdf.Right, fontRegular},
		{"Transaction", 165, gopdf.Left, fontMono}, {"Kind", 48, gopdf.Left, fontRegular},
		{"Amount (BTC)", 82, gopdf.Right, fontRegular}, {"Fee (BTC)", contentW - 415, gopdf.Right, fontRegular}}
	rows = rows[:0]
	for _, m := range s.Movements {
		rows = append(rows, []string{m.Time.UTC().Format("2006-01-02 15:04:05"), strconv.FormatInt(m.Height, 10), m.Txid,
			kindLabel(m.Kind), watcher.FormatBTC(m.AmountSat), feeBTC(m.FeeSat)})
	}
	d.table(cols, rows, nil, 7.5)
}

func (r *Report) pdfMethodology(d *pdfDoc) {
	d.y += 8
	d.heading("Methodology")
	for _, p := range r.Data.Methodology {
		d.para(fontRegular, 8.5, p)
		d.y += 3
	}
}

// pdfFooters writes, once every page exists, the footer of each page.
func (r *Report) pdfFooters(d *pdfDoc) {
	n := d.pdf.GetNumberOfPages()
	left := "Balance report “" + r.Data.Report + "”, " + utcTime(r.Data.Period.From) + " → " + utcTime(r.Data.Period.To) +
		", blocks " + strconv.FormatInt(r.Data.Opening.Height, 10) + "–" + strconv.FormatInt(r.Data.Closing.Height, 10)
	for p := 1; p <= n; p++ {
		if err := d.pdf.SetPage(p); err != nil {
			d.fail(err)
			return
		}
		d.y = pageH - 50
		d.rule(0.5, 160, 170, 185)
		d.y += 4
		d.color(80, 80, 80)
		top := d.y
		d.line(fontRegular, 7, marginX, left, gopdf.Left, contentW-70)
		d.y = top
		d.line(fontBold, 7.5, marginX, "Page "+strconv.Itoa(p)+" of "+strconv.Itoa(n), gopdf.Right, contentW)
		d.line(fontMono, 6.5, marginX, r.digest, gopdf.Left, contentW)
		d.color(0, 0, 0)
	}
}
