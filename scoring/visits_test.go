package scoring_test

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

const minute = int64(time.Minute / time.Millisecond)

func session(id string) func(*scoring.Event) { return func(ev *scoring.Event) { ev.SessionID = id } }

func TestVisitsNotPageViews(t *testing.T) {
	e := testrules.Load(t, "testdata/visits.yaml")
	st := e.NewState()
	run(t, e, &st, []step{
		// Three pages in 40 seconds: one visit. The pricing page scores once in it.
		{web(t0, "page", "/pricing"), 6, nil},
		{web(t0+20_000, "page", "/pricing"), 7, nil},
		{web(t0+40_000, "page", "/docs"), 8, nil},
		// 31 minutes after the last page view: a second visit (and pricing scores again).
		{web(t0+40_000+31*minute, "page", "/pricing"), 14, nil},
		// The sender's session id governs when present: 45 minutes apart, same session.
		{web(t0+2*60*minute, "page", "/a", session("s3")), 15, []string{"visitor>returning"}},
		{web(t0+2*60*minute+45*minute, "page", "/pricing", session("s3")), 21, nil},
		// A new session id is a new visit, even a minute later.
		{web(t0+2*60*minute+46*minute, "page", "/pricing", session("s4")), 27, nil},
	})
	if st.Visits != 4 {
		t.Fatalf("visits = %d, want 4", st.Visits)
	}
	// Identify is bookkeeping, a bot is no visitor, a late page view belongs to a
	// visit already counted.
	e.Apply(&st, web(t0+5*60*minute, "identify", ""))
	e.Apply(&st, web(t0+6*60*minute, "page", "/x", func(ev *scoring.Event) {
		ev.UserAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	}))
	e.Apply(&st, web(t0+60*minute, "page", "/late"))
	if st.Visits != 4 {
		t.Fatalf("visits = %d after identify, bot and late events, want 4", st.Visits)
	}
	// properties.session_id works as well as context.sessionId.
	e.Apply(&st, web(t0+2*60*minute+47*minute, "page", "/y", func(ev *scoring.Event) {
		ev.Properties = scoring.Props{{Key: "session_id", Str: "s5"}}
	}))
	if st.Visits != 5 {
		t.Fatalf("visits = %d after a new properties.session_id, want 5", st.Visits)
	}
	// The criterion holds while three visits are within 30 days: until the third
	// newest visit's start leaves the window.
	due, ok := e.NextChange(&st)
	if want := t0 + 2*60*minute + 30*day; !ok || due != want {
		t.Fatalf("next change %d, want %d", due, want)
	}
	// The visits survive the store.
	b, _ := st.MarshalBinary()
	var back scoring.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.Visits != 5 || back.SessionID != "s5" || len(back.VisitStarts) != len(st.VisitStarts) {
		t.Fatalf("round trip: %+v", back)
	}
}

// A model that counts no visits keeps no visit state, so its states encode as
// before visits existed.
func TestNoVisitStateWithoutVisitRules(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	e.Apply(&st, web(t0, "page", "/pricing"))
	if st.Visits != 0 || st.LastWebAt != 0 {
		t.Fatalf("visit state kept: %+v", st)
	}
}

// Stitching an anonymous visitor into its lead counts a visit seen under both
// identities (the same session) once, and keeps the distinct ones.
func TestMergeCountsASharedVisitOnce(t *testing.T) {
	e := testrules.Load(t, "testdata/visits.yaml")
	anon, lead := e.NewState(), e.NewState()
	e.Apply(&anon, web(t0, "page", "/a", anonymous))
	e.Apply(&anon, web(t0+day, "page", "/b", anonymous))
	e.Apply(&lead, web(t0+day+5*minute, "page", "/c")) // same session as anon's second visit
	e.Apply(&lead, web(t0+2*day, "page", "/d"))
	tr := e.Merge(&lead, "anon:anon-1", &anon, t0+2*day, "")
	if lead.Visits != 3 || len(lead.VisitStarts) != 3 {
		t.Fatalf("merged visits %d (%v), want 3", lead.Visits, lead.VisitStarts)
	}
	if len(tr) != 0 || lead.Stage != "visitor" {
		t.Fatalf("merge moved the lead: %+v", tr)
	}
	// The next page view, in the same visit, finds three visits: returning.
	out := e.Apply(&lead, web(t0+2*day+time.Minute.Milliseconds(), "page", "/e"))
	if len(out.Transitions) != 1 || out.Transitions[0].To != "returning" || lead.Visits != 3 {
		t.Fatalf("after the merge: %+v, %d visits", out.Transitions, lead.Visits)
	}
}
