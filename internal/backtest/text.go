package backtest

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as plain-text tables for a terminal. With two models
// the tables put them side by side (A = --rules, B = --compare).
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	t := &textWriter{w: bw}
	t.report(r)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

type textWriter struct {
	w *bufio.Writer
}

func (t *textWriter) printf(format string, args ...any) { fmt.Fprintf(t.w, format, args...) }

// table writes a header and rows as aligned columns.
func (t *textWriter) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.TrimRight(strings.Join(r, "\t"), "\t"))
	}
	tw.Flush()
}

func (t *textWriter) section(title string) { t.printf("\n%s\n", title) }

func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }

func flt(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func dayStr(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) + "d" }

func signed(n int) string {
	if n > 0 {
		return "+" + num(n)
	}
	return num(n)
}

func (t *textWriter) report(r *Report) {
	a := &r.Results[0]
	title := "leadscore backtest: " + label(a)
	if len(r.Results) > 1 {
		title = "leadscore backtest: A = " + label(a) + ", B = " + label(&r.Results[1])
	}
	t.printf("%s\n", title)
	l := r.Log
	span := ""
	if r.From != "" {
		span = " from " + r.From + " to " + r.To
	}
	t.printf("log: %s events%s (%s duplicates, %s ignored, %s without identity, %s bad lines); leads brought to %s\n",
		num(l.Events), span, num(l.Duplicates), num(l.Ignored), num(l.NoIdentity), num(l.Bad), r.At)
	o := r.Outcomes
	var kinds []string
	for _, k := range o.Leads {
		kinds = append(kinds, k.Outcome+" "+num(k.Leads))
	}
	t.printf("outcomes: %s lines; leads with %s; positive = %s; %s unmatched, %s late\n",
		num(o.Lines), strings.Join(kinds, ", "), strings.Join(o.Positive, ", "), num(o.Unmatched), num(o.Late))
	t.printf("population: %s identified or with an outcome, of %s leads; %s positive (%s)\n",
		num(a.Population), num(a.Leads), num(a.Positives), pct(ratio(a.Positives, a.Population)))

	t.funnel(r.Results)
	t.definitions(r.Results)
	t.timeTo(r.Results)
	for i := range r.Results {
		t.calibration(r.Results, i)
	}
	t.weekly(r.Results)
	if r.Diff != nil {
		t.diff(r.Diff)
	}
}

func label(r *Result) string {
	if r.Rules == r.Version || r.Rules == "" {
		return r.Version
	}
	return r.Rules + " (" + r.Version + ")"
}

func (t *textWriter) funnel(rs []Result) {
	t.section("FUNNEL (leads ever at each stage, and at the end)")
	if len(rs) == 1 {
		var rows [][]string
		for _, s := range rs[0].Funnel {
			rows = append(rows, []string{stageName(s), num(s.Entered), num(s.AtEnd)})
		}
		t.table([]string{"stage", "entered", "at end"}, rows)
		return
	}
	// Models may have different stages: list A's, then B's new ones.
	type pair struct{ a, b *StageCount }
	var order []string
	m := map[string]*pair{}
	for k, r := range rs[:2] {
		for i := range r.Funnel {
			s := &r.Funnel[i]
			p := m[s.Stage]
			if p == nil {
				p = &pair{}
				m[s.Stage] = p
				order = append(order, s.Stage)
			}
			if k == 0 {
				p.a = s
			} else {
				p.b = s
			}
		}
	}
	var rows [][]string
	for _, name := range order {
		p := m[name]
		row := []string{name}
		var ea, eb int
		for _, s := range []*StageCount{p.a, p.b} {
			if s == nil {
				row = append(row, "-")
			} else {
				row = append(row, num(s.Entered))
			}
		}
		if p.a != nil {
			ea = p.a.Entered
		}
		if p.b != nil {
			eb = p.b.Entered
		}
		row = append(row, signed(eb-ea))
		for _, s := range []*StageCount{p.a, p.b} {
			if s == nil {
				row = append(row, "-")
			} else {
				row = append(row, num(s.AtEnd))
			}
		}
		rows = append(rows, row)
	}
	t.table([]string{"stage", "entered A", "entered B", "Δ", "at end A", "at end B"}, rows)
}

func stageName(s StageCount) string {
	if s.Terminal {
		return s.Stage + " (terminal)"
	}
	return s.Stage
}

func defName(d Definition) string {
	if d.Basis == "before_outcome" {
		return d.Stage + " before outcome"
	}
	return d.Stage + " ever"
}

func (t *textWriter) definitions(rs []Result) {
	t.section("STAGE DEFINITIONS AGAINST OUTCOMES (population; reached = at the stage or a later one)")
	header := []string{"definition", "predicted", "true pos", "precision", "recall", "F1"}
	if len(rs) > 1 {
		header = []string{"definition", "model", "predicted", "true pos", "precision", "recall", "F1"}
	}
	var rows [][]string
	for i, d := range rs[0].Definitions {
		for k, r := range rs {
			if i >= len(r.Definitions) {
				continue
			}
			d = r.Definitions[i]
			row := []string{defName(d)}
			if len(rs) > 1 {
				if k > 0 {
					row[0] = ""
				}
				row = append(row, string(rune('A'+k)))
			}
			row = append(row, num(d.Predicted), num(d.TruePositives), pct(d.Precision), pct(d.Recall),
				strconv.FormatFloat(d.F1, 'f', 3, 64))
			rows = append(rows, row)
		}
	}
	t.table(header, rows)
}

func (t *textWriter) timeTo(rs []Result) {
	t.section("TIME FROM FIRST IDENTIFIED EVENT TO STAGE (days)")
	header := []string{"stage", "leads", "median", "p25", "p75"}
	if len(rs) > 1 {
		header = []string{"stage", "model", "leads", "median", "p25", "p75"}
	}
	var rows [][]string
	for i := range rs[0].TimeTo {
		for k, r := range rs {
			x := r.TimeTo[i]
			row := []string{x.Stage}
			if len(rs) > 1 {
				if k > 0 {
					row[0] = ""
				}
				row = append(row, string(rune('A'+k)))
			}
			rows = append(rows, append(row, num(x.Leads), dayStr(x.MedianDays), dayStr(x.P25Days), dayStr(x.P75Days)))
		}
	}
	t.table(header, rows)
}

func (t *textWriter) calibration(rs []Result, i int) {
	c := rs[i].Calibration
	title := "CONVERSION BY SCORE BAND"
	if len(rs) > 1 {
		title += " — " + string(rune('A'+i)) + " = " + label(&rs[i])
	}
	t.section(fmt.Sprintf("%s\ndeciles of the %s; base rate %s, AUC %s", title, c.Basis, pct(c.BaseRate),
		strconv.FormatFloat(c.AUC, 'f', 3, 64)))
	var rows [][]string
	for _, b := range c.Bands {
		rows = append(rows, []string{strconv.Itoa(b.Band), flt(b.Min) + " – " + flt(b.Max), num(b.Leads), num(b.Positives),
			pct(b.Rate), strconv.FormatFloat(b.Lift, 'f', 2, 64) + "×", bar(b.Rate, 1, 20)})
	}
	t.table([]string{"band", "score", "leads", "positive", "rate", "lift", ""}, rows)
}

// bar draws x/max as up to width block characters.
func bar(x, max float64, width int) string {
	if max <= 0 || x <= 0 {
		return ""
	}
	n := int(x/max*float64(width) + 0.5)
	if n == 0 {
		return "▏"
	}
	return strings.Repeat("█", min(n, width))
}

func (t *textWriter) weekly(rs []Result) {
	t.section("QUALIFICATIONS PER WEEK (new = first time at the stage or later; back = MQL again after regressing)")
	type row struct{ ws [2]*Week }
	weeks := map[string]*row{}
	var order []string
	for k, r := range rs {
		for i := range r.Weekly {
			w := &r.Weekly[i]
			x := weeks[w.Week]
			if x == nil {
				x = &row{}
				weeks[w.Week] = x
				order = append(order, w.Week)
			}
			x.ws[k] = w
		}
	}
	sort.Strings(order)
	peak := 0
	for _, x := range weeks {
		for _, w := range x.ws {
			if w != nil && w.NewMQLs > peak {
				peak = w.NewMQLs
			}
		}
	}
	header := []string{"week", "new MQL", "back", "new SQL", ""}
	if len(rs) > 1 {
		header = []string{"week", "new MQL A", "new MQL B", "back A", "back B", "new SQL A", "new SQL B", ""}
	}
	var rows [][]string
	get := func(w *Week, f func(*Week) int) string {
		if w == nil {
			return "0"
		}
		return num(f(w))
	}
	newM := func(w *Week) int { return w.NewMQLs }
	back := func(w *Week) int { return w.ReMQLs }
	newS := func(w *Week) int { return w.NewSQLs }
	for _, k := range order {
		x := weeks[k]
		n := 0
		if x.ws[0] != nil {
			n = x.ws[0].NewMQLs
		}
		row := []string{k, get(x.ws[0], newM)}
		if len(rs) > 1 {
			row = append(row, get(x.ws[1], newM), get(x.ws[0], back), get(x.ws[1], back), get(x.ws[0], newS), get(x.ws[1], newS))
		} else {
			row = append(row, get(x.ws[0], back), get(x.ws[0], newS))
		}
		rows = append(rows, append(row, bar(float64(n), float64(peak), 30)))
	}
	t.table(header, rows)
}

func optPoints(p *float64) string {
	if p == nil {
		return "(none)"
	}
	return flt(*p)
}

func (t *textWriter) diff(d *Diff) {
	t.section(fmt.Sprintf("COMPARISON: A = %s, B = %s", d.A, d.B))
	if len(d.Rules) == 0 {
		t.printf("no engagement rule's points differ\n")
	} else {
		var cs []string
		for _, c := range d.Rules {
			cs = append(cs, c.Rule+" "+optPoints(c.A)+" → "+optPoints(c.B))
		}
		t.printf("points changed: %s\n", strings.Join(cs, ", "))
	}
	t.printf("%s of %s leads end in another stage; reached mql under one model only: A %s, B %s; sql: A %s, B %s\n",
		num(d.Differ), num(d.Leads), num(d.MQL.OnlyA), num(d.MQL.OnlyB), num(d.SQL.OnlyA), num(d.SQL.OnlyB))
	if len(d.Moves) > 0 {
		var rows [][]string
		for _, m := range d.Moves {
			rows = append(rows, []string{m.A, "→ " + m.B, num(m.Leads)})
		}
		t.printf("\n")
		t.table([]string{"stage under A", "under B", "leads"}, rows)
	}
	if len(d.Examples) > 0 {
		t.printf("\n")
		var rows [][]string
		for _, e := range d.Examples {
			var cs []string
			for _, c := range e.Contributions {
				cs = append(cs, c.Rule+" "+flt(c.A)+" → "+flt(c.B))
			}
			rows = append(rows, []string{e.Lead, sideText(e.A), sideText(e.B), strings.Join(cs, ", ")})
		}
		t.table([]string{"lead", "A: stage score (why)", "B: stage score (why)", "contributions A → B"}, rows)
	}
}

func sideText(s LeadSide) string {
	out := s.Stage + " " + flt(s.Score)
	if s.Cause != "" {
		out += " (" + s.Cause + ")"
	}
	return out
}

// WriteText writes the calibration as plain text: the strongest lifts in words, a
// table of every rule (or event kind) with its lift, coefficient and points, how
// the points were scaled, and the diff against the base.
func (r *CalibrateReport) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	t := &textWriter{w: bw}
	what := "rules of " + r.Rules
	if r.Basis != "rules" {
		what = "event kinds (no base rules file)"
	}
	hl := "plain counts (no decay)"
	if r.HalfLifeDays > 0 {
		hl = "hits weighted with a " + flt(r.HalfLifeDays) + "-day half-life"
	}
	t.printf("leadscore calibrate: %s; %s; L2 penalty %s\n", what, hl, flt(r.L2))
	t.printf("log: %s events (%s duplicates, %s ignored, %s bad lines)\n", num(r.Log.Events), num(r.Log.Duplicates), num(r.Log.Ignored), num(r.Log.Bad))
	t.printf("population: %s leads (identified or with an outcome), %s positive (%s); %s unmatched outcomes, %s late\n",
		num(r.Population), num(r.Positives), pct(ratio(r.Positives, r.Population)), num(r.Unmatched), num(r.Late))

	var top []Feature
	for _, f := range r.Features {
		if f.Fitted && f.Lift != nil && *f.Lift > 1 {
			top = append(top, f)
		}
	}
	sort.SliceStable(top, func(i, j int) bool { return *top[i].Lift > *top[j].Lift })
	if len(top) > 0 {
		t.section("LIFT AMONG CONVERTING LEADS (a hit before the cut-off vs none)")
		for _, f := range top[:min(len(top), 5)] {
			t.printf("  %s: %s× more likely to convert (%s vs %s)\n", f.Name, strconv.FormatFloat(*f.Lift, 'f', 1, 64), pct(f.RateWith), pct(f.RateWithout))
		}
	}
	t.section("FEATURES (coefficient: log-odds per decay-weighted hit; ± one standard error)")
	header := []string{"rule", "leads", "conv with", "without", "lift", "coefficient", "points", "suggested"}
	if r.Basis != "rules" {
		header = []string{"event kind", "leads", "conv with", "without", "lift", "coefficient", "suggested"}
	}
	var rows [][]string
	for _, f := range r.Features {
		lift := "-"
		if f.Lift != nil {
			lift = strconv.FormatFloat(*f.Lift, 'f', 2, 64) + "×"
		}
		coef := "not fitted"
		if f.Fitted {
			coef = strconv.FormatFloat(f.Coef, 'f', 3, 64) + " ±" + strconv.FormatFloat(f.StdErr, 'f', 3, 64)
		}
		row := []string{f.Name, num(f.Leads), pct(f.RateWith), pct(f.RateWithout), lift, coef}
		if r.Basis == "rules" {
			row = append(row, optPoints(f.Points))
		}
		rows = append(rows, append(row, flt(f.Suggested)))
	}
	t.table(header, rows)
	t.printf("\nnot fitted: hit by fewer leads than the minimum before their cut-off (hand-raisers that define the\noutcome are, by design); their points are kept.\n")
	if r.Threshold != nil {
		if r.Basis == "rules" {
			t.printf("scale: %s points per unit of log-odds, so that %s leads (base points: %s) reach the MQL score threshold %s at their cut-off\n",
				flt(r.Scale), num(r.AboveProposed), num(r.AboveBase), flt(*r.Threshold))
		} else {
			t.printf("scale: %s points per unit of log-odds (largest |points| %d); MQL threshold %s puts the top tenth (%s leads) above it\n",
				flt(r.Scale), kindsMaxPoints, flt(*r.Threshold), num(r.AboveProposed))
		}
	} else {
		t.printf("scale: %s points per unit of log-odds (the base's largest |points| kept; no MQL score threshold)\n", flt(r.Scale))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing calibration: %w", err)
	}
	return nil
}
