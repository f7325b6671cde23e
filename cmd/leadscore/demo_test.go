package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/leadscore/leadscore/scoring"
)

// TestDemoMovesLeads plays three seconds of a fast demo and checks that leads went
// through the funnel and that the summary was printed, without a terminal.
func TestDemoMovesLeads(t *testing.T) {
	c := demoCmd{Rate: 20000, Leads: 1000, Seed: 1, Rules: demoRulesDefault,
		Speedup: 60 * 24 * 3600, Refresh: 500 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out bytes.Buffer
	st, err := c.run(ctx, &out, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"lead", "mql", "sql"} {
		if st.Into[stage] == 0 {
			t.Errorf("no lead reached %s in 3 s; moves: %v", stage, st.Moves)
		}
	}
	if st.Events == 0 || st.Bad != 0 {
		t.Errorf("%d events, %d bad", st.Events, st.Bad)
	}
	if st.SimTo <= st.SimFrom {
		t.Errorf("simulated clock did not move: %d → %d", st.SimFrom, st.SimTo)
	}
	text := out.String()
	for _, want := range []string{"leadscore demo: model b2b-saas-", "] sim 2026-", "summary:", "events: ",
		"leads by stage (", "stage changes (", "visitor → lead"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Errorf("ANSI escapes in plain output:\n%q", text)
	}
	t.Logf("\n%s", text)
}

// TestDemoCommand runs `leadscore demo` as main does: flags, the --duration stop,
// the exit code, and a flag error.
func TestDemoCommand(t *testing.T) {
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"demo", "--duration=1500ms", "--rate=50000", "--leads=500",
		"--speedup=8640000", "--refresh=250ms", "--seed=7"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if d := time.Since(start); d < 1500*time.Millisecond || d > 6*time.Second {
		t.Errorf("demo with --duration=1500ms ran %s", d)
	}
	if !strings.Contains(out.String(), "summary:") || !strings.Contains(out.String(), "seed 7") {
		t.Errorf("output:\n%s", out.String())
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"demo", "--rate=0"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--rate 0: must be") {
		t.Errorf("demo --rate=0: exit %d, stderr %q", code, errb.String())
	}
}

func TestDemoFlagDefaults(t *testing.T) {
	t.Setenv("LEADSCORE_DEMO_RATE", "75")
	var cli struct {
		Demo demoCmd `cmd:""`
	}
	p, err := kong.New(&cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]string{"demo"}); err != nil {
		t.Fatal(err)
	}
	got := cli.Demo
	want := demoCmd{Rate: 75, Leads: 2000, Seed: 1, Rules: demoRulesDefault, Speedup: 604800, Refresh: time.Second}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if err := got.validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestDemoValidate(t *testing.T) {
	ok := demoCmd{Rate: 1, Leads: 1, Speedup: 1, Refresh: time.Second}
	tests := []struct {
		name string
		edit func(*demoCmd)
		want string
	}{
		{"valid", func(*demoCmd) {}, ""},
		{"zero rate", func(c *demoCmd) { c.Rate = 0 }, "--rate"},
		{"negative speedup", func(c *demoCmd) { c.Speedup = -1 }, "--speedup"},
		{"no leads", func(c *demoCmd) { c.Leads = 0 }, "--leads"},
		{"no refresh", func(c *demoCmd) { c.Refresh = 0 }, "--refresh"},
		{"negative duration", func(c *demoCmd) { c.Duration = -time.Second }, "--duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDemoRules(t *testing.T) {
	// The tests run in cmd/leadscore, where the default path does not exist: the
	// embedded copy is used.
	c := demoCmd{Rules: demoRulesDefault}
	m, source, err := c.loadRules()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Version, "b2b-saas-") || !strings.Contains(source, "embedded") {
		t.Errorf("model %s from %s", m.Version, source)
	}
	// From the repository root, the file itself.
	c.Rules = "../../" + demoRulesDefault
	if _, source, err = c.loadRules(); err != nil || source != c.Rules {
		t.Errorf("loadRules(%s) = %s, %v", c.Rules, source, err)
	}
	// A path the user chose is never replaced.
	c.Rules = "no/such/rules.yaml"
	if _, _, err := c.loadRules(); err == nil {
		t.Error("a missing --rules file was accepted")
	}
}

func TestCauseText(t *testing.T) {
	tests := []struct {
		c    scoring.Cause
		want string
	}{
		{scoring.Cause{Kind: scoring.CauseTrigger, Rule: "demo_request"}, "trigger demo_request"},
		{scoring.Cause{Kind: scoring.CauseFeedback, Feedback: "rejected", Reason: "no_budget"}, "feedback rejected (no_budget)"},
		{scoring.Cause{Kind: scoring.CauseFeedback, Feedback: "accepted"}, "feedback accepted"},
		{scoring.Cause{Kind: scoring.CauseDecay}, "decay"},
		{scoring.Cause{Kind: scoring.CauseInactivity, Rule: "inactive_90d"}, "inactivity inactive_90d"},
		{scoring.Cause{Kind: scoring.CauseMerge, Rule: "anon:x"}, "merge of anon:x"},
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
