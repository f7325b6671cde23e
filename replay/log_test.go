package replay_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

// storiesRules are the rules the stories of testdata are scored with.
const storiesRules = "testdata/stories.yaml"

type line struct {
	Type           string  `json:"type"`
	LeadID         string  `json:"lead_id"`
	From           string  `json:"from"`
	To             string  `json:"to"`
	Score          float64 `json:"score"`
	Stage          string  `json:"stage"`
	EventTime      string  `json:"event_time"`
	TriggerEventID *string `json:"trigger_event_id"`
	Cause          struct {
		Kind, Rule, Feedback, Reason string
	} `json:"cause"`
}

func scoreFile(t *testing.T, name string) ([]byte, replay.LogStats, []line, []string) {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	var bad []string
	st, err := replay.ScoreLog(testrules.Load(t, storiesRules), f, &out, replay.LogOptions{Bad: func(n int, err error) {
		bad = append(bad, string(rune('0'+n))+":"+string(events.ReasonOf(err)))
	}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var x line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		lines = append(lines, x)
	}
	golden(t, name, out.Bytes())
	return out.Bytes(), st, lines, bad
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + strings.TrimSuffix(name, ".jsonl") + ".golden"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./replay -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: output differs from golden file (go test ./replay -update to accept):\n%s", name, got)
	}
}

func moves(lines []line) []string {
	var m []string
	for _, l := range lines {
		if l.Type == "stage_change" {
			m = append(m, l.From+">"+l.To)
		}
	}
	return m
}

func TestStoryEngagedSubscriberOffline(t *testing.T) {
	_, st, lines, bad := scoreFile(t, "story1-engaged.jsonl")
	want := []string{"visitor>lead", "lead>mql", "mql>sql", "sql>recycled"}
	if got := moves(lines); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	scores := []float64{5, 35, 55}
	for i, s := range scores {
		if math.Abs(lines[i].Score-s) > 1e-9 {
			t.Errorf("transition %d carries score %v, want %v", i, lines[i].Score, s)
		}
		if lines[i].LeadID != "user:crm-004211" {
			t.Errorf("transition %d for lead %q, want the stitched user lead", i, lines[i].LeadID)
		}
	}
	if c := lines[2].Cause; c.Kind != "trigger" || c.Rule != "demo_request" || *lines[2].TriggerEventID != "s1-04" {
		t.Errorf("sql cause %+v trigger %v", c, *lines[2].TriggerEventID)
	}
	if c := lines[3].Cause; c.Kind != "feedback" || c.Feedback != "rejected" || c.Reason != "no_budget" {
		t.Errorf("rejection cause %+v, want feedback rejected no_budget", c)
	}
	if st.Duplicates != 1 || st.Bad != 0 || len(bad) != 0 || st.Leads != 1 {
		t.Errorf("stats %+v bad %v: want the re-sent click counted once as a duplicate, one lead", st, bad)
	}
}

func TestStoryLapsedSubscriberOffline(t *testing.T) {
	_, _, lines, _ := scoreFile(t, "story2-lapsed.jsonl")
	want := []string{"visitor>lead", "lead>lapsed", "lapsed>lead", "lead>mql", "mql>sql"}
	if got := moves(lines); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	if l := lines[1]; l.Cause.Kind != "inactivity" || l.Score != -5 || l.EventTime != "2025-04-10T08:00:00.000Z" || l.TriggerEventID != nil {
		t.Errorf("lapse = %+v, want inactivity at 90 days after the last activity, score -5, no trigger event", l)
	}
}

func TestBadLinesAreReportedWithReasons(t *testing.T) {
	_, st, _, bad := scoreFile(t, "bad-lines.jsonl")
	want := []string{"2:" + string(events.ReasonMissingIdentity), "3:" + string(events.ReasonInvalidJSON), "4:" + string(events.ReasonBadTimestamp)}
	if strings.Join(bad, ",") != strings.Join(want, ",") {
		t.Fatalf("bad lines %v, want %v", bad, want)
	}
	if st.Events != 2 || st.Bad != 3 || st.Ignored != 1 {
		t.Fatalf("stats %+v, want 2 events (one a machine open, ignored) and 3 bad", st)
	}
}

func TestSameInputSameBytes(t *testing.T) {
	a, _, _, _ := scoreFile(t, "story1-engaged.jsonl")
	b, _, _, _ := scoreFile(t, "story1-engaged.jsonl")
	if !bytes.Equal(a, b) {
		t.Fatal("two runs over the same log gave different bytes")
	}
}

func TestStrictStopsAtFirstBadLine(t *testing.T) {
	f, _ := os.Open("testdata/bad-lines.jsonl")
	defer f.Close()
	_, err := replay.ScoreLog(testrules.Load(t, storiesRules), f, &bytes.Buffer{}, replay.LogOptions{Strict: true})
	var de *events.Error
	if !errors.As(err, &de) || de.Reason != events.ReasonMissingIdentity {
		t.Fatalf("strict error %v, want missing_identity", err)
	}
}

// The oracle applies a log in the canonical order (event time, then source):
// however the lines of a mixed log are interleaved — web, e-mail and feedback
// exported separately and concatenated, or shuffled — its output is the same.
func TestScoreLogIsIndependentOfLineOrder(t *testing.T) {
	var raw []byte
	for _, name := range []string{"testdata/story1-engaged.jsonl", "testdata/story2-lapsed.jsonl"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(append(raw, b...), '\n')
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	score := func(ls []string) string {
		var out bytes.Buffer
		if _, err := replay.ScoreLog(testrules.Load(t, storiesRules), strings.NewReader(strings.Join(ls, "\n")), &out, replay.LogOptions{}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	want := score(lines)
	if strings.Count(want, `"type":"stage_change"`) < 3 {
		t.Fatalf("stories too small to mean anything:\n%s", want)
	}
	reversed := slices.Clone(lines)
	slices.Reverse(reversed)
	bySource := slices.Clone(lines) // e-mail lines first, then the rest: two exports concatenated
	slices.SortStableFunc(bySource, func(a, b string) int {
		return cmp.Compare(boolInt(!strings.Contains(a, "sg_event_id")), boolInt(!strings.Contains(b, "sg_event_id")))
	})
	for name, ls := range map[string][]string{"reversed": reversed, "by-source": bySource} {
		if got := score(ls); got != want {
			t.Errorf("%s: output differs from the log in order:\n got %s\nwant %s", name, got, want)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A state "at" an instant before the log's own events would be mislabelled:
// ScoreLog refuses it.
func TestScoreLogRefusesAtBeforeTheLog(t *testing.T) {
	f, err := os.Open("testdata/story1-engaged.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = replay.ScoreLog(testrules.Load(t, storiesRules), f, &bytes.Buffer{}, replay.LogOptions{At: 1})
	if !errors.Is(err, replay.ErrAtBeforeLog) {
		t.Fatalf("err = %v, want ErrAtBeforeLog", err)
	}
}

// NoAdvance leaves each lead at its own last event: the stage changes are the
// events' own (no time-driven tail), and each lead is reported at its last event.
func TestScoreLogNoAdvance(t *testing.T) {
	raw, err := os.ReadFile("testdata/story2-lapsed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var all, own bytes.Buffer
	if _, err := replay.ScoreLog(testrules.Load(t, storiesRules), bytes.NewReader(raw), &all, replay.LogOptions{At: 4102444800000}); err != nil { // 2100
		t.Fatal(err)
	}
	if _, err := replay.ScoreLog(testrules.Load(t, storiesRules), bytes.NewReader(raw), &own, replay.LogOptions{NoAdvance: true}); err != nil {
		t.Fatal(err)
	}
	// The story's lead last acts on 2026-01-16 at 08:00.
	if !strings.Contains(all.String(), `"type":"lead"`) || !strings.Contains(all.String(), `"at":"2100-01-01T00:00:00.000Z"`) {
		t.Fatalf("At 2100: lead not reported at 2100:\n%s", all.String())
	}
	if !strings.Contains(own.String(), `"at":"2026-01-16T08:00:00.000Z"`) || strings.Contains(own.String(), `"at":"2100`) {
		t.Fatalf("NoAdvance: lead not reported at its last event:\n%s", own.String())
	}
	if _, err := replay.ScoreLog(testrules.Load(t, storiesRules), bytes.NewReader(raw), &own, replay.LogOptions{NoAdvance: true, At: 1}); err == nil {
		t.Fatal("NoAdvance with At was accepted")
	}
}

// TestSeveralModelsEachAsAlone: scoring a log under two models side by side
// gives, for each model, exactly what scoring it alone gives — the same
// lines in the same order — with the model's name added and folded into
// the stage-change ids. The two-model output is a golden file.
func TestSeveralModelsEachAsAlone(t *testing.T) {
	files := []string{storiesRules, "../examples/rules/b2c-shop.yaml"}
	set, err := rules.LoadSet(files...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "stories,b2c-shop" {
		t.Fatalf("model names %q, want the files' names", got)
	}
	var log []byte
	for _, f := range []string{"story1-engaged.jsonl", "story2-lapsed.jsonl"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, b...)
	}
	var both bytes.Buffer
	if _, err := replay.ScoreLogSet(set, bytes.NewReader(log), &both, replay.LogOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "two-models.jsonl", both.Bytes())
	ids := map[string]bool{}
	for i, e := range set.Engines() {
		var alone bytes.Buffer
		if _, err := replay.ScoreLog(testrules.Load(t, files[i]), bytes.NewReader(log), &alone, replay.LogOptions{}); err != nil {
			t.Fatal(err)
		}
		var mine, want []string
		for _, l := range strings.Split(strings.TrimSpace(both.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			if m["model"] != e.Model().Name {
				continue
			}
			if id, ok := m["id"].(string); ok {
				if ids[id] {
					t.Fatalf("stage-change id %s twice", id)
				}
				ids[id] = true
			}
			delete(m, "model")
			delete(m, "id")
			b, _ := json.Marshal(m)
			mine = append(mine, string(b))
		}
		for _, l := range strings.Split(strings.TrimSpace(alone.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "id")
			b, _ := json.Marshal(m)
			want = append(want, string(b))
		}
		if len(want) < 3 || !slices.Equal(mine, want) {
			t.Errorf("model %s: %d lines side by side, %d alone; first difference:\n%s", e.Model().Name, len(mine), len(want), firstDiff(mine, want))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + "\n" + b[i]
		}
	}
	return "(one is a prefix of the other)"
}

// TestAccountsStory: a company's people join its account by group call and
// by e-mail domain, the account becomes engaged, then an MQA once its VP is
// engaged too, and decays back; a free-mail student joins no account. The
// output is a golden file, and does not depend on the order of the log's
// lines.
func TestAccountsStory(t *testing.T) {
	raw, err := os.ReadFile("testdata/abm-story.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	score := func(ls []string) (string, replay.LogStats) {
		var out bytes.Buffer
		st, err := replay.ScoreLog(testrules.Load(t, "testdata/abm.yaml"), strings.NewReader(strings.Join(ls, "\n")), &out, replay.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), st
	}
	got, st := score(lines)
	golden(t, "abm-story.jsonl", []byte(got))
	sch, err := schemas.Compile(schemas.AccountStageChange)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if strings.Contains(l, `"type":"account_stage_change"`) {
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(l))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(doc); err != nil {
				t.Errorf("%s: %v", l, err)
			}
		}
		var m struct {
			Type, AccountID, From, To string
			EngagedMembers            int `json:"engaged_members"`
			Roles                     []string
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "account_stage_change" {
			moves = append(moves, m.From+">"+m.To)
		}
	}
	want := "target>engaged,engaged>mqa,mqa>engaged,engaged>target"
	if strings.Join(moves, ",") != want || st.Accounts != 2 || st.AccountTransitions != 4 {
		t.Errorf("account moves %v, want %s; stats %+v", moves, want, st)
	}
	// Bo left the domain account for acct-acme when his group call came.
	if !strings.Contains(got, `{"type":"account","account_id":"domain:acme-industries.example","stage":"target","engagement":0,"members":[]`) {
		t.Errorf("the domain account still holds Bo:\n%s", got)
	}
	reversed := slices.Clone(lines)
	slices.Reverse(reversed)
	if again, _ := score(reversed); again != got {
		t.Errorf("reversed log: output differs:\n got %s\nwant %s", again, got)
	}
}

// TestAccountHandoffStory scores the ABM story with a handoff that reads the
// account (testdata/abm-handoff.yaml: an MQL whose account is an MQA
// becomes an SQL). Ana is an MQL when Bo's group call makes acct-acme an MQA:
// she moves at that instant, cause "account", triggered by Bo's event; Bo
// himself reaches the MQL score later, with his account an MQA already, and
// climbs to SQL at his own event. The output is a golden file, valid against
// the stage-change schema, and the same whatever the log's line order.
func TestAccountHandoffStory(t *testing.T) {
	raw, err := os.ReadFile("testdata/abm-story.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	score := func(ls []string) string {
		var out bytes.Buffer
		if _, err := replay.ScoreLog(testrules.Load(t, "testdata/abm-handoff.yaml"), strings.NewReader(strings.Join(ls, "\n")), &out, replay.LogOptions{}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	got := score(lines)
	golden(t, "abm-handoff.jsonl", []byte(got))
	sch, err := schemas.Compile(schemas.StageChange)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		var m struct {
			Type, From, To string
			LeadID         string `json:"lead_id"`
			Cause          struct{ Kind, Rule string }
			TriggerEventID string `json:"trigger_event_id"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "stage_change" {
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s: %v", l, err)
		}
		moves = append(moves, m.LeadID+" "+m.From+">"+m.To+" "+m.Cause.Kind+" "+m.TriggerEventID)
	}
	want := []string{
		"user:crm-ana visitor>mql criteria ab-04",
		"user:crm-ana mql>sql account ab-07",
		"user:crm-bo visitor>sql account ab-08",
	}
	if !slices.Equal(moves, want) {
		t.Errorf("lead moves:\n got %q\nwant %q", moves, want)
	}
	reversed := slices.Clone(lines)
	slices.Reverse(reversed)
	if again := score(reversed); again != got {
		t.Errorf("reversed log: output differs:\n got %s\nwant %s", again, got)
	}
}
