package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/backtest"
)

// calibrateCmd is `leadscore calibrate`: suggest points from history.
type calibrateCmd struct {
	Events      string   `required:"" env:"LEADSCORE_BACKTEST_EVENTS" help:"JSONL event log, in time order (.gz accepted; - for stdin)."`
	Outcomes    string   `required:"" type:"existingfile" env:"LEADSCORE_BACKTEST_OUTCOMES" help:"JSONL outcomes: {\"lead\": identity, \"outcome\": sql|opportunity|won|lost, \"at\": RFC 3339} (.gz accepted)."`
	Rules       []string `type:"existingfile" sep:"none" env:"LEADSCORE_RULES" help:"Base rules file: calibrate the points of its engagement rules. Repeat it to calibrate several models, each on its own. Without it, each kind of event is a feature and a new rules file is proposed."`
	Out         string   `default:"${calibrate_out}" help:"Where to write the proposed rules file (- for stdout; the report then goes to stderr). With several --rules, a directory (default: the current one) that receives each proposal as <base name>.calibrated.yaml."`
	Diff        string   `default:"-" help:"Where to write the unified diff from the base to the proposed file (- : after the text report on stdout; empty: nowhere). With several --rules, - or empty only."`
	Format      string   `default:"text" enum:"text,json" help:"Report format: text, or json (which holds the proposed file and the diff)."`
	L2          float64  `name:"l2" default:"1" help:"Ridge penalty λ on each rule's log-odds per hit (a Gaussian prior of variance 1/λ); 0 for none."`
	HalfLife    string   `help:"Half-life weighing hits by their age at the cut-off, e.g. 45d (default: the rules file's decay.half_life; 45d without one; 0 for plain counts)."`
	MinLeads    int      `default:"30" help:"A rule (or event kind) is fitted only when at least this many leads hit it before their cut-off; others keep their points."`
	MaxFeatures int      `default:"60" help:"Without --rules, the event kinds fitted, most frequent first."`
	Positive    []string `default:"${positive}" help:"Outcomes that count as a conversion."`
	MQLStage    string   `name:"mql-stage" default:"mql" help:"Stage whose score threshold the proposed points keep (as many leads above it)."`
	Version     string   `help:"Version of the proposed rules file (default: the base's version + -calibrated)."`
	Strict      bool     `help:"Fail on the first bad event line instead of reporting it and going on."`
	Workers     int      `default:"0" env:"LEADSCORE_BACKTEST_WORKERS" help:"Goroutines decoding the log (0: one per CPU)."`
}

// defaultCalibrateOut is --out's default: with several --rules it stands for
// the current directory.
const defaultCalibrateOut = "proposed-rules.yaml"

// Run replays the log, fits the regression and writes the report, the proposed
// rules file and the diff. With several base rules files it calibrates each on
// its own, as if it were given alone, reading the log once per file.
func (c *calibrateCmd) Run(e *env) error {
	if len(c.Rules) > 1 {
		return c.runEach(e)
	}
	rep, err := c.calibrate(e)
	if err != nil {
		return err
	}
	if err := writeOutput(c.Out, e.stdout, func(w io.Writer) error { _, err := io.WriteString(w, rep.Proposed); return err }); err != nil {
		return err
	}
	report := e.stdout
	if c.Out == "-" {
		report = e.stderr
	}
	if c.Format == "json" {
		if err := writeOutput("-", report, rep.WriteJSON); err != nil {
			return err
		}
	} else if err := writeOutput("-", report, rep.WriteText); err != nil {
		return err
	}
	switch {
	case c.Diff == "" || c.Diff == "-" && c.Format == "json":
	case c.Diff == "-":
		fmt.Fprintf(report, "\n%s", rep.Diff)
	default:
		if err := writeOutput(c.Diff, e.stdout, func(w io.Writer) error { _, err := io.WriteString(w, rep.Diff); return err }); err != nil {
			return err
		}
	}
	if c.Out != "-" {
		base := c.Out
		if len(c.Rules) == 1 {
			base = c.Rules[0]
		}
		fmt.Fprintf(e.stderr, "wrote the proposed rules to %s (try it: leadscore backtest --rules %s --compare %s …)\n", c.Out, base, c.Out)
	}
	return nil
}

// calibrate replays the log under the one base rules file given (or none)
// and fits the regression.
func (c *calibrateCmd) calibrate(e *env) (*backtest.CalibrateReport, error) {
	cfg := backtest.CalibrateConfig{L2: c.L2, MinLeads: c.MinLeads, MaxFeatures: c.MaxFeatures, MQLStage: c.MQLStage, Version: c.Version}
	if c.L2 == 0 {
		cfg.L2 = -1 // none
	}
	if c.L2 < 0 {
		return nil, fmt.Errorf("--l2 %g: must not be negative", c.L2)
	}
	if len(c.Rules) == 1 {
		src, err := os.ReadFile(c.Rules[0])
		if err != nil {
			return nil, err
		}
		cfg.Rules, cfg.RulesName = src, c.Rules[0]
	}
	if c.Out != "-" {
		cfg.ProposedName = c.Out
	}
	if c.HalfLife != "" {
		d, err := parseDays(c.HalfLife)
		if err != nil {
			return nil, fmt.Errorf("--half-life: %w", err)
		}
		cfg.HalfLife = d
		if d == 0 {
			cfg.HalfLife = -1 // no decay
		}
	}
	var err error
	if cfg.Positive, err = parsePositive(c.Positive); err != nil {
		return nil, err
	}
	in, err := openReplay(e, c.Events, c.Outcomes, c.Strict, c.Workers)
	if err != nil {
		return nil, err
	}
	defer in.close()
	cfg.Outcomes = in.outcomes
	return backtest.Calibrate(cfg, in.events, in.opts)
}

// runEach calibrates each of several base rules files on its own: the same
// calibration as a run with that file alone, its proposal written to the
// --out directory as <base name>.calibrated.yaml. The log is read once per
// file, so it must be a file, not stdin.
func (c *calibrateCmd) runEach(e *env) error {
	if c.Events == "-" {
		return errors.New("--events -: several --rules read the log once per model, so it must be a file, not stdin")
	}
	dir := c.Out
	if dir == defaultCalibrateOut {
		dir = "."
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--out %s: with several --rules, --out is the directory that receives each proposal (as <base name>.calibrated.yaml)", c.Out)
	}
	if c.Diff != "-" && c.Diff != "" {
		return errors.New("--diff: with several --rules, each diff follows its report (-) or is not written (empty); run calibrate once per file to write a diff to a file")
	}
	outs := map[string]string{} // proposal file → base, to refuse two bases of one name
	for _, r := range c.Rules {
		out := filepath.Join(dir, calibratedName(r))
		if other, ok := outs[out]; ok {
			return fmt.Errorf("--rules %s and %s: both proposals would be written to %s; give the files distinct names", other, r, out)
		}
		outs[out] = r
	}
	var reps []*backtest.CalibrateReport
	for _, r := range c.Rules {
		one := *c
		one.Rules, one.Out, one.Diff = []string{r}, filepath.Join(dir, calibratedName(r)), ""
		rep, err := one.calibrate(e)
		if err != nil {
			return fmt.Errorf("calibrating %s: %w", r, err)
		}
		if err := writeOutput(one.Out, e.stdout, func(w io.Writer) error { _, err := io.WriteString(w, rep.Proposed); return err }); err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	if c.Format == "json" {
		if err := writeOutput("-", e.stdout, func(w io.Writer) error { return backtest.WriteJSONModels(w, reps) }); err != nil {
			return err
		}
	} else if err := writeOutput("-", e.stdout, func(w io.Writer) error {
		return writeTextEach(w, reps, func(r *backtest.CalibrateReport, w io.Writer) error {
			if err := r.WriteText(w); err != nil {
				return err
			}
			if c.Diff == "-" {
				_, err := fmt.Fprintf(w, "\n%s", r.Diff)
				return err
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, r := range c.Rules {
		out := filepath.Join(dir, calibratedName(r))
		fmt.Fprintf(e.stderr, "wrote the proposed rules for %s to %s (try it: leadscore backtest --rules %s --compare %s …)\n", r, out, r, out)
	}
	return nil
}

// calibratedName is the name of a base rules file's proposal: the base's name
// with .calibrated before its extension, as the proposal's diff names it.
func calibratedName(base string) string {
	b := filepath.Base(base)
	ext := filepath.Ext(b)
	return strings.TrimSuffix(b, ext) + ".calibrated" + ext
}

// parseDays reads a duration in the rules file's syntax (a number followed by ms,
// s, m, h, d or w) or Go's.
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
				return time.Duration(f * float64(u.unit)), nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 45d, 12h or 90m", s)
	}
	return d, nil
}
