// Package rules reads leadscore's rules file (YAML) into a scoring.Model. Every
// error carries the file, line and column of the offending node, and all errors are
// reported at once, so marketing ops can fix a file in one pass.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/scoring"
)

// Error is one problem in a rules file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

// Error formats as file:line:col: message, the form editors and CI annotate.
func (e Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Errors is every problem found in a rules file, in file order.
type Errors []Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads, validates and compiles the rules file at path.
func Load(path string) (*scoring.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return Parse(path, data)
}

// Parse validates and compiles a rules file. On failure the error is an Errors
// value (use errors.As) listing every problem with its position.
func Parse(file string, data []byte) (*scoring.Model, error) {
	p := &parser{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		p.yamlError(err, data)
		return nil, p.errs
	}
	// A second document ("---" then more) would otherwise be ignored in silence:
	// rules someone believes are live must not be.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		p.errs = append(p.errs, Error{file, line, 1, "a second YAML document: a rules file holds one (remove the \"---\" separator or split the file)"})
		return nil, p.errs
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err, data)
		return nil, p.errs
	}
	if len(doc.Content) == 0 {
		p.errs = append(p.errs, Error{file, 1, 1, "empty rules file"})
		return nil, p.errs
	}
	m := p.model(doc.Content[0])
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i], p.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, p.errs
	}
	if err := m.Compile(); err != nil {
		return nil, Errors{{file, 1, 1, err.Error()}}
	}
	return m, nil
}

// threshold is an entry score threshold and where it was written, for the
// hysteresis and stage-order checks. plain: score is the alternative's only test.
type threshold struct {
	plain bool
	v     float64
	node  *yaml.Node
}

type parser struct {
	file string
	errs Errors
	// failed marks the nodes already reported: a value is reported once, and a
	// check that reads it after it failed to parse (a hysteresis or order test
	// on the zero it was replaced by) says nothing more about it.
	failed map[*yaml.Node]bool
	// accountConds are the account_stage conditions met in the stages, by
	// node: checked once the accounts section (later in the file) is read.
	accountConds []accountCond
}

// accountCond is one account_stage condition and where it was written.
type accountCond struct {
	node  *yaml.Node
	stage string // the lead stage it gates
	name  string // the account stage
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func (p *parser) yamlError(err error, data []byte) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	} else if line, col, msg, ok := locateSyntaxError(data); ok {
		p.errs = append(p.errs, Error{p.file, line, col, "YAML syntax: " + msg})
		return
	}
	for _, msg := range msgs {
		line := 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		p.errs = append(p.errs, Error{p.file, line, 1, strings.TrimPrefix(msg, "yaml: ")})
	}
}

// badValue reports a value that cannot be read, and marks it so that nothing
// more is said about it.
func (p *parser) badValue(n *yaml.Node, format string, args ...any) {
	p.errorf(n, format, args...)
	if p.failed == nil {
		p.failed = map[*yaml.Node]bool{}
	}
	p.failed[n] = true
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	if p.failed[n] {
		return
	}
	p.errs = append(p.errs, Error{p.file, n.Line, n.Column, fmt.Sprintf(format, args...)})
}

// fields checks a mapping against its key table and returns its values by key,
// remembering key nodes for positions. Unknown and repeated keys are errors.
type fields struct {
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
	node *yaml.Node
}

func (p *parser) mapping(n *yaml.Node, spec []key, what string) *fields {
	f := &fields{vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, node: n}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return f
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if spec != nil && !hasKey(spec, k.Value) {
			p.errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(keyNames(spec), ", "))
			continue
		}
		if _, dup := f.vals[k.Value]; dup {
			p.errorf(k, "key %q repeated in %s", k.Value, what)
			continue
		}
		f.vals[k.Value], f.keys[k.Value] = v, k
	}
	return f
}

func hasKey(spec []key, name string) bool {
	for _, k := range spec {
		if k.name == name {
			return true
		}
	}
	return false
}

func (p *parser) required(f *fields, name, what string) *yaml.Node {
	v := f.vals[name]
	if v == nil {
		p.errorf(f.node, "%s: missing required key %q", what, name)
	}
	return v
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.badValue(n, "%s must be a string", what)
		return ""
	}
	return n.Value
}

var identRe = regexp.MustCompile(`^[A-Za-z0-9_.\-]+$`)

// uniqueName reads the required name of a list item (what: "fit rule"),
// which must be an identifier not yet in seen; it adds it to seen. It
// returns "" when the name is missing.
func (p *parser) uniqueName(f *fields, seen map[string]bool, what string) string {
	x := p.required(f, "name", what)
	if x == nil {
		return ""
	}
	name := p.ident(x, what+" name")
	if seen[name] {
		p.errorf(x, "%s %q defined twice", what, name)
	}
	seen[name] = true
	return name
}

func (p *parser) ident(n *yaml.Node, what string) string {
	s := p.str(n, what)
	if s != "" && !identRe.MatchString(s) {
		p.badValue(n, "%s %q: use letters, digits, _, - and . only", what, s)
	}
	return s
}

// strs accepts a scalar or a list of scalars.
func (p *parser) strs(n *yaml.Node, what string) []string {
	if n.Kind == yaml.SequenceNode {
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, p.str(c, what))
		}
		if len(out) == 0 {
			p.errorf(n, "%s: empty list", what)
		}
		return out
	}
	return []string{p.str(n, what)}
}

func (p *parser) num(n *yaml.Node, what string) float64 {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		p.badValue(n, "%s must be a number, not %q", what, n.Value)
		return 0
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.badValue(n, "%s must be a finite number, not %q", what, n.Value)
		return 0
	}
	return v
}

// maxPoints bounds every points value and score threshold of a rules file: far
// beyond any real model, and small enough that no sum of them overflows.
const maxPoints = 1e6

// points is num for points and score thresholds, bounded by maxPoints.
func (p *parser) points(n *yaml.Node, what string) float64 {
	v := p.num(n, what)
	if math.Abs(v) > maxPoints {
		p.badValue(n, "%s %s is out of range: points and score thresholds lie within ±%g", what, n.Value, float64(maxPoints))
		return 0
	}
	return v
}

func (p *parser) integer(n *yaml.Node, what string, min int) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.badValue(n, "%s must be a whole number, not %q", what, n.Value)
		return min
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < min {
		p.badValue(n, "%s must be a whole number ≥ %d, not %q", what, min, n.Value)
		return min
	}
	return v
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.badValue(n, "%s must be true or false, not %q", what, n.Value)
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

func (p *parser) regex(n *yaml.Node, what string) *scoring.Pattern {
	s := p.str(n, what)
	re, err := scoring.CompilePattern(s)
	if err != nil {
		p.badValue(n, "%s: bad regular expression %q: %v", what, s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return nil
	}
	return re
}

var durRe = regexp.MustCompile(`^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|mo|y)$`)

// period parses a length of event time: 30d, 12h, 2w, 90m… exactly, and 3mo, 1y
// as calendar months (see scoring.Period).
func (p *parser) period(n *yaml.Node, what string) scoring.Period {
	s := strings.TrimSpace(p.str(n, what))
	if p.failed[n] {
		return scoring.Period{}
	}
	m := durRe.FindStringSubmatch(s)
	if m == nil {
		p.badValue(n, "%s: bad duration %q (use e.g. 30d, 12h, 2w, 3mo, 1y)", what, s)
		return scoring.Period{}
	}
	if m[2] == "mo" || m[2] == "y" {
		k, err := strconv.Atoi(m[1])
		if err != nil || k <= 0 || k > 1200 {
			p.badValue(n, "%s: months and years are whole numbers from 1 (%q)", what, s)
			return scoring.Period{}
		}
		if m[2] == "y" {
			k *= 12
		}
		if k > 1200 {
			p.badValue(n, "%s: at most 100 years (%q)", what, s)
			return scoring.Period{}
		}
		return scoring.Period{Months: int32(k)}
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute,
		"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	ms := int64(v * float64(unit/time.Millisecond))
	if ms <= 0 {
		p.badValue(n, "%s must be positive", what)
	}
	return scoring.Millis(ms)
}

// duration parses a fixed length in milliseconds (a half-life, the dedup
// window): months and years count as average Gregorian months (30.436875 days).
func (p *parser) duration(n *yaml.Node, what string) int64 {
	pd := p.period(n, what)
	return int64(pd.Months)*scoring.AverageMonth + pd.Ms
}

// surelyLonger reports whether period a is longer than b from any start: for
// months against days, a's shortest length exceeds b's longest.
func surelyLonger(a, b scoring.Period) bool {
	switch {
	case a.Months == 0 && b.Months == 0:
		return a.Ms > b.Ms
	case a.Ms == 0 && b.Ms == 0:
		return a.Months > b.Months
	}
	minA := int64(a.Months)*28*24*3600*1000 + int64(a.Months/12)*(365-12*28)*24*3600*1000 + a.Ms
	return minA > b.Max()
}

func (p *parser) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list", what)
		return nil
	}
	return n.Content
}

func (p *parser) model(root *yaml.Node) *scoring.Model {
	m := &scoring.Model{
		Ignore: scoring.IgnorePolicy{Bots: true, MachineOpens: true},
		Fit:    scoring.FitModel{Grades: scoring.Grades{A: 40, B: 25, C: 10}},
	}
	top := p.mapping(root, topKeys, "rules file")
	if v := p.required(top, "version", "rules file"); v != nil {
		m.Version = p.str(v, "version")
	}
	if v := top.vals["name"]; v != nil {
		m.Name = p.ident(v, "name")
	}
	if v := top.vals["decay"]; v != nil {
		p.decay(v, m)
	}
	var ruleNodes map[string]*yaml.Node
	if v := p.required(top, "rules", "rules file"); v != nil {
		ruleNodes = p.engagementRules(v, m)
	}
	if v := top.vals["fit"]; v != nil {
		p.fit(v, m)
	}
	var stageNodes []*yaml.Node
	if v := p.required(top, "stages", "rules file"); v != nil {
		stageNodes = p.stages(v, m, ruleNodes)
	}
	if v := top.vals["feedback"]; v != nil {
		p.feedback(v, m, stageNodes)
	}
	if v := top.vals["accounts"]; v != nil {
		m.Accounts = p.accounts(v)
	}
	p.checkAccountConds(m.Accounts)
	if v := top.vals["ignore"]; v != nil {
		f := p.mapping(v, ignoreKeys, "ignore")
		if b := f.vals["bots"]; b != nil {
			m.Ignore.Bots = p.boolean(b, "ignore.bots")
		}
		if b := f.vals["machine_opens"]; b != nil {
			m.Ignore.MachineOpens = p.boolean(b, "ignore.machine_opens")
		}
		if l := f.vals["bot_user_agents"]; l != nil {
			for _, c := range p.list(l, "ignore.bot_user_agents") {
				if re := p.regex(c, "ignore.bot_user_agents"); re != nil {
					m.Ignore.BotAgents = append(m.Ignore.BotAgents, re)
				}
			}
		}
		if l := f.vals["types"]; l != nil {
			m.Ignore.ExtraSkipKind = p.strs(l, "ignore.types")
		}
	}
	if v := top.vals["visits"]; v != nil {
		f := p.mapping(v, visitKeys, "visits")
		if x := f.vals["timeout"]; x != nil {
			m.VisitTimeout = p.duration(x, "visits.timeout")
		}
	}
	if v := top.vals["dedup"]; v != nil {
		f := p.mapping(v, dedupKeys, "dedup")
		if w := f.vals["window"]; w != nil {
			m.Dedup.Window = p.duration(w, "dedup.window")
		}
		if x := f.vals["max"]; x != nil {
			m.Dedup.Max = p.integer(x, "dedup.max", 1)
		}
	}
	if v := top.vals["recent_transitions"]; v != nil {
		m.Recent = p.integer(v, "recent_transitions", 1)
	}
	return m
}

func (p *parser) decay(n *yaml.Node, m *scoring.Model) {
	f := p.mapping(n, decayKeys, "decay")
	if v := f.vals["half_life"]; v != nil {
		m.HalfLife = p.duration(v, "decay.half_life")
	}
	if v := f.vals["inactivity"]; v != nil {
		var prev scoring.Period
		for _, item := range p.list(v, "decay.inactivity") {
			sf := p.mapping(item, stepKeys, "inactivity step")
			var st scoring.InactivityStep
			if a := p.required(sf, "after", "inactivity step"); a != nil {
				st.After = p.period(a, "after")
				if !surelyLonger(st.After, prev) {
					p.errorf(a, "inactivity steps must be in increasing order of after (a month counts as 28 to 31 days here: 3mo lies between 84d and 93d)")
				}
				prev = st.After
			}
			if x := p.required(sf, "points", "inactivity step"); x != nil {
				st.Points = p.points(x, "points")
			}
			st.Name = "inactive_" + sf.rawOr("after", "")
			if x := sf.vals["name"]; x != nil {
				st.Name = p.ident(x, "inactivity step name")
			}
			m.Inactivity = append(m.Inactivity, st)
		}
	}
}

func (f *fields) rawOr(k, def string) string {
	if v := f.vals[k]; v != nil {
		return v.Value
	}
	return def
}

func (p *parser) engagementRules(n *yaml.Node, m *scoring.Model) map[string]*yaml.Node {
	names := map[string]*yaml.Node{}
	for _, item := range p.list(n, "rules") {
		f := p.mapping(item, ruleKeys, "rule")
		var r scoring.Rule
		if v := p.required(f, "name", "rule"); v != nil {
			r.Name = p.ident(v, "rule name")
			if prev, dup := names[r.Name]; dup {
				p.errorf(v, "rule %q already defined at line %d", r.Name, prev.Line)
			}
			names[r.Name] = v
		}
		if v := p.required(f, "points", "rule "+r.Name); v != nil {
			r.Points = p.points(v, "points")
		}
		r.Activity = r.Points > 0
		if v := f.vals["activity"]; v != nil {
			r.Activity = p.boolean(v, "activity")
		}
		if v := p.required(f, "match", "rule "+r.Name); v != nil {
			r.Match = p.matcher(v)
		}
		if v := f.vals["once"]; v != nil {
			r.Once = p.boolean(v, "once")
		}
		if v := f.vals["once_per_visit"]; v != nil {
			r.OncePerVisit = p.boolean(v, "once_per_visit")
		}
		if v := f.vals["cap"]; v != nil {
			cf := p.mapping(v, capKeys, "cap")
			c := &scoring.Cap{}
			if x := cf.vals["hits"]; x != nil {
				c.Hits = p.integer(x, "cap.hits", 1)
			}
			if x := cf.vals["points"]; x != nil {
				c.Points = p.points(x, "cap.points")
				if c.Points <= 0 {
					p.errorf(x, "cap.points must be positive")
				}
			}
			if c.Hits == 0 && c.Points == 0 {
				p.errorf(v, "cap needs hits or points")
			}
			if x := p.required(cf, "per", "cap"); x != nil {
				c.Window = p.period(x, "cap.per")
			}
			r.Cap = c
		}
		if v := f.vals["tags"]; v != nil {
			for _, t := range p.strs(v, "tags") {
				r.Tags = append(r.Tags, t)
			}
		}
		m.Rules = append(m.Rules, r)
	}
	return names
}

func (p *parser) matcher(n *yaml.Node) scoring.Matcher {
	f := p.mapping(n, matchKeys, "match")
	var mt scoring.Matcher
	if v := f.vals["source"]; v != nil {
		for _, s := range p.strs(v, "match.source") {
			src, ok := scoring.ParseSource(s)
			if !ok {
				p.errorf(v, "match.source %q: use web, email or feedback", s)
				continue
			}
			mt.Sources |= 1 << src
		}
	}
	if v := f.vals["type"]; v != nil {
		mt.Kinds = p.strs(v, "match.type")
	}
	if v := f.vals["event"]; v != nil {
		mt.Names = p.strs(v, "match.event")
	}
	if v := f.vals["path"]; v != nil {
		mt.Paths = p.strs(v, "match.path")
	}
	if v := f.vals["url"]; v != nil {
		mt.URLs = p.strs(v, "match.url")
	}
	if v := f.vals["category"]; v != nil {
		mt.Categories = p.strs(v, "match.category")
	}
	if v := f.vals["properties"]; v != nil {
		pf := p.mapping(v, nil, "match.properties")
		keys := make([]string, 0, len(pf.vals))
		for k := range pf.vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mt.Props = append(mt.Props, scoring.PropCond{Key: k, Cond: p.valueCond(pf.vals[k], "properties."+k, false)})
		}
	}
	if len(f.vals) == 0 && n.Kind == yaml.MappingNode {
		p.errorf(n, "match is empty: it would score every event")
	}
	return mt
}

// valueCond reads a property or trait test: a scalar (equals), a list (one of), or a
// mapping with in/equals/regex/min/max/range/exists. inFit allows the fit-rule form
// where those keys sit beside name/trait/points.
func (p *parser) valueCond(n *yaml.Node, what string, inFit bool) scoring.ValueCond {
	var c scoring.ValueCond
	switch n.Kind {
	case yaml.ScalarNode:
		c.Equals = []string{n.Value}
		return c
	case yaml.SequenceNode:
		c.Equals = p.strs(n, what)
		return c
	}
	spec := valueKeys
	if inFit {
		spec = fitRuleKeys
	}
	f := p.mapping(n, spec, what)
	set := 0
	if v := f.vals["in"]; v != nil {
		c.Equals = p.strs(v, what+".in")
		set++
	}
	if v := f.vals["equals"]; v != nil {
		c.Equals = []string{p.str(v, what+".equals")}
		set++
	}
	if v := f.vals["regex"]; v != nil {
		c.Pattern = p.regex(v, what+".regex")
		set++
	}
	if v := f.vals["min"]; v != nil {
		x := p.num(v, what+".min")
		c.Min = &x
	}
	if v := f.vals["max"]; v != nil {
		x := p.num(v, what+".max")
		c.Max = &x
	}
	if c.Min != nil || c.Max != nil {
		set++
	}
	if v := f.vals["range"]; v != nil {
		items := p.list(v, what+".range")
		if len(items) != 2 {
			p.errorf(v, "%s.range needs [min, max]", what)
		} else {
			if items[0].Tag != "!!null" {
				x := p.num(items[0], what+".range min")
				c.Min = &x
			}
			if items[1].Tag != "!!null" {
				x := p.num(items[1], what+".range max")
				c.Max = &x
			}
			if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
				p.errorf(v, "%s.range: min is above max", what)
			}
		}
		set++
	}
	if v := f.vals["exists"]; v != nil {
		b := p.boolean(v, what+".exists")
		c.Exists = &b
		set++
	}
	if set != 1 {
		p.errorf(n, "%s: give exactly one test (in, equals, regex, min/max, range or exists)", what)
	}
	return c
}

func (p *parser) fit(n *yaml.Node, m *scoring.Model) {
	f := p.mapping(n, fitKeys, "fit")
	if v := f.vals["rules"]; v != nil {
		names := map[string]bool{}
		for _, item := range p.list(v, "fit.rules") {
			rf := p.mapping(item, fitRuleKeys, "fit rule")
			r := scoring.FitRule{Name: p.uniqueName(rf, names, "fit rule")}
			if x := p.required(rf, "trait", "fit rule "+r.Name); x != nil {
				r.Traits = p.strs(x, "trait")
			}
			if x := p.required(rf, "points", "fit rule "+r.Name); x != nil {
				r.Points = p.points(x, "points")
			}
			r.Cond = p.valueCond(item, "fit rule "+r.Name, true)
			m.Fit.Rules = append(m.Fit.Rules, r)
		}
	}
	if v := f.vals["grades"]; v != nil {
		gf := p.mapping(v, gradeKeys, "fit.grades")
		g := &m.Fit.Grades
		for _, k := range []struct {
			name string
			dst  *float64
		}{{"A", &g.A}, {"B", &g.B}, {"C", &g.C}} {
			if x := p.required(gf, k.name, "fit.grades"); x != nil {
				*k.dst = p.points(x, "grade "+k.name)
			}
		}
		if !(g.A >= g.B && g.B >= g.C) {
			p.errorf(v, "fit.grades must satisfy A ≥ B ≥ C")
		}
	}
}

// stages parses the funnel and checks its order: exits and min_stage point back,
// entry score thresholds sit at or above their stage's exit threshold, and plain
// score thresholds do not decrease along the funnel.
func (p *parser) stages(n *yaml.Node, m *scoring.Model, ruleNodes map[string]*yaml.Node) []*yaml.Node {
	items := p.list(n, "stages")
	index := p.stageIndex(items, "stage")
	tags := map[string]bool{}
	for _, r := range m.Rules {
		for _, t := range r.Tags {
			tags[t] = true
		}
	}
	var lastPlain *threshold
	lastStage := ""
	for i, item := range items {
		f := p.mapping(item, stageKeys, "stage")
		var s scoring.Stage
		if v := p.required(f, "name", "stage"); v != nil {
			s.Name = p.ident(v, "stage name")
		}
		var entryScores []threshold
		if v := f.vals["entry"]; v != nil {
			if i == 0 {
				p.errorf(v, "stage %q is the first stage, where every lead starts: it cannot have entry criteria", s.Name)
			}
			for _, alt := range p.list(v, "entry") {
				conds, sc := p.alternative(alt, s.Name, i, index, ruleNodes, tags)
				s.Entry = append(s.Entry, conds...)
				entryScores = append(entryScores, sc...)
			}
		}
		if v := f.vals["exit"]; v != nil {
			ef := p.mapping(v, exitKeys, "exit")
			ex := &scoring.Exit{Below: math.Inf(-1)}
			if x := ef.vals["inactive"]; x != nil {
				ex.Inactive = p.period(x, "exit.inactive")
			}
			if ef.vals["below"] == nil && ef.vals["inactive"] == nil && v.Kind == yaml.MappingNode {
				p.errorf(v, "exit: give below, inactive or both")
			}
			if x := ef.vals["below"]; x != nil {
				ex.Below = p.points(x, "exit.below")
				for _, es := range entryScores {
					if es.v < ex.Below {
						p.errorf(es.node, "stage %q: entry score threshold %g is below its exit threshold %g (hysteresis needs entry ≥ exit)", s.Name, es.v, ex.Below)
					}
				}
			}
			ex.To = p.exitTo(ef, index, i, "stage", s.Name)
			s.Exit = ex
		}
		if v := f.vals["terminal"]; v != nil {
			s.Terminal = p.boolean(v, "terminal")
		}
		var plain *threshold
		for k, es := range entryScores {
			if !es.plain {
				continue
			}
			if lastPlain != nil && es.v < lastPlain.v {
				p.errorf(es.node, "stage order: %q needs score %g, less than the earlier stage %q (%g)", s.Name, es.v, lastStage, lastPlain.v)
			}
			if plain == nil || es.v > plain.v {
				plain = &entryScores[k]
			}
		}
		if plain != nil {
			lastPlain, lastStage = plain, s.Name
		}
		m.Stages = append(m.Stages, s)
	}
	if len(items) == 0 {
		p.errorf(n, "stages: at least one stage is needed")
	}
	return items
}

// alternative parses one entry alternative. A trigger list expands into one
// alternative per rule (any of them); the score thresholds are returned for the
// order checks, marked "plain" when score is the alternative's only condition.
func (p *parser) alternative(n *yaml.Node, stage string, si int, index map[string]int, ruleNodes map[string]*yaml.Node, tags map[string]bool) ([]scoring.Alternative, []threshold) {
	f := p.mapping(n, entryKeys, "entry alternative of stage "+stage)
	var base scoring.Alternative
	var scores []threshold
	if v := f.vals["score"]; v != nil {
		x := p.points(v, "score")
		base = append(base, scoring.Condition{Kind: scoring.CondScore, Value: x})
		scores = append(scores, threshold{plain: len(f.vals) == 1, v: x, node: v})
	}
	if v := f.vals["fit"]; v != nil {
		base = append(base, scoring.Condition{Kind: scoring.CondFit, Value: p.points(v, "fit")})
	}
	if v := f.vals["grade"]; v != nil {
		g := strings.ToUpper(p.str(v, "grade"))
		if len(g) != 1 || g[0] < 'A' || g[0] > 'D' {
			p.errorf(v, "grade must be A, B, C or D")
		} else {
			base = append(base, scoring.Condition{Kind: scoring.CondGrade, Grade: g[0]})
		}
	}
	if v := f.vals["identified"]; v != nil {
		if p.boolean(v, "identified") {
			base = append(base, scoring.Condition{Kind: scoring.CondIdentified})
		}
	}
	counts := func(v *yaml.Node, kind scoring.CondKind, what string, known func(string) bool) {
		cf := p.mapping(v, nil, what)
		names := make([]string, 0, len(cf.vals))
		for k := range cf.vals {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			if !known(name) {
				p.errorf(cf.keys[name], "%s: unknown %s %q", what, map[bool]string{true: "rule", false: "tag"}[kind == scoring.CondHits], name)
			}
			c := scoring.Condition{Kind: kind, Name: name, Count: 1}
			cv := cf.vals[name]
			if cv.Kind == yaml.ScalarNode {
				c.Count = p.integer(cv, what+"."+name, 1)
			} else {
				xf := p.mapping(cv, countKeys, what+"."+name)
				if x := xf.vals["count"]; x != nil {
					c.Count = p.integer(x, "count", 1)
				}
				if x := xf.vals["within"]; x != nil {
					c.Window = p.period(x, "within")
				}
			}
			base = append(base, c)
		}
	}
	if v := f.vals["hits"]; v != nil {
		counts(v, scoring.CondHits, "hits", func(s string) bool { return ruleNodes[s] != nil })
	}
	if v := f.vals["tags"]; v != nil {
		counts(v, scoring.CondTagHits, "tags", func(s string) bool { return tags[s] })
	}
	if v := f.vals["min_stage"]; v != nil {
		name := p.str(v, "min_stage")
		if j, ok := index[name]; !ok {
			p.errorf(v, "min_stage: unknown stage %q", name)
		} else if j >= si {
			p.errorf(v, "stage order: min_stage of %q must be an earlier stage, not %q", stage, name)
		}
		base = append(base, scoring.Condition{Kind: scoring.CondMinStage, Name: name})
	}
	if v := f.vals["account_stage"]; v != nil {
		name := p.str(v, "account_stage")
		p.accountConds = append(p.accountConds, accountCond{node: v, stage: stage, name: name})
		base = append(base, scoring.Condition{Kind: scoring.CondAccountStage, Name: name})
	}
	if v := f.vals["visits"]; v != nil {
		c := scoring.Condition{Kind: scoring.CondVisits, Count: 1}
		if v.Kind == yaml.ScalarNode {
			c.Count = p.integer(v, "visits", 1)
		} else {
			xf := p.mapping(v, countKeys, "visits")
			if x := xf.vals["count"]; x != nil {
				c.Count = p.integer(x, "visits.count", 1)
			}
			if x := xf.vals["within"]; x != nil {
				c.Window = p.period(x, "visits.within")
			}
		}
		base = append(base, c)
	}
	if v := f.vals["bant"]; v != nil {
		base = append(base, scoring.Condition{Kind: scoring.CondBANT, BANT: p.bantMask(v, "bant")})
	}
	if v := f.vals["timeframe_within"]; v != nil {
		base = append(base, scoring.Condition{Kind: scoring.CondTimeframe, Window: p.period(v, "timeframe_within")})
	}
	var triggers []scoring.Condition
	if v := f.vals["trigger"]; v != nil {
		for _, r := range p.strs(v, "trigger") {
			if ruleNodes[r] == nil {
				p.errorf(v, "trigger: unknown rule %q", r)
			}
			triggers = append(triggers, scoring.Condition{Kind: scoring.CondTrigger, Name: r})
		}
	}
	if v := f.vals["trigger_tag"]; v != nil {
		for _, t := range p.strs(v, "trigger_tag") {
			if !tags[t] {
				p.errorf(v, "trigger_tag: no rule is tagged %q", t)
			}
			triggers = append(triggers, scoring.Condition{Kind: scoring.CondTriggerTag, Name: t})
		}
	}
	if len(f.vals) == 0 && n.Kind == yaml.MappingNode {
		p.errorf(n, "empty entry alternative: give at least one condition")
	}
	if len(triggers) == 0 {
		return []scoring.Alternative{base}, scores
	}
	alts := make([]scoring.Alternative, 0, len(triggers))
	for _, t := range triggers {
		alt := append(append(scoring.Alternative{}, base...), t)
		alts = append(alts, alt)
	}
	return alts, scores
}

// checkAccountConds checks that each account_stage condition names a stage
// of the account model, which must exist.
func (p *parser) checkAccountConds(am *scoring.AccountModel) {
	for _, c := range p.accountConds {
		switch {
		case am == nil:
			p.errorf(c.node, "stage %q: account_stage needs an accounts section (account-based scoring)", c.stage)
		case !slices.Contains(am.StageNames(), c.name) && !p.failed[c.node]:
			p.errorf(c.node, "account_stage: unknown account stage %q (account stages: %s)", c.name, strings.Join(am.StageNames(), ", "))
		}
	}
}

// bantMask reads a list of BANT questions.
func (p *parser) bantMask(n *yaml.Node, what string) uint8 {
	var mask uint8
	for _, q := range p.strs(n, what) {
		bit := scoring.BANTBit(strings.ToLower(q))
		if bit == 0 && q != "" {
			p.errorf(n, "%s: %q is not a BANT question (budget, authority, need, timeframe)", what, q)
		}
		mask |= bit
	}
	return mask
}

func (p *parser) feedback(n *yaml.Node, m *scoring.Model, stageNodes []*yaml.Node) {
	f := p.mapping(n, nil, "feedback")
	kinds := make([]string, 0, len(f.vals))
	for k := range f.vals {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return f.keys[kinds[i]].Line < f.keys[kinds[j]].Line })
	known := map[string]bool{}
	for _, s := range m.Stages {
		known[s.Name] = true
	}
	stage := func(v *yaml.Node, what string) string {
		s := p.str(v, what)
		if s != "" && !known[s] {
			p.errorf(v, "%s: unknown stage %q", what, s)
		}
		return s
	}
	for _, kind := range kinds {
		if !slices.Contains(feedbackKinds, kind) {
			p.errorf(f.keys[kind], "feedback: unknown kind %q (known: %s)", kind, strings.Join(feedbackKinds, ", "))
			continue
		}
		rf := p.mapping(f.vals[kind], feedbackRuleKeys, "feedback."+kind)
		fr := scoring.FeedbackRule{Kind: kind}
		if v := p.required(rf, "to", "feedback."+kind); v != nil {
			fr.To = stage(v, "feedback."+kind+".to")
		}
		if v := rf.vals["from"]; v != nil {
			for _, s := range p.strs(v, "from") {
				if !known[s] {
					p.errorf(v, "feedback.%s.from: unknown stage %q", kind, s)
				}
				fr.From = append(fr.From, s)
			}
		}
		if v := rf.vals["reasons"]; v != nil {
			rs := p.mapping(v, nil, "feedback."+kind+".reasons")
			fr.Reasons = map[string]string{}
			for reason, sv := range rs.vals {
				fr.Reasons[reason] = stage(sv, "feedback."+kind+".reasons."+reason)
			}
		}
		if v := rf.vals["min_bant"]; v != nil {
			fr.MinBANT = p.integer(v, "min_bant", 0)
			if fr.MinBANT > 4 {
				p.errorf(v, "min_bant is at most 4")
			}
		}
		if v := rf.vals["bant"]; v != nil {
			fr.BANT = p.bantMask(v, "feedback."+kind+".bant")
		}
		if v := rf.vals["timeframe_within"]; v != nil {
			fr.TimeframeWithin = p.period(v, "feedback."+kind+".timeframe_within")
		}
		if v := rf.vals["reset_score"]; v != nil {
			fr.ResetScore = p.boolean(v, "reset_score")
		}
		m.Feedback = append(m.Feedback, fr)
	}
	_ = stageNodes
}

// LoadSet loads the rules files at paths — each a file, or a directory whose
// *.yaml and *.yml files are taken in name order — as the models one process
// runs side by side (scoring.Set), in that order. With several, a file
// without a name: key is named after its file (b2b-saas.yaml: "b2b-saas").
// Every file's errors are reported, each with its file and line.
func LoadSet(paths ...string) (*scoring.Set, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		var in []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(p, pat))
			in = append(in, m...)
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("rules: directory %s holds no *.yaml or *.yml file", p)
		}
		slices.Sort(in)
		files = append(files, in...)
	}
	if len(files) == 0 {
		return nil, errors.New("rules: no rules file given")
	}
	var errs Errors
	engines := make([]*scoring.Engine, 0, len(files))
	for _, f := range files {
		m, err := Load(f)
		var es Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.Name == "" && len(files) > 1 {
			m.Name = strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			if !identRe.MatchString(m.Name) {
				return nil, fmt.Errorf("rules: %s: a model needs a name: key (its file name %q is not one)", f, m.Name)
			}
		}
		e, err := scoring.NewEngine(m)
		if err != nil {
			return nil, fmt.Errorf("rules: %s: %w", f, err)
		}
		engines = append(engines, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	set, err := scoring.NewSet(engines...)
	if err != nil {
		return nil, fmt.Errorf("rules: %s: %w", strings.Join(files, ", "), err)
	}
	return set, nil
}

// accounts parses the account model: membership, engagement, roles, fit and
// the account funnel, checking stage references and hysteresis like lead
// stages.
func (p *parser) accounts(n *yaml.Node) *scoring.AccountModel {
	f := p.mapping(n, accountKeys, "accounts")
	am := &scoring.AccountModel{ByGroup: true}
	if v := f.vals["membership"]; v != nil {
		mf := p.mapping(v, membershipKeys, "accounts.membership")
		if x := mf.vals["group"]; x != nil {
			am.ByGroup = p.boolean(x, "accounts.membership.group")
		}
		if x := mf.vals["email_domain"]; x != nil {
			am.ByEmailDomain = p.boolean(x, "accounts.membership.email_domain")
		}
		if x := mf.vals["free_mail"]; x != nil {
			fm, err := scoring.NewFreeMail(p.strs(x, "accounts.membership.free_mail")...)
			if err != nil {
				p.badValue(x, "accounts.membership.free_mail: %v", err)
			}
			am.FreeMail = fm
		}
		if !am.ByGroup && !am.ByEmailDomain {
			p.errorf(v, "accounts.membership: nobody could join an account (group and email_domain are both false)")
		}
	}
	if x := f.vals["top"]; x != nil {
		am.Top = p.integer(x, "accounts.top", 1)
	}
	if x := f.vals["engaged_score"]; x != nil {
		am.EngagedScore = p.points(x, "accounts.engaged_score")
	}
	roles := map[string]bool{}
	if v := f.vals["roles"]; v != nil {
		for _, item := range p.list(v, "accounts.roles") {
			rf := p.mapping(item, roleKeys, "account role")
			r := scoring.AccountRole{Name: p.uniqueName(rf, roles, "account role")}
			if x := p.required(rf, "trait", "account role "+r.Name); x != nil {
				r.Trait = p.str(x, "trait")
			}
			if x := p.required(rf, "regex", "account role "+r.Name); x != nil {
				r.Pattern = p.regex(x, "account role "+r.Name)
			}
			am.Roles = append(am.Roles, r)
		}
	}
	if v := f.vals["fit"]; v != nil {
		var fm scoring.Model
		fm.Fit.Grades = scoring.Grades{A: 40, B: 25, C: 10}
		p.fit(v, &fm)
		am.Fit = fm.Fit
	}
	if v := p.required(f, "stages", "accounts"); v != nil {
		am.Stages = p.accountStages(v, roles)
	}
	return am
}

func (p *parser) accountStages(n *yaml.Node, roles map[string]bool) []scoring.AccountStage {
	items := p.list(n, "accounts.stages")
	index := p.stageIndex(items, "account stage")
	var stages []scoring.AccountStage
	for i, item := range items {
		sf := p.mapping(item, accountStageKeys, "account stage")
		var s scoring.AccountStage
		if x := p.required(sf, "name", "account stage"); x != nil {
			s.Name = p.ident(x, "account stage name")
		}
		var entryAt []struct {
			node *yaml.Node
			v    float64
		}
		if v := sf.vals["entry"]; v != nil {
			for _, alt := range p.list(v, "account stage "+s.Name+" entry") {
				af := p.mapping(alt, accountEntryKeys, "account stage "+s.Name+" entry")
				var c scoring.AccountCriteria
				if x := af.vals["engagement"]; x != nil {
					c.Engagement = p.points(x, "entry.engagement")
					entryAt = append(entryAt, struct {
						node *yaml.Node
						v    float64
					}{x, c.Engagement})
				}
				if x := af.vals["engaged_members"]; x != nil {
					c.EngagedMembers = p.integer(x, "entry.engaged_members", 1)
				}
				if x := af.vals["roles"]; x != nil {
					c.Roles = p.strs(x, "entry.roles")
					for _, r := range c.Roles {
						if !roles[r] {
							p.errorf(x, "entry.roles: unknown role %q (accounts.roles defines the roles)", r)
						}
					}
				}
				if x := af.vals["fit"]; x != nil {
					c.Fit = p.points(x, "entry.fit")
				}
				if c.Engagement == 0 && c.EngagedMembers == 0 && len(c.Roles) == 0 && c.Fit == 0 {
					p.errorf(alt, "account stage %q: an entry alternative needs at least one condition", s.Name)
				}
				s.Entry = append(s.Entry, c)
			}
		}
		if v := sf.vals["exit"]; v != nil {
			ef := p.mapping(v, accountExitKeys, "account stage "+s.Name+" exit")
			ex := &scoring.Exit{}
			if x := p.required(ef, "below", "exit"); x != nil {
				ex.Below = p.points(x, "exit.below")
				for _, e := range entryAt {
					if e.v < ex.Below {
						p.errorf(e.node, "account stage %q: entry engagement %g is below its exit threshold %g (hysteresis needs entry ≥ exit)", s.Name, e.v, ex.Below)
					}
				}
			}
			ex.To = p.exitTo(ef, index, i, "account stage", s.Name)
			s.Exit = ex
		}
		stages = append(stages, s)
	}
	return stages
}

// stageIndex maps each stage's name to its position in the funnel, reporting
// a name given twice; what names the kind of stage in errors.
func (p *parser) stageIndex(items []*yaml.Node, what string) map[string]int {
	index := map[string]int{}
	for i, item := range items {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "name" {
				if _, dup := index[item.Content[j+1].Value]; dup {
					p.errorf(item.Content[j+1], "%s %q defined twice", what, item.Content[j+1].Value)
				} else {
					index[item.Content[j+1].Value] = i
				}
			}
		}
	}
	return index
}

// exitTo reads an exit's required `to`: a stage (what: "stage" or "account
// stage") earlier than stage at position i of the funnel (index).
func (p *parser) exitTo(ef *fields, index map[string]int, i int, what, stage string) string {
	x := p.required(ef, "to", "exit")
	if x == nil {
		return ""
	}
	to := p.str(x, "exit.to")
	if j, ok := index[to]; !ok {
		p.errorf(x, "exit.to: unknown %s %q", what, to)
	} else if j >= i {
		p.errorf(x, "%s order: %q must regress to an earlier %s, not %q", what, stage, what, to)
	}
	return to
}
