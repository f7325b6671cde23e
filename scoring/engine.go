package scoring

import (
	"math"
	"slices"
	"sort"
)

// Engine applies events to lead states under one compiled Model. It holds no
// per-lead data and is safe for concurrent use by many goroutines.
type Engine struct {
	m *Model
}

// NewEngine compiles m (if needed) and returns an engine for it.
func NewEngine(m *Model) (*Engine, error) {
	if err := m.Compile(); err != nil {
		return nil, err
	}
	return &Engine{m: m}, nil
}

// Model returns the engine's model.
func (e *Engine) Model() *Model { return e.m }

// Status says what Apply did with an event.
type Status uint8

// Outcomes of Apply.
const (
	Applied   Status = iota + 1 // the event was scored (it may have matched no rule)
	Duplicate                   // an upstream re-send of an event already applied
	Ignored                     // a bot, a machine open, or feedback that does not apply
)

var statusNames = [...]string{"", "applied", "duplicate", "ignored"}

// String returns the status name used in metrics.
func (s Status) String() string { return statusNames[s] }

// Outcome is what one Apply did.
type Outcome struct {
	Status Status
	// Why explains Ignored: "bot", "machine_open", "no_feedback_rule",
	// "feedback_not_applicable", "bant_insufficient".
	Why string
	// Points is the sum of points this event added, valued at its own event time.
	Points float64
	// Hits is how many engagement rules matched.
	Hits int
	// Transitions are the stage changes, in order: time-driven ones that fell due
	// before this event's time first, then the one the event caused.
	Transitions []Transition
	// Late is set when the event is earlier than the instant the lead's state
	// had already been brought to (State.ScoreAt): a later event, or a timer,
	// came first. It is still applied; the transitions it causes are marked Late.
	Late bool
}

// NewState returns the state of a lead never seen before: first stage, no points.
func (e *Engine) NewState() State {
	return State{Stage: e.m.Stages[0].Name}
}

// Apply applies one event to st at the event's own time and returns what happened.
// Events may arrive out of order: a late event's points are decayed from its own
// time, its hits count in the windows it falls in, and it may move the lead up, but
// it does not undo an inactivity step or a transition already taken. An event whose
// ID was applied recently (within the model's dedup window) is a Duplicate and
// changes nothing.
func (e *Engine) Apply(st *State, ev *Event) Outcome { return e.apply(st, ev, accountRead{}) }

// AccountView tells lead criteria where accounts stand (account_stage
// conditions, Model.UsesAccountStages). Whoever applies the events keeps
// the accounts: the oracle in memory, the live processor per batch.
type AccountView interface {
	// AccountStage is the funnel position (AccountModel.StageIndex) of the
	// account's stage at instant t under the set's model-th model, as the
	// member updates of the events before the one being applied left it
	// (Engine.AccountStageAt); an account not seen yet is at its first
	// stage (0). -1 when the view cannot tell.
	AccountStage(model int, account string, t int64) int
}

// accountRead is how one model's engine asks an AccountView.
type accountRead struct {
	view  AccountView
	model int
}

// noAccount is the account stage of a lead without account, or without a
// view to ask: no account_stage condition holds.
const noAccount = -1

// stage is the account stage the lead's criteria see at t.
func (r accountRead) stage(e *Engine, st *State, t int64) int {
	if r.view == nil || !e.m.accountConds || st.Account == "" {
		return noAccount
	}
	return r.view.AccountStage(r.model, st.Account, t)
}

// ApplyViewing is Apply for a model whose criteria read the lead's account
// (account_stage): view says where the account stands, model is the
// engine's place in the set view answers for.
func (e *Engine) ApplyViewing(st *State, ev *Event, view AccountView, model int) Outcome {
	return e.apply(st, ev, accountRead{view: view, model: model})
}

func (e *Engine) apply(st *State, ev *Event, acct accountRead) Outcome {
	m := e.m
	e.fixStage(st)
	var out Outcome
	h := idHash(ev.ID)
	if st.seen(h) {
		out.Status = Duplicate
		return out
	}
	if ev.Time > st.ScoreAt {
		out.Transitions = e.advance(st, ev.Time, out.Transitions)
	} else if ev.Time < st.ScoreAt {
		out.Late = true
	}
	st.remember(h, ev.Time, m.Dedup)
	st.Model = m.Version

	if why := e.ignoreReason(ev); why != "" {
		// An ignored event still moves the lead's clock: the inactivity or decay
		// steps it caught up on are transitions like any other, to be emitted.
		out.Status, out.Why = Ignored, why
		e.keepRecent(st, out.Transitions)
		return out
	}
	out.Status = Applied
	if ev.Identity.UserID != "" || ev.Identity.Email != "" {
		st.Identified = true
	}
	if len(ev.Traits) > 0 && len(m.fitPaths) > 0 {
		e.updateTraits(st, ev.Traits)
	}
	if m.Accounts != nil {
		e.joinAccount(st, ev)
	}

	if m.visits.track && ev.Source == SourceWeb {
		e.visit(st, ev)
	}

	var buf [16]int
	hit := buf[:0]
	for _, i := range m.bySource[ev.Source] {
		r := &m.Rules[i]
		if !r.Match.Matches(ev) {
			continue
		}
		hit = append(hit, i)
		out.Points += e.scoreHit(st, i, ev.Time)
	}
	out.Hits = len(hit)

	if ev.Source == SourceFeedback {
		answered := st.recordBANT(ev)
		if t, ok, why := e.feedback(st, ev); ok {
			t.Late = out.Late
			out.Transitions = append(out.Transitions, t)
		} else {
			// New answers may meet a stage's BANT criteria on their own.
			from := st.Stage
			if answered {
				e.settle(st, ev.Time, hit, acct.stage(e, st, ev.Time))
			}
			if st.Stage != from {
				t := e.transition(st, from, ev.Time, Cause{Kind: CauseFeedback, Feedback: ev.Kind, Reason: ev.Reason}, ev.ID)
				t.Late = out.Late
				out.Transitions = append(out.Transitions, t)
			} else if why != "" && len(hit) == 0 {
				out.Status, out.Why = Ignored, why
			}
		}
		e.keepRecent(st, out.Transitions)
		return out
	}
	from := st.Stage
	cause := e.settle(st, ev.Time, hit, acct.stage(e, st, ev.Time))
	if st.Stage != from {
		t := e.transition(st, from, ev.Time, cause, ev.ID)
		t.Late = out.Late
		out.Transitions = append(out.Transitions, t)
	}
	e.keepRecent(st, out.Transitions)
	return out
}

// scoreHit records a hit of rule i at time t and adds its points (after once and
// cap), returning the points added as valued at t.
func (e *Engine) scoreHit(st *State, i int, t int64) float64 {
	r := &e.m.Rules[i]
	need := e.m.keep[i]
	pts := r.Points
	if need.track {
		// Only rules that once, caps or stage criteria look at keep a hit log: it
		// costs memory in Redis for every lead.
		lg := st.hitLog(r.Name)
		if lg == nil {
			st.Hits = append(st.Hits, HitLog{Rule: r.Name})
			lg = &st.Hits[len(st.Hits)-1]
		}
		if lg.Count < math.MaxUint32 {
			lg.Count++
			if t <= st.ResetAt {
				lg.Base++ // a late hit from before the reset counts for no criterion
			}
		}
		if r.Once && lg.Count > 1 {
			pts = 0
		}
		if r.OncePerVisit && pts != 0 {
			if lg.Visit == st.Visits && st.Visits != 0 {
				pts = 0
			} else {
				lg.Visit = st.Visits
			}
		}
		if c := r.Cap; c != nil && pts != 0 {
			var n int
			var sum float64
			for k, at := range lg.Times {
				if at <= t && t < c.Window.End(at) && lg.Pts[k] != 0 {
					n++
					sum += lg.Pts[k]
				}
			}
			if c.Hits > 0 && n >= c.Hits {
				pts = 0
			}
			if c.Points > 0 && pts > 0 {
				pts = math.Max(0, math.Min(pts, c.Points-sum))
			}
		}
		if need.count > 0 || need.scoring > 0 {
			lg.insert(t, pts, need)
		}
	}
	if pts != 0 {
		st.addPoints(r.Name, pts*decayFactor(st.ScoreAt-t, e.m.HalfLife))
	}
	if r.Activity && t > st.LastActive {
		st.LastActive, st.StepsDone = t, 0
	}
	return pts
}

func (lg *HitLog) insert(t int64, pts float64, need logNeed) {
	k := len(lg.Times)
	for k > 0 && lg.Times[k-1] > t {
		k--
	}
	lg.Times = append(lg.Times, 0)
	copy(lg.Times[k+1:], lg.Times[k:])
	lg.Times[k] = t
	if need.scoring > 0 || lg.Pts != nil {
		for len(lg.Pts) < len(lg.Times)-1 {
			lg.Pts = append(lg.Pts, 0)
		}
		lg.Pts = append(lg.Pts, 0)
		copy(lg.Pts[k+1:], lg.Pts[k:])
		lg.Pts[k] = pts
	}
	// Keep, newest first, the hits windowed criteria count and the scoring hits a
	// cap counts; drop the rest and anything older than the longest window.
	newest := lg.Times[len(lg.Times)-1]
	w, all, scored := 0, 0, 0
	var buf [maxLogCount + 2]bool
	keep := buf[:0]
	if len(lg.Times) <= len(buf) {
		keep = buf[:len(lg.Times)]
	} else {
		keep = make([]bool, len(lg.Times))
	}
	for k := len(lg.Times) - 1; k >= 0; k-- {
		if need.window > 0 && lg.Times[k] <= newest-need.window && k != len(lg.Times)-1 {
			continue
		}
		isScoring := lg.Pts != nil && lg.Pts[k] != 0
		if all < need.count || isScoring && scored < need.scoring {
			keep[k] = true
			all++
			if isScoring {
				scored++
			}
		}
	}
	for k := range lg.Times {
		if keep[k] {
			lg.Times[w] = lg.Times[k]
			if lg.Pts != nil {
				lg.Pts[w] = lg.Pts[k]
			}
			w++
		}
	}
	lg.Times = lg.Times[:w]
	if lg.Pts != nil {
		lg.Pts = lg.Pts[:w]
	}
}

func (st *State) addPoints(rule string, pts float64) {
	for i := range st.Contribs {
		if st.Contribs[i].Rule == rule {
			st.Contribs[i].Points += pts
			return
		}
	}
	st.Contribs = append(st.Contribs, Contribution{Rule: rule, Points: pts})
}

// bringTo re-expresses the contributions at instant t (t ≥ ScoreAt).
func (e *Engine) bringTo(st *State, t int64) {
	if t <= st.ScoreAt {
		return
	}
	if f := decayFactor(t-st.ScoreAt, e.m.HalfLife); f != 1 {
		for i := range st.Contribs {
			st.Contribs[i].Points *= f
		}
	}
	st.ScoreAt = t
}

// Score returns the engagement score at instant t (decay applied).
func (e *Engine) Score(st *State, t int64) float64 {
	f := decayFactor(t-st.ScoreAt, e.m.HalfLife)
	if t < st.ScoreAt {
		f = 1
	}
	sum := 0.0
	for _, c := range st.Contribs {
		sum += c.Points * f
	}
	return sum
}

// Explanation is a lead's score at one instant and each rule's part of it.
type Explanation struct {
	At            int64
	Score         float64
	Contributions []Contribution // largest magnitude first; they sum to Score
}

// Explain returns the score at t with its contributions, decayed to t.
func (e *Engine) Explain(st *State, t int64) Explanation {
	f := decayFactor(t-st.ScoreAt, e.m.HalfLife)
	if t < st.ScoreAt {
		f = 1
	}
	x := Explanation{At: t, Contributions: make([]Contribution, 0, len(st.Contribs))}
	for _, c := range st.Contribs {
		x.Contributions = append(x.Contributions, Contribution{Rule: c.Rule, Points: c.Points * f})
	}
	sortContribs(x.Contributions)
	for _, c := range x.Contributions {
		x.Score += c.Points
	}
	return x
}

func sortContribs(cs []Contribution) {
	sort.SliceStable(cs, func(i, j int) bool {
		ai, aj := math.Abs(cs[i].Points), math.Abs(cs[j].Points)
		if ai != aj {
			return ai > aj
		}
		return cs[i].Rule < cs[j].Rule
	})
}

// Advance brings st forward to instant t with no new event, applying every
// time-driven change due by then (inactivity steps, regressions by decay) at its own
// instant, and returns the transitions in order. The processor calls it when a
// lead's timer fires; the oracle calls it at the end of a replay.
func (e *Engine) Advance(st *State, t int64) []Transition {
	e.fixStage(st)
	tr := e.advance(st, t, nil)
	e.keepRecent(st, tr)
	return tr
}

type changeKind uint8

const (
	changeNone changeKind = iota
	changeStep
	changeExit
	changeInactive
)

func (e *Engine) advance(st *State, t int64, out []Transition) []Transition {
	if e.quietUntil(st, t) {
		e.bringTo(st, t)
		return out
	}
	for guard := 0; guard < 4*len(e.m.Stages)+len(e.m.Inactivity)+4; guard++ {
		due, kind := e.nextChange(st)
		if kind == changeNone || due > t {
			break
		}
		if due < st.ScoreAt {
			due = st.ScoreAt
		}
		e.bringTo(st, due)
		from := st.Stage
		cause := Cause{Kind: CauseDecay}
		if kind == changeInactive {
			cause = Cause{Kind: CauseInactivity, Rule: "inactive_" + e.m.Stages[e.stageOf(st)].Exit.Inactive.String()}
		}
		if kind == changeStep {
			step := e.m.Inactivity[st.StepsDone]
			st.StepsDone++
			if step.Points != 0 {
				st.addPoints(step.Name, step.Points)
			}
			cause = Cause{Kind: CauseInactivity, Rule: step.Name}
		}
		e.regress(st, due, nil, cause)
		if st.Stage != from {
			out = append(out, e.transition(st, from, due, cause, ""))
		} else if kind == changeExit || kind == changeInactive {
			break // float rounding left the score on the threshold: nothing to do
		}
	}
	e.bringTo(st, t)
	return out
}

// quietUntil is a cheap check, for the hot path, that nothing time-driven can
// happen to st before t: no inactivity step falls due, and the score alone keeps
// the lead above its stage's exit threshold at t (entry alternatives can only
// prolong the stay). When it says false, the exact computation decides.
func (e *Engine) quietUntil(st *State, t int64) bool {
	if int(st.StepsDone) < len(e.m.Inactivity) && st.LastActive > 0 &&
		e.m.Inactivity[st.StepsDone].After.End(st.LastActive) <= t {
		return false
	}
	s := &e.m.Stages[e.stageOf(st)]
	if s.Exit == nil || s.Terminal {
		return true
	}
	if due, ok := inactiveDue(st, s); ok && due <= t {
		return false
	}
	return e.Score(st, t) >= s.Exit.Below
}

// lapsedFor reports whether stage j's inactivity exit would already hold for a
// lead entering it at t: a lead that lapsed for want of activity does not climb
// back by an event that is not activity (an unsubscribe, an ignored kind).
func (e *Engine) lapsedFor(st *State, j int, t int64) bool {
	x := e.m.Stages[j].Exit
	return x != nil && !x.Inactive.IsZero() && st.LastActive > 0 && x.Inactive.End(st.LastActive) <= t
}

// inactiveDue is when a stage's inactivity exit falls due: its period after the
// later of the lead's last activity and its entry into the stage.
func inactiveDue(st *State, s *Stage) (int64, bool) {
	if s.Exit == nil || s.Exit.Inactive.IsZero() {
		return 0, false
	}
	from := max(st.LastActive, st.StageSince)
	if from <= 0 {
		return 0, false
	}
	return s.Exit.Inactive.End(from), true
}

// NextChange returns the next instant at which st will change with no new event (an
// inactivity step, or the stage's exit condition failing as the score decays and
// criteria windows close), or false when nothing will happen. The instant is exact
// to the millisecond: the processor indexes it instead of polling.
func (e *Engine) NextChange(st *State) (int64, bool) {
	e.fixStage(st)
	due, kind := e.nextChange(st)
	return due, kind != changeNone
}

func (e *Engine) nextChange(st *State) (int64, changeKind) {
	best, kind := int64(math.MaxInt64), changeNone
	if int(st.StepsDone) < len(e.m.Inactivity) && st.LastActive > 0 {
		best, kind = e.m.Inactivity[st.StepsDone].After.End(st.LastActive), changeStep
	}
	cur := e.stageOf(st)
	if s := &e.m.Stages[cur]; s.Exit != nil && !s.Terminal {
		if until, ok := e.stayUntil(st, cur); ok && until < best {
			best, kind = until, changeExit
		}
		if due, ok := inactiveDue(st, s); ok && due < best {
			best, kind = max(due, st.ScoreAt), changeInactive
		}
	}
	return best, kind
}

// stayUntil is the first instant (≥ ScoreAt) at which stage cur's stay condition —
// score ≥ exit threshold, or any entry alternative — fails, if it ever will.
func (e *Engine) stayUntil(st *State, cur int) (int64, bool) {
	s := &e.m.Stages[cur]
	h := e.m.HalfLife
	s0 := st.score(st.ScoreAt, h)
	until, finite := crossing(s0, st.ScoreAt, h, s.Exit.Below)
	if !finite {
		return 0, false
	}
	for _, alt := range s.Entry {
		u, fin := e.altUntil(st, alt, cur, s0)
		if !fin {
			return 0, false
		}
		if u > until {
			until = u
		}
	}
	if until < st.ScoreAt {
		until = st.ScoreAt
	}
	return until, true
}

// altUntil is the instant an entry alternative stops holding with time alone (its
// windows closing, its score threshold crossed); triggers never hold with time.
func (e *Engine) altUntil(st *State, alt Alternative, cur int, s0 float64) (int64, bool) {
	until, finite := int64(math.MaxInt64), false
	now := st.ScoreAt
	for _, c := range alt {
		var u int64
		switch c.Kind {
		case CondScore:
			t, ok := crossing(s0, now, e.m.HalfLife, c.Value)
			if !ok {
				continue
			}
			u = t
		case CondHits, CondTagHits:
			if c.Window.IsZero() {
				if !e.condHolds(st, c, now, cur, nil, noAccount) {
					u = now
				} else {
					continue
				}
			} else {
				u = e.windowUntil(st, c, now)
			}
		case CondVisits:
			if c.Window.IsZero() {
				if e.condHolds(st, c, now, cur, nil, noAccount) {
					continue
				}
				u = now
			} else {
				u = startsUntil(st.VisitStarts, st.ResetAt, c, now)
			}
		case CondTrigger, CondTriggerTag:
			u = now
		default:
			if e.condHolds(st, c, now, cur, nil, noAccount) {
				continue
			}
			u = now
		}
		if u < until {
			until = u
		}
		finite = true
	}
	return until, finite
}

// windowUntil: a "count ≥ N within W" condition holds until the N-th most recent hit
// leaves the window.
func (e *Engine) windowUntil(st *State, c Condition, now int64) int64 {
	var times []int64
	if c.Kind == CondHits {
		if lg := st.hitLog(c.Name); lg != nil {
			times = lg.Times
		}
	} else {
		for _, i := range e.m.rulesTagged(c.Name) {
			if lg := st.hitLog(e.m.Rules[i].Name); lg != nil {
				times = append(times[:len(times):len(times)], lg.Times...)
			}
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	}
	return startsUntil(times, st.ResetAt, c, now)
}

// startsUntil: "count ≥ N within W" over sorted instants holds until the N-th
// most recent one after the reset leaves the window.
func startsUntil(times []int64, resetAt int64, c Condition, now int64) int64 {
	n := 0
	for k := len(times) - 1; k >= 0; k-- {
		if times[k] > now || times[k] <= resetAt {
			continue
		}
		n++
		if n == c.Count {
			return c.Window.End(times[k])
		}
	}
	return now
}

// settle moves the lead after an event at time t: first down (an exit that no longer
// holds), then up to the highest stage whose entry holds. hit lists the rules the
// event matched (its triggers); acct is the lead's account stage at t (noAccount:
// none).
func (e *Engine) settle(st *State, t int64, hit []int, acct int) Cause {
	cause := Cause{Kind: CauseCriteria, Rule: e.firstRule(hit)}
	e.regress(st, t, hit, cause)
	cur := e.stageOf(st)
	if e.m.Stages[cur].Terminal {
		return cause
	}
	start := cur
	var alt Alternative
	for {
		j, a := e.entryAbove(st, t, cur, hit, acct)
		if j < 0 {
			break
		}
		cur, alt = j, a
	}
	if cur == start {
		return cause
	}
	st.Stage, st.StageSince = e.m.Stages[cur].Name, t
	for _, c := range alt {
		if c.Kind == CondTrigger || c.Kind == CondTriggerTag {
			return Cause{Kind: CauseTrigger, Rule: e.triggerRule(c, hit)}
		}
	}
	for _, c := range alt {
		if c.Kind == CondAccountStage {
			cause.Kind = CauseAccount
		}
	}
	return cause
}

// entryAbove is the furthest stage after cur whose entry holds at t (for
// a lead at cur), and the alternative that holds; -1 when none does. A
// stage the lead lapsed from for want of activity is not entered.
func (e *Engine) entryAbove(st *State, t int64, cur int, hit []int, acct int) (int, Alternative) {
	for j := len(e.m.Stages) - 1; j > cur; j-- {
		if e.lapsedFor(st, j, t) {
			continue
		}
		if a, ok := e.entryHolds(st, j, t, cur, hit, acct); ok {
			return j, a
		}
	}
	return -1, nil
}

// regress follows exits while the current stage's stay condition fails at t.
func (e *Engine) regress(st *State, t int64, hit []int, cause Cause) {
	for range e.m.Stages {
		cur := e.stageOf(st)
		s := &e.m.Stages[cur]
		if s.Exit == nil || s.Terminal || e.stays(st, cur, t, hit) {
			return
		}
		st.Stage, st.StageSince = s.Exit.To, t
	}
}

func (e *Engine) stays(st *State, cur int, t int64, hit []int) bool {
	s := &e.m.Stages[cur]
	if due, ok := inactiveDue(st, s); ok && due <= t {
		return false
	}
	if st.score(t, e.m.HalfLife) >= s.Exit.Below {
		return true
	}
	// The account does not prolong a stay (CondAccountStage).
	_, ok := e.entryHolds(st, cur, t, e.stageOf(st), hit, noAccount)
	return ok
}

func (e *Engine) entryHolds(st *State, j int, t int64, cur int, hit []int, acct int) (Alternative, bool) {
	for _, alt := range e.m.Stages[j].Entry {
		ok := true
		for _, c := range alt {
			if !e.condHolds(st, c, t, cur, hit, acct) {
				ok = false
				break
			}
		}
		if ok {
			return alt, true
		}
	}
	return nil, false
}

func (e *Engine) condHolds(st *State, c Condition, t int64, cur int, hit []int, acct int) bool {
	switch c.Kind {
	case CondScore:
		return st.score(t, e.m.HalfLife) >= c.Value
	case CondFit:
		return st.Fit >= c.Value
	case CondGrade:
		return st.Grade != 0 && st.Grade <= c.Grade
	case CondIdentified:
		return st.Identified
	case CondHits:
		return e.countHits(st, st.hitLog(c.Name), c, t) >= c.Count
	case CondTagHits:
		n := 0
		for _, i := range e.m.rulesTagged(c.Name) {
			n += e.countHits(st, st.hitLog(e.m.Rules[i].Name), c, t)
		}
		return n >= c.Count
	case CondTrigger:
		return e.triggerRule(c, hit) != ""
	case CondTriggerTag:
		return e.triggerRule(c, hit) != ""
	case CondMinStage:
		return cur >= e.m.StageIndex(c.Name)
	case CondBANT:
		return st.BANT.Has(c.BANT)
	case CondVisits:
		return countVisits(st, c, t) >= c.Count
	case CondTimeframe:
		return timeframeWithin(st, c.Window, t)
	case CondAccountStage:
		return acct != noAccount && acct >= e.m.Accounts.StageIndex(c.Name)
	}
	return false
}

// timeframeWithin: the buyer's stated timeline ends within w of t.
func timeframeWithin(st *State, w Period, t int64) bool {
	return st.BANT.TimeframeBy != 0 && st.BANT.TimeframeBy <= w.End(t)
}

// recordBANT keeps a feedback's BANT answers as the lead's latest (answers
// from an older feedback than the last recorded do not overwrite newer ones),
// reporting whether it changed anything.
func (st *State) recordBANT(ev *Event) bool {
	if len(ev.BANT) == 0 && ev.TimeframeDays == 0 || ev.Time < st.BANT.At {
		return false
	}
	b := st.BANT
	for q, yes := range ev.BANT {
		bit := BANTBit(q)
		b.Known |= bit
		if yes {
			b.Yes |= bit
		} else {
			b.Yes &^= bit
		}
	}
	if ev.TimeframeDays > 0 {
		b.TimeframeBy = ev.Time + int64(ev.TimeframeDays)*24*3600*1000
	}
	changed := b.Known != st.BANT.Known || b.Yes != st.BANT.Yes || b.TimeframeBy != st.BANT.TimeframeBy
	b.At = ev.Time
	st.BANT = b
	return changed
}

// visit places a web event in the lead's visits: a new visit starts when the
// sender's session id changes or, without one, after more than the model's
// timeout since the lead's latest web event. Only page, screen and track calls
// are visits (identify, alias and group are bookkeeping). A late event (before
// the latest web event) belongs to a visit already counted.
func (e *Engine) visit(st *State, ev *Event) {
	switch ev.Kind {
	case "page", "screen", "track":
	default:
		return
	}
	sid := ev.SessionID
	if sid == "" {
		if p, ok := ev.Properties.Get("session_id"); ok && p.Kind != PropNull {
			sid = p.Str
		}
	}
	t := ev.Time
	if st.Visits > 0 && t < st.LastWebAt {
		return
	}
	fresh := st.Visits == 0
	if !fresh {
		if sid != "" && st.SessionID != "" {
			fresh = sid != st.SessionID
		} else {
			fresh = t-st.LastWebAt > e.m.VisitTimeout
		}
	}
	if fresh {
		if st.Visits < math.MaxUint32 {
			st.Visits++
		}
		st.VisitStarts = pruneStarts(append(st.VisitStarts, t), e.m.visits)
	}
	st.LastWebAt = t
	if sid != "" || fresh {
		st.SessionID = sid
	}
}

// pruneStarts keeps the newest visit starts criteria can count: need.count of
// them, and, when every visit criterion has a window, only those within the
// longest window of the newest.
func pruneStarts(starts []int64, need logNeed) []int64 {
	if len(starts) == 0 {
		return starts
	}
	keep := len(starts)
	if keep > need.count {
		keep = need.count
	}
	from := len(starts) - keep
	if !need.points && need.window > 0 {
		newest := starts[len(starts)-1]
		for from < len(starts)-1 && starts[from] <= newest-need.window {
			from++
		}
	}
	if from == 0 {
		return starts
	}
	return append(starts[:0], starts[from:]...)
}

// countVisits counts visits started after the last reset, by t, within the
// condition's window if it has one.
func countVisits(st *State, c Condition, t int64) int {
	n := 0
	for _, at := range st.VisitStarts {
		if at > st.ResetAt && at <= t && (c.Window.IsZero() || t < c.Window.End(at)) {
			n++
		}
	}
	return n
}

// countHits counts a rule's hits for a criterion: since the last reset, and
// within the condition's window if it has one.
func (e *Engine) countHits(st *State, lg *HitLog, c Condition, t int64) int {
	if lg == nil {
		return 0
	}
	if c.Window.IsZero() {
		return int(lg.Count - min(lg.Base, lg.Count))
	}
	n := 0
	for _, at := range lg.Times {
		if at > st.ResetAt && at <= t && t < c.Window.End(at) {
			n++
		}
	}
	return n
}

// triggerRule returns the name of the rule in hit that satisfies a trigger
// condition, or "".
func (e *Engine) triggerRule(c Condition, hit []int) string {
	for _, i := range hit {
		r := &e.m.Rules[i]
		if c.Kind == CondTrigger && r.Name == c.Name {
			return r.Name
		}
		if c.Kind == CondTriggerTag {
			for _, tag := range r.Tags {
				if tag == c.Name {
					return r.Name
				}
			}
		}
	}
	return ""
}

func (e *Engine) firstRule(hit []int) string {
	if len(hit) == 0 {
		return ""
	}
	return e.m.Rules[hit[0]].Name
}

func (e *Engine) feedback(st *State, ev *Event) (Transition, bool, string) {
	i, ok := e.m.feedback[ev.Kind]
	if !ok {
		return Transition{}, false, "no_feedback_rule"
	}
	fr := &e.m.Feedback[i]
	if len(fr.From) > 0 && !slices.Contains(fr.From, st.Stage) {
		return Transition{}, false, "feedback_not_applicable"
	}
	if fr.MinBANT > 0 {
		n := 0
		for _, v := range ev.BANT {
			if v {
				n++
			}
		}
		if n < fr.MinBANT {
			return Transition{}, false, "bant_insufficient"
		}
	}
	if fr.BANT != 0 && !st.BANT.Has(fr.BANT) {
		return Transition{}, false, "bant_insufficient"
	}
	if !fr.TimeframeWithin.IsZero() && !timeframeWithin(st, fr.TimeframeWithin, ev.Time) {
		return Transition{}, false, "bant_insufficient"
	}
	to := fr.To
	if r, ok := fr.Reasons[ev.Reason]; ok {
		to = r
	}
	if fr.ResetScore && ev.Time >= st.ResetAt {
		// Recycling: the lead re-earns its way up. Points go, and every stage
		// criterion counts from here: hits (Base) and visits (ResetAt).
		st.Contribs = st.Contribs[:0]
		st.ResetAt = ev.Time
		for k := range st.Hits {
			h := &st.Hits[k]
			h.Times, h.Pts, h.Base = nil, nil, h.Count
		}
	}
	if to == st.Stage {
		return Transition{}, false, ""
	}
	from := st.Stage
	st.Stage, st.StageSince = to, ev.Time
	return e.transition(st, from, ev.Time, Cause{Kind: CauseFeedback, Feedback: ev.Kind, Reason: ev.Reason}, ev.ID), true, ""
}

// TopContributors is how many contributions a transition carries.
const TopContributors = 3

func (e *Engine) transition(st *State, from string, t int64, c Cause, trigger string) Transition {
	x := e.Explain(st, t)
	top := x.Contributions
	if len(top) > TopContributors {
		top = top[:TopContributors]
	}
	return Transition{From: from, To: st.Stage, At: t, Cause: c, TriggerID: trigger,
		Score: x.Score, Fit: st.Fit, Grade: st.Grade, Top: top}
}

func (e *Engine) keepRecent(st *State, tr []Transition) {
	if len(tr) == 0 {
		return
	}
	st.Recent = append(st.Recent, tr...)
	st.Pending += len(tr)
	if n := len(st.Recent) - max(e.m.Recent, st.Pending); n > 0 {
		st.Recent = append(st.Recent[:0], st.Recent[n:]...)
	}
}

// fixStage maps an empty or retired stage name to the first stage.
func (e *Engine) fixStage(st *State) {
	if i := int(st.stageIdx); i < len(e.m.Stages) && e.m.Stages[i].Name == st.Stage {
		return
	}
	if i := e.m.StageIndex(st.Stage); i >= 0 {
		st.stageIdx = uint8(i)
		return
	}
	st.Stage, st.stageIdx = e.m.Stages[0].Name, 0
}

// stageOf returns the funnel position of the lead's stage. The position is cached
// in the state (checked against the name, which is usually the very string the
// engine stored), sparing a map lookup per condition on the hot path.
func (e *Engine) stageOf(st *State) int {
	if i := int(st.stageIdx); i < len(e.m.Stages) && e.m.Stages[i].Name == st.Stage {
		return i
	}
	i := e.m.StageIndex(st.Stage)
	if i < 0 {
		i = 0
	}
	st.stageIdx = uint8(i)
	return i
}

// Direction returns "up" when to is later in the funnel than from, else "down".
func (e *Engine) Direction(from, to string) string {
	if e.m.StageIndex(to) > e.m.StageIndex(from) {
		return "up"
	}
	return "down"
}

// Rank is a decay-invariant ordering key for leaderboards: for two leads, the one
// with the higher Rank has the higher score at every instant (with decay, log2(s) +
// ScoreAt/half_life; without, the score). With decay, leads with no positive score
// all rank NoRank, below every other. Ranks stay small (|rank| ≤ 1e6) so stores
// can keep them as fixed-point integers.
func (e *Engine) Rank(st *State) float64 {
	s := st.score(st.ScoreAt, e.m.HalfLife)
	if e.m.HalfLife <= 0 {
		return math.Max(NoRank, math.Min(-NoRank, s))
	}
	if s <= 0 {
		return NoRank
	}
	return math.Log2(s) + float64(st.ScoreAt)/float64(e.m.HalfLife)
}

// NoRank is the rank of leads without a positive decaying score.
const NoRank = -1e6

// ScoreFromRank turns a Rank back into the score at instant t (0 for NoRank).
func (e *Engine) ScoreFromRank(rank float64, t int64) float64 {
	if e.m.HalfLife <= 0 {
		return rank
	}
	if rank <= NoRank {
		return 0
	}
	return math.Exp2(rank - float64(t)/float64(e.m.HalfLife))
}

// idHash is 64-bit FNV-1a, inlined to keep Apply free of allocations.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

func (st *State) seen(h uint64) bool {
	for _, s := range st.Seen {
		if s.Hash == h {
			return true
		}
	}
	return false
}

// remember records an applied event id. Seen is kept in event-time order (ids
// usually arrive in order, so the insertion is an append), which makes pruning
// cheap: expired and surplus ids are at the front.
func (st *State) remember(h uint64, t int64, p DedupPolicy) {
	k := len(st.Seen)
	st.Seen = append(st.Seen, Seen{})
	for k > 0 && st.Seen[k-1].At > t {
		st.Seen[k] = st.Seen[k-1]
		k--
	}
	st.Seen[k] = Seen{Hash: h, At: t}
	newest := st.Seen[len(st.Seen)-1].At
	drop := 0
	for drop < len(st.Seen) && st.Seen[drop].At <= newest-p.Window {
		drop++
	}
	if n := len(st.Seen) - drop - p.Max; n > 0 {
		drop += n
	}
	if drop > 0 {
		st.Seen = append(st.Seen[:0], st.Seen[drop:]...)
	}
}
