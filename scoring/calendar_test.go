package scoring_test

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestPeriodEnd(t *testing.T) {
	cases := []struct {
		p        scoring.Period
		from, to string
	}{
		{scoring.Period{Months: 1}, "2026-01-15T10:30:00Z", "2026-02-15T10:30:00Z"},
		{scoring.Period{Months: 1}, "2026-01-31T10:30:00Z", "2026-02-28T10:30:00Z"}, // shorter month: its last day
		{scoring.Period{Months: 1}, "2028-01-31T00:00:00Z", "2028-02-29T00:00:00Z"}, // leap year
		{scoring.Period{Months: 3}, "2026-11-30T23:59:59Z", "2027-02-28T23:59:59Z"},
		{scoring.Period{Months: 12}, "2028-02-29T08:00:00Z", "2029-02-28T08:00:00Z"},
		{scoring.Period{Months: 1, Ms: 3600_000}, "2026-03-31T23:30:00Z", "2026-05-01T00:30:00Z"},
		{scoring.Millis(30 * day), "2026-01-31T00:00:00Z", "2026-03-02T00:00:00Z"},
	}
	for _, c := range cases {
		if got := scoring.Period.End(c.p, ms(c.from)); got != ms(c.to) {
			t.Errorf("%v from %s ends %s, want %s", c.p, c.from, time.UnixMilli(got).UTC().Format(time.RFC3339), c.to)
		}
	}
	if s := (scoring.Period{Months: 3}).String(); s != "3mo" {
		t.Errorf("String = %q", s)
	}
	if s := (scoring.Period{Months: 24}).String(); s != "2y" {
		t.Errorf("String = %q", s)
	}
}

// "Three months without activity" is three calendar months: a lead last active
// on 31 January takes its step on 30 April (the last day of that shorter month),
// and a year on the same day a year later.
func TestCalendarInactivity(t *testing.T) {
	e := testrules.Load(t, "testdata/calendar.yaml")
	st := e.NewState()
	e.Apply(&st, web(ms("2026-01-31T09:00:00Z"), "page", "/pricing"))
	due, ok := e.NextChange(&st)
	if !ok || due != ms("2026-04-30T09:00:00Z") {
		t.Fatalf("next change %s, want 2026-04-30T09:00:00Z", time.UnixMilli(due).UTC())
	}
	e.Advance(&st, ms("2026-04-30T08:59:59Z"))
	if got := e.Score(&st, ms("2026-04-30T08:59:59Z")); got != 1 {
		t.Fatalf("score a second before the step = %v, want 1", got)
	}
	e.Advance(&st, ms("2027-01-01T00:00:00Z"))
	if got := e.Score(&st, ms("2027-01-01T00:00:00Z")); got != -9 {
		t.Fatalf("score after three months = %v, want -9", got)
	}
	due, ok = e.NextChange(&st)
	if !ok || due != ms("2027-01-31T09:00:00Z") {
		t.Fatalf("the yearly step at %s, want 2027-01-31T09:00:00Z", time.UnixMilli(due).UTC())
	}
}

// A window or a cap "per month" holds a hit until the same day of the next month.
func TestCalendarWindowsAndCaps(t *testing.T) {
	e := testrules.Load(t, "testdata/calendar.yaml")
	st := e.NewState()
	open := func(at string) *scoring.Event { return email(ms(at), "open") }
	for _, at := range []string{"2026-01-31T12:00:00Z", "2026-02-10T12:00:00Z", "2026-02-27T12:00:00Z"} {
		e.Apply(&st, open(at))
	}
	if got := e.Score(&st, ms("2026-02-27T12:00:00Z")); got != 20 {
		t.Fatalf("three opens within a month scored %v, want 20 (cap 2 per month)", got)
	}
	// 31 January + 1 month = 28 February, 12:00: from then the first open is out
	// of the cap's window.
	e.Apply(&st, open("2026-02-28T11:59:59Z"))
	e.Apply(&st, open("2026-02-28T12:00:00Z"))
	if got := e.Score(&st, ms("2026-02-28T12:00:00Z")); got != 30 {
		t.Fatalf("opens on 28 February scored %v in all, want 30", got)
	}

	st = e.NewState()
	e.Apply(&st, web(ms("2026-01-31T12:00:00Z"), "page", "/a"))
	out := e.Apply(&st, web(ms("2026-02-28T11:00:00Z"), "page", "/b"))
	if len(out.Transitions) != 1 || out.Transitions[0].To != "engaged" {
		t.Fatalf("two visits within a month: %+v", out.Transitions)
	}
	due, ok := e.NextChange(&st)
	if !ok || due != ms("2026-02-28T12:00:00Z") {
		t.Fatalf("window closes at %s, want 2026-02-28T12:00:00Z", time.UnixMilli(due).UTC())
	}
}
