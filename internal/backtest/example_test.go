package backtest_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/internal/backtest/synth"
	"github.com/leadscore/leadscore/rules"
)

// A backtest replays a log under a rules file and measures its stage definitions
// against what the CRM says happened.
func ExampleRun() {
	model, err := rules.Parse("example.yaml", []byte(`
version: example-1
rules:
  - {name: pricing, points: 20, match: {source: web, type: page, path: /pricing}}
  - {name: demo, points: 50, match: {source: web, type: track, event: Demo Requested}, tags: [hand]}
stages:
  - name: visitor
  - name: mql
    entry: [{score: 40}]
  - name: sql
    entry: [{identified: true, trigger_tag: hand}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	log := strings.NewReader(`{"type":"page","userId":"ann","properties":{"path":"/pricing"},"timestamp":"2026-03-02T09:00:00Z"}
{"type":"page","userId":"ann","properties":{"path":"/pricing"},"timestamp":"2026-03-03T09:00:00Z"}
{"type":"track","userId":"ann","event":"Demo Requested","timestamp":"2026-03-04T09:00:00Z"}
{"type":"page","userId":"bob","properties":{"path":"/pricing"},"timestamp":"2026-03-04T10:00:00Z"}
`)
	outcomes, err := backtest.ReadOutcomes(strings.NewReader(`{"lead":"ann","outcome":"sql","at":"2026-03-04T09:00:00Z"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := backtest.Run(backtest.Config{Rules: model, Outcomes: outcomes}, log, backtest.LogOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := rep.Results[0]
	fmt.Printf("%d leads, %d positive\n", r.Population, r.Positives)
	for _, d := range r.Definitions[:2] {
		fmt.Printf("%s %s: %d predicted, precision %.2f, recall %.2f\n", d.Stage, d.Basis, d.Predicted, d.Precision, d.Recall)
	}
	fmt.Printf("time to mql: median %.1f days\n", r.TimeTo[0].MedianDays)
	// Output:
	// 2 leads, 1 positive
	// mql ever: 1 predicted, precision 1.00, recall 1.00
	// mql before_outcome: 1 predicted, precision 1.00, recall 1.00
	// time to mql: median 1.0 days
}

// Calibrate suggests points from history. Here the history is synthetic, with
// known true weights: the demo video matters most, unsubscribing counts against.
func ExampleCalibrate() {
	cfg := synth.Config{Seed: 1, Leads: 3000}
	g, err := synth.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	var log strings.Builder
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		log.Write(r.Value)
		log.WriteByte('\n')
	}
	rep, err := backtest.Calibrate(backtest.CalibrateConfig{Rules: synth.Rules(cfg), RulesName: "synth.yaml", Outcomes: g.Outcomes()},
		strings.NewReader(log.String()), backtest.LogOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	top, bottom := rep.Features[0], rep.Features[len(rep.Features)-2] // the last is demo_request, never fitted
	fmt.Printf("strongest: %s (true weight %+.1f)\n", top.Name, cfg.Weights()[top.Name])
	fmt.Printf("weakest: %s (true weight %+.1f), suggested points < 0: %v\n", bottom.Name, cfg.Weights()[bottom.Name], bottom.Suggested < 0)
	// Output:
	// strongest: demo_video (true weight +1.2)
	// weakest: unsubscribe (true weight -1.0), suggested points < 0: true
}

// Outcomes name leads by any identity; bare values are tried as an e-mail address
// or a userId.
func ExampleIdentityKeys() {
	fmt.Println(backtest.IdentityKeys("Ann@Example.com"))
	fmt.Println(backtest.IdentityKeys("crm-000042"))
	// Output:
	// [email:ann@example.com user:Ann@Example.com]
	// [user:crm-000042]
}

func ExampleWriteOutcomes() {
	outs, _ := backtest.ReadOutcomes(strings.NewReader(`{"lead":"user:crm-1","outcome":"won","at":"2026-05-01T12:00:00+02:00"}`))
	backtest.WriteOutcomes(os.Stdout, outs)
	// Output:
	// {"lead":"user:crm-1","outcome":"won","at":"2026-05-01T10:00:00.000Z"}
}
