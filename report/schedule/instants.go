package schedule

import (
	"time"

	"github.com/robfig/cron/v3"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// Period is what one report covers: from the previous scheduled instant to
// this one.
type Period struct {
	From, To time.Time
}

// maxWalk bounds how many instants are walked one by one when catching up;
// past it (a frequent schedule after a long stop) the newest instants are
// found backwards from now instead.
const maxWalk = 100_000

// PrevInstant returns the last instant of s strictly before t, so that a
// report made at any time covers the period since the schedule's previous
// instant. A constant-delay schedule ("@every 1h") has no calendar, so its
// previous instant is one delay earlier.
func PrevInstant(s cron.Schedule, t time.Time) (time.Time, bool) {
	if ws, ok := s.(watcher.Schedule); ok {
		s = ws.Schedule
	}
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return t.Add(-c.Delay), true
	}
	for span := time.Minute; span <= 800*24*time.Hour; span *= 2 {
		x := s.Next(t.Add(-span))
		if x.IsZero() || !x.Before(t) {
			continue
		}
		for {
			n := s.Next(x)
			if n.IsZero() || !n.Before(t) {
				return x, true
			}
			x = n
		}
	}
	return time.Time{}, false
}

// dueSince returns the periods whose instants fall in (anchor, now], the
// newest keep of them, oldest first; the last instant at or before now
// (the start of the next period); and the first instant after now. The
// anchor is the last instant produced, or (isInstant false) the time the
// schedule was first seen.
func dueSince(s cron.Schedule, anchor time.Time, isInstant bool, now time.Time, keep int) (due []Period, last, next time.Time) {
	prev, x := anchor, s.Next(anchor)
	if p, ok := PrevInstant(s, x); !isInstant && ok {
		prev = p
	}
	for i := 0; !x.IsZero() && !x.After(now); i++ {
		if i == maxWalk {
			due = newestBefore(s, now, keep+1)
			last, _ = PrevInstant(s, now.Add(time.Second))
			if len(due) > keep {
				due = due[1:]
			}
			return due, last, s.Next(now)
		}
		due = append(due, Period{From: prev, To: x})
		if len(due) > keep {
			due = due[1:]
		}
		prev, x = x, s.Next(x)
	}
	return due, prev, x
}

// newestBefore returns the newest n periods whose instants are at or before
// now, oldest first.
func newestBefore(s cron.Schedule, now time.Time, n int) []Period {
	out := make([]Period, 0, n)
	t := now.Add(time.Second)
	for len(out) < n {
		to, ok := PrevInstant(s, t)
		if !ok {
			break
		}
		from, ok := PrevInstant(s, to)
		if !ok {
			break
		}
		out = append([]Period{{From: from, To: to}}, out...)
		t = to
	}
	return out
}
