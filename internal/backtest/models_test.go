package backtest_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/rules"
)

// TestRunEach replays the fixed history under several models at once: each
// model's report must be exactly the report of a run of that model alone
// (text and JSON), and the models' reports must differ, so that a mix-up
// (one model's measures under another's name) cannot pass.
func TestRunEach(t *testing.T) {
	outcomes := func(t *testing.T) []backtest.Outcome {
		f, err := os.Open("testdata/outcomes.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		outs, err := backtest.ReadOutcomes(f)
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	load := func(t *testing.T, name string) backtest.NamedModel {
		m, err := rules.Load("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return backtest.NamedModel{Rules: m, Name: name}
	}
	cases := []struct {
		name  string
		files []string
	}{
		{"one model", []string{"rules-a.yaml"}},
		{"two models", []string{"rules-a.yaml", "rules-b.yaml"}},
		{"two models, the other order", []string{"rules-b.yaml", "rules-a.yaml"}},
		{"three models", []string{"rules-b.yaml", "rules-a.yaml", "rules-b.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var models []backtest.NamedModel
			for _, f := range c.files {
				models = append(models, load(t, f))
			}
			cfg := backtest.Config{Rules: models[0].Rules, RulesName: models[0].Name, More: models[1:], Outcomes: outcomes(t)}
			reps, err := backtest.RunEach(cfg, history(t), backtest.LogOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != len(models) {
				t.Fatalf("%d reports for %d models", len(reps), len(models))
			}
			texts := map[string]string{}
			for i, m := range models {
				alone, err := backtest.Run(backtest.Config{Rules: m.Rules, RulesName: m.Name, Outcomes: cfg.Outcomes}, history(t), backtest.LogOptions{Workers: 2})
				if err != nil {
					t.Fatal(err)
				}
				got, want := render(t, reps[i]), render(t, alone)
				if got != want {
					t.Errorf("model %d (%s): its report differs from a run of it alone:\n%s", i+1, m.Name, firstDiff(got, want))
				}
				if other, ok := texts[m.Name]; ok && other != got {
					t.Errorf("%s is reported twice, differently", m.Name)
				}
				texts[m.Name] = got
			}
			if len(texts) > 1 && texts["rules-a.yaml"] == texts["rules-b.yaml"] {
				t.Error("rules-a and rules-b give the same report: the test cannot tell them apart")
			}
		})
	}
}

// TestSeveralModelsRefusals: a comparison stays one-to-one, and a run of
// several models has no single report.
func TestSeveralModelsRefusals(t *testing.T) {
	a, err := rules.Load("testdata/rules-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more := []backtest.NamedModel{{Rules: a, Name: "again"}}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"compare and more", func() error {
			return backtest.Config{Rules: a, Compare: a, More: more}.Validate()
		}, "excludes further models"},
		{"a further model without rules", func() error {
			return backtest.Config{Rules: a, More: []backtest.NamedModel{{Name: "empty"}}}.Validate()
		}, "model 2 has no rules"},
		{"one report of several models", func() error {
			_, err := backtest.Run(backtest.Config{Rules: a, More: more}, strings.NewReader(""), backtest.LogOptions{})
			return err
		}, "one report per model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// render is a report's text and JSON forms, which together hold all of it.
func render(t *testing.T, r *backtest.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// firstDiff shows where two renderings part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "got  " + g[i] + "\nwant " + w[i]
		}
	}
	return "one is longer"
}
