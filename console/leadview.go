package console

import (
	"math"
	"slices"
	"sort"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
)

// LeadView is the answer of GET /console/api/lead: the lead exactly as GET
// /v1/leads/{id} answers it, and what the lead's page draws from its state.
type LeadView struct {
	Lead api.Lead `json:"lead"`
	// Account is the account (company) the lead belongs to under its model,
	// when that model scores accounts ("" otherwise): GET /v1/leads/{id}
	// does not say it, the lead's state does.
	Account string `json:"account,omitempty"`
	// History is the score over time.
	History History `json:"history"`
	// Traits are the lead's traits that the fit rules read; FitRules say
	// which rules matched them (their points sum to the fit score).
	Traits   []Trait       `json:"traits"`
	FitRules []fitRuleView `json:"fit_rules"`
	// Hits counts each rule's hits in the lead's life.
	Hits []Hit `json:"hits"`
	// Feedback lists the sales feedback among the recent transitions,
	// newest first.
	Feedback []api.Transition `json:"feedback"`
}

// Trait is one trait value.
type Trait struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Hit is a rule's lifetime hit count.
type Hit struct {
	Rule  string `json:"rule"`
	Count uint32 `json:"count"`
}

// History is a lead's score over time, from what its state keeps: the score
// at each recent transition and at the state's last update, decayed to now.
// Events between two of these points are not kept, so the curve between them
// is the decay from the earlier point and a step up (or down) at the later;
// after the last update it is the engine's own score at each instant (the
// API's). Times are Unix ms.
type History struct {
	Points     []Point     `json:"points"`
	Curve      []Sample    `json:"curve"`
	Bands      []Band      `json:"bands"`
	Thresholds []Threshold `json:"thresholds"`
	// LastActivity is the time of the latest scoring activity (0: none).
	LastActivity int64 `json:"last_activity"`
	Now          int64 `json:"now"`
	HalfLifeMs   int64 `json:"half_life_ms"`
}

// Point is a known score: at a transition ("transition", with Label saying
// from → to), at the state's last update ("update") or now ("now").
type Point struct {
	At    int64   `json:"at"`
	Score float64 `json:"score"`
	Kind  string  `json:"kind"`
	Label string  `json:"label,omitempty"`
}

// Sample is one point of the drawn curve; Gap marks the start of a segment
// that does not continue the previous one (a step at a known point).
type Sample struct {
	At    int64   `json:"at"`
	Score float64 `json:"score"`
	Gap   bool    `json:"gap,omitempty"`
}

// Band is a stage the lead was in from From to To.
type Band struct {
	Stage string `json:"stage"`
	From  int64  `json:"from"`
	To    int64  `json:"to"`
}

// Threshold is a score threshold of the model: a stage's entry ("entry") or
// exit ("exit").
type Threshold struct {
	Stage string  `json:"stage"`
	Score float64 `json:"score"`
	Kind  string  `json:"kind"`
}

// samplesPerSegment is how finely a decay segment is drawn.
const samplesPerSegment = 24

func newLeadView(eng *scoring.Engine, lead api.Lead, st *scoring.State, now int64) LeadView {
	m := eng.Model()
	v := LeadView{Lead: lead, Traits: []Trait{}, Hits: []Hit{}, Feedback: []api.Transition{}, FitRules: fitRules(m, st.Traits)}
	if m.Accounts != nil {
		v.Account = st.Account
	}
	for _, p := range st.Traits {
		v.Traits = append(v.Traits, Trait{Key: p.Key, Value: p.Str})
	}
	for _, h := range st.Hits {
		if h.Count > 0 {
			v.Hits = append(v.Hits, Hit{Rule: h.Rule, Count: h.Count})
		}
	}
	sort.SliceStable(v.Hits, func(i, j int) bool { return v.Hits[i].Count > v.Hits[j].Count })
	for _, t := range lead.RecentTransitions {
		if t.Cause.Kind == scoring.CauseFeedback.String() {
			v.Feedback = append(v.Feedback, t)
		}
	}
	v.History = history(eng, st, now)
	return v
}

func history(eng *scoring.Engine, st *scoring.State, now int64) History {
	m := eng.Model()
	h := History{Now: now, HalfLifeMs: m.HalfLife, LastActivity: st.LastActive, Points: []Point{}, Curve: []Sample{},
		Bands: []Band{}, Thresholds: []Threshold{}}
	for _, tr := range st.Recent {
		if tr.At <= now {
			h.Points = append(h.Points, Point{At: tr.At, Score: output.Round(tr.Score), Kind: "transition", Label: tr.From + " → " + tr.To})
		}
	}
	if st.ScoreAt > 0 && st.ScoreAt <= now && !slices.ContainsFunc(h.Points, func(p Point) bool { return p.At == st.ScoreAt }) {
		h.Points = append(h.Points, Point{At: st.ScoreAt, Score: output.Round(eng.Explain(st, st.ScoreAt).Score), Kind: "update"})
	}
	sort.SliceStable(h.Points, func(i, j int) bool { return h.Points[i].At < h.Points[j].At })
	h.Points = append(h.Points, Point{At: now, Score: output.Round(eng.Explain(st, now).Score), Kind: "now"})

	// The curve: pure decay from each known point to the next (the events in
	// between are not kept), then the engine's score from the last update on.
	decay := func(s float64, dt int64) float64 {
		if m.HalfLife <= 0 {
			return s
		}
		return s * math.Exp2(-float64(dt)/float64(m.HalfLife))
	}
	last := st.ScoreAt
	for i := 0; i+1 < len(h.Points); i++ {
		a, b := h.Points[i], h.Points[i+1]
		h.Curve = append(h.Curve, Sample{At: a.At, Score: a.Score, Gap: i > 0})
		if a.At >= last {
			// Events of the same instant after the transition (a stitched
			// visitor's history, say) make a step at a itself.
			if s := output.Round(eng.Explain(st, a.At).Score); s != a.Score {
				h.Curve = append(h.Curve, Sample{At: a.At, Score: s})
			}
		}
		for k := 1; k <= samplesPerSegment; k++ {
			t := a.At + (b.At-a.At)*int64(k)/samplesPerSegment
			var s float64
			if a.At >= last {
				s = eng.Explain(st, t).Score
			} else {
				s = decay(a.Score, t-a.At)
			}
			if k == samplesPerSegment && b.Kind == "now" {
				s = b.Score
			}
			h.Curve = append(h.Curve, Sample{At: t, Score: output.Round(s)})
		}
	}
	if len(h.Points) == 1 {
		h.Curve = append(h.Curve, Sample{At: now, Score: h.Points[0].Score})
	}

	// Stage bands: the stage before the first recent transition, then each
	// transition's destination.
	start := h.Points[0].At
	if st.StageSince > 0 && st.StageSince < start {
		start = st.StageSince
	}
	cur, from := st.Stage, start
	if len(st.Recent) > 0 {
		cur = st.Recent[0].From
	}
	if cur == "" && len(m.Stages) > 0 {
		cur = m.Stages[0].Name
	}
	for _, tr := range st.Recent {
		if tr.At > from {
			h.Bands = append(h.Bands, Band{Stage: cur, From: from, To: tr.At})
		}
		cur, from = tr.To, tr.At
	}
	if cur == "" && len(m.Stages) > 0 {
		cur = m.Stages[0].Name
	}
	h.Bands = append(h.Bands, Band{Stage: cur, From: from, To: now})

	for _, s := range m.Stages {
		for _, alt := range s.Entry {
			for _, c := range alt {
				if c.Kind == scoring.CondScore {
					h.Thresholds = append(h.Thresholds, Threshold{Stage: s.Name, Score: c.Value, Kind: "entry"})
				}
			}
		}
		// An exit with no score threshold (a model may leave Below infinite)
		// has no line to draw, and JSON has no infinity.
		if s.Exit != nil && !math.IsInf(s.Exit.Below, 0) && !math.IsNaN(s.Exit.Below) {
			h.Thresholds = append(h.Thresholds, Threshold{Stage: s.Name, Score: s.Exit.Below, Kind: "exit"})
		}
	}
	return h
}
