package scoring

// State is everything leadscore knows about one lead. The engine mutates it in
// place; package state stores its binary encoding (MarshalBinary).
//
// Rules and stages are referred to by name, not position, so a new rules file can
// be loaded over existing states: contributions of a rule that no longer exists keep
// decaying and still count, and a stage that no longer exists is mapped to the first
// stage at the next event (see docs/rules.md, "Changing rules").
type State struct {
	Stage      string // current stage name
	StageSince int64  // when it was entered (event time, ms)

	// ScoreAt is the instant at which Contribs are expressed; the engagement score
	// at any later instant is their sum decayed from ScoreAt.
	ScoreAt  int64
	Contribs []Contribution

	// LastActive is the event time of the latest activity (a scoring hit);
	// StepsDone counts the inactivity steps applied since then.
	LastActive int64
	StepsDone  uint8

	Identified bool
	Fit        float64
	Grade      byte     // 'A'..'D', 0 when the model has no fit rules
	Traits     Props    // only the trait paths the fit rules read
	Hits       []HitLog // per rule: lifetime count and recent hit times
	Seen       []Seen   // recent upstream event ids, to drop re-sends

	// Recent holds the latest transitions (newest last), each with the id of the
	// event that caused it.
	Recent []Transition
	// Pending counts the newest transitions in Recent that have not been confirmed
	// as produced (the processor's outbox): they are written with the state, emitted
	// after it, and cleared once the output is acknowledged — so a crash in between
	// re-emits them instead of losing them. The engine never trims pending ones.
	Pending int

	// Absorbed lists lead ids stitched into this one, so a replayed stitch adds
	// nothing.
	Absorbed []string

	// Account is the account (company) the lead belongs to, when the model
	// scores accounts (abm.go): a Segment group id, or "domain:…".
	Account string
	// PastAccounts are the accounts the lead, or a lead stitched into it,
	// belonged to before (oldest first, at most maxPastAccounts): each keeps
	// them as members who left, under their lead ids, so an erasure must
	// clean them too.
	PastAccounts []string

	// Model is the version of the rules that last changed this state.
	Model string

	// ResetAt is the event time of the last feedback with reset_score (recycling):
	// stage criteria count only hits and visits after it. 0: never reset.
	ResetAt int64

	// Visits counts the lead's visits (sessions) over its life; VisitStarts holds
	// the start times of the recent ones that visit criteria need (oldest first).
	// LastWebAt and SessionID describe the current visit: the time of its latest
	// web event and the sender's session id, if any.
	Visits      uint32
	VisitStarts []int64
	LastWebAt   int64
	SessionID   string

	// BANT holds the latest sales answers (budget, authority, need, timeframe):
	// Known has bit i set when question i was answered, Yes when the answer was
	// true. TimeframeBy is the instant by which the buyer plans to buy, when the
	// feedback gave its timeline in days (0: not given).
	BANT BANTAnswers

	stageIdx uint8 // cache of Stage's funnel position (see Engine.stageOf)
}

// Contribution is one rule's share of the engagement score at State.ScoreAt (or, in
// an Explanation, at the explained instant).
type Contribution struct {
	Rule   string  `json:"rule"`
	Points float64 `json:"points"`
}

// HitLog records a rule's hits: the lifetime count, and as many recent hits as the
// model's caps and windowed criteria need (oldest first).
type HitLog struct {
	Rule  string
	Count uint32
	Times []int64
	Pts   []float64 // points scored per hit, kept only for points caps
	// Base is Count at the last reset (and late hits from before it): stage
	// criteria count Count − Base. Visit is the visit in which the rule last
	// scored, for rules that score once per visit.
	Base  uint32
	Visit uint32
}

// BANTAnswers are a lead's latest BANT answers, as bits in BANT order (budget,
// authority, need, timeframe).
type BANTAnswers struct {
	Known, Yes  uint8
	TimeframeBy int64 // Unix ms; 0 when no timeline in days was given
	At          int64 // event time of the feedback that gave them
}

// Has reports whether every question of mask was answered true.
func (b BANTAnswers) Has(mask uint8) bool { return b.Known&mask == mask && b.Yes&mask == mask }

// BANTQuestions names the BANT questions in bit order.
var BANTQuestions = [4]string{"budget", "authority", "need", "timeframe"}

// BANTBit returns the bit of a BANT question, or 0 for an unknown name.
func BANTBit(q string) uint8 {
	for i, n := range BANTQuestions {
		if n == q {
			return 1 << i
		}
	}
	return 0
}

// Seen is the fingerprint of a recently applied upstream event id.
type Seen struct {
	Hash uint64
	At   int64
}

// Transition is one stage change.
type Transition struct {
	From, To string
	At       int64 // event time, or the due instant for time-driven changes
	Cause    Cause
	// TriggerID is the id of the event that caused the change; empty when it was
	// driven by time (decay or inactivity).
	TriggerID string
	Score     float64
	Fit       float64
	Grade     byte
	Top       []Contribution // largest contributions at that moment (why)
	// Late is set on a change caused by a late event: one earlier than the
	// instant its lead had already been brought to (by a later event or a
	// timer). The change is real, but sales tools may want to know that it
	// was decided after the fact.
	Late bool
	// EngagedMembers and Roles are an account's buying group at the change
	// (account transitions only).
	EngagedMembers int
	Roles          []string
}

// CauseKind says what moved a lead.
type CauseKind uint8

// Causes of a transition.
const (
	CauseCriteria   CauseKind = iota + 1 // entry criteria met (score, fit, hits…)
	CauseTrigger                         // a trigger rule (demo request → SQL)
	CauseFeedback                        // sales feedback
	CauseDecay                           // decayed score crossed the exit threshold
	CauseInactivity                      // an inactivity step dropped the score
	CauseMerge                           // identity stitching merged two leads
	// CauseAccount: an entry alternative with an account_stage condition
	// held — the lead's own event met it, or its account rose (AccountRose).
	CauseAccount
)

var causeNames = [...]string{"", "criteria", "trigger", "feedback", "decay", "inactivity", "merge", "account"}

// String returns the cause name used in output events.
func (k CauseKind) String() string {
	if int(k) < len(causeNames) {
		return causeNames[k]
	}
	return "unknown"
}

// Cause names the rule, feedback or clock behind a transition.
type Cause struct {
	Kind     CauseKind
	Rule     string // rule, or inactivity step, that decided
	Feedback string // feedback kind
	Reason   string // feedback reason (rejected: no_budget)
}

// Score returns the engagement score at instant t under half-life h (ms; 0 = no
// decay). For t before ScoreAt the score is given as at ScoreAt.
func (s *State) score(t, h int64) float64 {
	sum := 0.0
	for _, c := range s.Contribs {
		sum += c.Points
	}
	return sum * decayFactor(t-s.ScoreAt, h)
}

func (s *State) hitLog(rule string) *HitLog {
	for i := range s.Hits {
		if s.Hits[i].Rule == rule {
			return &s.Hits[i]
		}
	}
	return nil
}

// Clone returns a deep copy, so a caller can keep the state from before Apply.
func (s *State) Clone() State {
	c := *s
	c.Contribs = append([]Contribution(nil), s.Contribs...)
	c.Traits = append(Props(nil), s.Traits...)
	c.Hits = make([]HitLog, len(s.Hits))
	for i, h := range s.Hits {
		c.Hits[i] = HitLog{Rule: h.Rule, Count: h.Count, Base: h.Base, Visit: h.Visit,
			Times: append([]int64(nil), h.Times...), Pts: append([]float64(nil), h.Pts...)}
	}
	c.Seen = append([]Seen(nil), s.Seen...)
	c.Recent = make([]Transition, len(s.Recent))
	for i, t := range s.Recent {
		t.Top = append([]Contribution(nil), t.Top...)
		c.Recent[i] = t
	}
	c.Absorbed = append([]string(nil), s.Absorbed...)
	c.PastAccounts = append([]string(nil), s.PastAccounts...)
	c.VisitStarts = append([]int64(nil), s.VisitStarts...)
	if len(s.Hits) == 0 {
		c.Hits = nil
	}
	if len(s.Recent) == 0 {
		c.Recent = nil
	}
	return c
}
