package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Charts are drawn on the server as inline SVG: no script, no other host,
// readable by screen readers through <title> and <desc>, and styled by the
// one stylesheet (so they follow the light or dark theme).

// Geometry of the balance chart, in viewBox units.
const (
	chartW, chartH                      = 760.0, 300.0
	chartLeft, chartRight               = 92.0, 744.0
	chartTop, chartBottom               = 16.0, 262.0
	maxMarks                            = 120
	barsW, barsH                        = 760.0, 240.0
	barsLeft, barsRight                 = 92.0, 744.0
	barsTop, barsBottom                 = 14.0, 206.0
	maxBarMonths                        = 24
	tickCount                           = 4
	minSpan               time.Duration = time.Hour
)

// tick is a labelled position on an axis.
type tick struct {
	Pos   float64
	Label string
}

// mark is a hover target on the line: a block that changed the balance.
type mark struct {
	X, Y  float64
	Title string
}

// chart is a step chart of a balance over a window.
type chart struct {
	ID, Title, Desc string
	Width, Height   float64
	Left, Right     float64
	Top, Bottom     float64
	Line, Area      string
	XTicks, YTicks  []tick
	Marks           []mark
	Empty           bool
}

// balanceChart draws s between from (zero: its first block) and to.
func balanceChart(id, title string, s series, from, to time.Time) chart {
	c := chart{ID: id, Title: title, Width: chartW, Height: chartH, Left: chartLeft, Right: chartRight,
		Top: chartTop, Bottom: chartBottom}
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
	yMax, step := niceScale(hi)
	y := func(b int64) float64 { return chartBottom - float64(b)/float64(yMax)*(chartBottom-chartTop) }
	span := to.Sub(from).Seconds()
	lastX := chartLeft
	x := func(t time.Time) float64 {
		v := chartLeft + t.Sub(from).Seconds()/span*(chartRight-chartLeft)
		v = math.Min(math.Max(v, lastX), chartRight) // block times may step back
		lastX = v
		return v
	}
	var line strings.Builder
	fmt.Fprintf(&line, "M%s %s", num(chartLeft), num(y(b0)))
	col, lo, hiY, last := -1.0, 0.0, 0.0, y(b0)
	flush := func() {
		if col < 0 {
			return
		}
		line.WriteString("H" + num(col))
		for _, v := range []float64{lo, hiY, last} {
			line.WriteString("V" + num(v))
		}
	}
	stride := 1 + len(win)/maxMarks
	for i, p := range win {
		px, py := math.Round(x(p.Time)), y(p.Balance)
		if px != col {
			flush()
			col, lo, hiY = px, math.Max(py, last), math.Min(py, last)
		}
		lo, hiY, last = math.Max(lo, py), math.Min(hiY, py), py
		if i%stride == 0 || i == len(win)-1 {
			c.Marks = append(c.Marks, mark{X: px, Y: py, Title: fmt.Sprintf("%s · block %d · balance %s BTC (%s)",
				when(p.Time), p.Height, watcher.FormatBTC(p.Balance), signedBTC(p.Delta))})
		}
	}
	flush()
	line.WriteString("H" + num(chartRight))
	c.Line = line.String()
	c.Area = c.Line + "V" + num(chartBottom) + "H" + num(chartLeft) + "Z"
	for v := int64(0); v <= yMax; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: shortBTC(v)})
	}
	c.XTicks = timeTicks(from, to, chartLeft, chartRight)
	end := s.balance(len(s.pts) - 1)
	c.Desc = fmt.Sprintf("Step chart of the confirmed balance from %s to %s: %s BTC at the start, %s BTC at the end, "+
		"highest %s BTC (%s); %d blocks changed it in this window.", when(from), when(to), watcher.FormatBTC(b0),
		watcher.FormatBTC(end), watcher.FormatBTC(hi), when(hiAt), len(win))
	return c
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
		if span/approx <= 6 {
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
			out = append(out, tick{Pos: left + t.Sub(from).Seconds()/span.Seconds()*(right-left), Label: t.Format(u.format)})
		}
		if u.months == 0 {
			t = t.Add(u.d)
		} else {
			t = t.AddDate(0, u.months, 0)
		}
	}
	return out
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
	Width, Height   float64
	Left, Right     float64
	Zero            float64
	Bars            []bar
	XTicks, YTicks  []tick
	Empty           bool
}

// monthBars draws the last maxBarMonths months of ms (oldest first).
func monthBars(id, title string, ms []month) barChart {
	c := barChart{ID: id, Title: title, Width: barsW, Height: barsH, Left: barsLeft, Right: barsRight}
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
	scale := (barsBottom - barsTop) / float64(up+down)
	c.Zero = barsTop + float64(up)*scale
	slot := (barsRight - barsLeft) / float64(len(months))
	w := math.Max(1, slot/3-2)
	for i, m := range months {
		x0 := barsLeft + float64(i)*slot + 1
		add := func(k int, v int64, class, what string) {
			if v == 0 {
				return
			}
			h := math.Max(1, math.Abs(float64(v))*scale)
			y := c.Zero
			if v > 0 {
				y -= h
			}
			c.Bars = append(c.Bars, bar{X: x0 + float64(k)*(w+1), Y: y, W: w, H: h, Class: class,
				Title: fmt.Sprintf("%s · %s %s BTC", m.Month, what, watcher.FormatBTC(abs(v)))})
		}
		add(0, m.InflowSat, "bar-in", "inflows")
		add(1, -m.OutflowSat, "bar-out", "outflows")
		add(2, m.MixedNet, "bar-mixed", "mixed, net")
		if i%max(1, len(months)/6) == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: x0 + slot/2, Label: m.Month})
		}
	}
	c.YTicks = []tick{{barsTop, "+" + shortBTC(up)}, {c.Zero, "0"}, {barsBottom, "−" + shortBTC(down)}}
	c.Desc = fmt.Sprintf("Monthly flows from %s to %s: bars above the axis are inflows, below are outflows; "+
		"the third bar is the net of mixed transactions. The table below gives every figure.", months[0].Month,
		months[len(months)-1].Month)
	return c
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
