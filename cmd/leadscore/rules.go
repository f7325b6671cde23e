package main

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

type rulesCmd struct {
	Check     rulesCheckCmd     `cmd:"" help:"Validate a rules file: errors as file:line:col, or a summary of its stages and rules."`
	Reference rulesReferenceCmd `cmd:"" help:"Print the rules-file reference (Markdown)."`
}

type rulesCheckCmd struct {
	File string `arg:"" help:"Rules file (YAML)."`
}

type failed struct{ n int }

func (f failed) Error() string { return fmt.Sprintf("%d error(s)", f.n) }
func (f failed) ExitCode() int { return 1 }

func (c *rulesCheckCmd) Run(e *env) error {
	m, err := rules.Load(c.File)
	var es rules.Errors
	if errors.As(err, &es) {
		for _, x := range es {
			fmt.Fprintln(e.stdout, x.Error())
		}
		return failed{len(es)}
	}
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, Summary(c.File, m))
	return nil
}

// Summary describes a valid model for people: version, decay, stages in order with
// how each is entered and left, and the rules with their points.
func Summary(file string, m *scoring.Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: OK — model %s\n", file, m.Version)
	if m.HalfLife > 0 {
		fmt.Fprintf(&b, "decay: half-life %s", dur(m.HalfLife))
	} else {
		b.WriteString("decay: none")
	}
	for _, s := range m.Inactivity {
		fmt.Fprintf(&b, "; %+g after %s inactive", s.Points, period(s.After))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "stages (%d):\n", len(m.Stages))
	for i, s := range m.Stages {
		var how []string
		for _, alt := range s.Entry {
			how = append(how, altString(alt))
		}
		entry := "start"
		if i > 0 {
			entry = "feedback/regression only"
		}
		if len(how) > 0 {
			entry = strings.Join(how, " OR ")
		}
		exit := ""
		if s.Exit != nil {
			var why []string
			if !math.IsInf(s.Exit.Below, -1) {
				why = append(why, fmt.Sprintf("below %g", s.Exit.Below))
			}
			if !s.Exit.Inactive.IsZero() {
				why = append(why, "inactive "+period(s.Exit.Inactive))
			}
			exit = fmt.Sprintf("; exit %s → %s", strings.Join(why, " or "), s.Exit.To)
		}
		if s.Terminal {
			exit += "; terminal"
		}
		fmt.Fprintf(&b, "  %2d. %-13s %s%s\n", i+1, s.Name, entry, exit)
	}
	fmt.Fprintf(&b, "rules (%d):\n", len(m.Rules))
	for _, r := range m.Rules {
		extra := ""
		if r.Once {
			extra += " once"
		}
		if r.OncePerVisit {
			extra += " once per visit"
		}
		if r.Cap != nil {
			if r.Cap.Hits > 0 {
				extra += fmt.Sprintf(" cap %d hits/%s", r.Cap.Hits, period(r.Cap.Window))
			}
			if r.Cap.Points > 0 {
				extra += fmt.Sprintf(" cap %g pts/%s", r.Cap.Points, period(r.Cap.Window))
			}
		}
		if len(r.Tags) > 0 {
			extra += " [" + strings.Join(r.Tags, ",") + "]"
		}
		fmt.Fprintf(&b, "  %-22s %+6g%s\n", r.Name, r.Points, extra)
	}
	if len(m.Fit.Rules) > 0 {
		fmt.Fprintf(&b, "fit rules (%d), grades A ≥ %g, B ≥ %g, C ≥ %g\n", len(m.Fit.Rules), m.Fit.Grades.A, m.Fit.Grades.B, m.Fit.Grades.C)
	}
	if len(m.Feedback) > 0 {
		var fb []string
		for _, f := range m.Feedback {
			x := f.Kind + "→" + f.To
			if f.ResetScore {
				x += " (reset)"
			}
			fb = append(fb, x)
		}
		fmt.Fprintf(&b, "feedback: %s\n", strings.Join(fb, ", "))
	}
	if am := m.Accounts; am != nil {
		accountSummary(&b, am)
	}
	return b.String()
}

// accountSummary describes the account model: how people join, the
// engagement and buying group, and the account funnel.
func accountSummary(b *strings.Builder, am *scoring.AccountModel) {
	var by []string
	if am.ByGroup {
		by = append(by, "group")
	}
	if am.ByEmailDomain {
		by = append(by, "e-mail domain")
	}
	fmt.Fprintf(b, "accounts: by %s; engagement = top %d members; engaged from %g", strings.Join(by, ", then "), am.Top, am.EngagedScore)
	for _, r := range am.Roles {
		fmt.Fprintf(b, "; role %s: %s ~ %s", r.Name, r.Trait, r.Pattern)
	}
	fmt.Fprintf(b, "\naccount stages (%d):\n", len(am.Stages))
	for i, s := range am.Stages {
		var how []string
		for _, c := range s.Entry {
			var conds []string
			if c.Engagement != 0 {
				conds = append(conds, fmt.Sprintf("engagement ≥ %g", c.Engagement))
			}
			if c.EngagedMembers != 0 {
				conds = append(conds, fmt.Sprintf("%d engaged", c.EngagedMembers))
			}
			if len(c.Roles) > 0 {
				conds = append(conds, "roles "+strings.Join(c.Roles, "+"))
			}
			if c.Fit != 0 {
				conds = append(conds, fmt.Sprintf("fit ≥ %g", c.Fit))
			}
			how = append(how, strings.Join(conds, " and "))
		}
		line := fmt.Sprintf("  %d. %-10s", i+1, s.Name)
		if len(how) > 0 {
			line += " entry: " + strings.Join(how, " | ")
		}
		if s.Exit != nil {
			line += fmt.Sprintf("; exit below %g → %s", s.Exit.Below, s.Exit.To)
		}
		b.WriteString(line + "\n")
	}
}

func altString(alt scoring.Alternative) string {
	var parts []string
	for _, c := range alt {
		var s string
		switch c.Kind {
		case scoring.CondScore:
			s = fmt.Sprintf("score ≥ %g", c.Value)
		case scoring.CondFit:
			s = fmt.Sprintf("fit ≥ %g", c.Value)
		case scoring.CondGrade:
			s = "grade ≥ " + string(c.Grade)
		case scoring.CondIdentified:
			s = "identified"
		case scoring.CondHits, scoring.CondTagHits:
			what := c.Name
			if c.Kind == scoring.CondTagHits {
				what = "#" + c.Name
			}
			s = fmt.Sprintf("%s×%d", what, c.Count)
			if !c.Window.IsZero() {
				s += "/" + period(c.Window)
			}
		case scoring.CondTrigger:
			s = "on " + c.Name
		case scoring.CondTriggerTag:
			s = "on #" + c.Name
		case scoring.CondMinStage:
			s = "from " + c.Name
		case scoring.CondVisits:
			s = fmt.Sprintf("visits×%d", c.Count)
			if !c.Window.IsZero() {
				s += "/" + period(c.Window)
			}
		case scoring.CondBANT:
			var qs []string
			for i, q := range scoring.BANTQuestions {
				if c.BANT&(1<<i) != 0 {
					qs = append(qs, q)
				}
			}
			s = "BANT " + strings.Join(qs, "+")
		case scoring.CondTimeframe:
			s = "timeline within " + period(c.Window)
		case scoring.CondAccountStage:
			s = "account " + c.Name
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " & ")
}

func dur(ms int64) string {
	const d = 24 * 3600 * 1000
	switch {
	case ms%d == 0:
		return fmt.Sprintf("%dd", ms/d)
	case ms%(3600*1000) == 0:
		return fmt.Sprintf("%dh", ms/(3600*1000))
	}
	return fmt.Sprintf("%dms", ms)
}

// period writes a calendar period as the rules file does, a fixed one as dur.
func period(p scoring.Period) string {
	if p.Months != 0 {
		return p.String()
	}
	return dur(p.Ms)
}

type rulesReferenceCmd struct{}

func (rulesReferenceCmd) Run(e *env) error {
	fmt.Fprint(e.stdout, rules.Reference())
	return nil
}
