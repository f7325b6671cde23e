package scoring_test

import (
	"encoding/hex"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/scoring"
)

// richState sets every field the encoding carries, with instants in
// milliseconds and in whole seconds, integral and fractional numbers, -0,
// strings shared between fields and a state older than its rules (a
// contribution of a rule no model has).
func richState() scoring.State {
	return scoring.State{
		Stage: "mql", StageSince: t0 - 3*day + 17, ScoreAt: t0, LastActive: t0 - 1500,
		StepsDone: 1, Identified: true, Fit: 42.5, Grade: 'B',
		Contribs: []scoring.Contribution{{Rule: "pricing_page", Points: 12.345678901234}, {Rule: "renamed_rule", Points: -3},
			{Rule: "page_visit", Points: math.Copysign(0, -1)}, {Rule: "email_open", Points: 0}},
		Traits: scoring.Props{{Key: "title", Str: "CTO"}, {Key: "company.employee_count", Kind: scoring.PropNumber, Num: 420.5, Str: "420.5"}},
		Hits: []scoring.HitLog{
			{Rule: "pricing_page", Count: 7, Times: []int64{t0 - 2*day, t0 - day + 3, t0 - 1500}, Pts: []float64{5, 5, 2.5}, Base: 2, Visit: 3},
			{Rule: "page_visit", Count: 40, Times: []int64{t0 - 1000, t0}, Pts: []float64{1, 1}},
			{Rule: "email_open", Count: 1},
		},
		Seen: []scoring.Seen{{Hash: 0xfedcba9876543210, At: t0 - 2*day}, {Hash: 1, At: t0 - 1000}, {Hash: 1 << 63, At: t0}},
		Recent: []scoring.Transition{
			{From: "visitor", To: "lead", At: t0 - 3*day, Cause: scoring.Cause{Kind: scoring.CauseCriteria, Rule: "pricing_page"},
				TriggerID: "ajs-next-52881171981d87800295", Score: 15, Top: []scoring.Contribution{{Rule: "pricing_page", Points: 15}}},
			{From: "lead", To: "mql", At: t0 - 3*day + 17, Cause: scoring.Cause{Kind: scoring.CauseFeedback, Feedback: "rejected", Reason: "no_budget"},
				TriggerID: "fb-1", Score: 30.000001, Fit: 42.5, Grade: 'B', Late: true,
				Top: []scoring.Contribution{{Rule: "pricing_page", Points: 14.999}, {Rule: "renamed_rule", Points: -3}}},
			{From: "mql", To: "mql", At: t0, Cause: scoring.Cause{Kind: scoring.CauseDecay}, Score: -1.25},
		},
		Pending:  2,
		Absorbed: []string{"anon-7f3a", "lead-000042"},
		Account:  "domain:acme.example",
		Model:    "b2b-saas-2026.11",
		ResetAt:  t0 - 4*day, Visits: 9, VisitStarts: []int64{t0 - day, t0 - 1000}, LastWebAt: t0, SessionID: "s-1",
		BANT: scoring.BANTAnswers{Known: 0b1011, Yes: 0b0011, TimeframeBy: t0 + 30*day, At: t0 - day},
	}
}

// goldenV1 are richState and a new lead's state as format 1 wrote them:
// records already in Redis must keep decoding to the same states.
var goldenV1 = []struct {
	hex  string
	want scoring.State
}{
	{"0113036d716c106232622d736161732d323032362e31310c70726963696e675f706167650c72656e616d65645f72756c650a706167655f76697369740a656d61696c5f6f70656e057469746c650343544f16636f6d70616e792e656d706c6f7965655f636f756e74053432302e350776697369746f72046c656164001d616a732d6e6578742d35323838313137313938316438373830303239350872656a6563746564096e6f5f6275646765740466622d3109616e6f6e2d376633610b6c6561642d303030303432000180a4cbd9f166decf98f701b8170101420200000000004045400402023b6f2fd3fcb0284003010504020000000000000080050002060007080109020000000000487a400302070380e0e5a401faefb252b81703010a010a020000000000000440042802d00f00020102010205010000031032547698badcfe80e0e5a4010100000000000000d00f000000000000008000030a0b80d098f7010100020c0c0d011e000102011e0b00decf98f70183420c0e0f1002a1f7c61000003e40020000000000404540020202736891ed7cff2d4003010500000004000c0c0c0c02000000000000f4bf000002021112010980c0cbc90203020000020d090003732d310280f0b252d00f030c0b0380c4c181856780f0b252040403030000051413646f6d61696e3a61636d652e6578616d706c65",
		richState()},
	{"01020776697369746f72016d00010000000000000000000000000000", scoring.State{Stage: "visitor", Model: "m"}},
}

func TestStateDecodesFormat1(t *testing.T) {
	for i, g := range goldenV1 {
		b, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		var st scoring.State
		if err := st.UnmarshalBinary(b); err != nil {
			t.Fatalf("golden %d: %v", i, err)
		}
		if !reflect.DeepEqual(st, g.want) {
			t.Fatalf("golden %d decodes to\n%+v\nwant\n%+v", i, st, g.want)
		}
		if i == 0 && (math.Signbit(st.Contribs[3].Points) || !math.Signbit(st.Contribs[2].Points)) {
			t.Fatalf("golden %d: the signs of zero points are lost", i)
		}
	}
}

// Every state decodes from its encoding to an equal state, and re-encodes to
// the same bytes: instants in milliseconds or whole seconds (and far apart),
// points the same for every hit or not, the signs of zeros, big numbers.
func TestStateEncodingRoundTrips(t *testing.T) {
	seconds := richState()
	shift := func(p *int64) { *p -= *p % 1000 }
	for _, p := range []*int64{&seconds.StageSince, &seconds.LastActive, &seconds.ResetAt, &seconds.LastWebAt, &seconds.BANT.At} {
		shift(p)
	}
	for i := range seconds.Hits {
		for j := range seconds.Hits[i].Times {
			shift(&seconds.Hits[i].Times[j])
		}
	}
	for i := range seconds.Seen {
		shift(&seconds.Seen[i].At)
	}
	for i := range seconds.Recent {
		shift(&seconds.Recent[i].At)
	}
	far := richState()
	far.ScoreAt, far.LastActive, far.Seen[0].At = math.MaxInt64-999, math.MinInt64, math.MinInt64+1000
	odd := richState()
	odd.Hits[0].Pts = []float64{5, 5, 5, 5} // more points than times
	odd.Hits[1].Pts = []float64{0, math.Copysign(0, -1)}
	odd.Hits[2].Times, odd.Hits[2].Pts = []int64{t0}, []float64{1 << 60}
	odd.Contribs[1].Points = -(1<<53 - 1)
	odd.Recent[0].From, odd.Model = "", ""
	moved := richState()
	moved.PastAccounts = []string{"globex", "domain:initech.example"}
	// Strings of every length up to 8, packed (made of the name alphabet) or
	// not, at the edges of the alphabet.
	names := scoring.State{Stage: "a", Model: "z9"}
	for n := 1; n <= 8; n++ {
		for _, c := range []string{"-", "z", "Z", "é"} {
			v := strings.Repeat(c, n)
			names.Traits = append(names.Traits, scoring.Prop{Key: v + "k", Str: v})
		}
	}
	cases := []struct {
		name string
		st   scoring.State
	}{
		{"names", names},
		{"empty", scoring.State{}},
		{"new lead", scoring.State{Stage: "visitor", Model: "m"}},
		{"rich", richState()},
		{"seconds", seconds},
		{"far instants", far},
		{"odd points", odd},
		{"past accounts", moved},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			back, b := roundTrip(t, &c.st)
			if !reflect.DeepEqual(back, c.st) {
				t.Fatalf("decodes to\n%+v\nwant\n%+v", back, c.st)
			}
			if b[0] != 3 {
				t.Fatalf("format %d, want 3", b[0])
			}
		})
	}
	// Whole seconds save bytes, and a state written in format 1 takes fewer
	// in the current format.
	b1, _ := hex.DecodeString(goldenV1[0].hex)
	richSt := richState()
	rich, _ := richSt.MarshalBinary()
	sec, _ := seconds.MarshalBinary()
	if len(sec) >= len(rich) || len(rich) >= len(b1) {
		t.Fatalf("sizes: %d B in seconds, %d B in ms, %d B in format 1", len(sec), len(rich), len(b1))
	}
	t.Logf("rich state: %d B in format 1, %d B now (%d B in whole seconds)", len(b1), len(rich), len(sec))
}
