package api

import (
	"slices"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Lead is the answer to GET /v1/leads/{id}: the lead as it stands at At,
// under one model (the first the process runs, or ?model=) and, when the
// process runs several, under each of them (Models).
type Lead struct {
	// LeadID is the lead's id ("user:crm-42", "email:…", "anon:…").
	LeadID string `json:"lead_id"`
	// RequestedID is the id in the request when it differs from LeadID: an
	// identity of the lead, or a lead merged into it by identity stitching.
	RequestedID string `json:"requested_id,omitempty"`
	ModelScore
	Identified bool `json:"identified"`
	// Identities are the ids the lead is known by.
	Identities output.Identities `json:"identities"`
	// Models is the lead under every model the process runs, in order, when
	// it runs more than one.
	Models []ModelScore `json:"models,omitempty"`
}

// ModelScore is a lead under one model: its stage, score and why.
type ModelScore struct {
	// Model is the model's name (absent for a process's one unnamed model).
	Model string `json:"model,omitempty"`
	// Stage is the lead's current stage, and StageSince when it entered it
	// (event time).
	Stage      string  `json:"stage"`
	StageSince *string `json:"stage_since"`
	// Score is the engagement score at At, decay applied; Breakdown is each
	// rule's part of it (largest magnitude first; they sum to Score).
	Score     float64                `json:"score"`
	At        string                 `json:"at"`
	Breakdown []scoring.Contribution `json:"breakdown"`
	// Fit is the fit score from the lead's traits, Grade its letter (A–D;
	// omitted when the model has no fit rules).
	Fit   float64 `json:"fit"`
	Grade string  `json:"grade,omitempty"`
	// LastActivity is the event time of the lead's latest scoring activity.
	LastActivity *string `json:"last_activity"`
	// NextChangeAt is when the lead will next change with no new event
	// (decay below an exit threshold, an inactivity step), if ever.
	NextChangeAt *string `json:"next_change_at"`
	// RecentTransitions are the latest stage changes, newest first.
	RecentTransitions []Transition `json:"recent_transitions"`
	// ModelVersion is the rules version that last changed the lead.
	ModelVersion string `json:"model_version"`
}

// Transition is one stage change, as on the stage-change topic.
type Transition struct {
	ID             string                 `json:"id"`
	From           string                 `json:"from"`
	To             string                 `json:"to"`
	Direction      string                 `json:"direction"`
	At             string                 `json:"at"`
	Cause          output.Cause           `json:"cause"`
	TriggerEventID *string                `json:"trigger_event_id"`
	Score          float64                `json:"score"`
	Fit            float64                `json:"fit"`
	Grade          string                 `json:"grade,omitempty"`
	Contributors   []scoring.Contribution `json:"contributors"`
}

// TopLeads is the answer to GET /v1/leads?stage=…: the leads of a stage with
// the highest scores at At, best first.
type TopLeads struct {
	// Model names the model whose stage this is (absent for a process's one
	// unnamed model).
	Model string       `json:"model,omitempty"`
	Stage string       `json:"stage"`
	At    string       `json:"at"`
	Leads []RankedLead `json:"leads"`
}

// RankedLead is one entry of TopLeads.
type RankedLead struct {
	LeadID string  `json:"lead_id"`
	Score  float64 `json:"score"`
}

// newLead is the view of lead rec (decoded: l) under the set's model
// sel, with every model's when the set has several.
func newLead(set *scoring.Set, sel int, rec state.Record, l *scoring.Lead, now int64) Lead {
	engs := set.Engines()
	out := Lead{
		LeadID:     rec.LeadID,
		ModelScore: modelScore(engs[sel], rec.LeadID, &l.States[sel], now),
		Identities: output.IdentitiesFromKeys(rec.Identities),
	}
	for i := range l.States {
		out.Identified = out.Identified || l.States[i].Identified
	}
	if len(engs) > 1 {
		out.Models = make([]ModelScore, len(engs))
		for i, e := range engs {
			out.Models[i] = modelScore(e, rec.LeadID, &l.States[i], now)
		}
	}
	return out
}

func modelScore(eng *scoring.Engine, lead string, st *scoring.State, now int64) ModelScore {
	x := eng.Explain(st, now)
	m := ModelScore{
		Model:        eng.Model().Name,
		Stage:        st.Stage,
		Score:        output.Round(x.Score),
		At:           output.FormatTime(now),
		Breakdown:    roundAll(x.Contributions),
		Fit:          output.Round(st.Fit),
		ModelVersion: st.Model,
	}
	if m.Stage == "" && len(eng.Model().Stages) > 0 {
		m.Stage = eng.Model().Stages[0].Name
	}
	m.Grade = output.Grade(st.Grade)
	m.StageSince = timePtr(st.StageSince)
	m.LastActivity = timePtr(st.LastActive)
	if next, ok := eng.NextChange(st); ok {
		m.NextChangeAt = timePtr(next)
	}
	m.RecentTransitions = make([]Transition, 0, len(st.Recent))
	for _, tr := range slices.Backward(st.Recent) {
		t := Transition{
			ID:             output.TransitionID(eng.Model().Name, lead, &tr),
			From:           tr.From,
			To:             tr.To,
			Direction:      eng.Direction(tr.From, tr.To),
			At:             output.FormatTime(tr.At),
			Cause:          output.Cause{Kind: tr.Cause.Kind.String(), Rule: tr.Cause.Rule, Feedback: tr.Cause.Feedback, Reason: tr.Cause.Reason},
			Score:          output.Round(tr.Score),
			Fit:            output.Round(tr.Fit),
			Contributors:   roundAll(tr.Top),
			Grade:          output.Grade(tr.Grade),
			TriggerEventID: output.Optional(tr.TriggerID),
		}
		m.RecentTransitions = append(m.RecentTransitions, t)
	}
	return m
}

func timePtr(ms int64) *string {
	if ms == 0 {
		return nil
	}
	s := output.FormatTime(ms)
	return &s
}

func roundAll(cs []scoring.Contribution) []scoring.Contribution {
	out := make([]scoring.Contribution, len(cs))
	for i, c := range cs {
		out[i] = scoring.Contribution{Rule: c.Rule, Points: output.Round(c.Points)}
	}
	return out
}
