package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/leadscore/leadscore/scoring"
)

// Report is what a backtest measured. Its JSON form (WriteJSON) is stable: field
// names are part of leadscore's interface. Rates are fractions (0.25 = 25 %),
// durations are in days, instants are RFC 3339 UTC.
type Report struct {
	// From and To are the earliest and latest event times in the log; At is the
	// instant every lead was brought to at the end.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	At   string `json:"at"`
	// Log counts what was read.
	Log LogStats `json:"log"`
	// Outcomes summarises the outcomes file.
	Outcomes OutcomeSummary `json:"outcomes"`
	// Results holds one entry per model: --rules, then --compare.
	Results []Result `json:"results"`
	// Diff is set when two models were compared.
	Diff *Diff `json:"diff,omitempty"`
}

// OutcomeSummary describes the outcomes and how they matched the log's leads.
type OutcomeSummary struct {
	Lines    int         `json:"lines"`
	Positive []string    `json:"positive"` // the kinds that count as a conversion
	Leads    []KindCount `json:"leads"`    // leads with each kind of outcome
	// Unmatched counts outcome lines whose identity no lead of the log has.
	Unmatched int `json:"unmatched"`
	// Late counts positive outcomes whose identity was not yet known to the replay
	// when their time came (it appeared later in the log): for those leads, events
	// after the outcome may count in their score band.
	Late int `json:"late"`
}

// KindCount is how many leads have one kind of outcome.
type KindCount struct {
	Outcome string `json:"outcome"`
	Leads   int    `json:"leads"`
}

// Result is the measure of one model against the log and the outcomes.
type Result struct {
	Rules   string `json:"rules"`   // label (file name)
	Version string `json:"version"` // the model's version
	// Leads counts every lead at the end, after stitching (anonymous visitors and
	// bots included); Identified those ever identified. Population is the leads
	// the measures below are about: identified, or named by an outcome.
	Leads      int `json:"leads"`
	Identified int `json:"identified"`
	Population int `json:"population"`
	// Positives counts the population's leads with a positive outcome.
	Positives int `json:"positives"`
	// Funnel gives, per stage in funnel order, the leads that were ever at it and
	// those at it at the end (all leads).
	Funnel []StageCount `json:"funnel"`
	// Weekly counts, per week (Monday, UTC), the leads that reached the MQL stage
	// (or later) for the first time, those that came back to it after regressing,
	// and the leads that reached SQL for the first time.
	Weekly []Week `json:"weekly"`
	// Calibration is the conversion rate by score band.
	Calibration ScoreBands `json:"calibration"`
	// Definitions measures the MQL and SQL stages as predictors of a positive outcome.
	Definitions []Definition `json:"definitions"`
	// TimeTo is the time from a lead's first identified event to MQL and SQL.
	TimeTo []TimeTo `json:"time_to"`
}

// StageCount is one stage of the funnel.
type StageCount struct {
	Stage    string `json:"stage"`
	Entered  int    `json:"entered"`
	AtEnd    int    `json:"at_end"`
	Terminal bool   `json:"terminal,omitempty"`
}

// Week is one week of qualification.
type Week struct {
	Week    string `json:"week"` // its Monday, YYYY-MM-DD
	NewMQLs int    `json:"new_mqls"`
	ReMQLs  int    `json:"re_mqls"`
	NewSQLs int    `json:"new_sqls"`
}

// ScoreBands is the conversion rate of the population by band of score. The score
// of a lead is its peak: the highest score it had after any of its events before its
// first positive outcome (or in the whole log when it has none), and at least 0.
// It is what a score threshold acts on — a lead crosses a threshold exactly when
// its peak reaches it — and it never sees what a lead did after converting.
type ScoreBands struct {
	Basis    string  `json:"basis"`
	BaseRate float64 `json:"base_rate"`
	// AUC is the probability that a random converting lead has a higher peak score
	// than a random non-converting one (ties count half): 0.5 is chance.
	AUC   float64 `json:"auc"`
	Bands []Band  `json:"bands"`
}

// Band is one score band: a decile of the population by peak score. Leads with the
// same score share a band, so there may be fewer than ten.
type Band struct {
	Band      int     `json:"band"` // 1 = lowest scores
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Leads     int     `json:"leads"`
	Positives int     `json:"positives"`
	Rate      float64 `json:"rate"`
	Lift      float64 `json:"lift"` // rate / base rate
}

// Definition measures one stage definition against the outcomes: the population's
// leads that reached the stage (or a later one) are its predictions.
type Definition struct {
	Stage string `json:"stage"`
	// Basis is "ever" (reached it at any time in the replay) or "before_outcome"
	// (reached it strictly before the lead's first positive outcome: what the
	// stage told sales in advance).
	Basis         string  `json:"basis"`
	Predicted     int     `json:"predicted"`
	TruePositives int     `json:"true_positives"`
	Positives     int     `json:"positives"`
	Precision     float64 `json:"precision"`
	Recall        float64 `json:"recall"`
	F1            float64 `json:"f1"`
}

// TimeTo summarises the time from a lead's first identified event to its first
// arrival at a stage (or later), over the leads that did both; a lead that reached
// the stage before identifying counts as 0.
type TimeTo struct {
	Stage      string  `json:"stage"`
	Leads      int     `json:"leads"`
	MedianDays float64 `json:"median_days"`
	P25Days    float64 `json:"p25_days"`
	P75Days    float64 `json:"p75_days"`
}

// Diff is what changes from the first model to the second.
type Diff struct {
	A     string       `json:"a"`
	B     string       `json:"b"`
	Rules []RuleChange `json:"rules_changed"`
	// Leads counts the leads compared; Differ those whose stage at the end differs.
	Leads  int    `json:"leads"`
	Differ int    `json:"differ"`
	Moves  []Move `json:"moves"`
	// MQL and SQL count the population's leads that reached the stage under one
	// model only.
	MQL ReachDiff `json:"mql"`
	SQL ReachDiff `json:"sql"`
	// Examples lists differing leads, largest funnel distance first, then largest
	// score difference, at most Config.MaxDiffs of them.
	Examples []LeadDiff `json:"examples"`
}

// RuleChange is an engagement rule whose points differ; nil means the model has
// no such rule.
type RuleChange struct {
	Rule string   `json:"rule"`
	A    *float64 `json:"a"`
	B    *float64 `json:"b"`
}

// Move counts leads at stage A under the first model and B under the second.
type Move struct {
	A     string `json:"a"`
	B     string `json:"b"`
	Leads int    `json:"leads"`
}

// ReachDiff counts leads that reached a stage under one model only.
type ReachDiff struct {
	OnlyA int `json:"only_a"`
	OnlyB int `json:"only_b"`
}

// LeadDiff is one lead whose stage differs, and why.
type LeadDiff struct {
	Lead string   `json:"lead"`
	A    LeadSide `json:"a"`
	B    LeadSide `json:"b"`
	// Contributions are the rules whose share of the score differs most.
	Contributions []ContribDiff `json:"contributions"`
}

// LeadSide is a lead's end state under one model: its stage, its score at the end,
// and what moved it into that stage ("trigger demo_request", "decay", …; empty when
// it never moved).
type LeadSide struct {
	Stage string  `json:"stage"`
	Score float64 `json:"score"`
	Cause string  `json:"cause"`
}

// ContribDiff is one rule's contribution to the score under each model.
type ContribDiff struct {
	Rule string  `json:"rule"`
	A    float64 `json:"a"`
	B    float64 `json:"b"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// WriteJSONModels writes the reports of several models side by side (one
// per model, from RunEach or one Calibrate per model) as one indented JSON
// object, {"models": [report, …]}, each report in the form its own WriteJSON
// gives it.
func WriteJSONModels[R any](w io.Writer, reps []R) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Models []R `json:"models"`
	}{reps}); err != nil {
		return fmt.Errorf("writing reports: %w", err)
	}
	return nil
}

func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	v := math.Round(x*p) / p
	if v == 0 {
		return 0 // no negative zero
	}
	return v
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// result computes one model's measures. It runs after finish.
func (s *side) result(cfg Config, at int64) Result {
	m := s.eng.Model()
	res := Result{Rules: s.name, Version: m.Version}
	ids := s.run.LeadIDs()
	res.Leads = len(ids)

	entered := make([]int, len(m.Stages))
	atEnd := make([]int, len(m.Stages))
	type scored struct {
		score float64
		pos   bool
	}
	var pop []scored
	var toMQL, toSQL []float64
	weeks := map[int64]*Week{}
	week := func(t int64) *Week {
		k := weekOf(t)
		w := weeks[k]
		if w == nil {
			w = &Week{Week: time.UnixMilli(k).UTC().Format(time.DateOnly)}
			weeks[k] = w
		}
		return w
	}
	defs := []*Definition{
		{Stage: cfg.MQLStage, Basis: "ever"}, {Stage: cfg.MQLStage, Basis: "before_outcome"},
		{Stage: cfg.SQLStage, Basis: "ever"}, {Stage: cfg.SQLStage, Basis: "before_outcome"},
	}
	for _, id := range ids {
		st := s.run.Lead(id)
		ls := s.leads[id]
		if ls == nil { // cannot happen: every live lead had an event
			ls = &leadStats{entered: 1}
		}
		if i := m.StageIndex(st.Stage); i >= 0 {
			atEnd[i]++
		}
		for i := range entered {
			if ls.entered&(1<<uint(i)) != 0 {
				entered[i]++
			}
		}
		if ls.mqlAt != 0 {
			week(ls.mqlAt).NewMQLs++
		}
		if ls.sqlAt != 0 {
			week(ls.sqlAt).NewSQLs++
		}
		if ls.ident != 0 {
			res.Identified++
		}
		if ls.ident == 0 && ls.kinds == 0 {
			continue
		}
		res.Population++
		pos := ls.final != 0
		if pos {
			res.Positives++
		}
		pop = append(pop, scored{math.Max(0, ls.peak), pos})
		for k, d := range defs {
			reach := ls.mqlAt
			if k >= 2 {
				reach = ls.sqlAt
			}
			if reach == 0 || d.Basis == "before_outcome" && pos && reach >= ls.final {
				continue
			}
			d.Predicted++
			if pos {
				d.TruePositives++
			}
		}
		if ls.ident != 0 {
			if ls.mqlAt != 0 {
				toMQL = append(toMQL, days(ls.mqlAt-ls.ident))
			}
			if ls.sqlAt != 0 {
				toSQL = append(toSQL, days(ls.sqlAt-ls.ident))
			}
		}
	}
	for i, st := range m.Stages {
		res.Funnel = append(res.Funnel, StageCount{Stage: st.Name, Entered: entered[i], AtEnd: atEnd[i], Terminal: st.Terminal})
	}
	for k, n := range s.reMQL {
		week(k).ReMQLs += n
	}
	res.Weekly = weekly(weeks)
	for _, d := range defs {
		d.Positives = res.Positives
		d.Precision = round(ratio(d.TruePositives, d.Predicted), 4)
		d.Recall = round(ratio(d.TruePositives, d.Positives), 4)
		if p, r := ratio(d.TruePositives, d.Predicted), ratio(d.TruePositives, d.Positives); p+r > 0 {
			d.F1 = round(2*p*r/(p+r), 4)
		}
		res.Definitions = append(res.Definitions, *d)
	}
	res.TimeTo = []TimeTo{timeTo(cfg.MQLStage, toMQL), timeTo(cfg.SQLStage, toSQL)}

	scores := make([]float64, len(pop))
	pos := make([]bool, len(pop))
	for i, p := range pop {
		scores[i], pos[i] = p.score, p.pos
	}
	res.Calibration = calibration(scores, pos)
	return res
}

func days(ms int64) float64 {
	if ms < 0 {
		ms = 0
	}
	return float64(ms) / (24 * 3600 * 1000)
}

// weekly returns every week from the first to the last one with qualifications, in
// order, empty weeks included (a continuous series for charts).
func weekly(weeks map[int64]*Week) []Week {
	if len(weeks) == 0 {
		return []Week{}
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k := range weeks {
		lo, hi = min(lo, k), max(hi, k)
	}
	var out []Week
	for t := time.UnixMilli(lo).UTC(); t.UnixMilli() <= hi; t = t.AddDate(0, 0, 7) {
		if w := weeks[t.UnixMilli()]; w != nil {
			out = append(out, *w)
		} else {
			out = append(out, Week{Week: t.Format(time.DateOnly)})
		}
	}
	return out
}

func timeTo(stage string, ds []float64) TimeTo {
	sort.Float64s(ds)
	return TimeTo{Stage: stage, Leads: len(ds), MedianDays: round(quantile(ds, 0.5), 2),
		P25Days: round(quantile(ds, 0.25), 2), P75Days: round(quantile(ds, 0.75), 2)}
}

// quantile is the q-quantile of sorted values, interpolated linearly (0 when empty).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	x := q * float64(len(sorted)-1)
	i := int(x)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (x-float64(i))*(sorted[i+1]-sorted[i])
}

// calibration bands the leads by deciles of score: the nine cut points are the
// scores at ranks n/10, 2n/10, …; a lead's band is the number of distinct cut
// points at or below its score (so equal scores share a band).
func calibration(scores []float64, pos []bool) ScoreBands {
	c := ScoreBands{Basis: "peak score before the first positive outcome (over the whole log without one)", Bands: []Band{}}
	n := len(scores)
	if n == 0 {
		return c
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	npos := 0
	for _, p := range pos {
		if p {
			npos++
		}
	}
	c.BaseRate = round(ratio(npos, n), 4)
	c.AUC = round(auc(scores, pos, idx, npos), 4)
	var cuts []float64
	for k := 1; k < 10; k++ {
		v := scores[idx[k*n/10]]
		if v > scores[idx[0]] && (len(cuts) == 0 || v > cuts[len(cuts)-1]) {
			cuts = append(cuts, v)
		}
	}
	band := -1
	for _, i := range idx {
		b := sort.Search(len(cuts), func(j int) bool { return cuts[j] > scores[i] })
		if b != band {
			c.Bands = append(c.Bands, Band{Band: b + 1, Min: scores[i]})
			band = b
		}
		cur := &c.Bands[len(c.Bands)-1]
		cur.Max = scores[i]
		cur.Leads++
		if pos[i] {
			cur.Positives++
		}
	}
	for i := range c.Bands {
		b := &c.Bands[i]
		b.Min, b.Max = round(b.Min, 2), round(b.Max, 2)
		b.Rate = round(ratio(b.Positives, b.Leads), 4)
		if npos > 0 {
			b.Lift = round(ratio(b.Positives, b.Leads)/ratio(npos, n), 2)
		}
	}
	return c
}

// auc is the Mann–Whitney estimate of the area under the ROC curve, ties counting
// half; idx orders the scores ascending. It is 0 without both classes.
func auc(scores []float64, pos []bool, idx []int, npos int) float64 {
	nneg := len(scores) - npos
	if npos == 0 || nneg == 0 {
		return 0
	}
	rankSum := 0.0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if pos[idx[k]] {
				rankSum += avg
			}
		}
		i = j
	}
	return (rankSum - float64(npos)*float64(npos+1)/2) / (float64(npos) * float64(nneg))
}

// compare lists what differs between the two sides' ends.
func compare(a, b *side, at int64, maxDiffs int) *Diff {
	d := &Diff{A: a.name, B: b.name, Rules: ruleChanges(a.eng.Model(), b.eng.Model()), Moves: []Move{}, Examples: []LeadDiff{}}
	ma, mb := a.eng.Model(), b.eng.Model()
	moves := map[[2]string]int{}
	type cand struct {
		id          string
		dist, delta float64
	}
	var cands []cand
	for _, id := range a.run.LeadIDs() {
		sa, sb := a.run.Lead(id), b.run.Lead(id)
		if sb == nil {
			continue
		}
		d.Leads++
		if la, lb := a.leads[id], b.leads[id]; la != nil && lb != nil && (la.ident != 0 || la.kinds != 0) {
			countReach(&d.MQL, la.mqlAt != 0, lb.mqlAt != 0)
			countReach(&d.SQL, la.sqlAt != 0, lb.sqlAt != 0)
		}
		if sa.Stage == sb.Stage {
			continue
		}
		d.Differ++
		moves[[2]string{sa.Stage, sb.Stage}]++
		cands = append(cands, cand{id,
			math.Abs(float64(ma.StageIndex(sa.Stage) - mb.StageIndex(sb.Stage))),
			math.Abs(a.eng.Score(sa, at) - b.eng.Score(sb, at))})
	}
	for k, n := range moves {
		d.Moves = append(d.Moves, Move{A: k[0], B: k[1], Leads: n})
	}
	sort.Slice(d.Moves, func(i, j int) bool {
		x, y := d.Moves[i], d.Moves[j]
		if x.Leads != y.Leads {
			return x.Leads > y.Leads
		}
		if x.A != y.A {
			return x.A < y.A
		}
		return x.B < y.B
	})
	sort.Slice(cands, func(i, j int) bool {
		x, y := cands[i], cands[j]
		if x.dist != y.dist {
			return x.dist > y.dist
		}
		if x.delta != y.delta {
			return x.delta > y.delta
		}
		return x.id < y.id
	})
	if maxDiffs < 0 {
		maxDiffs = 0
	}
	for _, c := range cands[:min(len(cands), maxDiffs)] {
		d.Examples = append(d.Examples, leadDiff(a, b, c.id, at))
	}
	return d
}

func countReach(r *ReachDiff, a, b bool) {
	if a && !b {
		r.OnlyA++
	}
	if b && !a {
		r.OnlyB++
	}
}

func leadDiff(a, b *side, id string, at int64) LeadDiff {
	sa, sb := a.run.Lead(id), b.run.Lead(id)
	xa, xb := a.eng.Explain(sa, at), b.eng.Explain(sb, at)
	ld := LeadDiff{Lead: id,
		A: LeadSide{Stage: sa.Stage, Score: round(xa.Score, 2), Cause: causeOf(sa)},
		B: LeadSide{Stage: sb.Stage, Score: round(xb.Score, 2), Cause: causeOf(sb)}}
	pts := map[string]*ContribDiff{}
	var order []string
	add := func(cs []scoring.Contribution, isA bool) {
		for _, c := range cs {
			cd := pts[c.Rule]
			if cd == nil {
				cd = &ContribDiff{Rule: c.Rule}
				pts[c.Rule] = cd
				order = append(order, c.Rule)
			}
			if isA {
				cd.A = c.Points
			} else {
				cd.B = c.Points
			}
		}
	}
	add(xa.Contributions, true)
	add(xb.Contributions, false)
	sort.SliceStable(order, func(i, j int) bool {
		x, y := pts[order[i]], pts[order[j]]
		dx, dy := math.Abs(x.A-x.B), math.Abs(y.A-y.B)
		if dx != dy {
			return dx > dy
		}
		return order[i] < order[j]
	})
	for _, r := range order {
		c := pts[r]
		if len(ld.Contributions) == 3 || round(c.A-c.B, 2) == 0 {
			break
		}
		ld.Contributions = append(ld.Contributions, ContribDiff{Rule: r, A: round(c.A, 2), B: round(c.B, 2)})
	}
	if ld.Contributions == nil {
		ld.Contributions = []ContribDiff{}
	}
	return ld
}

// causeOf describes the transition that brought a lead to its current stage, if
// the state still remembers it.
func causeOf(st *scoring.State) string {
	for i := len(st.Recent) - 1; i >= 0; i-- {
		tr := st.Recent[i]
		if tr.To != st.Stage {
			continue
		}
		c := tr.Cause
		parts := []string{c.Kind.String()}
		switch {
		case c.Feedback != "":
			parts = append(parts, c.Feedback)
			if c.Reason != "" {
				parts = append(parts, "("+c.Reason+")")
			}
		case c.Rule != "":
			parts = append(parts, c.Rule)
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// ruleChanges lists the engagement rules whose points differ between two models,
// in the first model's order, then the second's new rules.
func ruleChanges(a, b *scoring.Model) []RuleChange {
	out := []RuleChange{}
	for _, r := range a.Rules {
		pa := r.Points
		if j := b.RuleIndex(r.Name); j < 0 {
			out = append(out, RuleChange{Rule: r.Name, A: &pa})
		} else if pb := b.Rules[j].Points; pb != pa {
			out = append(out, RuleChange{Rule: r.Name, A: &pa, B: &pb})
		}
	}
	for _, r := range b.Rules {
		if a.RuleIndex(r.Name) < 0 {
			pb := r.Points
			out = append(out, RuleChange{Rule: r.Name, B: &pb})
		}
	}
	return out
}
