package scoring

import (
	"strconv"
	"time"
)

// Period is a length of event time: calendar months plus milliseconds. Months
// follow the calendar in UTC: a period of n months that starts on a day of the
// month ends on the same day n months later, at the same time of day, or on that
// month's last day when it is shorter (31 January + 1 month is 28 or 29
// February; 29 February + 1 year is 28 February). Everything timed by a period
// — a hit's place in a window or a cap, an inactivity step, a visit count — is
// decided by when the period that starts at the earlier instant ends, so it is
// exact to the millisecond and the same in every replay.
type Period struct {
	Months int32
	Ms     int64
}

// Millis is a period of ms milliseconds.
func Millis(ms int64) Period { return Period{Ms: ms} }

// IsZero reports an empty period (for a window: "ever").
func (p Period) IsZero() bool { return p.Months == 0 && p.Ms == 0 }

// End returns the instant (Unix ms) at which the period that starts at t ends.
func (p Period) End(t int64) int64 {
	if p.Months == 0 {
		return t + p.Ms
	}
	return addMonths(t, int(p.Months)) + p.Ms
}

// Max is an upper bound of the period's length in milliseconds (31-day months),
// for pruning history that no window can reach any more.
func (p Period) Max() int64 { return int64(p.Months)*31*24*3600*1000 + p.Ms }

// String writes the period in the rules file's syntax (3mo, 1y, 30d, 12h…).
func (p Period) String() string {
	var s string
	switch {
	case p.Months != 0 && p.Months%12 == 0:
		s = strconv.Itoa(int(p.Months/12)) + "y"
	case p.Months != 0:
		s = strconv.Itoa(int(p.Months)) + "mo"
	}
	if p.Ms != 0 || s == "" {
		s += formatMillis(p.Ms)
	}
	return s
}

// formatMillis writes a duration in the largest whole unit of the rules file's
// syntax up to days (people write 14d more often than 2w): 30d, 12h, 90m, 45s,
// 250ms.
func formatMillis(ms int64) string {
	for _, u := range []struct {
		n    int64
		name string
	}{{24 * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}} {
		if ms != 0 && ms%u.n == 0 {
			return strconv.FormatInt(ms/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// AverageMonth is the mean Gregorian month (365.2425 / 12 days) in milliseconds:
// the length of a month where only a fixed duration makes sense (a half-life).
const AverageMonth = 2629746 * 1000

func addMonths(t int64, months int) int64 {
	tm := time.UnixMilli(t).UTC()
	y, m, d := tm.Date()
	first := time.Date(y, m+time.Month(months), 1, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC)
	last := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return first.AddDate(0, 0, min(d, last)-1).UnixMilli()
}
