package journeys

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/schemas"
	"github.com/leadscore/leadscore/scoring"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"zero value", Config{}, ""},
		{"explicit", Config{Seed: 7, Leads: 10, Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Span: 48 * time.Hour}, ""},
		{"endless", Config{Endless: true, KeepTruth: true}, ""},
		{"one persona", Config{Mix: Mix{HandRaiser: 1}}, ""},
		{"negative leads", Config{Leads: -1}, "Leads -1 is negative"},
		{"short span", Config{Span: time.Hour}, "shorter than a day"},
		{"negative span", Config{Span: -time.Hour}, "shorter than a day"},
		{"start too early", Config{Start: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, "is before"},
		{"end too late", Config{Start: time.Date(2098, 6, 1, 0, 0, 0, 0, time.UTC)}, "ends after"},
		{"resend rate", Config{ResendRate: 0.9}, "ResendRate"},
		{"negative weight", Config{Mix: Mix{Bot: -1, Anonymous: 1}}, "weight of bot"},
		{"no weight", Config{Mix: Mix{Bot: 0}}, "no positive weight"},
		{"unknown persona", Config{Mix: Mix{Persona(99): 1}}, "unknown persona(99)"},
		{"companies off", Config{PeoplePerCompany: 1}, ""},
		{"companies off, negative", Config{PeoplePerCompany: -1, FreeMailShare: -1}, ""},
		{"huge buying group", Config{PeoplePerCompany: 51}, "PeoplePerCompany 51"},
		{"free-mail share", Config{FreeMailShare: 1.5}, "FreeMailShare 1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			g, nerr := New(tt.cfg)
			if (nerr == nil) != (err == nil) || (g == nil) != (err != nil) {
				t.Fatalf("New() = %v, %v; Validate() = %v", g, nerr, err)
			}
		})
	}
}

func TestPersonaNames(t *testing.T) {
	for _, p := range personas() {
		q, ok := parsePersona(p.String())
		if !ok || q != p {
			t.Errorf("parsePersona(%q) = %v, %v", p.String(), q, ok)
		}
	}
	if _, ok := parsePersona("nobody"); ok {
		t.Error(`parsePersona("nobody") succeeded`)
	}
	for p := range DefaultMix() {
		if p >= numPersonas {
			t.Errorf("DefaultMix has unknown %v", p)
		}
	}
	if len(DefaultMix()) != int(numPersonas) {
		t.Errorf("DefaultMix weighs %d personas, want all %d", len(DefaultMix()), numPersonas)
	}
}

// digest runs a generator to the end and hashes its records.
func digest(t testing.TB, cfg Config) (string, int) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n := 0
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		n++
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%t\x00", rec.Topic, rec.Key, rec.Time.UnixMilli(), rec.Resend)
		h.Write(rec.Value)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Leads: 200}
	a, n := digest(t, cfg)
	b, m := digest(t, cfg)
	if a != b || n != m {
		t.Fatalf("same seed, different streams: %s (%d records) vs %s (%d)", a, n, b, m)
	}
	cfg.Seed = 43
	if c, _ := digest(t, cfg); c == a {
		t.Fatal("seeds 42 and 43 gave the same stream")
	}
}

// TestRecordsDecode decodes every record of a history and checks the envelope:
// order, topic, key and event time.
func TestRecordsDecode(t *testing.T) {
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Seed: 3, Leads: 600})
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	count := map[string]int{}
	kinds := map[string]int{}
	end := g.End()
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		count[rec.Topic]++
		if rec.Time.Before(last) {
			t.Fatalf("record at %s after one at %s", rec.Time, last)
		}
		last = rec.Time
		if !rec.Time.Before(end) {
			t.Fatalf("record at %s, at or after the end %s", rec.Time, end)
		}
		ev, err := dec.DecodeAny(rec.Value)
		if err != nil {
			t.Fatalf("%s record does not decode: %v\n%s", rec.Topic, err, rec.Value)
		}
		if ev.Source.String() != rec.Topic {
			t.Fatalf("record on %s decodes as %s: %s", rec.Topic, ev.Source, rec.Value)
		}
		kinds[rec.Topic+"/"+ev.Kind+"/"+ev.Name]++
		if !rec.Resend && ev.Time != rec.Time.UnixMilli() {
			t.Fatalf("event time %d, record time %d: %s", ev.Time, rec.Time.UnixMilli(), rec.Value)
		}
		var want string
		switch ev.Source {
		case scoring.SourceWeb:
			want = ev.Identity.UserID
			if want == "" {
				want = ev.Identity.AnonymousID
			}
		case scoring.SourceEmail:
			want = ev.Identity.Email
		case scoring.SourceFeedback:
			want = ev.Identity.LeadID
		}
		if string(rec.Key) != want {
			t.Fatalf("key %q, want %q: %s", rec.Key, want, rec.Value)
		}
	}
	for _, topic := range []string{TopicWeb, TopicEmail, TopicFeedback} {
		if count[topic] == 0 {
			t.Errorf("no records on %s", topic)
		}
	}
	logCounts(t, kinds)
	t.Logf("records by topic: %v", count)
}

// logCounts logs counts in key order.
func logCounts(t *testing.T, counts map[string]int) {
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		t.Logf("%-60s %6d", k, counts[k])
	}
}

func loadB2B(t testing.TB) *scoring.Engine {
	t.Helper()
	m, err := rules.Parse(B2BRulesFile, B2BRules())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := scoring.NewEngine(m)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestEmbeddedRulesMatchExample(t *testing.T) {
	want, err := os.ReadFile("../../" + B2BRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(B2BRules(), want) {
		t.Fatalf("internal/journeys/b2b-saas.yaml differs from %s: copy it again", B2BRulesFile)
	}
}

func TestFunnelThroughReplay(t *testing.T) {
	eng := loadB2B(t)
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Seed: 1, Leads: 2000, KeepTruth: true})
	if err != nil {
		t.Fatal(err)
	}
	r := replay.New(eng)
	moves := map[string]int{}
	into := map[string]int{}
	down := 0
	r.OnTransition = func(_ *scoring.Engine, lead string, tr *scoring.Transition) {
		key := tr.From + "→" + tr.To
		if tr.Cause.Kind == scoring.CauseFeedback {
			key += " (" + tr.Cause.Feedback + ")"
		}
		moves[key]++
		into[tr.To]++
		if eng.Direction(tr.From, tr.To) == "down" {
			down++
		}
	}
	outcomes := map[string]int{}
	resends, dups := 0, 0
	var last int64
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		ev, err := dec.DecodeAny(rec.Value)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, rec.Value)
		}
		res := r.Apply(&ev)
		o := res.Outcome.Status.String()
		if res.Outcome.Why != "" {
			o += "/" + res.Outcome.Why
		}
		outcomes[o]++
		if rec.Resend {
			resends++
		}
		if res.Outcome.Status == scoring.Duplicate {
			dups++
			if !rec.Resend {
				t.Errorf("an original record was counted as a duplicate: %s", rec.Value)
			}
		} else if rec.Resend {
			t.Errorf("a re-send was not recognised as a duplicate (%s): %s", o, rec.Value)
		}
		last = rec.Time.UnixMilli()
	}
	r.AdvanceAll(last)
	if resends == 0 || dups != resends {
		t.Errorf("%d re-sends, %d duplicates: want equal and positive", resends, dups)
	}
	for _, stage := range []string{"lead", "mql", "hmql", "sql", "sal", "opportunity", "customer",
		"recycled", "lapsed", "evangelist", "disqualified"} {
		if into[stage] == 0 {
			t.Errorf("no lead moved into %s", stage)
		}
	}
	if down == 0 {
		t.Error("no regression")
	}
	if moves["sql→recycled (rejected)"] == 0 {
		t.Error("no sql→recycled on rejection")
	}

	// Truth agrees with what the engine saw: every true SQL lead exists and has
	// been at sql or beyond.
	truths := g.DrainTruth(nil)
	if len(truths) != 2000 {
		t.Fatalf("%d truths, want 2000", len(truths))
	}
	byPersona := map[Persona]int{}
	sqls := 0
	for _, tr := range truths {
		byPersona[tr.Persona]++
		if tr.Records == 0 {
			t.Errorf("lead %s has no records", tr.Lead)
		}
		if r.Lead(tr.Lead) == nil {
			t.Errorf("truth names lead %s (%s), which replay does not know", tr.Lead, tr.Persona)
			continue
		}
		if !tr.SQL.IsZero() {
			sqls++
		}
		// A won deal makes a customer, and customers never regress.
		if st := r.Lead(tr.Lead).Stage; !tr.Won.IsZero() && st != "customer" && st != "evangelist" {
			t.Errorf("lead %s was won on %s but ends in %s", tr.Lead, tr.Won, st)
		}
	}
	if sqls == 0 {
		t.Error("no true SQL")
	}

	logCounts(t, moves)
	t.Logf("outcomes: %v", outcomes)
	t.Logf("personas: %v; true SQLs %d; stats %+v", byPersona, sqls, g.Stats())
	stages := map[string]int{}
	for _, id := range r.LeadIDs() {
		stages[r.Lead(id).Stage]++
	}
	t.Logf("final stages: %v", stages)
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Seed: 1, Leads: 20000}
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, ok := g.Next()
		if !ok {
			b.StopTimer()
			cfg.Seed++
			g, _ = New(cfg)
			b.StartTimer()
			rec, _ = g.Next()
		}
		bytes += int64(len(rec.Value))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/record")
}

// TestRecordsMatchSchemas validates payloads against the JSON Schemas of schemas/,
// the contract with real senders.
func TestRecordsMatchSchemas(t *testing.T) {
	compiled := map[string]*jsonschema.Schema{}
	for topic, name := range map[string]string{TopicWeb: schemas.WebEvent, TopicEmail: schemas.EmailEvent,
		TopicFeedback: schemas.SalesFeedback} {
		sch, err := schemas.Compile(name)
		if err != nil {
			t.Fatal(err)
		}
		compiled[topic] = sch
	}
	g, err := New(Config{Seed: 11, Leads: 400})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.Value))
		if err != nil {
			t.Fatal(err)
		}
		if err := compiled[rec.Topic].Validate(doc); err != nil {
			t.Fatalf("%s record does not match its schema: %v\n%s", rec.Topic, err, rec.Value)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no records")
	}
}

func TestEndlessGoesOn(t *testing.T) {
	cfg := Config{Seed: 2, Leads: 50, Span: 30 * 24 * time.Hour, Endless: true}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !g.End().IsZero() {
		t.Errorf("End() = %s, want zero for an endless history", g.End())
	}
	horizon := defaultStart.Add(3 * cfg.Span)
	var last time.Time
	for i := 0; ; i++ {
		rec, ok := g.Next()
		if !ok {
			t.Fatalf("an endless history ended after %d records", i)
		}
		if rec.Time.Before(last) {
			t.Fatalf("record at %s after one at %s", rec.Time, last)
		}
		last = rec.Time
		if rec.Time.After(horizon) {
			break
		}
	}
	if s := g.Stats(); s.Leads < 3*50 {
		t.Errorf("after three spans, %d people arrived, want at least 150", s.Leads)
	}
	if got := g.DrainTruth(nil); len(got) != 0 {
		t.Errorf("DrainTruth without KeepTruth = %d truths, want none", len(got))
	}
}

func TestNoResends(t *testing.T) {
	g, err := New(Config{Seed: 4, Leads: 200, ResendRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		if rec.Resend {
			t.Fatal("a re-send with ResendRate < 0")
		}
	}
	if s := g.Stats(); s.Resends != 0 || s.Records != s.Web+s.Email+s.Feedback || s.Active != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPersonaShapes checks each persona on its own: what kind of records it makes.
func TestPersonaShapes(t *testing.T) {
	tests := []struct {
		persona  Persona
		feedback bool // some leads of this persona get sales feedback
		user     bool // some identify with a userId
	}{
		{Anonymous, false, false},
		{Bot, false, false},
		{Subscriber, true, true},
		{ContentReader, true, true},
		{WebinarAttendee, true, true},
		{DemoWatcher, true, true},
		{PricingVisitor, true, true},
		{HandRaiser, true, true},
		{Lapsed, true, true},
		{Disengaged, false, true},
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.persona.String(), func(t *testing.T) {
			g, err := New(Config{Seed: 9, Leads: 80, Mix: Mix{tt.persona: 1}, KeepTruth: true})
			if err != nil {
				t.Fatal(err)
			}
			var feedback, users, bots int
			for {
				rec, ok := g.Next()
				if !ok {
					break
				}
				ev, err := dec.DecodeAny(rec.Value)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Topic == TopicFeedback {
					feedback++
				}
				if ev.Identity.UserID != "" {
					users++
				}
				// Only web events are filtered by user agent: an e-mail open fetched
				// through an image proxy (GoogleImageProxy) is a person reading.
				if ev.Source == scoring.SourceWeb && ev.UserAgent != "" && scoring.IsBot(ev.UserAgent) || strings.Contains(ev.UserAgent, "acme-uptime") {
					bots++
				}
			}
			if (feedback > 0) != tt.feedback {
				t.Errorf("%d feedback records, want some: %t", feedback, tt.feedback)
			}
			if (users > 0) != tt.user {
				t.Errorf("%d records with a userId, want some: %t", users, tt.user)
			}
			if (bots > 0) != (tt.persona == Bot) {
				t.Errorf("%d records from bots", bots)
			}
			for _, tr := range g.DrainTruth(nil) {
				if tr.Persona != tt.persona {
					t.Fatalf("truth says %s", tr.Persona)
				}
				if tr.First.IsZero() || tr.Last.Before(tr.First) || tr.Records == 0 {
					t.Fatalf("truth %+v", tr)
				}
				if !tr.SQL.IsZero() && tr.UserID == "" {
					t.Fatalf("an SQL without a userId: %+v", tr)
				}
				if !tr.Won.IsZero() && (tr.Opportunity.IsZero() || tr.Won.Before(tr.Opportunity)) {
					t.Fatalf("won without an opportunity before: %+v", tr)
				}
			}
		})
	}
}

// Example prints the first record of each topic of a small history.
func Example() {
	g, err := New(Config{Seed: 1, Leads: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	seen := map[string]bool{}
	for len(seen) < 3 {
		rec, ok := g.Next()
		if !ok {
			break
		}
		if !seen[rec.Topic] {
			seen[rec.Topic] = true
			fmt.Printf("%-8s %s key=%s\n", rec.Topic, rec.Time.Format(time.RFC3339), rec.Key)
		}
	}
	// Output:
	// web      2026-01-06T18:57:08Z key=ec9b1dfd-e3cd-46f1-8a5c-247c4b0efe65
	// email    2026-02-03T09:03:53Z key=valentina.wang7@hooli-health.example
	// feedback 2026-03-23T21:36:16Z key=user:crm-000021
}

// TestABMExampleExcludesFreeMail: the ABM example rules (which the demo
// plays on these journeys) name no account after the generator's
// consumer mailboxes: their people would otherwise make one giant account.
func TestABMExampleExcludesFreeMail(t *testing.T) {
	m, err := rules.Load("../../examples/rules/b2b-abm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range FreeMailDomains() {
		if id, ok := scoring.AccountFromEmail("someone@"+d, m.Accounts.FreeMail); ok {
			t.Errorf("%s names account %s", d, id)
		}
	}
	if _, ok := scoring.AccountFromEmail("someone@acme-industries.example", m.Accounts.FreeMail); !ok {
		t.Error("a company domain names no account")
	}
}
