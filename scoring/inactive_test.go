package scoring_test

import (
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

func TestInactivityExit(t *testing.T) {
	e := testrules.Load(t, "testdata/inactive.yaml")
	st := e.NewState()
	run(t, e, &st, []step{
		{web(t0, "page", "/pricing"), 1, []string{"visitor>lead"}},
		// Not activity (negative points): the clock keeps running from t0.
		{email(t0+10*day, "unsubscribe"), -4, nil},
	})
	due, ok := e.NextChange(&st)
	if !ok || due != t0+30*day {
		t.Fatalf("next change %d, want t0+30d", (due-t0)/day)
	}
	if tr := e.Advance(&st, t0+30*day-1); len(tr) != 0 {
		t.Fatalf("lapsed early: %+v", tr)
	}
	tr := e.Advance(&st, t0+45*day)
	if len(tr) != 1 || tr[0].From != "lead" || tr[0].To != "lapsed" || tr[0].At != t0+30*day ||
		tr[0].Cause.Kind != scoring.CauseInactivity || tr[0].Cause.Rule != "inactive_30d" {
		t.Fatalf("advance = %+v, want lead>lapsed at day 30 by inactivity", tr)
	}
	// Activity brings the lead back; an MQL with a high score lapses too after two
	// calendar months without activity, whatever its score.
	run(t, e, &st, []step{
		{web(t0+50*day, "page", "/blog"), -3, nil},
		{web(t0+50*day+1, "page", "/blog/2"), -2, nil},
		{web(t0+50*day+2, "page", "/blog/3"), -1, nil},
		{web(t0+50*day+3, "page", "/blog/4"), 0, nil},
		{web(t0+50*day+4, "page", "/blog/5"), 1, []string{"lapsed>lead"}},
		{web(t0+51*day, "track", "Email Replied"), 41, []string{"lead>mql"}},
	})
	due, _ = e.NextChange(&st)
	if want := ms("2026-04-25T10:00:00Z"); due != want { // t0+51d is 25 Feb 10:00; + 2 months
		t.Fatalf("mql lapses at %d, want %d", due, want)
	}
	// An event in between that is an instant after the due time sees the change
	// first, at its own instant.
	out := e.Apply(&st, email(ms("2026-05-01T00:00:00Z"), "unsubscribe"))
	if len(out.Transitions) != 1 || out.Transitions[0].To != "lapsed" || out.Transitions[0].At != ms("2026-04-25T10:00:00Z") {
		t.Fatalf("late catch-up: %+v", out.Transitions)
	}
}

func TestExitNeedsBelowOrInactive(t *testing.T) {
	e := testrules.Load(t, "testdata/inactive.yaml")
	if e.Model().Stages[2].Exit.Inactive != scoring.Millis(30*day) {
		t.Fatalf("exit.inactive = %+v", e.Model().Stages[2].Exit)
	}
}
