package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Charts are drawn on the server as inline SVG: no script, no other host,
// readable by screen readers through <title> and <desc>, and styled by the
// one stylesheet (so they follow the light or dark theme).

// Each chart is drawn twice, wide and narrow, in the same figure; the
// stylesheet shows the one that fits the screen. So a phone gets a chart
// drawn for its width, with labels it can read and the whole period
// visible, rather than a desktop chart shrunk or cut off.

// geom is where one drawing of a chart goes in its viewBox, and how much
// it shows. The left margin is computed from the y labels.
type geom struct {
	Class              string // "wide" or "narrow"
	W, H               float64
	Top, Bottom, Right float64
	CharW              float64 // width of one label character, in viewBox units
	MaxMarks, MaxTicks int
}

// The drawings: wide for desktops and tablets, narrow for phones (the
// narrow viewBox is about a phone's width in CSS pixels, so 12 units of
// text are about 12 pixels).
var (
	balanceWide   = geom{Class: "wide", W: 760, H: 300, Top: 16, Bottom: 262, Right: 744, CharW: 7, MaxMarks: 120, MaxTicks: 6}
	balanceNarrow = geom{Class: "narrow", W: 340, H: 250, Top: 14, Bottom: 214, Right: 330, CharW: 7, MaxMarks: 40, MaxTicks: 3}
	barsWide      = geom{Class: "wide", W: 760, H: 240, Top: 14, Bottom: 206, Right: 744, CharW: 7, MaxTicks: 6}
	barsNarrow    = geom{Class: "narrow", W: 340, H: 220, Top: 14, Bottom: 186, Right: 330, CharW: 7, MaxTicks: 3}
)

const (
	maxBarMonths               = 24
	tickCount                  = 4
	minSpan      time.Duration = time.Hour
	defaultTicks               = 6
	labelPad                   = 10.0
	minLeft                    = 36.0
)

// tick is a labelled position on an axis. Anchor is the SVG text-anchor
// of an x label ("" is the middle): labels at the ends of the axis are
// anchored inwards so that none is cut by the edge of the drawing.
type tick struct {
	Pos    float64
	Label  string
	Anchor string
}

// mark is a hover target on the line: a block that changed the balance.
type mark struct {
	X, Y  float64
	Title string
}

// chart is a step chart of a balance over a window.
type chart struct {
	ID, Title, Desc string
	Empty           bool
	Views           []chartView
}

// chartView is one drawing of a chart, with the chart's title and
// description (each drawing is a complete, labelled image) and the id of
// the line showing hover details.
type chartView struct {
	ID, Class      string
	Title, Desc    string
	Detail         string
	Width, Height  float64
	Left, Right    float64
	Top, Bottom    float64
	Line, Area     string
	XTicks, YTicks []tick
	Marks          []mark
}

// leftFor is the left margin that fits the longest of labels.
func leftFor(g geom, labels []tick) float64 {
	n := 0
	for _, l := range labels {
		n = max(n, utf8.RuneCountInString(l.Label))
	}
	return math.Max(minLeft, math.Ceil(float64(n)*g.CharW+labelPad))
}

// balanceChart draws s between from (zero: its first block) and to.
func balanceChart(id, title string, s series, from, to time.Time) chart {
	c := chart{ID: id, Title: title}
	if len(s.pts) == 0 {
		c.Empty, c.Desc = true, "No confirmed transaction yet: the balance has always been zero."
		return c
	}
	if from.IsZero() {
		// The whole history, from just before the first block, so that
		// its step up from zero is drawn.
		first := s.pts[0].Time
		from = first.Add(-max(minSpan, to.Sub(first)/50))
	}
	if to.Sub(from) < minSpan {
		from = to.Add(-minSpan)
	}
	i0 := s.atTime(from)
	b0 := s.balance(i0)
	win := s.pts[i0+1:]
	hi, hiAt := b0, from
	for _, p := range win {
		if p.Balance > hi {
			hi, hiAt = p.Balance, p.Time
		}
	}
	for _, g := range []geom{balanceWide, balanceNarrow} {
		c.Views = append(c.Views, drawBalance(g, id, b0, win, hi, from, to))
	}
	end := s.balance(len(s.pts) - 1)
	c.Desc = fmt.Sprintf("Step chart of the confirmed balance from %s to %s: %s BTC at the start, %s BTC at the end, "+
		"highest %s BTC (%s); %d blocks changed it in this window.", when(from), when(to), watcher.FormatBTC(b0),
		watcher.FormatBTC(end), watcher.FormatBTC(hi), when(hiAt), len(win))
	for i := range c.Views {
		c.Views[i].Title, c.Views[i].Desc, c.Views[i].Detail = c.Title, c.Desc, id+"-detail"
	}
	return c
}

// drawBalance draws the points win, starting from balance b0 at from, in
// the geometry g; hi is the highest balance shown.
func drawBalance(g geom, id string, b0 int64, win []point, hi int64, from, to time.Time) chartView {
	yMax, step := niceScale(hi)
	v := chartView{ID: id + "-" + g.Class, Class: g.Class, Width: g.W, Height: g.H, Right: g.Right, Top: g.Top, Bottom: g.Bottom}
	y := func(b int64) float64 { return g.Bottom - float64(b)/float64(yMax)*(g.Bottom-g.Top) }
	for b := int64(0); b <= yMax; b += step {
		v.YTicks = append(v.YTicks, tick{Pos: y(b), Label: shortBTC(b)})
	}
	v.Left = leftFor(g, v.YTicks)
	span := to.Sub(from).Seconds()
	lastX := v.Left
	x := func(t time.Time) float64 {
		p := v.Left + t.Sub(from).Seconds()/span*(g.Right-v.Left)
		p = math.Min(math.Max(p, lastX), g.Right) // block times may step back
		lastX = p
		return p
	}
	var line strings.Builder
	fmt.Fprintf(&line, "M%s %s", num(v.Left), num(y(b0)))
	col, lo, hiY, last := -1.0, 0.0, 0.0, y(b0)
	flush := func() {
		if col < 0 {
			return
		}
		line.WriteString("H" + num(col))
		for _, p := range []float64{lo, hiY, last} {
			line.WriteString("V" + num(p))
		}
	}
	stride := 1 + len(win)/g.MaxMarks
	for i, p := range win {
		px, py := math.Round(x(p.Time)), y(p.Balance)
		if px != col {
			flush()
			col, lo, hiY = px, math.Max(py, last), math.Min(py, last)
		}
		lo, hiY, last = math.Max(lo, py), math.Min(hiY, py), py
		if i%stride == 0 || i == len(win)-1 {
			v.Marks = append(v.Marks, mark{X: px, Y: py, Title: fmt.Sprintf("%s · block %d · balance %s BTC (%s)",
				when(p.Time), p.Height, watcher.FormatBTC(p.Balance), signedBTC(p.Delta))})
		}
	}
	flush()
	line.WriteString("H" + num(g.Right))
	v.Line = line.String()
	v.Area = v.Line + "V" + num(g.Bottom) + "H" + num(v.Left) + "Z"
	v.XTicks = timeTicksN(from, to, v.Left, g.Right, g.MaxTicks)
	return v
}

// niceScale returns an axis maximum >= v made of tickCount steps of 1, 2
// or 5 times a power of ten satoshis.
func niceScale(v int64) (max, step int64) {
	if v <= 0 {
		return 1e8, 1e8 / tickCount
	}
	raw := float64(v) / tickCount
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*pow >= raw {
			step = int64(math.Max(1, math.Round(m*pow)))
			break
		}
	}
	max = step * ((v + step - 1) / step)
	return max, step
}

// timeTicks returns at most ~6 labelled dates between from and to, on
// round boundaries (hours, days, months or years).
func timeTicks(from, to time.Time, left, right float64) []tick {
	return timeTicksN(from, to, left, right, defaultTicks)
}

// timeTicksN returns at most about n labelled dates between from and to,
// on round boundaries; a label never sticks out of [left, right].
func timeTicksN(from, to time.Time, left, right float64, n int) []tick {
	type unit struct {
		d      time.Duration
		months int
		format string
	}
	units := []unit{
		{time.Hour, 0, "Jan 2 15:04"}, {3 * time.Hour, 0, "Jan 2 15:04"}, {6 * time.Hour, 0, "Jan 2 15:04"},
		{24 * time.Hour, 0, "Jan 2"}, {2 * 24 * time.Hour, 0, "Jan 2"}, {7 * 24 * time.Hour, 0, "Jan 2"},
		{0, 1, "Jan 2006"}, {0, 3, "Jan 2006"}, {0, 6, "Jan 2006"}, {0, 12, "2006"}, {0, 24, "2006"},
		{0, 60, "2006"}, {0, 120, "2006"},
	}
	span := to.Sub(from)
	u := units[len(units)-1]
	for _, c := range units {
		approx := c.d
		if c.months > 0 {
			approx = time.Duration(c.months) * 30 * 24 * time.Hour
		}
		if span/approx <= time.Duration(n) {
			u = c
			break
		}
	}
	var t time.Time
	if u.months == 0 {
		t = from.Truncate(u.d)
	} else {
		t = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
		if u.months >= 12 {
			t = time.Date(from.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		}
	}
	var out []tick
	for i := 0; i < 200 && !t.After(to); i++ {
		if !t.Before(from) {
			out = append(out, xTick(left+t.Sub(from).Seconds()/span.Seconds()*(right-left), t.Format(u.format), left, right))
		}
		if u.months == 0 {
			t = t.Add(u.d)
		} else {
			t = t.AddDate(0, u.months, 0)
		}
	}
	return out
}

// xTick is a label at pos on an x axis from left to right, anchored
// inwards when centring it would cross the right end of the drawing or
// run under the y labels.
func xTick(pos float64, label string, left, right float64) tick {
	half := float64(utf8.RuneCountInString(label)) * 7 / 2
	switch {
	case pos+half > right+10:
		return tick{Pos: pos, Label: label, Anchor: "end"}
	case pos-half < left-20:
		return tick{Pos: pos, Label: label, Anchor: "start"}
	}
	return tick{Pos: pos, Label: label, Anchor: "middle"}
}

// bar is one rectangle of the monthly flows chart.
type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// barChart shows, per month, inflows above the axis and outflows (and a
// negative mixed net) below it.
type barChart struct {
	ID, Title, Desc string
	Empty           bool
	Views           []barView
}

// barView is one drawing of a barChart, labelled like a chartView.
type barView struct {
	ID, Class      string
	Title, Desc    string
	Detail         string
	Width, Height  float64
	Left, Right    float64
	Zero           float64
	Bars           []bar
	XTicks, YTicks []tick
}

// monthBars draws the last maxBarMonths months of ms (oldest first).
func monthBars(id, title string, ms []month) barChart {
	c := barChart{ID: id, Title: title}
	if len(ms) == 0 {
		c.Empty, c.Desc = true, "No flows yet."
		return c
	}
	last, _ := time.Parse("2006-01", ms[len(ms)-1].Month)
	first, _ := time.Parse("2006-01", ms[0].Month)
	if start := last.AddDate(0, 1-maxBarMonths, 0); first.Before(start) {
		first = start
	}
	byMonth := map[string]month{}
	for _, m := range ms {
		byMonth[m.Month] = m
	}
	var months []month
	var up, down int64 = 1, 1
	for t := first; !t.After(last); t = t.AddDate(0, 1, 0) {
		m := byMonth[t.Format("2006-01")]
		m.Month = t.Format("2006-01")
		months = append(months, m)
		up = max(up, m.InflowSat, m.MixedNet)
		down = max(down, m.OutflowSat, -m.MixedNet)
	}
	for _, g := range []geom{barsWide, barsNarrow} {
		c.Views = append(c.Views, drawBars(g, id, months, up, down))
	}
	c.Desc = fmt.Sprintf("Monthly flows from %s to %s: bars above the axis are inflows, below are outflows; "+
		"the third bar is the net of mixed transactions. The table below gives every figure.", months[0].Month,
		months[len(months)-1].Month)
	for i := range c.Views {
		c.Views[i].Title, c.Views[i].Desc, c.Views[i].Detail = c.Title, c.Desc, id+"-detail"
	}
	return c
}

// drawBars draws months in the geometry g, up and down being the largest
// bars above and below the axis.
func drawBars(g geom, id string, months []month, up, down int64) barView {
	v := barView{ID: id + "-" + g.Class, Class: g.Class, Width: g.W, Height: g.H, Right: g.Right}
	scale := (g.Bottom - g.Top) / float64(up+down)
	v.Zero = g.Top + float64(up)*scale
	v.YTicks = []tick{{Pos: g.Top, Label: "+" + shortBTC(up)}, {Pos: v.Zero, Label: "0"}, {Pos: g.Bottom, Label: "−" + shortBTC(down)}}
	v.Left = leftFor(g, v.YTicks)
	slot := (g.Right - v.Left) / float64(len(months))
	w := math.Max(1, slot/3-2)
	for i, m := range months {
		x0 := v.Left + float64(i)*slot + 1
		add := func(k int, val int64, class, what string) {
			if val == 0 {
				return
			}
			h := math.Max(1, math.Abs(float64(val))*scale)
			y := v.Zero
			if val > 0 {
				y -= h
			}
			v.Bars = append(v.Bars, bar{X: x0 + float64(k)*(w+1), Y: y, W: w, H: h, Class: class,
				Title: fmt.Sprintf("%s · %s %s BTC", m.Month, what, watcher.FormatBTC(abs(val)))})
		}
		add(0, m.InflowSat, "bar-in", "inflows")
		add(1, -m.OutflowSat, "bar-out", "outflows")
		add(2, m.MixedNet, "bar-mixed", "mixed, net")
		if i%max(1, (len(months)+g.MaxTicks-1)/g.MaxTicks) == 0 {
			v.XTicks = append(v.XTicks, xTick(x0+slot/2, m.Month, v.Left, g.Right))
		}
	}
	return v
}

// num formats a coordinate with one decimal, the SVG's precision.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// shortBTC is an axis label: BTC without trailing zeros.
func shortBTC(sat int64) string {
	s := strings.TrimRight(watcher.FormatBTC(sat), "0")
	return strings.TrimSuffix(s, ".") + " BTC"
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
