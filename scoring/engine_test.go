package scoring_test

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC).UnixMilli()

const day = int64(24 * time.Hour / time.Millisecond)

var seq int

// web builds a Segment-shaped event: kind track/page/identify, name or path.
func web(at int64, kind, name string, mods ...func(*scoring.Event)) *scoring.Event {
	seq++
	ev := &scoring.Event{ID: "m" + itoa(seq), Source: scoring.SourceWeb, Kind: kind, Time: at,
		Identity:  scoring.Identity{AnonymousID: "anon-1", UserID: "u1"},
		UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"}
	if kind == "page" {
		ev.Path = name
		ev.Name = name
	} else {
		ev.Name = name
	}
	for _, m := range mods {
		m(ev)
	}
	return ev
}

func anonymous(ev *scoring.Event) { ev.Identity.UserID = "" }

func email(at int64, kind string, mods ...func(*scoring.Event)) *scoring.Event {
	seq++
	ev := &scoring.Event{ID: "sg" + itoa(seq), Source: scoring.SourceEmail, Kind: kind, Time: at,
		Identity: scoring.Identity{Email: "claire@acme.example"}, Categories: []string{"newsletter"}}
	for _, m := range mods {
		m(ev)
	}
	return ev
}

func feedback(at int64, kind, reason string) *scoring.Event {
	seq++
	return &scoring.Event{ID: "fb" + itoa(seq), Source: scoring.SourceFeedback, Kind: kind, Time: at,
		Identity: scoring.Identity{LeadID: "user:u1"}, Reason: reason,
		BANT: map[string]bool{"budget": true, "authority": true, "need": true}}
}

func itoa(i int) string { return time.Duration(i).String() }

type step struct {
	ev    *scoring.Event
	score float64  // expected score right after the event
	moves []string // expected transitions "from>to"
}

func run(t *testing.T, e *scoring.Engine, st *scoring.State, steps []step) {
	t.Helper()
	for i, s := range steps {
		out := e.Apply(st, s.ev)
		var got []string
		for _, tr := range out.Transitions {
			got = append(got, tr.From+">"+tr.To)
		}
		if !equal(got, s.moves) {
			t.Fatalf("step %d (%s %s): transitions %v, want %v", i, s.ev.Kind, s.ev.Name, got, s.moves)
		}
		if sc := e.Score(st, s.ev.Time); math.Abs(sc-s.score) > 1e-9 {
			t.Fatalf("step %d (%s %s): score %v, want %v", i, s.ev.Kind, s.ev.Name, sc, s.score)
		}
		for _, tr := range out.Transitions {
			if math.Abs(tr.Score-s.score) > 1e-9 && tr.At == s.ev.Time {
				t.Fatalf("step %d: transition carries score %v, want %v", i, tr.Score, s.score)
			}
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStoryEngagedSubscriber(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	run(t, e, &st, []step{
		{web(t0, "track", "Newsletter Signed Up", anonymous), 5, nil},
		{web(t0+1000, "identify", ""), 5, []string{"visitor>lead"}},
		{email(t0+day, "click"), 15, nil},
		{web(t0+2*day, "track", "Email Replied"), 35, []string{"lead>mql"}},
		{web(t0+3*day, "track", "Demo Requested"), 55, []string{"mql>sql"}},
	})
	last := st.Recent[len(st.Recent)-1]
	if last.Cause.Kind != scoring.CauseTrigger || last.Cause.Rule != "demo_request" {
		t.Fatalf("sql cause = %+v, want trigger demo_request", last.Cause)
	}
	if len(last.Top) == 0 || last.Top[0].Rule != "email_reply" && last.Top[0].Rule != "demo_request" {
		t.Fatalf("top contributors = %+v", last.Top)
	}
}

func TestStoryLapsedSubscriber(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	run(t, e, &st, []step{
		{web(t0, "track", "Newsletter Signed Up", anonymous), 5, nil},
		{web(t0+1000, "identify", ""), 5, []string{"visitor>lead"}},
	})
	due, ok := e.NextChange(&st)
	if !ok || due != t0+90*day {
		t.Fatalf("next change = %v %v, want the inactivity step at day 90", due, ok)
	}
	tr := e.Advance(&st, t0+100*day)
	if len(tr) != 1 || tr[0].From != "lead" || tr[0].To != "lapsed" || tr[0].At != t0+90*day ||
		tr[0].Cause.Kind != scoring.CauseInactivity || tr[0].Score != -5 {
		t.Fatalf("advance = %+v, want lead>lapsed at day 90 with score -5", tr)
	}
	if _, ok := e.NextChange(&st); ok {
		t.Fatal("a lapsed lead with no decay should have no further timer")
	}
	year := t0 + 455*day
	run(t, e, &st, []step{
		{web(year, "page", "/blog/scoring-101"), 1, nil}, // article +5 and visit +1: -5+6
		{web(year+day, "page", "/blog/decay"), 7, []string{"lapsed>lead"}},
		{email(year+2*day, "click"), 17, nil},
		{web(year+3*day, "track", "Email Replied"), 37, []string{"lead>mql"}},
		{web(year+4*day, "track", "Demo Requested"), 57, []string{"mql>sql"}},
	})
}

func TestDecayHalfLifeAndRegressionInstant(t *testing.T) {
	e := testrules.Load(t, "testdata/decay.yaml")
	st := e.NewState()
	out := e.Apply(&st, web(t0, "track", "Big Action"))
	if len(out.Transitions) != 1 || out.Transitions[0].To != "mql" {
		t.Fatalf("transitions %+v, want visitor>mql", out.Transitions)
	}
	for _, c := range []struct {
		days int64
		want float64
	}{{0, 80}, {30, 40}, {60, 20}} {
		if got := e.Score(&st, t0+c.days*day); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("score at day %d = %v, want %v", c.days, got, c.want)
		}
	}
	due, ok := e.NextChange(&st)
	exact := float64(t0) + 30*float64(day)*math.Log2(80.0/25)
	if !ok || math.Abs(float64(due)-exact) > 1 {
		t.Fatalf("regression instant = %d, want %.0f (30·log2(80/25) days after the event)", due, exact)
	}
	if tr := e.Advance(&st, due-1); len(tr) != 0 {
		t.Fatalf("regressed early: %+v", tr)
	}
	tr := e.Advance(&st, due)
	if len(tr) != 1 || tr[0].From != "mql" || tr[0].To != "lead" || tr[0].At != due || tr[0].Cause.Kind != scoring.CauseDecay {
		t.Fatalf("advance to due = %+v, want mql>lead by decay at %d", tr, due)
	}
	if tr[0].Score >= 25 || tr[0].Score < 25-1e-6 {
		t.Fatalf("score at regression = %v, want just below 25", tr[0].Score)
	}
}

func TestCapAndIgnoredInputs(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	for i := 0; i < 5; i++ {
		e.Apply(&st, email(t0+int64(i)*3600_000, "open"))
	}
	if got := e.Score(&st, t0+day); got != 30 {
		t.Fatalf("5 opens in a day scored %v, want 30 (cap 3 per 7 days)", got)
	}
	// A week later the window has moved on: opens score again.
	e.Apply(&st, email(t0+8*day, "open"))
	if got := e.Score(&st, t0+8*day); got != 40 {
		t.Fatalf("open after the window scored total %v, want 40", got)
	}

	st = e.NewState()
	out := e.Apply(&st, email(t0, "open", func(ev *scoring.Event) { ev.MachineOpen = true }))
	if out.Status != scoring.Ignored || out.Why != "machine_open" {
		t.Fatalf("machine open: %+v", out)
	}
	out = e.Apply(&st, web(t0, "page", "/pricing", func(ev *scoring.Event) {
		ev.UserAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	}))
	if out.Status != scoring.Ignored || out.Why != "bot" {
		t.Fatalf("bot page view: %+v", out)
	}
	if got := e.Score(&st, t0); got != 0 || len(st.Hits) != 0 {
		t.Fatalf("ignored inputs scored %v with hits %+v", got, st.Hits)
	}
}

// An ignored event that arrives after an inactivity step still reports the step
// and keeps it among the lead's recent transitions, like an applied event would:
// the processor emits stage changes from there.
func TestIgnoredEventKeepsCaughtUpTransitions(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	for _, c := range []struct {
		name string
		late *scoring.Event
		why  string
	}{
		{"bot page view", web(t0+100*day, "page", "/pricing", func(ev *scoring.Event) {
			ev.UserAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
		}), "bot"},
		{"machine open", email(t0+100*day, "open", func(ev *scoring.Event) { ev.MachineOpen = true }), "machine_open"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := e.NewState()
			run(t, e, &st, []step{
				{web(t0, "track", "Newsletter Signed Up", anonymous), 5, nil},
				{web(t0+1000, "identify", ""), 5, []string{"visitor>lead"}},
			})
			recent, pending := len(st.Recent), st.Pending
			out := e.Apply(&st, c.late)
			if out.Status != scoring.Ignored || out.Why != c.why {
				t.Fatalf("late event: status %v why %q, want ignored %q", out.Status, out.Why, c.why)
			}
			if len(out.Transitions) != 1 || out.Transitions[0].To != "lapsed" {
				t.Fatalf("transitions %+v, want lead>lapsed caught up at day 90", out.Transitions)
			}
			if len(st.Recent) != recent+1 || st.Recent[len(st.Recent)-1].To != "lapsed" || st.Pending != pending+1 {
				t.Fatalf("recent %d→%d pending %d→%d, want the lapse kept and pending", recent, len(st.Recent), pending, st.Pending)
			}
		})
	}
}

func TestCompositeCriterionAndHMQL(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	run(t, e, &st, []step{
		{web(t0, "track", "Newsletter Signed Up"), 5, []string{"visitor>lead"}},
		{web(t0+day, "page", "/product"), 6, nil},
		{web(t0+2*day, "page", "/pricing"), 7, nil},
		{web(t0+3*day, "page", "/customers"), 8, nil},
		{web(t0+4*day, "track", "Social Followed"), 11, []string{"lead>mql"}},
	})
	// Below the exit threshold, the lead stays MQL while its criteria hold: until the
	// first of the three visits leaves its 30-day window.
	due, ok := e.NextChange(&st)
	if !ok || due != t0+day+30*day {
		t.Fatalf("next change %v %v, want %v", due, ok, t0+31*day)
	}
	run(t, e, &st, []step{
		{web(t0+5*day, "track", "Whitepaper Downloaded", func(ev *scoring.Event) {
			ev.Properties = scoring.Props{{Key: "level", Str: "advanced"}}
		}), 26, []string{"mql>hmql"}},
	})
	// A basic white paper is not high intent.
	st2 := e.NewState()
	e.Apply(&st2, web(t0, "track", "Email Replied"))
	out := e.Apply(&st2, web(t0+day, "track", "Whitepaper Downloaded", func(ev *scoring.Event) {
		ev.Properties = scoring.Props{{Key: "level", Str: "basic"}}
	}))
	if len(out.Transitions) != 0 {
		t.Fatalf("basic white paper moved the lead: %+v", out.Transitions)
	}
}

func TestCompositeMQLRegressesWhenWindowCloses(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	for i, ev := range []*scoring.Event{
		web(t0, "track", "Newsletter Signed Up"), web(t0+day, "page", "/a"), web(t0+2*day, "page", "/b"),
		web(t0+3*day, "page", "/c"), web(t0+4*day, "track", "Social Followed"),
	} {
		if i == 4 && st.Stage != "lead" {
			t.Fatalf("stage before follow = %s", st.Stage)
		}
		e.Apply(&st, ev)
	}
	tr := e.Advance(&st, t0+40*day)
	if len(tr) != 1 || tr[0].From != "mql" || tr[0].To != "lead" || tr[0].At != t0+31*day {
		t.Fatalf("advance = %+v, want mql>lead at day 31", tr)
	}
}

func TestSalesFeedback(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	toSQL := func() scoring.State {
		st := e.NewState()
		e.Apply(&st, web(t0, "track", "Email Replied"))
		e.Apply(&st, web(t0+1, "track", "Email Replied"))
		e.Apply(&st, web(t0+2, "track", "Demo Requested"))
		if st.Stage != "sql" {
			t.Fatalf("setup: stage %s, want sql", st.Stage)
		}
		return st
	}
	st := toSQL()
	out := e.Apply(&st, feedback(t0+day, "rejected", "no_budget"))
	if len(out.Transitions) != 1 {
		t.Fatalf("rejected: %+v", out)
	}
	tr := out.Transitions[0]
	if tr.From != "sql" || tr.To != "recycled" || tr.Cause.Kind != scoring.CauseFeedback || tr.Cause.Reason != "no_budget" || tr.Cause.Feedback != "rejected" {
		t.Fatalf("rejected transition = %+v", tr)
	}
	st = toSQL()
	if out := e.Apply(&st, feedback(t0+day, "rejected", "not_a_fit")); st.Stage != "disqualified" {
		t.Fatalf("rejected not_a_fit → %s (%+v)", st.Stage, out)
	}
	if out := e.Apply(&st, web(t0+2*day, "track", "Demo Requested")); st.Stage != "disqualified" || len(out.Transitions) != 0 {
		t.Fatalf("terminal stage left by an event: %+v", out)
	}

	st = toSQL()
	e.Apply(&st, feedback(t0+day, "accepted", ""))
	if st.Stage != "sal" {
		t.Fatalf("accepted → %s, want sal", st.Stage)
	}
	out = e.Apply(&st, feedback(t0+2*day, "accepted", ""))
	if out.Status != scoring.Ignored || out.Why != "feedback_not_applicable" {
		t.Fatalf("accepted from sal: %+v", out)
	}
	e.Apply(&st, feedback(t0+3*day, "won", ""))
	if st.Stage != "customer" {
		t.Fatalf("won → %s", st.Stage)
	}
	before := e.Score(&st, t0+3*day)
	// The inactivity step applies (the score drops by 10), but a customer never
	// regresses by score.
	if tr := e.Advance(&st, t0+3000*day); len(tr) != 0 || st.Stage != "customer" || e.Score(&st, t0+3000*day) != before-10 {
		t.Fatalf("advance customer: %+v, stage %s, score %v (was %v)", tr, st.Stage, e.Score(&st, t0+3000*day), before)
	}
}

func TestUpstreamDuplicatesChangeNothing(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	ev := web(t0, "track", "Email Replied")
	e.Apply(&st, ev)
	before, _ := st.MarshalBinary()
	dup := *ev
	dup.Time = t0 + 1000 // a re-send may carry another sentAt; the id is what counts
	out := e.Apply(&st, &dup)
	after, _ := st.MarshalBinary()
	if out.Status != scoring.Duplicate || string(before) != string(after) {
		t.Fatalf("duplicate changed the state: %+v", out)
	}
}

func TestLateEventIsOrderIndependent(t *testing.T) {
	e := testrules.Load(t, "testdata/decay.yaml")
	a, b := web(t0, "track", "Demo Requested"), web(t0+10*day, "track", "Big Action")
	s1, s2 := e.NewState(), e.NewState()
	e.Apply(&s1, a)
	e.Apply(&s1, b)
	e.Apply(&s2, b)
	e.Apply(&s2, a) // late
	at := t0 + 20*day
	if x, y := e.Score(&s1, at), e.Score(&s2, at); math.Abs(x-y) > 1e-9 {
		t.Fatalf("score depends on arrival order: %v vs %v", x, y)
	}
}

func TestExplanationSumsToScore(t *testing.T) {
	e := testrules.Load(t, "testdata/decay.yaml")
	st := e.NewState()
	for i := 0; i < 20; i++ {
		name := "Big Action"
		if i%3 == 0 {
			name = "Demo Requested"
		}
		e.Apply(&st, web(t0+int64(i)*7*day/3, "track", name))
	}
	for _, at := range []int64{t0 + 50*day, t0 + 400*day} {
		x := e.Explain(&st, at)
		sum := 0.0
		for _, c := range x.Contributions {
			sum += c.Points
		}
		if math.Abs(sum-x.Score) > 1e-9*math.Abs(x.Score) || math.Abs(x.Score-e.Score(&st, at)) > 1e-9*math.Abs(x.Score) {
			t.Fatalf("explanation sum %v, explained score %v, score %v", sum, x.Score, e.Score(&st, at))
		}
	}
}

func TestStateEncodingRoundTrip(t *testing.T) {
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	for _, ev := range []*scoring.Event{
		web(t0, "track", "Newsletter Signed Up"), web(t0+day, "page", "/blog/x"), email(t0+2*day, "open"),
		web(t0+3*day, "track", "Email Replied"), web(t0+4*day, "track", "Demo Requested"), feedback(t0+5*day, "rejected", "no_budget"),
	} {
		e.Apply(&st, ev)
	}
	back, b := roundTrip(t, &st)
	if back.Stage != st.Stage || e.Score(&back, t0+9*day) != e.Score(&st, t0+9*day) || len(back.Recent) != len(st.Recent) {
		t.Fatalf("round trip lost data: %+v vs %+v", back, st)
	}
	if err := back.UnmarshalBinary(b[:len(b)-3]); err == nil {
		t.Fatal("truncated state decoded without error")
	}
	t.Logf("encoded state: %d bytes", len(b))
}

// The user-agent verdict cache must never change a verdict, even when two user
// agents share a slot (same length, same middle and last bytes).
func TestBotVerdictsAreStable(t *testing.T) {
	cases := []struct {
		ua  string
		bot bool
	}{
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
		{"Mozilla/5.0 (compatible; Googleb?t/2.1; +http://www.google.com/b?t.html)", false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) HeadlessChrome/17.5 Safari/605.1.15", true},
		{"curl/8.5.0", true},
		{"curx/8.5.0", false},
		{"Slurp/1.0", true},
		{"Blurp/1.0", false},
	}
	for round := 0; round < 3; round++ {
		for _, c := range cases {
			if got := scoring.IsBot(c.ua); got != c.bot {
				t.Fatalf("round %d: IsBot(%q) = %v, want %v", round, c.ua, got, c.bot)
			}
		}
	}
}

// The built-in list is a maintained crawler list, not a substring: human browsers
// whose device name contains "bot" (the CUBOT phones) score like any visitor, while
// crawlers, headless browsers and scripted clients do not.
func TestBotListSparesHumans(t *testing.T) {
	humans := []string{
		"Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.45 Mobile Safari/537.36",
		"Mozilla/5.0 (Linux; Android 9; CUBOT_P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.136 Mobile Safari/537.36",
		"Mozilla/5.0 (Linux; Android 12; KINGKONG 9 Build/SP1A.210812.016; CUBOT) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	}
	bots := []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
		"python-requests/2.32.3", "Go-http-client/1.1", "Wget/1.21.4", "facebookexternalhit/1.1",
	}
	for _, ua := range humans {
		if scoring.IsBot(ua) {
			t.Errorf("IsBot(%q) = true: a person's browser", ua)
		}
	}
	for _, ua := range bots {
		if !scoring.IsBot(ua) {
			t.Errorf("IsBot(%q) = false: a crawler", ua)
		}
	}
	// And through the engine: the CUBOT visitor's page view scores.
	e := testrules.Load(t, "testdata/stories.yaml")
	st := e.NewState()
	ev := web(t0, "page", "/pricing", func(ev *scoring.Event) { ev.UserAgent = humans[0] })
	if out := e.Apply(&st, ev); out.Status != scoring.Applied || out.Hits == 0 {
		t.Fatalf("CUBOT page view: %+v", out)
	}
}

// The encoder's string table switches from a linear search to a map past 32
// strings: states on both sides of the switch round-trip exactly.
func TestStateEncodingStringTableSizes(t *testing.T) {
	for _, n := range []int{0, 1, 14, 15, 16, 17, 40, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			st := scoring.State{Stage: "mql", Model: "m"}
			for i := 0; i < n; i++ {
				// Key and value both distinct: 2 strings per trait, plus a
				// repeated value to check that duplicates share an entry.
				st.Traits = append(st.Traits, scoring.Prop{Key: "k" + strconv.Itoa(i), Str: "v" + strconv.Itoa(i)})
				st.Traits = append(st.Traits, scoring.Prop{Key: "k" + strconv.Itoa(i) + "b", Str: "mql"})
			}
			back, _ := roundTrip(t, &st)
			if back.Stage != "mql" || back.Model != "m" || !slices.Equal(back.Traits, st.Traits) {
				t.Fatalf("round trip: stage %q model %q traits %v, want %v", back.Stage, back.Model, back.Traits, st.Traits)
			}
		})
	}
}

// binaryPtr is a pointer to an encodable value (a state, an account).
type binaryPtr[T any] interface {
	*T
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// roundTrip encodes v, decodes it, and checks that the decoded value encodes
// to the same bytes.
func roundTrip[T any, P binaryPtr[T]](t *testing.T, v P) (T, []byte) {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := P(&back).UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if b2, _ := P(&back).MarshalBinary(); string(b) != string(b2) {
		t.Fatalf("encoding is not stable across a round trip: %+v", back)
	}
	return back, b
}

// An event earlier than the instant its lead was already brought to is late:
// still applied, its outcome says so, and the change it causes is marked —
// through the state's encoding too, since the change waits in the outbox.
func TestLateEventIsMarked(t *testing.T) {
	e := testrules.Load(t, "testdata/decay.yaml")
	st := e.NewState()
	if out := e.Apply(&st, web(t0+10*day, "track", "Demo Requested")); out.Late || len(out.Transitions) != 1 {
		t.Fatalf("on-time event: late %v, transitions %+v", out.Late, out.Transitions)
	}
	out := e.Apply(&st, web(t0, "track", "Big Action")) // earlier than the lead's clock
	if !out.Late || out.Status != scoring.Applied {
		t.Fatalf("late event: late %v status %v, want a late applied event", out.Late, out.Status)
	}
	if out.Points != 80 {
		t.Fatalf("late event scored %v points, want 80 (its own value, decayed from its own time)", out.Points)
	}
	// Same instant as the lead's clock: not late.
	if out := e.Apply(&st, web(t0+10*day, "track", "Big Action")); out.Late {
		t.Fatal("an event at the lead's own instant is not late")
	}

	// A late event that moves the lead marks its change.
	st = e.NewState()
	e.Apply(&st, web(t0+10*day, "identify", ""))
	out = e.Apply(&st, web(t0+day, "track", "Big Action"))
	if !out.Late || len(out.Transitions) != 1 || !out.Transitions[0].Late {
		t.Fatalf("late event's change not marked: late %v, transitions %+v", out.Late, out.Transitions)
	}
	if got := out.Transitions[0].At; got != t0+day {
		t.Fatalf("late change dated %d, want the late event's own time %d", got, t0+day)
	}
	if got, want := out.Transitions[0].Score, e.Score(&st, st.ScoreAt); got != want {
		t.Fatalf("late change carries score %v, want the lead's score at its latest instant %v", got, want)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back scoring.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if n := len(back.Recent); n == 0 || !back.Recent[n-1].Late || back.Recent[n-1].Cause != out.Transitions[0].Cause {
		t.Fatalf("late flag or cause lost in the encoding: %+v", back.Recent)
	}
}

func TestCompareEventsIsTheCanonicalOrder(t *testing.T) {
	a, b := web(t0, "track", "Big Action"), web(t0+1, "track", "Big Action")
	mail := &scoring.Event{Source: scoring.SourceEmail, Time: t0}
	cases := []struct {
		x, y *scoring.Event
		want int
	}{
		{a, b, -1}, {b, a, 1}, {a, a, 0},
		{a, mail, -1}, {mail, a, 1}, // same instant: web before e-mail
	}
	for i, c := range cases {
		if got := scoring.CompareEvents(c.x, c.y); cmp.Compare(got, 0) != c.want {
			t.Errorf("case %d: CompareEvents = %d, want sign of %d", i, got, c.want)
		}
	}
}
