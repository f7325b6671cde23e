package scoring_test

import (
	"math/rand/v2"
	"testing"

	"github.com/leadscore/leadscore/internal/cputime"
	"github.com/leadscore/leadscore/internal/cputime/cputimetest"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// benchEvents is a realistic mix for the B2B example rules: mostly page views and
// e-mail events, some content downloads and identifies, a few hand-raisers.
func benchEvents(n, leads int) []scoring.Event {
	r := rand.New(rand.NewPCG(1, 2))
	ua := "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	paths := []string{"/", "/pricing", "/blog/scoring-101", "/blog/decay", "/product", "/customers", "/docs/api"}
	evs := make([]scoring.Event, n)
	for i := range evs {
		ev := scoring.Event{ID: "m-" + itoa(i), Source: scoring.SourceWeb, Time: t0 + int64(i)*1000,
			Identity: scoring.Identity{UserID: "u" + itoa(r.IntN(leads))}, UserAgent: ua}
		switch x := r.IntN(100); {
		case x < 45:
			ev.Kind = "page"
			ev.Path = paths[r.IntN(len(paths))]
			ev.URL = "https://www.example.com" + ev.Path
		case x < 60:
			ev.Source, ev.Kind, ev.UserAgent = scoring.SourceEmail, "open", ""
			ev.Categories = []string{"newsletter"}
			ev.MachineOpen = r.IntN(3) == 0
		case x < 70:
			ev.Source, ev.Kind, ev.UserAgent = scoring.SourceEmail, "click", ""
			ev.Categories = []string{"newsletter"}
			ev.URL = "https://www.example.com/webinars/scoring-101"
		case x < 80:
			ev.Kind, ev.Name = "track", "Whitepaper Downloaded"
			ev.Properties = scoring.Props{{Key: "level", Str: []string{"basic", "advanced"}[r.IntN(2)]}, {Key: "title", Str: "Automation"}}
		case x < 88:
			ev.Kind = "identify"
			ev.Traits = scoring.Props{{Key: "email", Str: "x@acme.example"}, {Key: "title", Str: "Head of Marketing"},
				{Key: "company.employee_count", Kind: scoring.PropNumber, Num: 420, Str: "420"}, {Key: "company.industry", Str: "software"},
				{Key: "address.country", Str: "FR"}}
		case x < 96:
			ev.Kind, ev.Name = "track", []string{"Webinar Attended", "Social Followed", "Newsletter Signed Up", "Video Playback Completed"}[r.IntN(4)]
			ev.Properties = scoring.Props{{Key: "video_id", Str: "demo-1"}}
		default:
			ev.Kind, ev.Name = "track", []string{"Demo Requested", "Trial Started", "Email Replied"}[r.IntN(3)]
		}
		evs[i] = ev
	}
	return evs
}

// BenchmarkApply measures the engine alone on the example B2B rules with
// in-memory state for 10 000 leads (target: ≥ 1 M events/s per core).
func BenchmarkApply(b *testing.B) {
	e := testrules.Load(b, "../examples/rules/b2b-saas.yaml")
	const leads = 10_000
	evs := benchEvents(1<<16, leads)
	// Each event's state is looked up before the clock starts, as the processor
	// groups a batch by lead before applying it: this measures the engine alone.
	byLead := make(map[string]*scoring.State, leads)
	states := make([]*scoring.State, len(evs))
	for i := range evs {
		if byLead[evs[i].Identity.UserID] == nil {
			s := e.NewState()
			byLead[evs[i].Identity.UserID] = &s
		}
		states[i] = byLead[evs[i].Identity.UserID]
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Now()
	for i := 0; i < b.N; i++ {
		ev := &evs[i%len(evs)]
		if i >= len(evs) && i%len(evs) == 0 {
			b.StopTimer() // next lap: fresh ids and later times, so nothing is a duplicate
			for k := range evs {
				evs[k].ID += "'"
				evs[k].Time += int64(len(evs)) * 1000
			}
			b.StartTimer()
		}
		e.Apply(states[i%len(evs)], ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cputimetest.Report(b, cpu0)
}

// BenchmarkStateEncoding measures the Redis encoding of a typical lead.
func BenchmarkStateEncoding(b *testing.B) {
	e := testrules.Load(b, "../examples/rules/b2b-saas.yaml")
	st := e.NewState()
	for _, ev := range benchEvents(40, 1) {
		e.Apply(&st, &ev)
	}
	buf, _ := st.MarshalBinary()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = st.AppendBinary(buf[:0])
		var back scoring.State
		if err := back.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
	// After the loop: ResetTimer drops metrics reported before it.
	b.ReportMetric(float64(len(buf)), "bytes/state")
}

// BenchmarkStateEncodingNames is BenchmarkStateEncoding with the names of
// the state written as ids of a name table (as the store writes leads).
func BenchmarkStateEncodingNames(b *testing.B) {
	e := testrules.Load(b, "../examples/rules/b2b-saas.yaml")
	st := e.NewState()
	for _, ev := range benchEvents(40, 1) {
		e.Apply(&st, &ev)
	}
	var names []string
	names = append(names, st.Stage, st.Model)
	for _, c := range st.Contribs {
		names = append(names, c.Rule)
	}
	for _, h := range st.Hits {
		names = append(names, h.Rule)
	}
	for _, p := range st.Traits {
		names = append(names, p.Key)
	}
	for _, t := range st.Recent {
		names = append(names, t.From, t.To, t.Cause.Rule)
	}
	table := newNameTable(names...)
	buf, _ := st.AppendBinaryNames(nil, table)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = st.AppendBinaryNames(buf[:0], table)
		var back scoring.State
		if err := back.UnmarshalBinaryNames(buf, table); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/state")
}
