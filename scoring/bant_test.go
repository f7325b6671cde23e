package scoring_test

import (
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

func qualified(at int64, days int, answers map[string]bool) *scoring.Event {
	seq++
	return &scoring.Event{ID: "fbq" + itoa(seq), Source: scoring.SourceFeedback, Kind: "qualified", Time: at,
		Identity: scoring.Identity{LeadID: "user:u1"}, BANT: answers, TimeframeDays: days}
}

func TestBANTAnswers(t *testing.T) {
	e := testrules.Load(t, "testdata/bant.yaml")
	st := e.NewState()
	e.Apply(&st, web(t0, "page", "/pricing"))
	if st.Stage != "mql" {
		t.Fatalf("setup: %s", st.Stage)
	}
	steps := []struct {
		ev    *scoring.Event
		stage string
		why   string
	}{
		// Budget alone: no SQL, and the feedback needs more.
		{qualified(t0+day, 0, map[string]bool{"budget": true, "authority": false}), "mql", "bant_insufficient"},
		// Authority confirmed later: with the budget answered before, SQL.
		{qualified(t0+2*day, 0, map[string]bool{"authority": true}), "sql", ""},
		// An older answer arriving late does not undo the newer one.
		{qualified(t0+day/2, 0, map[string]bool{"authority": false}), "sql", "bant_insufficient"},
		// Need too, but a timeline of 120 days: not within 90.
		{qualified(t0+3*day, 120, map[string]bool{"need": true}), "sql", "bant_insufficient"},
		// A 20-day timeline: accepted (the feedback rule), straight to sal.
		{qualified(t0+4*day, 20, nil), "sal", ""},
	}
	for i, s := range steps {
		out := e.Apply(&st, s.ev)
		if st.Stage != s.stage || out.Why != s.why {
			t.Fatalf("step %d: stage %s why %q, want %s %q (%+v)", i, st.Stage, out.Why, s.stage, s.why, out)
		}
	}
	if !st.BANT.Has(scoring.BANTBit("budget")|scoring.BANTBit("authority")|scoring.BANTBit("need")) || st.BANT.Has(scoring.BANTBit("timeframe")) {
		t.Fatalf("answers %+v", st.BANT)
	}
	last := st.Recent[len(st.Recent)-1]
	if last.To != "sal" || last.Cause.Kind != scoring.CauseFeedback || last.Cause.Feedback != "qualified" {
		t.Fatalf("last transition %+v", last)
	}
	// The stage criterion on the timeline.
	st = e.NewState()
	e.Apply(&st, web(t0, "page", "/pricing"))
	e.Apply(&st, qualified(t0+day, 0, map[string]bool{"budget": true, "authority": true}))
	e.Apply(&st, qualified(t0+2*day, 25, map[string]bool{"need": false}))
	if st.Stage != "hot" {
		t.Fatalf("a 25-day timeline: %s, want hot", st.Stage)
	}
}
