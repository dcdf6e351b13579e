package report

import (
	"strings"

	"github.com/signintech/gopdf"
)

// pdfDoc is a small flow layout over gopdf: a cursor going down the page,
// wrapping, tables that repeat their header on a new page. The first error
// sticks and ends the rendering.
type pdfDoc struct {
	pdf *gopdf.GoPdf
	y   float64
	err error
}

// pdfCol is one table column.
type pdfCol struct {
	title string
	width float64
	align int // gopdf.Left or gopdf.Right
	font  string
}

func (d *pdfDoc) fail(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

func (d *pdfDoc) newPage() {
	d.pdf.AddPage()
	d.y = marginTop
}

// ensure starts a new page unless h more points fit on this one.
func (d *pdfDoc) ensure(h float64) bool {
	if d.y+h > contentBottom {
		d.newPage()
		return true
	}
	return false
}

func (d *pdfDoc) font(name string, size float64) {
	d.fail(d.pdf.SetFont(name, "", size))
}

func (d *pdfDoc) color(r, g, b uint8) { d.pdf.SetTextColor(r, g, b) }

// line writes one line of text in a box of width w at x and moves down.
func (d *pdfDoc) line(font string, size, x float64, text string, align int, w float64) {
	d.font(font, size)
	h := size * lineGap
	d.pdf.SetXY(x, d.y)
	d.fail(d.pdf.CellWithOption(&gopdf.Rect{W: w, H: h}, text, gopdf.CellOption{Align: align | gopdf.Middle}))
	d.y += h
}

// wrap splits text into lines no wider than w, at spaces where it can and
// anywhere in a word too long for a line (hashes, addresses).
func (d *pdfDoc) wrap(font string, size float64, text string, w float64) []string {
	d.font(font, size)
	width := func(s string) float64 {
		v, err := d.pdf.MeasureTextWidth(s)
		d.fail(err)
		return v
	}
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		try := word
		if cur != "" {
			try = cur + " " + word
		}
		if width(try) <= w {
			cur = try
			continue
		}
		if cur != "" {
			lines = append(lines, cur)
			cur = ""
		}
		for width(word) > w {
			n := len(word)
			for n > 1 && width(word[:n]) > w {
				n--
			}
			lines = append(lines, word[:n])
			word = word[n:]
		}
		cur = word
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

// para writes a wrapped paragraph across the content width.
func (d *pdfDoc) para(font string, size float64, text string) {
	for _, l := range d.wrap(font, size, text, contentW) {
		d.ensure(size * lineGap)
		d.line(font, size, marginX, l, gopdf.Left, contentW)
	}
	d.y += 2
}

func (d *pdfDoc) heading(text string) {
	d.ensure(60)
	d.color(headR, headG, headB)
	d.line(fontBold, 13, marginX, text, gopdf.Left, contentW)
	d.color(0, 0, 0)
	d.rule(0.6, 199, 208, 220)
	d.y += 6
}

func (d *pdfDoc) subheading(text string) {
	d.ensure(50)
	d.y += 4
	d.line(fontBold, 10, marginX, text, gopdf.Left, contentW)
	d.y += 2
}

// rule draws a horizontal line across the content width at the cursor.
func (d *pdfDoc) rule(width float64, r, g, b uint8) {
	d.pdf.SetLineWidth(width)
	d.pdf.SetStrokeColor(r, g, b)
	d.pdf.Line(marginX, d.y, marginX+contentW, d.y)
}

// table draws a bordered table; total, when not nil, is a last row in
// bold on a tinted background. Cells wrap; the header repeats on every
// page the table spans.
func (d *pdfDoc) table(cols []pdfCol, rows [][]string, total []string, size float64) {
	lh := size * lineGap
	header := func() {
		h := lh + 2*cellPad
		d.pdf.SetFillColor(232, 237, 244)
		d.pdf.SetStrokeColor(199, 208, 220)
		d.pdf.SetLineWidth(0.5)
		x := marginX
		for _, c := range cols {
			// Text colour and fill colour are one PDF state: set the
			// fill again before every rectangle.
			d.pdf.SetFillColor(232, 237, 244)
			d.pdf.RectFromUpperLeftWithStyle(x, d.y, c.width, h, "FD")
			top := d.y
			d.y += cellPad
			d.line(fontBold, size, x+cellPad, c.title, c.align, c.width-2*cellPad)
			d.y = top
			x += c.width
		}
		d.y += h
	}
	draw := func(cells []string, bold bool) {
		wrapped := make([][]string, len(cols))
		n := 1
		for i, c := range cols {
			font := c.font
			if bold && font == fontRegular {
				font = fontBold
			}
			wrapped[i] = d.wrap(font, size, cells[i], c.width-2*cellPad)
			n = max(n, len(wrapped[i]))
		}
		h := float64(n)*lh + 2*cellPad
		if d.ensure(h) {
			header()
		}
		x := marginX
		style := "D"
		if bold {
			style = "FD"
		}
		d.pdf.SetStrokeColor(199, 208, 220)
		d.pdf.SetLineWidth(0.5)
		for i, c := range cols {
			d.pdf.SetFillColor(246, 248, 251)
			d.pdf.RectFromUpperLeftWithStyle(x, d.y, c.width, h, style)
			font := c.font
			if bold && font == fontRegular {
				font = fontBold
			}
			top := d.y
			d.y += cellPad
			for _, l := range wrapped[i] {
				d.line(font, size, x+cellPad, l, c.align, c.width-2*cellPad)
			}
			d.y = top
			x += c.width
		}
		d.y += h
	}
	d.ensure(2 * (lh + 2*cellPad))
	header()
	for _, r := range rows {
		draw(r, false)
	}
	if total != nil {
		draw(total, true)
	}
	d.y += 8
}
