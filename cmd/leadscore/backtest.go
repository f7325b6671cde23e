package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/internal/backtest/synth"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/rules"
)

// backtestCmd is `leadscore backtest`: test a rules file on history before
// deploying it. Its default subcommand is report, so `leadscore backtest --rules …`
// works without naming it.
type backtestCmd struct {
	Report   backtestReportCmd   `cmd:"" default:"withargs" help:"Replay an event log under a rules file (and optionally a second one) and measure it against known outcomes (the default)."`
	Generate backtestGenerateCmd `cmd:"" help:"Write a synthetic event log with known outcomes, to try backtest and calibrate."`
}

// backtestReportCmd is `leadscore backtest [report]`.
type backtestReportCmd struct {
	Rules    []string `required:"" type:"existingfile" sep:"none" env:"LEADSCORE_RULES" help:"Rules file (YAML) to test; repeat it to test several models side by side over one read of the log, each reported on its own."`
	Compare  string   `type:"existingfile" env:"LEADSCORE_BACKTEST_COMPARE" help:"A second rules file: the report puts the two side by side and lists the leads whose stage differs, and why (one --rules only)."`
	Events   string   `required:"" env:"LEADSCORE_BACKTEST_EVENTS" help:"JSONL event log: Segment, SendGrid and sales-feedback payloads, one per line, mixed, in time order (.gz accepted; - for stdin)."`
	Outcomes string   `required:"" type:"existingfile" env:"LEADSCORE_BACKTEST_OUTCOMES" help:"JSONL outcomes: {\"lead\": identity, \"outcome\": sql|opportunity|won|lost, \"at\": RFC 3339} (.gz accepted)."`
	Format   string   `default:"text" enum:"text,json,html" env:"LEADSCORE_BACKTEST_FORMAT" help:"Report format: text, json or html (one self-contained page with SVG charts)."`
	Out      string   `default:"-" help:"Where to write the report (- for stdout)."`
	At       string   `help:"Instant to bring every lead to at the end (RFC 3339); default: the latest event time in the log."`
	Positive []string `default:"${positive}" help:"Outcomes that count as a conversion."`
	MQLStage string   `name:"mql-stage" default:"mql" help:"Stage whose definition is measured as MQL (reached = at it or a later stage)."`
	SQLStage string   `name:"sql-stage" default:"sql" help:"Stage whose definition is measured as SQL."`
	MaxDiffs int      `default:"20" help:"With --compare, how many differing leads to list (all are counted)."`
	Strict   bool     `help:"Fail on the first bad event line instead of reporting it and going on."`
	Workers  int      `default:"0" env:"LEADSCORE_BACKTEST_WORKERS" help:"Goroutines decoding the log (0: one per CPU). Events are applied in order whatever the number."`
}

// Run replays the log and writes the report.
func (c *backtestReportCmd) Run(e *env) error {
	if len(c.Rules) > 1 && c.Compare != "" {
		return errors.New("--compare puts one model beside one other: give a single --rules with it (several --rules report each model on its own)")
	}
	if len(c.Rules) > 1 && c.Format == "html" {
		return errors.New("--format html is one model's page: give a single --rules, or use --format text or json for several")
	}
	m, err := rules.Load(c.Rules[0])
	if err != nil {
		return err
	}
	cfg := backtest.Config{Rules: m, RulesName: c.Rules[0], MQLStage: c.MQLStage, SQLStage: c.SQLStage, MaxDiffs: c.MaxDiffs}
	for _, f := range c.Rules[1:] {
		m, err := rules.Load(f)
		if err != nil {
			return err
		}
		cfg.More = append(cfg.More, backtest.NamedModel{Rules: m, Name: f})
	}
	if c.MaxDiffs == 0 {
		cfg.MaxDiffs = -1
	}
	if c.Compare != "" {
		if cfg.Compare, err = rules.Load(c.Compare); err != nil {
			return err
		}
		cfg.CompareName = c.Compare
	}
	if cfg.Positive, err = parsePositive(c.Positive); err != nil {
		return err
	}
	if c.At != "" {
		t, err := time.Parse(time.RFC3339Nano, c.At)
		if err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		cfg.At = t
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	in, err := openReplay(e, c.Events, c.Outcomes, c.Strict, c.Workers)
	if err != nil {
		return err
	}
	defer in.close()
	cfg.Outcomes = in.outcomes
	start := time.Now()
	reps, err := backtest.RunEach(cfg, in.events, in.opts)
	if err != nil {
		return err
	}
	took := time.Since(start)
	rep := reps[0]
	if err := writeOutput(c.Out, e.stdout, func(w io.Writer) error {
		switch {
		case len(reps) > 1 && c.Format == "json":
			return backtest.WriteJSONModels(w, reps)
		case len(reps) > 1:
			return writeTextEach(w, reps, (*backtest.Report).WriteText)
		case c.Format == "json":
			return rep.WriteJSON(w)
		case c.Format == "html":
			return rep.WriteHTML(w)
		}
		return rep.WriteText(w)
	}); err != nil {
		return err
	}
	l := rep.Log
	models := ""
	if len(reps) > 1 {
		models = fmt.Sprintf(" under %d models", len(reps))
	}
	fmt.Fprintf(e.stderr, "backtested %d events (%d duplicates, %d ignored, %d bad) for %d leads%s in %s (%.0f events/s)\n",
		l.Events, l.Duplicates, l.Ignored, l.Bad, rep.Results[0].Leads, models, took.Round(time.Millisecond), float64(l.Events)/max(took.Seconds(), 1e-9))
	return nil
}

// writeTextEach writes several models' reports one after the other, a blank
// line between them; each opens with its own title naming its rules file.
func writeTextEach[R any](w io.Writer, reps []R, write func(R, io.Writer) error) error {
	for i, r := range reps {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := write(r, w); err != nil {
			return err
		}
	}
	return nil
}

// logOptions reports bad lines on stderr, as `leadscore score` does.
// replayInput is what a replay of an event log against known outcomes
// (backtest, calibrate) reads.
type replayInput struct {
	outcomes []backtest.Outcome
	events   io.Reader
	opts     backtest.LogOptions
	close    func() // closes events
}

// openReplay reads the outcomes file, then opens the event log: a bad
// outcomes file fails before the log (perhaps stdin) is touched.
func openReplay(e *env, events, outcomes string, strict bool, workers int) (replayInput, error) {
	outs, err := readOutcomesFile(outcomes)
	if err != nil {
		return replayInput{}, err
	}
	in, closeIn, err := openInput(events)
	if err != nil {
		return replayInput{}, err
	}
	return replayInput{outcomes: outs, events: in, opts: logOptions(e, events, strict, workers), close: closeIn}, nil
}

func logOptions(e *env, name string, strict bool, workers int) backtest.LogOptions {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return backtest.LogOptions{Strict: strict, Workers: workers, Bad: func(line int, err error) {
		fmt.Fprintf(e.stderr, "%s:%d: %v\n", name, line, err)
	}}
}

func parsePositive(names []string) ([]backtest.OutcomeKind, error) {
	var ks []backtest.OutcomeKind
	for _, n := range names {
		k, ok := backtest.ParseOutcomeKind(n)
		if !ok {
			return nil, fmt.Errorf("--positive: unknown outcome %q (want sql, opportunity, won or lost)", n)
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return nil, errors.New("--positive: at least one outcome must count as a conversion")
	}
	return ks, nil
}

func readOutcomesFile(name string) ([]backtest.Outcome, error) {
	in, closeIn, err := openInput(name)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	outs, err := backtest.ReadOutcomes(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return outs, nil
}

// writeOutput runs write on stdout ("-") or on a new file, buffered; a file is
// removed again when writing fails.
func writeOutput(name string, stdout io.Writer, write func(io.Writer) error) error {
	if name == "-" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// backtestGenerateCmd is `leadscore backtest generate`.
type backtestGenerateCmd struct {
	Model    string `default:"journeys" enum:"journeys,propensity" help:"journeys: realistic visitor journeys (the demo's); propensity: actions with known true weights (calibrate should recover their order)."`
	Leads    int    `default:"2000" help:"People in the history."`
	Seed     int64  `default:"1" help:"Seed: the same seed writes the same history."`
	Events   string `required:"" help:"Where to write the JSONL event log (.gz: compressed)."`
	Outcomes string `required:"" help:"Where to write the JSONL outcomes."`
	RulesOut string `name:"rules-out" help:"Also write the rules file the history is made for (journeys: the B2B example; propensity: every action worth the same points)."`
}

// Run writes the history, its outcomes and optionally its rules file.
func (c *backtestGenerateCmd) Run(e *env) error {
	if c.Leads <= 0 {
		return fmt.Errorf("--leads %d: must be positive", c.Leads)
	}
	var (
		next     func() ([]byte, bool)
		outcomes func() []backtest.Outcome
		rulesSrc []byte
	)
	switch c.Model {
	case "propensity":
		cfg := synth.Config{Seed: c.Seed, Leads: c.Leads}
		g, err := synth.New(cfg)
		if err != nil {
			return err
		}
		next = func() ([]byte, bool) { r, ok := g.Next(); return r.Value, ok }
		outcomes = g.Outcomes
		rulesSrc = synth.Rules(cfg)
		defer func() {
			fmt.Fprintf(e.stderr, "true weights (log-odds per decay-weighted occurrence):")
			for _, a := range synth.DefaultActions() {
				fmt.Fprintf(e.stderr, " %s %+g", a.Name, a.Weight)
			}
			fmt.Fprintln(e.stderr)
		}()
	default:
		g, err := journeys.New(journeys.Config{Seed: c.Seed, Leads: c.Leads, KeepTruth: true})
		if err != nil {
			return err
		}
		next = func() ([]byte, bool) { r, ok := g.Next(); return r.Value, ok }
		outcomes = func() []backtest.Outcome { return backtest.OutcomesFromTruth(g.DrainTruth(nil)) }
		rulesSrc = journeys.B2BRules()
	}
	n := 0
	if err := writeOutput(c.Events, e.stdout, func(w io.Writer) error {
		if strings.HasSuffix(c.Events, ".gz") {
			gz := gzip.NewWriter(w)
			defer gz.Close()
			w = gz
		}
		for {
			v, ok := next()
			if !ok {
				break
			}
			n++
			if _, err := w.Write(append(v, '\n')); err != nil {
				return err
			}
		}
		if gz, ok := w.(*gzip.Writer); ok {
			return gz.Close()
		}
		return nil
	}); err != nil {
		return err
	}
	outs := outcomes()
	if err := writeOutput(c.Outcomes, e.stdout, func(w io.Writer) error { return backtest.WriteOutcomes(w, outs) }); err != nil {
		return err
	}
	if c.RulesOut != "" {
		if err := writeOutput(c.RulesOut, e.stdout, func(w io.Writer) error { _, err := w.Write(rulesSrc); return err }); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "wrote %d events for %d people to %s and %d outcomes to %s\n", n, c.Leads, c.Events, len(outs), c.Outcomes)
	return nil
}
