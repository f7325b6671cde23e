package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/eventually"
	"github.com/leadscore/leadscore/internal/syncbuf"
	"github.com/leadscore/leadscore/output"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// TestDemoPipeline runs the whole demo — embedded broker, embedded Redis,
// generator, processor, API — for a few seconds on free ports, and checks from
// the outside what a user would: stage changes reach the stage-change topic (read
// by an independent Kafka client at the printed address), the API answers with
// leads and metrics, and the summary adds up.
func TestDemoPipeline(t *testing.T) {
	// The two default models, from the repository's examples.
	c := Config{Rate: 1000, Leads: 2000, Seed: 1, Rules: []string{"../../" + DefaultRules, "../../" + DefaultSecondRules}, Speedup: 30 * 24 * 3600,
		Refresh: 500 * time.Millisecond, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 2, LogFormat: "text", LogLevel: "info"}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	out, logs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	type result struct {
		st  *stats
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		st, err := play(ctx, &c, out, logs, false)
		done <- result{st, err}
	}()

	kafkaAddr := eventually.Match(t, out, regexp.MustCompile(`kafka (127\.0\.0\.1:\d+) `), 5*time.Second)
	apiURL := eventually.Match(t, out, regexp.MustCompile(`api (http://127\.0\.0\.1:\d+)/`), time.Second)

	// An outside consumer sees stage changes within seconds of the start.
	cons, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ConsumeTopics(topics.StageChanges),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	var first output.StageChange
	for first.ID == "" && pctx.Err() == nil {
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if first.ID == "" {
				_ = json.Unmarshal(r.Value, &first)
			}
		})
	}
	pcancel()
	if first.ID == "" {
		t.Fatalf("no stage change on %s within %s; logs:\n%s", topics.StageChanges, time.Since(start), logs)
	}
	t.Logf("first stage change after %s: %s %s → %s", time.Since(start).Round(time.Millisecond), first.LeadID, first.From, first.To)

	// The API, on the demo's data.
	var ready map[string]any
	if code := getJSON(t, apiURL+"/readyz", &ready); code != 200 {
		t.Errorf("readyz %d: %v", code, ready)
	}
	var lead map[string]any
	if code := getJSON(t, apiURL+"/v1/leads/"+first.LeadID, &lead); code != 200 || lead["lead_id"] == nil {
		t.Errorf("GET lead %s: %d %v", first.LeadID, code, lead)
	}
	var top map[string]any
	if code := getJSON(t, apiURL+"/v1/leads?stage=lead&limit=5", &top); code != 200 {
		t.Errorf("GET top: %d %v", code, top)
	}
	// Accounts move a little after the first leads: wait for their series.
	var metrics []byte
	eventually.True(t, 3*time.Second, "the account stage-change metric", func() bool {
		resp, err := http.Get(apiURL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		metrics, _ = io.ReadAll(resp.Body)
		return bytes.Contains(metrics, []byte("leadscore_account_stage_transitions_total{"))
	})
	for _, series := range []string{"leadscore_events_consumed_total{", "leadscore_stage_transitions_total{",
		"leadscore_account_stage_transitions_total{",
		"leadscore_batch_records_bucket{", "leadscore_batch_duration_seconds_bucket{", "leadscore_stage_change_latency_seconds_bucket{",
		"leadscore_redis_round_trip_seconds_bucket{", "leadscore_consumer_lag{", "leadscore_timers_due_total",
		"leadscore_timers_fired_total", "leadscore_ready 1", "messaging_kafka_"} {
		if !bytes.Contains(metrics, []byte(series)) {
			t.Errorf("/metrics lacks %s", series)
		}
	}

	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	st := res.st
	for _, stage := range []string{"lead", "mql", "sql"} {
		if st.Into[stage] == 0 {
			t.Errorf("no lead reached %s; moves: %v", stage, st.Moves)
		}
	}
	// The second model moves leads too, on its own stages.
	if tb := st.ByModel["textbook-funnel"]; tb["visitor"] == 0 || tb["lead"] == 0 {
		t.Errorf("textbook-funnel's funnel: %v; moves: %v", tb, st.Moves)
	}
	// The companies' accounts move too (the account topic, read like the
	// leads' one).
	if st.AccountMoves == 0 || st.Accounts["engaged"]+st.Accounts["mqa"] == 0 {
		t.Errorf("accounts: %d moves, by stage %v", st.AccountMoves, st.Accounts)
	}
	if st.Produced == 0 || st.Consumed < st.Produced || st.DeadLetter != 0 {
		t.Errorf("produced %d, consumed %d, dead letters %d; logs:\n%s", st.Produced, st.Consumed, st.DeadLetter, logs.String())
	}
	if st.SimTo <= st.SimFrom || st.People == 0 {
		t.Errorf("simulated clock %d → %d, %d people", st.SimFrom, st.SimTo, st.People)
	}
	text := out.String()
	for _, want := range []string{"leadscore demo: models b2b-abm (b2b-abm-", "textbook-funnel (textbook-1)", "| textbook-funnel: visitor ", "] sim ", "summary:", "events: ",
		"leads by stage (", "stage changes (", "visitor → lead", "redis embedded (miniredis"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Errorf("ANSI escapes in plain output:\n%q", text)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
	t.Logf("\n%s", text)
}

func TestListenFallback(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ln, note, err := listenFallback(busy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() == busy.Addr().String() || !strings.Contains(note, "was taken") {
		t.Errorf("listening on %s (%q) while %s is busy", ln.Addr(), note, busy.Addr())
	}
	if _, _, err := listenFallback("256.0.0.1:9092"); err == nil {
		t.Error("a bad address was accepted")
	}
}

func TestDemoValidate(t *testing.T) {
	ok := Config{Rate: 1, Leads: 1, Speedup: 1, Refresh: time.Second, Partitions: 1}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "--rate"},
		{"negative speedup", func(c *Config) { c.Speedup = -1 }, "--speedup"},
		{"no leads", func(c *Config) { c.Leads = 0 }, "--leads"},
		{"no refresh", func(c *Config) { c.Refresh = 0 }, "--refresh"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "--duration"},
		{"no partitions", func(c *Config) { c.Partitions = 0 }, "--partitions"},
		{"generate-only without brokers", func(c *Config) { c.GenerateOnly = true }, "--brokers"},
		{"generate-only", func(c *Config) { c.GenerateOnly, c.Brokers = true, []string{"k:9092"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDemoRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dir    string // working directory, relative to the package's
		rules  []string
		models string // names, comma-separated
		source string // what the header says the rules came from
		err    bool
	}{
		// Where the default paths do not exist (the tests run in the
		// package's directory): the copies embedded in the binary.
		{name: "defaults, elsewhere", models: "b2b-abm,textbook-funnel", source: "embedded " + DefaultRules + ", " + DefaultSecondRules},
		{name: "default named, elsewhere", rules: []string{DefaultRules}, models: "", source: "embedded " + DefaultRules},
		// From the repository root: both, named after their files.
		{name: "defaults, from the root", dir: "../..", models: "b2b-abm,textbook-funnel", source: DefaultRules + ", " + DefaultSecondRules},
		{name: "one file", rules: []string{"../../" + DefaultSecondRules}, models: "", source: "../../" + DefaultSecondRules},
		// A path the user chose is never replaced.
		{name: "missing file", rules: []string{"no/such/rules.yaml"}, err: true},
		{name: "second default given, missing", rules: []string{DefaultRules, DefaultSecondRules}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dir != "" {
				t.Chdir(tc.dir)
			}
			c := Config{Rules: tc.rules}
			set, _, source, err := c.loadRules()
			if tc.err {
				if err == nil {
					t.Fatalf("rules %v accepted", tc.rules)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(set.Names(), ","); got != tc.models || source != tc.source {
				t.Errorf("models %q from %q, want %q from %q", got, source, tc.models, tc.source)
			}
			if abm := strings.HasPrefix(tc.models, "b2b-abm") || tc.models == "" && slices.Contains(tc.rules, DefaultRules); set.HasAccounts() != abm {
				t.Errorf("models %v: scoring accounts %v, want %v", set.Names(), set.HasAccounts(), abm)
			}
		})
	}
}

// TestDemoScreen draws the terminal view of a demo state.
func TestDemoScreen(t *testing.T) {
	c := &Config{Seed: 3, Speedup: 604800, Rate: 200, Leads: 100, Rules: []string{"../../" + DefaultRules, "../../" + DefaultSecondRules}}
	set, _, source, err := c.loadRules()
	if err != nil {
		t.Fatal(err)
	}
	d := &session{stats: stats{ByTopic: map[string]int64{}, Into: map[string]int64{}, Moves: map[string]int64{},
		Stages: map[string]int{}, ByModel: map[string]map[string]int{}, Accounts: map[string]int{}}, set: set, eng: set.Engines()[0], source: source, cfg: c, counts: newCounters(), sent: &produced{},
		pace: &pacer{}, clock: newSimClock(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), 1),
		rig:   &rig{kafkaAddr: "127.0.0.1:9092", redisDesc: "embedded", httpAddr: "127.0.0.1:8080"},
		stage: map[string]map[string]string{}, lastID: map[string]string{}, accountStage: map[string]string{}, began: time.Now()}
	d.pace.people.Store(10)
	d.applyAccount(&output.AccountStageChange{ID: "ac_1", AccountID: "acct-000042", From: "engaged", To: "mqa", Direction: "up",
		Engagement: 61.5, EngagedMembers: 2, Roles: []string{"decision_maker"}, EventTime: "2026-11-24T08:00:00.000Z"})
	d.apply(&output.StageChange{ID: "sc_0", Model: "textbook-funnel", LeadID: "user:crm-1", From: "visitor", To: "sql", Direction: "up",
		Cause: output.Cause{Kind: "trigger", Rule: "demo_request"}, EventTime: "2026-11-24T09:00:00.000Z"})
	d.apply(&output.StageChange{ID: "sc_1", Model: "b2b-abm", LeadID: "user:crm-1", From: "visitor", To: "lead", Direction: "up",
		Cause: output.Cause{Kind: "criteria"}, EventTime: "2026-11-24T10:00:00.000Z"})
	d.apply(&output.StageChange{ID: "sc_2", Model: "b2b-abm", LeadID: "user:crm-1", From: "lead", To: "sql", Direction: "up", Score: 41,
		Fit: 45, Grade: "A", Cause: output.Cause{Kind: "trigger", Rule: "demo_request"}, EventTime: "2026-11-25T10:00:00.000Z"})
	d.apply(&output.StageChange{ID: "sc_2", Model: "b2b-abm", LeadID: "user:crm-1", From: "lead", To: "sql", Direction: "up",
		Cause: output.Cause{Kind: "trigger", Rule: "demo_request"}, EventTime: "2026-11-25T10:00:00.000Z"}) // re-emitted
	d.settle(time.Now())
	if d.Stages["sql"] != 1 || d.Stages["lead"] != 0 || d.Stages["visitor"] != 9 || d.Moves["lead → sql"] != 1 {
		t.Errorf("stages %v, moves %v", d.Stages, d.Moves)
	}
	if tb := d.ByModel["textbook-funnel"]; tb["sql"] != 1 || tb["visitor"] != 9 || d.Moves["textbook-funnel: visitor → sql"] != 1 || d.Into["sql"] != 1 {
		t.Errorf("textbook-funnel: stages %v, moves %v, into %v", tb, d.Moves, d.Into)
	}
	var b bytes.Buffer
	v := &view{out: &b, tty: true, d: d}
	v.start()
	v.draw()
	v.stop()
	s := b.String()
	for _, want := range []string{"\x1b[2J", "funnel of b2b-abm", "textbook-funnel\x1b[0m visitor 9 · nurture 0 · lead 0", "textbook-funnel: visitor", "latest handoffs", "accounts\x1b[0m target 0 · engaged 0 · mqa 1",
		"acct-000042        → mqa       engagement   61.5  2 engaged (decision_maker)", "user:crm-1", "trigger demo_request",
		"kafka 127.0.0.1:9092", "api http://127.0.0.1:8080/v1/leads/user:crm-1 · /v1/leads?stage=sql", "█", "\x1b[?25h"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}

	// In a small terminal the frame is clipped to fit: no line wraps and the
	// frame does not scroll, so the next frame, drawn from the top, covers it
	// (a frame that scrolled showed its header twice under tmux).
	for _, size := range [][2]int{{60, 20}, {40, 12}, {200, 80}} {
		b.Reset()
		v := &view{out: &b, tty: true, d: d, size: func() (int, int) { return size[0], size[1] }}
		v.draw()
		frame := strings.TrimSuffix(strings.TrimPrefix(b.String(), "\x1b[H"), "\x1b[J")
		lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
		if len(lines) > size[1]-1 {
			t.Errorf("%dx%d: %d lines, more than the terminal's rows less one", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if w := utf8.RuneCountInString(ansi.ReplaceAllString(l, "")); w > size[0] {
				t.Errorf("%dx%d: a line of %d columns: %q", size[0], size[1], w, l)
			}
		}
		if n := strings.Count(frame, "leadscore demo"); n != 1 {
			t.Errorf("%dx%d: the header appears %d times", size[0], size[1], n)
		}
	}

	// The plain view prints a lead id to try once.
	b.Reset()
	pv := &view{out: &b, d: d}
	pv.draw()
	pv.draw()
	if n := strings.Count(b.String(), "try: curl -s http://127.0.0.1:8080/v1/leads/user:crm-1\n"); n != 1 {
		t.Errorf("plain view: the lead to try is printed %d times:\n%s", n, b.String())
	}
}

// ansi matches the escape sequences the view uses.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[@-~]`)

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		cols int
		want string
	}{
		{"abcdef", 3, "abc"},
		{"abc", 3, "abc"},
		{"abc", 0, "abc"},
		{"\x1b[1mab\x1b[0mcd", 3, "\x1b[1mab\x1b[0mc"},
		{"→ █▏x", 3, "→ █"},
		{"\x1b[2mxy", 1, "\x1b[2mx"},
	} {
		if got := clip(c.in, c.cols); got != c.want {
			t.Errorf("clip(%q, %d) = %q, want %q", c.in, c.cols, got, c.want)
		}
	}
}

func TestCauseText(t *testing.T) {
	tests := []struct {
		c    output.Cause
		want string
	}{
		{output.Cause{Kind: "trigger", Rule: "demo_request"}, "trigger demo_request"},
		{output.Cause{Kind: "feedback", Feedback: "rejected", Reason: "no_budget"}, "feedback rejected (no_budget)"},
		{output.Cause{Kind: "feedback", Feedback: "accepted"}, "feedback accepted"},
		{output.Cause{Kind: "decay"}, "decay"},
		{output.Cause{Kind: "inactivity", Rule: "inactive_90d"}, "inactivity inactive_90d"},
		{output.Cause{Kind: "merge", Rule: "anon:x"}, "merge of anon:x"},
	}
	for _, tt := range tests {
		if got := causeText(tt.c); got != tt.want {
			t.Errorf("causeText(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		n, peak, width int
		want           string
	}{
		{0, 10, 4, ""},
		{10, 10, 4, "████"},
		{5, 10, 4, "██"},
		{1, 1000, 4, "▏"},
		{3, 8, 1, "▍"},
	}
	for _, tt := range tests {
		if got := bar(tt.n, tt.peak, tt.width); got != tt.want {
			t.Errorf("bar(%d, %d, %d) = %q, want %q", tt.n, tt.peak, tt.width, got, tt.want)
		}
	}
}
