package backtest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
)

// Config describes a backtest. It is validated once, by NewRunner.
type Config struct {
	// Rules is the model under test (required).
	Rules *scoring.Model
	// RulesName labels it in reports, e.g. its file name (default: its version).
	RulesName string
	// Compare, when set, is a second model replayed over the same log, so the
	// report can say which leads end in another stage and why.
	Compare *scoring.Model
	// CompareName labels it (default: its version).
	CompareName string
	// More are further models replayed over the same log alongside Rules, as
	// a process running several models side by side does: each is measured
	// on its own, as if it ran alone (Runner.Reports, RunEach). They exclude
	// Compare, which is one-to-one.
	More []NamedModel
	// Outcomes are what the CRM says happened (see ReadOutcomes).
	Outcomes []Outcome
	// Positive lists the outcome kinds that count as a conversion (default
	// DefaultPositive: sql, opportunity, won).
	Positive []OutcomeKind
	// At is the instant every lead is brought to at the end (time-driven changes
	// due by then are applied); zero means the latest event time in the log.
	At time.Time
	// MQLStage and SQLStage name the stages whose definitions are measured
	// (default "mql" and "sql"). A lead "reached" a stage when it was ever at that
	// stage or a later one in funnel order, terminal stages excepted.
	MQLStage, SQLStage string
	// MaxDiffs is how many differing leads a comparison lists (default 20;
	// negative: none). All of them are counted.
	MaxDiffs int
}

// NamedModel is a model and its label in reports (e.g. its file name;
// default: its version).
type NamedModel struct {
	Rules *scoring.Model
	Name  string
}

func (c *Config) setDefaults() {
	if c.Positive == nil {
		c.Positive = DefaultPositive()
	}
	if c.MQLStage == "" {
		c.MQLStage = "mql"
	}
	if c.SQLStage == "" {
		c.SQLStage = "sql"
	}
	if c.MaxDiffs == 0 {
		c.MaxDiffs = 20
	}
	if c.RulesName == "" && c.Rules != nil {
		c.RulesName = c.Rules.Version
	}
	if c.CompareName == "" && c.Compare != nil {
		c.CompareName = c.Compare.Version
	}
	c.More = slices.Clone(c.More) // names are filled in: not the caller's slice
	for i := range c.More {
		if c.More[i].Name == "" && c.More[i].Rules != nil {
			c.More[i].Name = c.More[i].Rules.Version
		}
	}
}

// Validate reports whether the configuration, defaults applied, can run: a model,
// with the MQL and SQL stages (not terminal), at most 64 stages, known positive
// outcome kinds.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Rules == nil {
		errs = append(errs, errors.New("backtest: no rules"))
	}
	if c.Compare != nil && len(c.More) > 0 {
		errs = append(errs, errors.New("backtest: a comparison is between two models; it excludes further models"))
	}
	models := []*scoring.Model{c.Rules, c.Compare}
	for i, m := range c.More {
		if m.Rules == nil {
			errs = append(errs, fmt.Errorf("backtest: model %d has no rules", i+2))
		}
		models = append(models, m.Rules)
	}
	for _, m := range models {
		if m == nil {
			continue
		}
		if err := m.Compile(); err != nil {
			errs = append(errs, fmt.Errorf("backtest: model %s: %w", m.Version, err))
			continue
		}
		errs = append(errs, checkStages(m, c.MQLStage, c.SQLStage)...)
	}
	if len(c.Positive) == 0 {
		errs = append(errs, errors.New("backtest: no outcome kind counts as positive"))
	}
	for _, k := range c.Positive {
		if k < SQL || k > Lost {
			errs = append(errs, fmt.Errorf("backtest: unknown outcome kind %d", k))
		}
	}
	return errors.Join(errs...)
}

func checkStages(m *scoring.Model, names ...string) []error {
	var errs []error
	if len(m.Stages) > 64 {
		errs = append(errs, fmt.Errorf("backtest: model %s has %d stages, at most 64 are supported", m.Version, len(m.Stages)))
	}
	for _, n := range names {
		i := m.StageIndex(n)
		if i < 0 {
			errs = append(errs, fmt.Errorf("backtest: model %s has no stage %q", m.Version, n))
		} else if m.Stages[i].Terminal {
			errs = append(errs, fmt.Errorf("backtest: stage %q of model %s is terminal", n, m.Version))
		}
	}
	return errs
}

// Runner replays an event log through the replay runner — the engine and identity
// stitching of the live path — for one model (or two, to compare them), watching
// every lead's stage changes and score, and the outcomes as their time comes. Its
// memory is bounded by the number of leads, not of events: each lead costs its
// scoring state and a fixed-size record.
//
// Events are expected in event-time order, as a log is; an outcome takes effect
// when the first event at or after its time is applied (or at the end). A late
// event is still scored correctly by the engine, but counts as after any outcome
// already due. A Runner is not safe for concurrent use.
type Runner struct {
	cfg      Config
	sides    []*side
	outcomes []pending
	next     int                   // first outcome not yet due
	waiting  map[string][]*pending // due positive outcomes by identity key, lead not known yet
	key      []byte                // scratch
	res      []replay.Result       // scratch: each side's result of the event applied
	stats    LogStats
	done     bool
}

// LogStats counts what a run read.
type LogStats struct {
	Events     int   `json:"events"`      // events applied
	Bad        int   `json:"bad"`         // lines that did not decode
	Duplicates int   `json:"duplicates"`  // upstream re-sends, counted once
	Ignored    int   `json:"ignored"`     // bots, machine opens, feedback that does not apply
	NoIdentity int   `json:"no_identity"` // events that name no lead
	First      int64 `json:"-"`
	Last       int64 `json:"-"`
}

// side is one model's replay.
type side struct {
	name     string
	eng      *scoring.Engine
	run      *replay.Runner
	leads    map[string]*leadStats
	mql, sql int           // stage indexes
	terminal []bool        // per stage
	reMQL    map[int64]int // week → re-entries into MQL-or-later

	lastID    string // the lead of the previous event, and its record and state
	lastStats *leadStats
	lastState *scoring.State
}

// leadStats is what a backtest keeps per lead besides its scoring state: fixed size.
type leadStats struct {
	first   int64   // earliest event time
	ident   int64   // time it was first seen identified (0: never)
	mqlAt   int64   // first time at the MQL stage or later (0: never)
	sqlAt   int64   // likewise for SQL
	posAt   int64   // a positive outcome took effect at this time during the replay
	final   int64   // the earliest positive outcome, after resolving every outcome
	peak    float64 // highest score after an event before the positive outcome
	entered uint64  // bit i: the lead was at stage i at some point
	kinds   kindSet // outcomes the lead has
}

func (a *leadStats) merge(b *leadStats) {
	a.first = minSet(a.first, b.first)
	a.ident = minSet(a.ident, b.ident)
	a.mqlAt = minSet(a.mqlAt, b.mqlAt)
	a.sqlAt = minSet(a.sqlAt, b.sqlAt)
	a.posAt = minSet(a.posAt, b.posAt)
	a.peak = math.Max(a.peak, b.peak)
	a.entered |= b.entered
	a.kinds |= b.kinds
}

// minSet is the smaller of two instants, 0 meaning unset.
func minSet(a, b int64) int64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// NewRunner validates cfg and returns a runner ready for the log's events.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	r := &Runner{cfg: cfg, outcomes: schedule(cfg.Outcomes, setOf(cfg.Positive))}
	models := []*scoring.Model{cfg.Rules}
	names := []string{cfg.RulesName}
	if cfg.Compare != nil {
		models = append(models, cfg.Compare)
		names = append(names, cfg.CompareName)
	}
	for _, m := range cfg.More {
		models = append(models, m.Rules)
		names = append(names, m.Name)
	}
	r.res = make([]replay.Result, len(models))
	for i, m := range models {
		eng, err := scoring.NewEngine(m)
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		s := &side{name: names[i], eng: eng, run: replay.New(eng), leads: map[string]*leadStats{},
			mql: m.StageIndex(cfg.MQLStage), sql: m.StageIndex(cfg.SQLStage),
			terminal: make([]bool, len(m.Stages)), reMQL: map[int64]int{}}
		for j, st := range m.Stages {
			s.terminal[j] = st.Terminal
		}
		s.run.OnTransition = func(_ *scoring.Engine, lead string, tr *scoring.Transition) { s.transition(lead, tr) }
		r.sides = append(r.sides, s)
	}
	return r, nil
}

// Run replays the event log in through a new Runner and returns its report.
// With further models (Config.More) it fails: see RunEach.
func Run(cfg Config, in io.Reader, opts LogOptions) (*Report, error) {
	r, err := NewRunner(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.ReadLog(in, opts); err != nil {
		return nil, err
	}
	return r.Report()
}

// RunEach replays the event log in once through a new Runner and returns
// one report per model: Rules, then each of Config.More (see Runner.Reports).
func RunEach(cfg Config, in io.Reader, opts LogOptions) ([]*Report, error) {
	r, err := NewRunner(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.ReadLog(in, opts); err != nil {
		return nil, err
	}
	return r.Reports()
}

// ReadLog decodes every line of an event log and applies it (see LogOptions). Bad
// lines are counted in the report.
func (r *Runner) ReadLog(in io.Reader, opts LogOptions) error {
	bad, err := readLog(in, opts, r.Apply)
	r.stats.Bad += bad
	return err
}

// Apply applies one decoded event, after letting every outcome due by its time
// take effect.
func (r *Runner) Apply(ev *scoring.Event) {
	t := ev.Time
	for r.next < len(r.outcomes) && r.outcomes[r.next].at <= t {
		r.fire(&r.outcomes[r.next])
		r.next++
	}
	r.stats.Events++
	if r.stats.First == 0 || t < r.stats.First {
		r.stats.First = t
	}
	if t > r.stats.Last {
		r.stats.Last = t
	}
	res := r.res
	for i, s := range r.sides {
		res[i] = s.run.Apply(ev)
	}
	if len(r.waiting) > 0 && res[0].Lead != "" {
		r.resolveWaiting(ev)
	}
	for i, s := range r.sides {
		s.observe(ev, res[i])
	}
	switch {
	case res[0].Lead == "":
		r.stats.NoIdentity++
	case res[0].Outcome.Status == scoring.Duplicate:
		r.stats.Duplicates++
	case res[0].Outcome.Status == scoring.Ignored:
		r.stats.Ignored++
	}
}

// fire lets an outcome take effect: from now on the lead's score no longer counts
// for its score band (no leakage from what it did after converting). An outcome
// whose identity the replay does not know yet waits for the first event that
// names it: often the very event the outcome is about (a demo request form that
// identifies the visitor).
func (r *Runner) fire(p *pending) {
	if !p.positive {
		return
	}
	p.due = true
	if r.settle(p) {
		p.settled = true
	} else {
		if r.waiting == nil {
			r.waiting = map[string][]*pending{}
		}
		for _, k := range p.keys {
			r.waiting[k] = append(r.waiting[k], p)
		}
	}
}

// settle marks a due positive outcome's lead in every side; false when no lead is
// known by its identities yet.
func (r *Runner) settle(p *pending) bool {
	found := false
	for _, s := range r.sides {
		if lead, ok := s.lookup(p.keys); ok {
			found = true
			if ls := s.get(lead, p.at); ls.posAt == 0 {
				ls.posAt = p.at
			}
		}
	}
	return found
}

// resolveWaiting settles the waiting outcomes that an applied event's identities
// name. It builds the keys in a scratch buffer: map lookups by string(bytes) do
// not allocate.
func (r *Runner) resolveWaiting(ev *scoring.Event) {
	id := &ev.Identity
	try := func(prefix, v string) {
		if v == "" {
			return
		}
		r.key = append(append(r.key[:0], prefix...), v...)
		if strings.HasPrefix(prefix, scoring.PrefixEmail) {
			lowerASCII(r.key[len(prefix):])
		}
		ps, ok := r.waiting[string(r.key)]
		if !ok {
			return
		}
		for _, p := range ps {
			if p.settled || !r.settle(p) {
				continue
			}
			p.settled = true
			p.late = ev.Time > p.at
		}
		delete(r.waiting, string(r.key))
	}
	try(scoring.PrefixUser, id.UserID)
	try(scoring.PrefixEmail, id.Email)
	try(scoring.PrefixAnon, id.AnonymousID)
	if ev.Source == scoring.SourceWeb && ev.Kind == "alias" {
		try(scoring.PrefixUser, id.PreviousID)
		try(scoring.PrefixAnon, id.PreviousID)
	}
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// lookup returns the lead the first known identity key points at.
func (s *side) lookup(keys []string) (string, bool) {
	for _, k := range keys {
		if lead, ok := s.run.Lookup(k); ok {
			return lead, true
		}
	}
	return "", false
}

func (s *side) get(lead string, t int64) *leadStats {
	ls := s.leads[lead]
	if ls == nil {
		ls = &leadStats{first: t, entered: 1}
		s.leads[lead] = ls
	}
	return ls
}

// observe updates the lead's record after the replay runner applied ev.
func (s *side) observe(ev *scoring.Event, res replay.Result) {
	if res.Lead == "" {
		return
	}
	// Consecutive events often belong to one lead (a visit's pages): remember the
	// last one. A lead's record and state keep their address for the whole replay,
	// and an absorbed lead's id never comes back (its keys point at the absorber).
	ls, st := s.lastStats, s.lastState
	if res.Lead != s.lastID || ls == nil {
		ls, st = s.get(res.Lead, ev.Time), s.run.Lead(res.Lead)
		s.lastID, s.lastStats, s.lastState = res.Lead, ls, st
	}
	if ev.Time < ls.first {
		ls.first = ev.Time
	}
	if res.Outcome.Status != scoring.Applied {
		return
	}
	if ls.ident == 0 && st.Identified {
		ls.ident = ev.Time
	}
	if ls.posAt == 0 {
		if sc := s.eng.Score(st, ev.Time); sc > ls.peak {
			ls.peak = sc
		}
	}
}

// transition records a stage change of a lead (OnTransition of the replay runner).
func (s *side) transition(lead string, tr *scoring.Transition) {
	ls := s.get(lead, tr.At)
	m := s.eng.Model()
	to, from := m.StageIndex(tr.To), m.StageIndex(tr.From)
	if to < 0 {
		return
	}
	ls.entered |= 1 << uint(to)
	if s.terminal[to] {
		return
	}
	below := func(i, x int) bool { return i < x || i >= 0 && s.terminal[i] }
	if to >= s.mql && below(from, s.mql) {
		if ls.mqlAt == 0 {
			ls.mqlAt = tr.At
		} else {
			s.reMQL[weekOf(tr.At)]++
		}
	}
	if to >= s.sql && ls.sqlAt == 0 {
		ls.sqlAt = tr.At
	}
}

// finish brings every lead to at, folds the records of leads absorbed by stitching
// into the leads that absorbed them, and attaches the outcomes through the final
// identity index. It returns the outcomes no lead is known by.
func (s *side) finish(at int64, outcomes []pending) (unmatched int) {
	s.run.AdvanceAll(at)
	var gone []string
	for id := range s.leads {
		if s.run.Lead(id) == nil {
			gone = append(gone, id)
		}
	}
	for _, id := range gone {
		// A lead id is one of its identity keys, and stitching moves every key of
		// an absorbed lead to the lead that absorbs it.
		if to, ok := s.run.Lookup(id); ok && to != id {
			if ls := s.leads[to]; ls != nil {
				ls.merge(s.leads[id])
			}
		}
		delete(s.leads, id)
	}
	for i := range outcomes {
		p := &outcomes[i]
		lead, ok := s.lookup(p.keys)
		ls := s.leads[lead]
		if !ok || ls == nil {
			unmatched++
			continue
		}
		p.matched = true
		ls.kinds |= 1 << p.Kind
		if p.positive {
			ls.final = minSet(ls.final, p.at)
		}
	}
	return unmatched
}

// weekOf returns the Monday 00:00 UTC (Unix ms) of the week holding t.
func weekOf(t int64) int64 {
	tt := time.UnixMilli(t).UTC()
	d := time.Date(tt.Year(), tt.Month(), tt.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -(int(d.Weekday())+6)%7).UnixMilli()
}

// Report ends the run: outcomes not yet due take effect, every lead is brought to
// Config.At (or the latest event time), and the measures are computed. A Runner
// gives one report; later calls return an error.
func (r *Runner) Report() (*Report, error) {
	if len(r.cfg.More) > 0 {
		return nil, errors.New("backtest: a run of several models gives one report per model (Reports)")
	}
	return r.report()
}

// Reports ends the run as Report does and returns one report per model,
// Rules first then Config.More in order, each as a run of that model alone
// would give it: the log and the outcomes are the same, each model's leads,
// funnel and measures its own. With Compare, it is Report's one report.
func (r *Runner) Reports() ([]*Report, error) {
	all, err := r.report()
	if err != nil {
		return nil, err
	}
	if all.Diff != nil || len(all.Results) == 1 {
		return []*Report{all}, nil
	}
	reps := make([]*Report, len(all.Results))
	for i := range all.Results {
		one := *all
		one.Results = all.Results[i : i+1 : i+1]
		reps[i] = &one
	}
	return reps, nil
}

func (r *Runner) report() (*Report, error) {
	if r.done {
		return nil, errors.New("backtest: the run has already been reported")
	}
	r.done = true
	for ; r.next < len(r.outcomes); r.next++ {
		r.fire(&r.outcomes[r.next])
	}
	for i := range r.outcomes { // still waiting: known now through stitching, or never
		if p := &r.outcomes[i]; p.positive && !p.settled && r.settle(p) {
			p.settled, p.late = true, p.due
		}
	}
	r.waiting = nil
	at := r.stats.Last
	if !r.cfg.At.IsZero() {
		at = r.cfg.At.UnixMilli()
	}
	rep := &Report{Log: r.stats, At: formatTime(at)}
	if r.stats.Events > 0 {
		rep.From, rep.To = formatTime(r.stats.First), formatTime(r.stats.Last)
	}
	for i, s := range r.sides {
		unmatched := s.finish(at, r.outcomes)
		if i == 0 {
			rep.Outcomes = r.outcomeSummary(unmatched)
		}
		rep.Results = append(rep.Results, s.result(r.cfg, at))
	}
	if r.cfg.Compare != nil {
		rep.Diff = compare(r.sides[0], r.sides[1], at, r.cfg.MaxDiffs)
	}
	return rep, nil
}

func (r *Runner) outcomeSummary(unmatched int) OutcomeSummary {
	o := OutcomeSummary{Lines: len(r.outcomes), Unmatched: unmatched}
	for _, p := range r.outcomes {
		if p.positive && p.matched && p.late {
			o.Late++
		}
	}
	for _, k := range r.cfg.Positive {
		o.Positive = append(o.Positive, k.String())
	}
	s := r.sides[0]
	counts := map[OutcomeKind]int{}
	for _, ls := range s.leads {
		for k := SQL; k <= Lost; k++ {
			if ls.kinds.has(k) {
				counts[k]++
			}
		}
	}
	for k := SQL; k <= Lost; k++ {
		o.Leads = append(o.Leads, KindCount{Outcome: k.String(), Leads: counts[k]})
	}
	return o
}
