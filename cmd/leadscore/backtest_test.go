package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/rules"
)

// TestBacktestEndToEnd: generate a history with outcomes, backtest it (text, JSON,
// HTML, with a comparison), calibrate it, and backtest the proposal against the
// base — the workflow docs/backtest.md describes.
func TestBacktestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	exec := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != wantCode {
			t.Fatalf("leadscore %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}

	_, stderr := exec(0, "backtest", "generate", "--model", "propensity", "--leads", "1500", "--seed", "4",
		"--events", p("h.jsonl.gz"), "--outcomes", p("o.jsonl"), "--rules-out", p("base.yaml"))
	if !strings.Contains(stderr, "for 1500 people") || !strings.Contains(stderr, "true weights") {
		t.Errorf("generate said %q", stderr)
	}

	out, stderr := exec(0, "backtest", "--rules", p("base.yaml"), "--events", p("h.jsonl.gz"), "--outcomes", p("o.jsonl"))
	for _, want := range []string{"FUNNEL", "STAGE DEFINITIONS", "CONVERSION BY SCORE BAND", "QUALIFICATIONS PER WEEK", "mql before outcome"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "backtested ") || !strings.Contains(stderr, "events/s") {
		t.Errorf("stderr %q", stderr)
	}

	out, _ = exec(0, "calibrate", "--rules", p("base.yaml"), "--events", p("h.jsonl.gz"), "--outcomes", p("o.jsonl"), "--out", p("proposed.yaml"))
	if !strings.Contains(out, "LIFT AMONG CONVERTING LEADS") || !strings.Contains(out, "demo_video") || !strings.Contains(out, "+++ "+p("proposed.yaml")) {
		t.Errorf("calibrate report:\n%s", out)
	}
	if _, err := rules.Load(p("proposed.yaml")); err != nil {
		t.Fatalf("proposed rules: %v", err)
	}

	exec(0, "backtest", "--rules", p("base.yaml"), "--compare", p("proposed.yaml"), "--events", p("h.jsonl.gz"),
		"--outcomes", p("o.jsonl"), "--format", "json", "--out", p("r.json"))
	var rep struct {
		Results []struct {
			Calibration struct{ AUC float64 } `json:"calibration"`
		} `json:"results"`
		Diff struct{ Differ int } `json:"diff"`
	}
	b, err := os.ReadFile(p("r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || rep.Diff.Differ == 0 || rep.Results[1].Calibration.AUC <= rep.Results[0].Calibration.AUC {
		t.Errorf("comparison %+v: want two results, some leads differing, and a better AUC for the calibrated points", rep)
	}

	exec(0, "backtest", "--rules", p("base.yaml"), "--events", p("h.jsonl.gz"), "--outcomes", p("o.jsonl"), "--format", "html", "--out", p("r.html"))
	if b, _ := os.ReadFile(p("r.html")); !bytes.Contains(b, []byte("<svg")) || bytes.Contains(b, []byte("https://")) {
		t.Error("the HTML report has no chart, or fetches something")
	}

	// Without a rules file: event kinds, a new rules file, JSON on stdout.
	out, _ = exec(0, "calibrate", "--events", p("h.jsonl.gz"), "--outcomes", p("o.jsonl"), "--out", p("kinds.yaml"), "--format", "json")
	if !strings.Contains(out, `"basis": "event kinds"`) {
		t.Errorf("kinds calibration:\n%.300s", out)
	}
	if _, err := rules.Load(p("kinds.yaml")); err != nil {
		t.Fatalf("proposed kinds rules: %v", err)
	}
}

func TestBacktestErrors(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing outcomes flag", []string{"backtest", "--rules", "../../examples/rules/b2b-saas.yaml", "--events", "x"}, 2, "missing flags: --outcomes"},
		{"bad outcomes", []string{"backtest", "--rules", "../../examples/rules/b2b-saas.yaml", "--events", "../../internal/backtest/testdata/history.jsonl.gz", "--outcomes", "../../examples/rules/b2b-saas.yaml"}, 1, "outcomes line 1:"},
		{"bad positive", []string{"backtest", "--rules", "../../examples/rules/b2b-saas.yaml", "--events", "x", "--outcomes", "../../internal/backtest/testdata/outcomes.jsonl", "--positive", "closed"}, 1, `unknown outcome "closed"`},
		{"no such stage", []string{"backtest", "--rules", "../../examples/rules/b2b-saas.yaml", "--events", "x", "--outcomes", "../../internal/backtest/testdata/outcomes.jsonl", "--mql-stage", "nope"}, 1, `has no stage "nope"`},
		{"bad format", []string{"backtest", "--rules", "../../examples/rules/b2b-saas.yaml", "--events", "x", "--outcomes", "../../internal/backtest/testdata/outcomes.jsonl", "--format", "pdf"}, 2, "--format must be one of"},
		{"bad half-life", []string{"calibrate", "--events", "x", "--outcomes", "../../internal/backtest/testdata/outcomes.jsonl", "--half-life", "soon"}, 1, "--half-life"},
		{"generate without leads", []string{"backtest", "generate", "--leads", "0", "--events", "x", "--outcomes", "y"}, 1, "--leads 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(c.args, &out, &errb)
			if code != c.code || !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), c.code, c.stderr)
			}
		})
	}
}

func TestParseDays(t *testing.T) {
	cases := map[string]string{"45d": "1080h0m0s", "2w": "336h0m0s", "12h": "12h0m0s", "1.5d": "36h0m0s", "0": "0s", "250ms": "250ms"}
	for in, want := range cases {
		d, err := parseDays(in)
		if err != nil || d.String() != want {
			t.Errorf("parseDays(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-3d"} {
		if _, err := parseDays(bad); err == nil {
			t.Errorf("parseDays(%q) accepted", bad)
		}
	}
}

// TestBacktestSeveralModels: backtest and calibrate given several --rules
// report (and calibrate) each model exactly as a run with it alone would,
// and refuse what has no meaning for several models.
func TestBacktestSeveralModels(t *testing.T) {
	const td = "../../internal/backtest/testdata/"
	hist, outs, a, b := td+"history.jsonl.gz", td+"outcomes.jsonl", td+"rules-a.yaml", td+"rules-b.yaml"
	exec := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return out.String(), errb.String(), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := exec(args...)
		if code != 0 {
			t.Fatalf("leadscore %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	log := []string{"--events", hist, "--outcomes", outs}

	t.Run("backtest", func(t *testing.T) {
		for _, format := range []string{"text", "json"} {
			alone := map[string]string{}
			for _, r := range []string{a, b} {
				alone[r] = must(append([]string{"backtest", "--rules", r, "--format", format}, log...)...)
			}
			if alone[a] == alone[b] {
				t.Fatalf("%s: rules-a and rules-b report the same", format)
			}
			both := must(append([]string{"backtest", "--rules", a, "--rules", b, "--format", format}, log...)...)
			var got []string
			if format == "json" {
				var reps struct{ Models []json.RawMessage }
				if err := json.Unmarshal([]byte(both), &reps); err != nil {
					t.Fatalf("json: %v\n%.300s", err, both)
				}
				for _, r := range reps.Models {
					var buf bytes.Buffer
					if err := json.Indent(&buf, r, "", "  "); err != nil {
						t.Fatal(err)
					}
					got = append(got, buf.String()+"\n")
				}
			} else {
				// Each report opens with its title; the second follows a blank line.
				i := strings.Index(both, "\n\nleadscore backtest: ")
				if i < 0 {
					t.Fatalf("text: no second report:\n%s", both)
				}
				got = []string{both[:i+1], both[i+2:]}
			}
			if len(got) != 2 || got[0] != alone[a] || got[1] != alone[b] {
				t.Errorf("%s: the two models' reports are not each model's report alone (%d reports)", format, len(got))
			}
		}
	})

	t.Run("calibrate", func(t *testing.T) {
		dir := t.TempDir()
		aloneOut := filepath.Join(t.TempDir(), "rules-a.calibrated.yaml")
		must(append([]string{"calibrate", "--rules", a, "--out", aloneOut, "--diff", ""}, log...)...)
		must(append([]string{"calibrate", "--rules", a, "--rules", b, "--out", dir}, log...)...)
		for _, name := range []string{"rules-a.calibrated.yaml", "rules-b.calibrated.yaml"} {
			if _, err := rules.Load(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		got, err := os.ReadFile(filepath.Join(dir, "rules-a.calibrated.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(aloneOut)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Error("rules-a's proposal differs from calibrating it alone")
		}
	})

	refusals := []struct {
		name string
		args []string
		want string
	}{
		{"compare with several", []string{"backtest", "--rules", a, "--rules", b, "--compare", a}, "--compare puts one model beside one other"},
		{"html with several", []string{"backtest", "--rules", a, "--rules", b, "--format", "html"}, "--format html is one model's page"},
		{"calibrate several from stdin", []string{"calibrate", "--rules", a, "--rules", b, "--events", "-", "--outcomes", outs}, "must be a file, not stdin"},
		{"calibrate several to one file", []string{"calibrate", "--rules", a, "--rules", b, "--out", filepath.Join(t.TempDir(), "x.yaml")}, "--out is the directory"},
		{"calibrate several, diff to a file", []string{"calibrate", "--rules", a, "--rules", b, "--out", t.TempDir(), "--diff", "d.diff"}, "--diff: with several --rules"},
		{"calibrate two files of one name", []string{"calibrate", "--rules", a, "--rules", a, "--out", t.TempDir()}, "give the files distinct names"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if !slices.Contains(args, "--events") {
				args = append(args, log...)
			}
			_, stderr, code := exec(args...)
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, c.want)
			}
		})
	}
}
