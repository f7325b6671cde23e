package backtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
	"gonum.org/v1/gonum/mat"
)

// CalibrateReport is what a calibration found and proposes. Its JSON form is stable.
type CalibrateReport struct {
	// Basis is "rules" (features are the base file's engagement rules) or
	// "event kinds".
	Basis string `json:"basis"`
	// Rules names the base rules file (empty for event kinds).
	Rules string `json:"rules,omitempty"`
	// HalfLifeDays is the half-life hits were weighted with (0: plain counts).
	HalfLifeDays float64 `json:"half_life_days"`
	// L2 is the ridge penalty used.
	L2  float64  `json:"l2"`
	Log LogStats `json:"log"`
	// Population counts the leads fitted: identified, or named by an outcome;
	// Positives those with a positive outcome.
	Population int `json:"population"`
	Positives  int `json:"positives"`
	// Unmatched counts outcome lines whose identity no lead has; Late the positive
	// outcomes whose lead was only known after their time (their features may
	// include later events).
	Unmatched int `json:"unmatched"`
	Late      int `json:"late"`
	// Intercept is the fitted log-odds of a lead with no hit.
	Intercept float64 `json:"intercept"`
	// Features are the rules (or event kinds), by decreasing coefficient; unfitted
	// ones last.
	Features []Feature `json:"features"`
	// Threshold is the MQL stage's score threshold the scale was chosen for (nil
	// when there is none). Scale is the points given to one unit of log-odds.
	Threshold *float64 `json:"threshold"`
	Scale     float64  `json:"scale"`
	// AboveBase and AboveProposed count the population's leads whose engagement
	// score at their cut-off (inactivity steps aside) is at or above Threshold with
	// the base and the proposed points.
	AboveBase     int `json:"above_base"`
	AboveProposed int `json:"above_proposed"`
	// Proposed is the proposed rules file (YAML), ProposedName its name in Diff.
	Proposed     string `json:"proposed"`
	ProposedName string `json:"proposed_name"`
	// Diff is a unified diff from the base file (or from nothing) to Proposed.
	Diff string `json:"diff"`
}

// Feature is one rule (or event kind) and what history says about it.
type Feature struct {
	Name string `json:"name"`
	// Match describes an event kind's rule match (event kinds only).
	Match string `json:"match,omitempty"`
	// Leads counts the population's leads with a hit before their cut-off;
	// Positives those of them that converted.
	Leads     int `json:"leads"`
	Positives int `json:"positives"`
	// RateWith and RateWithout are the conversion rates of leads with and without
	// a hit; Lift is their ratio (nil when no lead without a hit converted).
	RateWith    float64  `json:"rate_with"`
	RateWithout float64  `json:"rate_without"`
	Lift        *float64 `json:"lift"`
	// Fitted says the feature had enough leads to be fitted; Coef is then its
	// log-odds per decay-weighted hit, StdErr its standard error.
	Fitted bool    `json:"fitted"`
	Coef   float64 `json:"coef"`
	StdErr float64 `json:"std_err"`
	// Points are the base file's points (nil for event kinds); Suggested the
	// proposed ones (unfitted rules keep theirs).
	Points    *float64 `json:"points"`
	Suggested float64  `json:"suggested"`
}

// WriteJSON writes the report as indented JSON.
func (r *CalibrateReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing calibration: %w", err)
	}
	return nil
}

// kindsMaxPoints is the largest |points| of a proposed file without a base.
const kindsMaxPoints = 25

// fit builds the design matrix, fits the regression and proposes points.
func (c *calibrator) fit(rep *CalibrateReport, xs []snapshot, ys []bool) (*CalibrateReport, error) {
	rep.L2 = c.cfg.L2
	rep.HalfLifeDays = round(float64(c.halfLife)/(24*3600*1000), 4)
	rep.Population = len(xs)
	for _, y := range ys {
		if y {
			rep.Positives++
		}
	}
	if rep.Positives == 0 || rep.Positives == len(ys) {
		return nil, fmt.Errorf("calibrate: %d of %d leads converted: a fit needs both converting and non-converting leads", rep.Positives, len(ys))
	}
	var names []string
	if c.base != nil {
		rep.Basis, rep.Rules = "rules", c.cfg.RulesName
		names = c.names
	} else {
		rep.Basis = "event kinds"
		for _, k := range c.kinds.kinds {
			names = append(names, k.name)
		}
	}
	k := len(names)
	leads, poss := make([]int, k), make([]int, k)
	for i, x := range xs {
		for _, fv := range x {
			leads[fv.j]++
			if ys[i] {
				poss[fv.j]++
			}
		}
	}
	// Which features are fitted: enough leads, some variance; without a base, the
	// most frequent MaxFeatures.
	var fitted []int
	for j := range k {
		if leads[j] >= c.cfg.MinLeads {
			fitted = append(fitted, j)
		}
	}
	if c.base == nil {
		sort.SliceStable(fitted, func(a, b int) bool { return leads[fitted[a]] > leads[fitted[b]] })
		if len(fitted) > c.cfg.MaxFeatures {
			fitted = fitted[:c.cfg.MaxFeatures]
		}
		sort.Ints(fitted)
	}
	if len(fitted) == 0 {
		return nil, fmt.Errorf("calibrate: no rule or event kind is hit by at least %d leads before their cut-off", c.cfg.MinLeads)
	}
	coef, se, icpt, err := logistic(xs, ys, fitted, k, c.cfg.L2)
	if err != nil {
		return nil, err
	}
	rep.Intercept = round(icpt, 4)

	feats := make([]Feature, k)
	n := len(xs)
	for j := range k {
		f := &feats[j]
		f.Name = names[j]
		f.Leads, f.Positives = leads[j], poss[j]
		f.RateWith = round(ratio(poss[j], leads[j]), 4)
		f.RateWithout = round(ratio(rep.Positives-poss[j], n-leads[j]), 4)
		if rw := ratio(rep.Positives-poss[j], n-leads[j]); rw > 0 && leads[j] > 0 {
			l := round(ratio(poss[j], leads[j])/rw, 2)
			f.Lift = &l
		}
		if c.base != nil {
			p := c.base.Rules[j].Points
			f.Points = &p
		} else {
			f.Match = c.kinds.kinds[j].describe()
		}
	}
	for i, j := range fitted {
		feats[j].Fitted, feats[j].Coef, feats[j].StdErr = true, round(coef[i], 4), round(se[i], 4)
	}
	c.suggest(rep, feats, fitted, coef, xs)

	var err2 error
	if c.base != nil {
		rep.ProposedName = c.cfg.ProposedName
		if rep.ProposedName == "" {
			rep.ProposedName = proposedName(c.cfg.RulesName)
		}
		rep.Proposed, err2 = proposeFromBase(c.cfg.Rules, c.cfg.RulesName, c.base, feats, c.version())
	} else {
		rep.ProposedName = c.cfg.ProposedName
		if rep.ProposedName == "" {
			rep.ProposedName = "proposed-rules.yaml"
		}
		rep.Proposed, err2 = proposeFromKinds(c.kinds.kinds, feats, fitted, c.halfLife, rep, c.version())
	}
	if err2 != nil {
		return nil, err2
	}
	if _, err := rules.Parse(rep.ProposedName, []byte(rep.Proposed)); err != nil {
		return nil, fmt.Errorf("calibrate: the proposed rules file does not load (a bug): %w", err)
	}
	base, baseName := "", "/dev/null"
	if c.base != nil {
		base, baseName = string(c.cfg.Rules), c.cfg.RulesName
	}
	rep.Diff = unifiedDiff(baseName, rep.ProposedName, base, rep.Proposed)

	sort.SliceStable(feats, func(a, b int) bool {
		x, y := feats[a], feats[b]
		if x.Fitted != y.Fitted {
			return x.Fitted
		}
		if x.Coef != y.Coef {
			return x.Coef > y.Coef
		}
		return x.Leads > y.Leads
	})
	rep.Features = feats
	return rep, nil
}

func (c *calibrator) version() string {
	switch {
	case c.cfg.Version != "":
		return c.cfg.Version
	case c.base != nil:
		return c.base.Version + "-calibrated"
	}
	return "calibrated"
}

// suggest maps coefficients to integer points. With a base file that has an MQL
// score threshold T, the scale s (points per unit of log-odds) is the one that
// keeps the number of population leads whose cut-off score reaches T closest to
// what the base points give; unfitted rules keep their points. Without a
// threshold, s makes the largest fitted |points| equal to the base's largest (or
// kindsMaxPoints without a base).
func (c *calibrator) suggest(rep *CalibrateReport, feats []Feature, fitted []int, coef []float64, xs []snapshot) {
	k := len(feats)
	beta := make([]float64, k)
	isFit := make([]bool, k)
	for i, j := range fitted {
		beta[j], isFit[j] = coef[i], true
	}
	basePts := make([]float64, k)
	for j := range feats {
		if feats[j].Points != nil {
			basePts[j] = *feats[j].Points
		}
	}
	// a_i: the fitted part of a lead's log-odds; b_i: the unfitted rules' points.
	a, b, old := make([]float64, len(xs)), make([]float64, len(xs)), make([]float64, len(xs))
	for i, x := range xs {
		for _, fv := range x {
			old[i] += basePts[fv.j] * fv.v
			if isFit[fv.j] {
				a[i] += beta[fv.j] * fv.v
			} else {
				b[i] += basePts[fv.j] * fv.v
			}
		}
	}
	maxBeta, maxBase := 0.0, 0.0
	for j := range k {
		if isFit[j] {
			maxBeta = math.Max(maxBeta, math.Abs(beta[j]))
			maxBase = math.Max(maxBase, math.Abs(basePts[j]))
		}
	}
	if maxBase == 0 {
		maxBase = kindsMaxPoints
	}
	s0 := 1.0
	if maxBeta > 0 {
		s0 = maxBase / maxBeta
	}
	s := s0
	if t, ok := c.threshold(); ok {
		rep.Threshold = &t
		want := countAbove(old, nil, 1, nil, t)
		rep.AboveBase = want
		// s0 · 10^(g/100), g from 0 outwards to ±300 (s0/1000 … 1000·s0): the
		// first best is the closest to s0.
		best, bestGap := s0, math.Inf(1)
		for m := 0; m <= 300; m++ {
			for _, g := range []int{m, -m} {
				cand := s0 * math.Pow(10, float64(g)/100)
				if gap := math.Abs(float64(countAbove(a, b, cand, nil, t) - want)); gap < bestGap {
					best, bestGap = cand, gap
				}
			}
		}
		s = best
	}
	rep.Scale = round(s, 4)
	for j := range feats {
		if isFit[j] {
			feats[j].Suggested = round(math.Round(s*beta[j]), 0)
		} else {
			feats[j].Suggested = basePts[j]
		}
	}
	pts := make([]float64, k)
	for j := range feats {
		pts[j] = feats[j].Suggested
	}
	scores := scoreWith(xs, pts)
	if rep.Threshold == nil && c.base == nil {
		// A new funnel: the MQL threshold puts the top tenth of the population's
		// cut-off scores at or above it.
		sorted := append([]float64(nil), scores...)
		sort.Float64s(sorted)
		t := math.Max(1, math.Round(quantile(sorted, 0.9)))
		rep.Threshold = &t
	}
	if rep.Threshold != nil {
		rep.AboveProposed = countAbove(nil, nil, 0, scores, *rep.Threshold)
	}
}

func scoreWith(xs []snapshot, pts []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		for _, fv := range x {
			out[i] += pts[fv.j] * fv.v
		}
	}
	return out
}

// countAbove counts the leads whose score reaches t: s·a_i + b_i, or scores[i]
// when given.
func countAbove(a, b []float64, s float64, scores []float64, t float64) int {
	n := 0
	if scores != nil {
		for _, x := range scores {
			if x >= t {
				n++
			}
		}
		return n
	}
	for i := range a {
		x := s * a[i]
		if b != nil {
			x += b[i]
		}
		if x >= t {
			n++
		}
	}
	return n
}

// threshold returns the base file's MQL score threshold: the score condition of
// the MQL stage's first entry alternative that has one.
func (c *calibrator) threshold() (float64, bool) {
	if c.base == nil {
		return 0, false
	}
	st := c.base.Stages[c.base.StageIndex(c.cfg.MQLStage)]
	for _, alt := range st.Entry {
		for _, cond := range alt {
			if cond.Kind == scoring.CondScore {
				return cond.Value, true
			}
		}
	}
	return 0, false
}

// logistic fits an L2-regularised logistic regression of ys on the features
// listed in cols, with an unpenalised intercept, by Newton's method with a
// backtracking line search; gonum's mat does the linear algebra (Cholesky
// factorisations). It returns the coefficients (log-odds per decay-weighted hit),
// their standard errors (from the inverse Hessian at the optimum) and the
// intercept.
//
// The objective is NLL(β) + λ/2·Σβ²: the penalty is on the coefficients per hit,
// as a Gaussian prior of variance 1/λ on each rule's effect would be, so a rare
// rule is shrunk as much as a frequent one. It is strictly convex for λ > 0, so
// Newton's method converges to its unique minimum in a handful of steps. The
// features are standardised internally (mean 0, standard deviation 1) for the
// conditioning of the Hessian only; the penalty is rescaled to match.
func logistic(xs []snapshot, ys []bool, cols []int, k int, l2 float64) (coef, se []float64, intercept float64, err error) {
	n, p := len(xs), len(cols)
	col := make([]int, k)
	for i := range col {
		col[i] = -1
	}
	for i, j := range cols {
		col[j] = i
	}
	// Dense design matrix, standardised, with the intercept in column 0.
	d := p + 1
	x := make([]float64, n*d)
	mean, sd := make([]float64, p), make([]float64, p)
	for i, s := range xs {
		x[i*d] = 1
		for _, fv := range s {
			if c := col[fv.j]; c >= 0 {
				x[i*d+1+c] = fv.v
			}
		}
	}
	for c := range p {
		var sum, sq float64
		for i := range n {
			v := x[i*d+1+c]
			sum += v
			sq += v * v
		}
		mean[c] = sum / float64(n)
		sd[c] = math.Sqrt(math.Max(sq/float64(n)-mean[c]*mean[c], 0))
		if sd[c] < 1e-12 {
			sd[c] = 1
		}
		for i := range n {
			x[i*d+1+c] = (x[i*d+1+c] - mean[c]) / sd[c]
		}
	}
	y := make([]float64, n)
	for i, v := range ys {
		if v {
			y[i] = 1
		}
	}
	// The penalty on a standardised coefficient b_c = β·sd is λ/sd² · b_c²/2.
	pen := make([]float64, d)
	for c := range p {
		pen[c+1] = l2 / (sd[c] * sd[c])
	}
	prob := make([]float64, n)
	// objective returns NLL + λ/2·Σβ² at b, leaving the fitted probabilities in prob.
	objective := func(b []float64) float64 {
		f := 0.0
		for i := range n {
			z := 0.0
			for c, v := range x[i*d : (i+1)*d] {
				z += v * b[c]
			}
			// log(1+e^z) − y·z and the probability, without overflow.
			if z > 0 {
				e := math.Exp(-z)
				f += z + math.Log1p(e) - y[i]*z
				prob[i] = 1 / (1 + e)
			} else {
				e := math.Exp(z)
				f += math.Log1p(e) - y[i]*z
				prob[i] = e / (1 + e)
			}
		}
		for c := 1; c < d; c++ {
			f += pen[c] / 2 * b[c] * b[c]
		}
		return f
	}
	b := make([]float64, d)
	f := objective(b)
	g := mat.NewVecDense(d, nil)
	h := mat.NewSymDense(d, nil)
	var chol mat.Cholesky
	var step mat.VecDense
	trial := make([]float64, d)
	for iter := 0; ; iter++ {
		if iter == 100 {
			return nil, nil, 0, errors.New("calibrate: logistic regression did not converge in 100 Newton steps")
		}
		gradient(g, x, prob, y, b, n, d, pen)
		if mat.Norm(g, math.Inf(1)) < 1e-9*float64(n) {
			break
		}
		hessian(h, x, prob, n, d, pen)
		if !chol.Factorize(h) {
			return nil, nil, 0, errors.New("calibrate: logistic regression: the Hessian is singular (collinear features; use a positive L2 penalty)")
		}
		if err := chol.SolveVecTo(&step, g); err != nil {
			return nil, nil, 0, fmt.Errorf("calibrate: logistic regression: %w", err)
		}
		slope := mat.Dot(g, &step) // the decrease rate along −step
		t, nf := 1.0, 0.0
		for range 40 {
			for c := range d {
				trial[c] = b[c] - t*step.AtVec(c)
			}
			if nf = objective(trial); nf <= f-1e-4*t*slope {
				break
			}
			t /= 2
		}
		copy(b, trial)
		done := f-nf <= 1e-12*(1+math.Abs(f))
		f = objective(b) // refresh prob at the new point
		if done {
			break
		}
	}
	if !allFinite(b) {
		return nil, nil, 0, errors.New("calibrate: logistic regression did not converge to finite coefficients")
	}
	// Standard errors: the inverse Hessian at the optimum.
	hessian(h, x, prob, n, d, pen)
	seZ := make([]float64, d)
	var cov mat.SymDense
	if chol.Factorize(h) && chol.InverseTo(&cov) == nil {
		for c := range d {
			seZ[c] = math.Sqrt(math.Max(cov.At(c, c), 0))
		}
	}
	coef, se = make([]float64, p), make([]float64, p)
	intercept = b[0]
	for c := range p {
		coef[c] = b[c+1] / sd[c]
		se[c] = seZ[c+1] / sd[c]
		intercept -= b[c+1] * mean[c] / sd[c]
	}
	return coef, se, intercept, nil
}

// gradient fills g with Xᵀ(p − y) + pen·b.
func gradient(g *mat.VecDense, x, prob, y, b []float64, n, d int, pen []float64) {
	acc := make([]float64, d)
	for i := range n {
		r := prob[i] - y[i]
		for c, v := range x[i*d : (i+1)*d] {
			acc[c] += r * v
		}
	}
	for c := range d {
		g.SetVec(c, acc[c]+pen[c]*b[c])
	}
}

// hessian fills h with Xᵀ W X + diag(pen), W = p(1−p).
func hessian(h *mat.SymDense, x, prob []float64, n, d int, pen []float64) {
	acc := make([]float64, d*d)
	for i := range n {
		w := prob[i] * (1 - prob[i])
		row := x[i*d : (i+1)*d]
		for a := range d {
			wa := w * row[a]
			if wa == 0 {
				continue
			}
			for c := a; c < d; c++ {
				acc[a*d+c] += wa * row[c]
			}
		}
	}
	for a := range d {
		for c := a; c < d; c++ {
			v := acc[a*d+c]
			if a == c {
				v += pen[a]
			}
			h.SetSym(a, c, v)
		}
	}
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
