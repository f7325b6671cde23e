package backtest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// CalibrateConfig describes a calibration. It is validated once, by newCalibrator.
type CalibrateConfig struct {
	// Rules is the base rules file (YAML) whose engagement rules' points are
	// calibrated, and RulesName its name (for errors and the diff). Without it,
	// each kind of event (a track event name, a page path's first segment, an
	// e-mail event type) is a feature, and a new rules file is proposed.
	Rules     []byte
	RulesName string
	// Outcomes are what the CRM says happened (see ReadOutcomes).
	Outcomes []Outcome
	// Positive lists the outcome kinds that count as a conversion (default
	// DefaultPositive).
	Positive []OutcomeKind
	// HalfLife weighs hits by their age at the cut-off, 2^(-age/HalfLife). With
	// Rules it defaults to the rules file's decay.half_life (none: plain counts);
	// without, to 45 days. Negative means no decay.
	HalfLife time.Duration
	// L2 is the ridge penalty λ: the fit minimises the negative log-likelihood plus
	// λ/2 · Σβ² over standardised features (default 1; negative: 0).
	L2 float64
	// MinLeads is how many leads of the population must have a feature (a hit
	// before their cut-off) for it to be fitted (default 30). Rules below keep
	// their points.
	MinLeads int
	// MaxFeatures bounds the event kinds kept without Rules, the most frequent
	// first (default 60).
	MaxFeatures int
	// MQLStage names the stage whose score threshold the proposed points keep
	// (default "mql").
	MQLStage string
	// Version is the version of the proposed rules file (default: the base's
	// version + "-calibrated", or "calibrated").
	Version string
	// ProposedName names the proposed file in the diff (default: the base's name
	// with ".calibrated" before its extension, or proposed-rules.yaml).
	ProposedName string
}

const defaultKindsHalfLife = 45 * 24 * time.Hour

func (c *CalibrateConfig) setDefaults() {
	if c.Positive == nil {
		c.Positive = DefaultPositive()
	}
	if c.L2 == 0 {
		c.L2 = 1
	}
	if c.L2 < 0 {
		c.L2 = 0
	}
	if c.MinLeads <= 0 {
		c.MinLeads = 30
	}
	if c.MaxFeatures <= 0 {
		c.MaxFeatures = 60
	}
	if c.MQLStage == "" {
		c.MQLStage = "mql"
	}
	if c.RulesName == "" {
		c.RulesName = "rules.yaml"
	}
}

// calibrator replays an event log and collects, per lead, decay-weighted hits per
// rule (or per event kind) at the lead's cut-off: just before its first positive
// outcome, or at its last event when it has none. Rule hits are counted by the
// engine itself, on a copy of the base model in which every rule is worth one
// point and inactivity steps are off, so once, caps and identity stitching apply
// exactly as they do to points. Memory is bounded by the number of leads. A
// calibrator is not safe for concurrent use.
type calibrator struct {
	cfg      CalibrateConfig
	base     *scoring.Model // nil without Rules
	eng      *scoring.Engine
	run      *replay.Runner
	halfLife int64 // ms; 0 = no decay
	kinds    *kindFeatures
	names    []string // feature names (rules mode)

	outcomes []pending
	snaps    map[*pending]snapshot
	next     int
	waiting  map[string][]*pending
	stats    LogStats
	done     bool
}

// snapshot is a lead's features at its cut-off, sparse.
type snapshot []featureValue

type featureValue struct {
	j int
	v float64
}

// newCalibrator validates cfg and returns a calibrator ready for the log's events.
func newCalibrator(cfg CalibrateConfig) (*calibrator, error) {
	cfg.setDefaults()
	c := &calibrator{cfg: cfg, snaps: map[*pending]snapshot{}}
	var hits *scoring.Model
	if cfg.Rules != nil {
		base, err := rules.Parse(cfg.RulesName, cfg.Rules)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		if base.StageIndex(cfg.MQLStage) < 0 {
			return nil, fmt.Errorf("calibrate: %s has no stage %q", cfg.RulesName, cfg.MQLStage)
		}
		if len(base.Rules) == 0 {
			return nil, fmt.Errorf("calibrate: %s has no engagement rules", cfg.RulesName)
		}
		hits, err = rules.Parse(cfg.RulesName, cfg.Rules) // a second, independent copy
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		c.base = base
		c.halfLife = base.HalfLife
		if cfg.HalfLife != 0 {
			c.halfLife = max(0, cfg.HalfLife.Milliseconds())
		}
		countHits(hits, c.halfLife)
		for _, r := range base.Rules {
			c.names = append(c.names, r.Name)
		}
	} else {
		c.halfLife = defaultKindsHalfLife.Milliseconds()
		if cfg.HalfLife != 0 {
			c.halfLife = max(0, cfg.HalfLife.Milliseconds())
		}
		hits = &scoring.Model{Version: "calibrate-kinds", Stages: []scoring.Stage{{Name: "visitor"}},
			Ignore: scoring.IgnorePolicy{Bots: true, MachineOpens: true}}
		c.kinds = newKindFeatures(c.halfLife)
	}
	if len(cfg.Positive) == 0 {
		return nil, errors.New("calibrate: no outcome kind counts as positive")
	}
	eng, err := scoring.NewEngine(hits)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	c.eng, c.run = eng, replay.New(eng)
	c.outcomes = schedule(cfg.Outcomes, setOf(cfg.Positive))
	return c, nil
}

// countHits turns a compiled model into one whose contributions are decay-weighted
// scoring hits: every rule is worth one point (a points cap becomes the equivalent
// number of hits; negative rules are never capped by points, so theirs goes), there
// are no inactivity steps, and the half-life is h. Rule order and names, matchers,
// once and hit caps are unchanged, so the compiled lookup tables stay valid.
func countHits(m *scoring.Model, h int64) {
	m.HalfLife = h
	m.Inactivity = nil
	for i := range m.Rules {
		r := &m.Rules[i]
		if r.Cap != nil {
			c := *r.Cap
			switch {
			case c.Points > 0 && r.Points > 0:
				c.Points /= r.Points
			case c.Points > 0:
				c.Points = 0
			}
			if c.Points == 0 && c.Hits == 0 {
				r.Cap = nil
			} else {
				r.Cap = &c
			}
		}
		r.Points = 1
	}
}

// Calibrate replays the event log in and fits suggested points.
func Calibrate(cfg CalibrateConfig, in io.Reader, opts LogOptions) (*CalibrateReport, error) {
	c, err := newCalibrator(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.ReadLog(in, opts); err != nil {
		return nil, err
	}
	return c.Result()
}

// ReadLog decodes every line of an event log and applies it (see LogOptions).
func (c *calibrator) ReadLog(in io.Reader, opts LogOptions) error {
	bad, err := readLog(in, opts, c.Apply)
	c.stats.Bad += bad
	return err
}

// Apply applies one decoded event, after taking the snapshot of every lead whose
// positive outcome is due by the event's time.
func (c *calibrator) Apply(ev *scoring.Event) {
	t := ev.Time
	for c.next < len(c.outcomes) && c.outcomes[c.next].at <= t {
		c.fire(&c.outcomes[c.next])
		c.next++
	}
	if len(c.waiting) > 0 {
		c.resolveWaiting(ev)
	}
	c.stats.Events++
	if c.stats.First == 0 || t < c.stats.First {
		c.stats.First = t
	}
	c.stats.Last = max(c.stats.Last, t)
	var before []string
	if c.kinds != nil {
		before = c.kinds.candidates(c.run, ev)
	}
	res := c.run.Apply(ev)
	switch {
	case res.Lead == "":
		c.stats.NoIdentity++
	case res.Outcome.Status == scoring.Duplicate:
		c.stats.Duplicates++
	case res.Outcome.Status == scoring.Ignored:
		c.stats.Ignored++
	}
	if c.kinds != nil && res.Lead != "" {
		c.kinds.absorb(c.run, res.Lead, before)
		if res.Outcome.Status == scoring.Applied {
			c.kinds.hit(res.Lead, ev)
		}
	}
}

func (c *calibrator) fire(p *pending) {
	if !p.positive {
		return
	}
	p.due = true
	for _, k := range p.keys {
		if lead, ok := c.run.Lookup(k); ok {
			c.snaps[p] = c.snapshot(lead, p.at)
			p.settled = true
			return
		}
	}
	if c.waiting == nil {
		c.waiting = map[string][]*pending{}
	}
	for _, k := range p.keys {
		c.waiting[k] = append(c.waiting[k], p)
	}
}

// resolveWaiting takes the snapshot of waiting outcomes that ev's identities name,
// before ev is applied: the person's history so far is that of the lead any of the
// event's identities already points at (an anonymous visitor about to identify),
// or nothing.
func (c *calibrator) resolveWaiting(ev *scoring.Event) {
	keys := eventKeys(ev)
	var matched []*pending
	for _, k := range keys {
		ps, ok := c.waiting[k]
		if !ok {
			continue
		}
		matched = append(matched, ps...)
		delete(c.waiting, k)
	}
	if len(matched) == 0 {
		return
	}
	lead := ""
	for _, k := range keys {
		if l, ok := c.run.Lookup(k); ok {
			lead = l
			break
		}
	}
	for _, p := range matched {
		if p.settled {
			continue
		}
		p.settled, p.late = true, ev.Time > p.at
		if lead != "" {
			c.snaps[p] = c.snapshot(lead, p.at)
		} else {
			c.snaps[p] = snapshot{}
		}
	}
}

// eventKeys lists the identity keys an event names, alias previous ids included.
func eventKeys(ev *scoring.Event) []string {
	keys := ev.Identity.Keys()
	if ev.Source == scoring.SourceWeb && ev.Kind == "alias" && ev.Identity.PreviousID != "" {
		keys = append(keys, scoring.PrefixUser+ev.Identity.PreviousID, scoring.PrefixAnon+ev.Identity.PreviousID)
	}
	if ev.Identity.LeadID != "" {
		keys = append(keys, ev.Identity.LeadID)
	}
	return keys
}

// snapshot returns a lead's features at instant t: its decay-weighted hits.
func (c *calibrator) snapshot(lead string, t int64) snapshot {
	if c.kinds != nil {
		return c.kinds.snapshot(lead, t)
	}
	st := c.run.Lead(lead)
	if st == nil {
		return snapshot{}
	}
	f := decay(t-st.ScoreAt, c.halfLife)
	snap := make(snapshot, 0, len(st.Contribs))
	for _, ct := range st.Contribs {
		if j := c.base.RuleIndex(ct.Rule); j >= 0 && ct.Points*f > 1e-9 {
			snap = append(snap, featureValue{j, ct.Points * f})
		}
	}
	return snap
}

// decay is 2^(-dt/h) for dt > 0, else 1 (h ≤ 0: no decay).
func decay(dt, h int64) float64 {
	if h <= 0 || dt <= 0 {
		return 1
	}
	return math.Exp2(-float64(dt) / float64(h))
}

// Result ends the calibration: it resolves outcomes, builds the population's
// features, fits the regression and proposes points. A calibrator gives one result.
func (c *calibrator) Result() (*CalibrateReport, error) {
	if c.done {
		return nil, errors.New("calibrate: the result has already been taken")
	}
	c.done = true
	for ; c.next < len(c.outcomes); c.next++ {
		c.fire(&c.outcomes[c.next])
	}
	for i := range c.outcomes { // waiting still: known now through stitching, or never
		p := &c.outcomes[i]
		if !p.positive || p.settled {
			continue
		}
		for _, k := range p.keys {
			if lead, ok := c.run.Lookup(k); ok {
				c.snaps[p] = c.snapshot(lead, p.at)
				p.settled, p.late = true, true
				break
			}
		}
	}
	c.waiting = nil

	// The population: identified leads and leads named by an outcome. A converter's
	// features are its snapshot at its earliest positive outcome.
	first := map[string]*pending{}
	rep := &CalibrateReport{Log: c.stats}
	named := map[string]bool{}
	for i := range c.outcomes {
		p := &c.outcomes[i]
		lead := ""
		for _, k := range p.keys {
			if l, ok := c.run.Lookup(k); ok {
				lead = l
				break
			}
		}
		if lead == "" {
			rep.Unmatched++
			continue
		}
		named[lead] = true
		if p.positive {
			if p.late {
				rep.Late++
			}
			if q := first[lead]; q == nil || p.at < q.at {
				first[lead] = p
			}
		}
	}
	var (
		xs  []snapshot
		ys  []bool
		ids []string
	)
	for _, id := range c.run.LeadIDs() {
		st := c.run.Lead(id)
		if !st.Identified && !named[id] {
			continue
		}
		ids = append(ids, id)
		if p := first[id]; p != nil {
			xs = append(xs, c.snaps[p])
			ys = append(ys, true)
			continue
		}
		xs = append(xs, c.snapshot(id, st.ScoreAt))
		ys = append(ys, false)
	}
	return c.fit(rep, xs, ys)
}
