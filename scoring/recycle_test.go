package scoring_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// A recycled lead re-earns its way up: after reset_score, a composite criterion
// without a window counts only what happened since, so the next page view does
// not make it an MQL again; the full set of actions does.
func TestRecyclingSticks(t *testing.T) {
	e := testrules.Load(t, "testdata/recycle.yaml")
	for _, kind := range []string{"rejected", "lost"} {
		t.Run(kind, func(t *testing.T) {
			st := e.NewState()
			run(t, e, &st, []step{
				{web(t0, "track", "Newsletter Signed Up"), 5, nil},
				{web(t0+1, "page", "/a"), 6, nil},
				{web(t0+2, "page", "/b"), 7, nil},
				{web(t0+3, "track", "Social Followed"), 10, nil},
				{web(t0+4, "page", "/c"), 11, []string{"lead>mql"}},
				{web(t0+5, "track", "Demo Requested"), 31, []string{"mql>sql"}},
				{feedback(t0+day, kind, "no_budget"), 0, []string{"sql>recycled"}},
				// The very next page view: not an MQL again.
				{web(t0+2*day, "page", "/d"), 1, nil},
				{web(t0+2*day+1, "track", "Social Followed"), 4, nil},
				{web(t0+2*day+2, "page", "/e"), 5, nil},
				// The newsletter does not score twice (once is for life) but its hit
				// counts again for the criterion, and the third visit since the reset
				// completes it.
				{web(t0+3*day, "track", "Newsletter Signed Up"), 5, nil},
				{web(t0+3*day+1, "page", "/f"), 6, []string{"recycled>mql"}},
			})
		})
	}
}

// A hit from before the reset that arrives after it counts for no criterion.
func TestLateHitBeforeResetDoesNotCount(t *testing.T) {
	e := testrules.Load(t, "testdata/recycle.yaml")
	st := e.NewState()
	e.Apply(&st, web(t0, "track", "Newsletter Signed Up"))
	e.Apply(&st, web(t0+1, "track", "Social Followed"))
	e.Apply(&st, web(t0+2, "track", "Demo Requested"))
	e.Apply(&st, feedback(t0+day, "rejected", "timing"))
	for i := int64(0); i < 3; i++ {
		e.Apply(&st, web(t0+10+i, "page", "/late")) // before the reset, arriving after it
	}
	e.Apply(&st, web(t0+2*day, "track", "Newsletter Signed Up"))
	e.Apply(&st, web(t0+2*day+1, "track", "Social Followed"))
	if st.Stage != "recycled" {
		t.Fatalf("stage %s: late pre-reset page views counted", st.Stage)
	}
	// The reset and its bases survive the store.
	b, _ := st.MarshalBinary()
	var back scoring.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.ResetAt != st.ResetAt || back.ResetAt != t0+day {
		t.Fatalf("ResetAt %d after a round trip, want %d", back.ResetAt, t0+day)
	}
	for _, s := range []*scoring.State{&st, &back} {
		out := e.Apply(s, web(t0+3*day, "page", "/x"))
		if len(out.Transitions) != 0 {
			t.Fatalf("one page view since the reset made %+v", out.Transitions)
		}
	}
}

// A state written before the extension sections existed (bytes from that
// version of the encoder, for the stories model after a rejection) still decodes,
// re-encodes (in the current format) to bytes that decode to the same state, and
// scores on: the recycled lead is not an MQL
// again at its next page view, since it was never reset under the new rules.
func TestStateFromBeforeExtensionsDecodes(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-before-extensions.hex")
	if err != nil {
		t.Fatal(err)
	}
	old, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var st scoring.State
	if err := st.UnmarshalBinary(old); err != nil {
		t.Fatalf("old state: %v", err)
	}
	if st.Stage != "recycled" || st.ResetAt != 0 || st.Visits != 0 || st.BANT != (scoring.BANTAnswers{}) {
		t.Fatalf("old state decoded as %+v", st)
	}
	again, _ := st.MarshalBinary()
	var st2 scoring.State
	if err := st2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(st2, st) {
		t.Fatalf("old state re-encoded (%v):\n%+v\nwant\n%+v", err, st2, st)
	}
	e := testrules.Load(t, "testdata/stories.yaml")
	if out := e.Apply(&st, web(t0+4*day, "track", "Email Replied")); out.Status != scoring.Applied {
		t.Fatalf("apply on an old state: %+v", out)
	}
	// And a state with every extension round-trips.
	st.ResetAt, st.Visits, st.LastWebAt, st.SessionID = t0+3*day, 7, t0+4*day, "sess-1"
	st.VisitStarts = []int64{t0 + 4*day}
	st.BANT = scoring.BANTAnswers{Known: 0b1011, Yes: 0b0011, TimeframeBy: t0 + 90*day}
	st.Hits[0].Base, st.Hits[0].Visit = 2, 5
	b, _ := st.MarshalBinary()
	var back scoring.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := back.MarshalBinary()
	if !bytes.Equal(b, b2) || back.SessionID != "sess-1" || back.BANT != st.BANT || back.Hits[0].Base != 2 || back.Hits[0].Visit != 5 || back.VisitStarts[0] != t0+4*day {
		t.Fatalf("extensions do not round-trip: %+v", back)
	}
	// A section of a later version is skipped.
	later := append(append([]byte(nil), b...), 9, 2, 0xAB, 0xCD)
	if err := back.UnmarshalBinary(later); err != nil {
		t.Fatalf("unknown section: %v", err)
	}
}
