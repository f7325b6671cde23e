package backtest_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// storyRules: no decay, so every number below is exact.
const storyRules = `
version: story-%s
rules:
  - name: visit
    points: %s
    match: {source: web, type: page}
  - name: demo
    points: 50
    match: {source: web, type: track, event: Demo Requested}
    tags: [hand]
stages:
  - name: visitor
  - name: lead
    entry: [{identified: true}]
  - name: mql
    entry: [{score: 30}]
  - name: sql
    entry: [{identified: true, trigger_tag: hand}]
`

func storyModel(t *testing.T, visit string) *scoring.Model {
	t.Helper()
	m, err := rules.Parse("story.yaml", []byte(strings.NewReplacer("%s", visit).Replace(storyRules)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

func at(days int) string { return t0.Add(time.Duration(days) * 24 * time.Hour).Format(time.RFC3339) }

func page(id, anon, user string, day int) string {
	s := `{"type":"page","messageId":"` + id + `","anonymousId":"` + anon + `"`
	if user != "" {
		s += `,"userId":"` + user + `"`
	}
	return s + `,"properties":{"path":"/x"},"timestamp":"` + at(day) + `"}`
}

// storyLog: A browses anonymously, identifies, qualifies, then requests a demo
// (its outcome); B's first event is a demo request that identifies it (its outcome
// waits for that event); C qualifies and never converts; D stays anonymous.
var storyLog = strings.Join([]string{
	page("a1", "anon-a", "", 0),
	`{"type":"identify","messageId":"a2","anonymousId":"anon-a","userId":"u1","traits":{"email":"a@example.com"},"timestamp":"` + at(1) + `"}`,
	page("c1", "anon-c", "u3", 1),
	`{"type":"track","messageId":"b1","anonymousId":"anon-b","userId":"u2","event":"Demo Requested","timestamp":"` + at(1) + `"}`,
	page("a3", "anon-a", "u1", 2),
	page("c2", "anon-c", "u3", 2),
	page("a4", "anon-a", "u1", 3),
	page("c3", "anon-c", "u3", 3),
	page("d1", "anon-d", "", 3),
	`{"type":"track","messageId":"a5","anonymousId":"anon-a","userId":"u1","event":"Demo Requested","timestamp":"` + at(4) + `"}`,
	page("c4", "anon-c", "u3", 9),
}, "\n")

var storyOutcomes = `{"lead":"u1","outcome":"sql","at":"` + at(4) + `"}
{"lead":"user:u2","outcome":"sql","at":"` + at(1) + `"}
{"lead":"A@example.com","outcome":"won","at":"` + at(40) + `"}
{"lead":"ghost@example.com","outcome":"sql","at":"` + at(2) + `"}
`

func storyReport(t *testing.T, compare bool) *backtest.Report {
	t.Helper()
	outs, err := backtest.ReadOutcomes(strings.NewReader(storyOutcomes))
	if err != nil {
		t.Fatal(err)
	}
	cfg := backtest.Config{Rules: storyModel(t, "10"), Outcomes: outs}
	if compare {
		cfg.Compare = storyModel(t, "5")
	}
	rep, err := backtest.Run(cfg, strings.NewReader(storyLog), backtest.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestStoryMeasures(t *testing.T) {
	rep := storyReport(t, false)
	r := rep.Results[0]
	if rep.Log.Events != 11 || r.Leads != 4 || r.Identified != 3 || r.Population != 3 || r.Positives != 2 {
		t.Fatalf("events %d leads %d identified %d population %d positives %d; want 11, 4 (A stitched), 3, 3, 2",
			rep.Log.Events, r.Leads, r.Identified, r.Population, r.Positives)
	}
	if o := rep.Outcomes; o.Unmatched != 1 || o.Late != 0 || o.Leads[0].Leads != 2 || o.Leads[2].Leads != 1 {
		t.Errorf("outcomes %+v: want the ghost unmatched, B's outcome resolved by its own event (not late), 2 sql and 1 won", o)
	}
	wantDefs := map[string][3]int{ // predicted, true positives, positives
		"mql/ever": {3, 2, 2}, "mql/before_outcome": {2, 1, 2}, "sql/ever": {2, 2, 2}, "sql/before_outcome": {0, 0, 2},
	}
	for _, d := range r.Definitions {
		w := wantDefs[d.Stage+"/"+d.Basis]
		if [3]int{d.Predicted, d.TruePositives, d.Positives} != w {
			t.Errorf("%s %s: predicted %d, true positives %d, positives %d; want %v", d.Stage, d.Basis, d.Predicted, d.TruePositives, d.Positives, w)
		}
	}
	if d := r.Definitions[1]; d.Precision != 0.5 || d.Recall != 0.5 {
		t.Errorf("mql before outcome precision %v recall %v, want 0.5 and 0.5", d.Precision, d.Recall)
	}
	// A: identified day 1, mql day 3; B: identified and sql at day 1 (0); C:
	// identified day 1, mql day 3.
	if m := r.TimeTo[0]; m.Leads != 3 || m.MedianDays != 2 || m.P25Days != 1 {
		t.Errorf("time to mql %+v, want 3 leads, median 2 days, p25 1 day", m)
	}
	// Peaks before the outcome: A 30 (the demo's points come with the outcome), B 0
	// (its only event is the outcome), C 40 (no outcome).
	c := r.Calibration
	var bands []string
	for _, b := range c.Bands {
		bands = append(bands, flt(b.Min)+"-"+flt(b.Max)+":"+itoa(b.Positives)+"/"+itoa(b.Leads))
	}
	if strings.Join(bands, " ") != "0-0:1/1 30-30:1/1 40-40:0/1" || c.AUC != 0 || c.BaseRate != 0.6667 {
		t.Errorf("bands %v, AUC %v, base rate %v; want 0-0:1/1 30-30:1/1 40-40:0/1, AUC 0, base rate 0.6667", bands, c.AUC, c.BaseRate)
	}
	funnel := map[string][2]int{}
	for _, s := range r.Funnel {
		funnel[s.Stage] = [2]int{s.Entered, s.AtEnd}
	}
	if funnel["visitor"] != [2]int{4, 1} || funnel["mql"] != [2]int{2, 1} || funnel["sql"] != [2]int{2, 2} {
		t.Errorf("funnel %v", funnel)
	}
	if len(r.Weekly) != 1 || r.Weekly[0].Week != "2026-03-02" || r.Weekly[0].NewMQLs != 3 || r.Weekly[0].NewSQLs != 2 {
		t.Errorf("weekly %+v: want only the week of 2 March, with 3 new MQLs and 2 SQLs", r.Weekly)
	}
}

func TestStoryCompare(t *testing.T) {
	rep := storyReport(t, true)
	d := rep.Diff
	if d == nil || d.Differ != 1 || d.Leads != 4 || len(d.Examples) != 1 {
		t.Fatalf("diff %+v: want 1 of 4 leads differing", d)
	}
	e := d.Examples[0]
	if e.Lead != "user:u3" || e.A.Stage != "mql" || e.B.Stage != "lead" || e.A.Score != 40 || e.B.Score != 20 ||
		e.A.Cause != "criteria visit" || len(e.Contributions) != 1 || e.Contributions[0].Rule != "visit" {
		t.Errorf("example %+v: want C at mql (40, criteria visit) under A and lead (20) under B, because of visit", e)
	}
	if d.MQL.OnlyA != 1 || d.MQL.OnlyB != 0 || len(d.Rules) != 1 || *d.Rules[0].A != 10 || *d.Rules[0].B != 5 {
		t.Errorf("diff %+v: want C reaching mql under A only, and visit 10 → 5", d)
	}
}

func flt(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func itoa(n int) string { return strconv.Itoa(n) }
