package scoring

import (
	"fmt"
	"slices"
)

// Model is a compiled rules file: everything the engine needs to score events and
// move leads between stages. Build it with package rules (which reports errors with
// line numbers) or by hand in tests, then call Compile once before use.
type Model struct {
	// Version is carried on every output event, so consumers know which rules decided.
	Version string
	// Name tells the models of a Set apart: it qualifies their stage changes
	// (and so their ids), leaderboards and per-lead states. A process running
	// one model may leave it empty, which keeps stage-change ids and payloads
	// as they were before models had names.
	Name string

	// HalfLife is the continuous decay half-life in milliseconds; 0 disables decay.
	HalfLife int64
	// Inactivity steps add points (usually negative) once a lead has gone the given
	// time without activity; each step fires once per period of inactivity.
	Inactivity []InactivityStep

	Rules    []Rule
	Fit      FitModel
	Stages   []Stage
	Feedback []FeedbackRule

	Ignore IgnorePolicy
	Dedup  DedupPolicy

	// Accounts, when set, scores accounts (companies) from their members:
	// account-based marketing (abm.go). Nil: no accounts.
	Accounts *AccountModel

	// VisitTimeout ends a visit after this long without a web event (ms; default
	// 30 minutes, as web analytics define a session), unless the sender's session
	// id says otherwise.
	VisitTimeout int64

	// Recent is how many recent transitions a state keeps (for re-emission after a
	// crash and for the API). Default 6.
	Recent int

	compiled   bool
	stageIndex map[string]int
	ruleIndex  map[string]int
	bySource   [4][]int // rule indexes per Source
	feedback   map[string]int
	keep       []logNeed // per rule: how much hit history to keep
	fitPaths   []string  // trait paths the fit rules read
	bots       botMatcher
	visits     logNeed // how many visit starts criteria need; track: visits matter at all
	// accountConds: some entry alternative reads the lead's account stage.
	accountConds bool
}

// InactivityStep adds Points once After has passed without activity.
type InactivityStep struct {
	Name   string
	After  Period
	Points float64
}

// Rule is an engagement rule: points for events that match.
type Rule struct {
	Name   string
	Points float64
	Match  Matcher
	// Once: the rule scores at most once in a lead's life (later hits still count
	// for stage criteria).
	Once bool
	// OncePerVisit: the rule scores at most once per visit (later hits in the
	// same visit still count for stage criteria).
	OncePerVisit bool
	// Cap limits the hits or points per rolling window; hits over the cap still
	// count for stage criteria but add no points.
	Cap  *Cap
	Tags []string
	// Activity says whether a hit resets the inactivity clock. The rules file
	// defaults it to Points > 0.
	Activity bool
}

// Cap limits a rule's scoring within a rolling window of event time.
type Cap struct {
	Hits   int     // at most Hits scoring hits per Window (0 = no hit cap)
	Points float64 // at most Points per Window (0 = no points cap)
	Window Period  // rolling window of event time
}

// FitModel scores traits (who the lead is) and grades the result.
type FitModel struct {
	Rules  []FitRule
	Grades Grades
}

// Grades are the minimum fit scores for grades A, B and C; below C is D.
type Grades struct{ A, B, C float64 }

// FitRule gives Points when a trait matches.
type FitRule struct {
	Name   string
	Traits []string // trait paths, the first present one is used ("company.employee_count")
	Cond   ValueCond
	Points float64
}

// ValueCond is a test on one property or trait value. Exactly one kind of test is
// set; a value that is absent fails every test except Exists=false.
type ValueCond struct {
	Equals  []string // value equals one of these (case-insensitive)
	Pattern *Pattern // value matches
	Min     *float64 // numeric value ≥ Min
	Max     *float64 // numeric value ≤ Max
	Exists  *bool    // present (true) or absent (false)
}

// Stage is one funnel stage. Stages are ordered: index 0 is where every lead starts.
type Stage struct {
	Name string
	// Entry lists alternatives; the stage is entered when every condition of any one
	// alternative holds. A stage with no entry is reached only by feedback or
	// regression.
	Entry []Alternative
	// Exit, when set, makes the lead regress to Exit.To once its score is below
	// Exit.Below and none of the entry alternatives holds any more (hysteresis).
	// A stage without Exit never regresses by score.
	Exit *Exit
	// Terminal stages are left only by sales feedback (e.g. disqualified).
	Terminal bool
}

// Alternative is a set of conditions that must all hold.
type Alternative []Condition

// Exit is a stage's regression rule.
type Exit struct {
	// Below: the stay holds while the decayed score is at least Below (or an
	// entry alternative holds). -Inf when only Inactive is given.
	Below float64
	// Inactive, when set, ends the stay once this long has passed without
	// activity since the later of the last activity and the stage's entry,
	// whatever the score.
	Inactive Period
	To       string
}

// CondKind says which test a Condition is.
type CondKind uint8

// Condition kinds.
const (
	CondScore      CondKind = iota + 1 // engagement score ≥ Value
	CondFit                            // fit score ≥ Value
	CondGrade                          // grade at least Grade
	CondIdentified                     // lead is identified (userId or e-mail known)
	CondHits                           // rule Name hit ≥ Count times (within Window if set)
	CondTagHits                        // rules tagged Name hit ≥ Count times (within Window)
	CondTrigger                        // the current event hit rule Name
	CondTriggerTag                     // the current event hit a rule tagged Name
	CondMinStage                       // the lead is currently at stage Name or later
	CondBANT                           // the lead's latest BANT answers are true for every question of BANT
	CondTimeframe                      // the buyer's timeline ends within Window of now
	CondVisits                         // ≥ Count visits (within Window if set)
	// CondAccountStage: the lead's account (under the same model) is at
	// account stage Name or later at the instant of the decision. It gates
	// entry only: an alternative that has it never prolongs a stay, so a
	// lead's time-driven changes stay its own (NextChange needs no account).
	CondAccountStage
)

// Condition is one entry test.
type Condition struct {
	Kind   CondKind
	Value  float64
	Grade  byte
	Name   string
	Count  int
	Window Period // zero = ever
	BANT   uint8  // CondBANT: question bits (see BANTBit)
}

// FeedbackRule maps a sales-feedback kind to a stage change.
type FeedbackRule struct {
	Kind string   // accepted, rejected, recycled, qualified, opportunity, won, lost, referral
	To   string   // target stage
	From []string // stages the feedback applies from (empty = any)
	// Reasons overrides the target by reason code (rejected: not_a_fit → disqualified).
	Reasons map[string]string
	// MinBANT is how many BANT answers of the feedback must be true for it to apply.
	MinBANT int
	// BANT lists questions (bits, see BANTBit) the lead's answers — this
	// feedback's merged over earlier ones — must have true for it to apply.
	BANT uint8
	// TimeframeWithin, when set, requires the buyer's timeline to end within
	// this period of the feedback.
	TimeframeWithin Period
	// ResetScore clears engagement points and windowed hit history (recycling), so a
	// recycled lead must re-earn its way up.
	ResetScore bool
}

// IgnorePolicy lists inputs that score nothing.
type IgnorePolicy struct {
	Bots          bool       // built-in bot user-agent list
	BotAgents     []*Pattern // extra bot user-agent patterns
	MachineOpens  bool       // SendGrid sg_machine_open (Apple Mail Privacy Protection)
	ExtraSkipKind []string   // event kinds that never score (none by default)
}

// DedupPolicy bounds the memory used to recognise upstream re-sends.
type DedupPolicy struct {
	Window int64 // keep ids of events within Window of the lead's newest event (ms)
	Max    int   // and at most Max of them
}

// logNeed is how much hit history a rule needs: the newest count hits for windowed
// criteria, the newest scoring hits for a hits cap, every scoring hit within the
// window for a points cap.
type logNeed struct {
	track   bool // keep a HitLog at all (once, caps, criteria)
	count   int
	scoring int
	window  int64
	points  bool
}

// Defaults used when a Model leaves a field zero.
const (
	DefaultRecent      = 6
	DefaultDedupWindow = 48 * 3600 * 1000 // ESPs retry webhooks for up to a day
	DefaultDedupMax    = 32
	// DefaultVisitTimeout is the web-analytics session timeout.
	DefaultVisitTimeout = 30 * 60 * 1000
	maxLogCount         = 64
)

// Compile checks the model's internal references and builds lookup tables. It is
// idempotent. Package rules reports user errors with line numbers before calling it;
// an error here means a Model built by hand is inconsistent.
func (m *Model) Compile() error {
	if m.compiled {
		return nil
	}
	if len(m.Stages) == 0 {
		return fmt.Errorf("scoring: model has no stages")
	}
	if len(m.Stages) > 255 {
		return fmt.Errorf("scoring: at most 255 stages")
	}
	if m.Recent <= 0 {
		m.Recent = DefaultRecent
	}
	if m.Dedup.Window <= 0 {
		m.Dedup.Window = DefaultDedupWindow
	}
	if m.Dedup.Max <= 0 {
		m.Dedup.Max = DefaultDedupMax
	}
	if err := m.indexStages(); err != nil {
		return err
	}
	if err := m.indexRules(); err != nil {
		return err
	}
	if m.VisitTimeout <= 0 {
		m.VisitTimeout = DefaultVisitTimeout
	}
	m.planRuleLogs()
	for si := range m.Stages {
		if err := m.compileStage(si); err != nil {
			return err
		}
	}
	for i := range m.keep {
		if m.keep[i].count > maxLogCount {
			m.keep[i].count = maxLogCount
		}
	}
	if err := m.indexFeedback(); err != nil {
		return err
	}
	if m.Accounts != nil {
		if err := m.Accounts.compile(); err != nil {
			return err
		}
	}
	if err := m.compileAccountConds(); err != nil {
		return err
	}
	m.collectFitPaths()
	m.bots = newBotMatcher(m.Ignore)
	m.compiled = true
	return nil
}

// compileAccountConds checks the account_stage conditions, which need the
// account model (compiled after the stages).
func (m *Model) compileAccountConds() error {
	m.accountConds = false
	for _, s := range m.Stages {
		for _, alt := range s.Entry {
			for _, c := range alt {
				if c.Kind != CondAccountStage {
					continue
				}
				if m.Accounts == nil {
					return fmt.Errorf("scoring: stage %q: account_stage %q needs an account model", s.Name, c.Name)
				}
				if m.Accounts.StageIndex(c.Name) < 0 {
					return fmt.Errorf("scoring: stage %q: unknown account stage %q", s.Name, c.Name)
				}
				m.accountConds = true
			}
		}
	}
	return nil
}

// UsesAccountStages reports whether a lead stage's entry reads the lead's
// account stage (account_stage conditions): leads then depend on their
// accounts, and whoever applies events must tell the engine where each
// account stands (AccountView) and signal an account's rise to its members
// (Engine.AccountRose).
func (m *Model) UsesAccountStages() bool { return m.accountConds }

func (m *Model) indexStages() (err error) {
	m.stageIndex, err = indexNames(m.StageNames(), "stage")
	return err
}

// StageNames lists the model's stages in funnel order.
func (m *Model) StageNames() []string {
	out := make([]string, len(m.Stages))
	for i := range m.Stages {
		out[i] = m.Stages[i].Name
	}
	return out
}

// indexNames maps each stage name to its position, refusing a name given
// twice (what says which stages: "stage", "account stage").
func indexNames(names []string, what string) (map[string]int, error) {
	idx := make(map[string]int, len(names))
	for i, n := range names {
		if _, dup := idx[n]; dup {
			return nil, fmt.Errorf("scoring: duplicate %s %q", what, n)
		}
		idx[n] = i
	}
	return idx, nil
}

// indexRules also lists the rules per source, so an event meets only the rules
// that can match it.
func (m *Model) indexRules() error {
	m.ruleIndex = make(map[string]int, len(m.Rules))
	for i := range m.Rules {
		r := &m.Rules[i]
		if _, dup := m.ruleIndex[r.Name]; dup {
			return fmt.Errorf("scoring: duplicate rule %q", r.Name)
		}
		m.ruleIndex[r.Name] = i
		r.Match.compile()
		for src := SourceWeb; src <= SourceFeedback; src++ {
			if r.Match.Sources == 0 || r.Match.Sources&(1<<src) != 0 {
				m.bySource[src] = append(m.bySource[src], i)
			}
		}
	}
	return nil
}

// planRuleLogs sizes the hit history each rule needs for its own limits (once,
// once per visit, caps); compileStage adds what the stage criteria need.
func (m *Model) planRuleLogs() {
	m.keep = make([]logNeed, len(m.Rules))
	for i, r := range m.Rules {
		m.keep[i].track = r.Once || r.OncePerVisit
		if r.OncePerVisit {
			m.visits.track = true
		}
		if r.Cap != nil {
			n := &m.keep[i]
			n.track = true
			n.scoring = r.Cap.Hits
			if r.Cap.Points > 0 {
				n.points = true
				n.scoring = maxLogCount
			}
			if w := r.Cap.Window.Max(); w > n.window {
				n.window = w
			}
		}
	}
}

// compileStage resolves the names stage si refers to, which may only be
// earlier stages so that entering and exiting cannot loop, and records the hit
// and visit history its criteria need.
func (m *Model) compileStage(si int) error {
	s := &m.Stages[si]
	for _, alt := range s.Entry {
		for _, c := range alt {
			switch c.Kind {
			case CondHits, CondTrigger:
				i, ok := m.ruleIndex[c.Name]
				if !ok {
					return fmt.Errorf("scoring: stage %q: unknown rule %q", s.Name, c.Name)
				}
				m.needHits([]int{i}, c)
			case CondTagHits, CondTriggerTag:
				idx := m.rulesTagged(c.Name)
				if len(idx) == 0 {
					return fmt.Errorf("scoring: stage %q: no rule is tagged %q", s.Name, c.Name)
				}
				m.needHits(idx, c)
			case CondVisits:
				v := &m.visits
				v.count = max(v.count, min(c.Count, maxLogCount))
				if c.Window.IsZero() {
					v.points = true // some criterion counts visits ever: no pruning by age
				} else {
					v.window = max(v.window, c.Window.Max())
				}
				v.track = true
			case CondMinStage:
				j, ok := m.stageIndex[c.Name]
				if !ok || j >= si {
					return fmt.Errorf("scoring: stage %q: min_stage %q must be an earlier stage", s.Name, c.Name)
				}
			}
		}
	}
	if s.Exit != nil {
		j, ok := m.stageIndex[s.Exit.To]
		if !ok || j >= si {
			return fmt.Errorf("scoring: stage %q: exit target %q must be an earlier stage", s.Name, s.Exit.To)
		}
	}
	return nil
}

// needHits makes the rules idx keep the hits condition c counts: all of them
// ever, or the newest c.Count within c.Window.
func (m *Model) needHits(idx []int, c Condition) {
	for _, i := range idx {
		n := &m.keep[i]
		n.track = true
		if !c.Window.IsZero() {
			if c.Count > n.count {
				n.count = c.Count
			}
			if w := c.Window.Max(); w > n.window {
				n.window = w
			}
		}
	}
}

func (m *Model) indexFeedback() error {
	m.feedback = make(map[string]int, len(m.Feedback))
	for i, f := range m.Feedback {
		if _, ok := m.stageIndex[f.To]; !ok {
			return fmt.Errorf("scoring: feedback %q: unknown stage %q", f.Kind, f.To)
		}
		for _, st := range f.Reasons {
			if _, ok := m.stageIndex[st]; !ok {
				return fmt.Errorf("scoring: feedback %q: unknown stage %q", f.Kind, st)
			}
		}
		for _, st := range f.From {
			if _, ok := m.stageIndex[st]; !ok {
				return fmt.Errorf("scoring: feedback %q: unknown stage %q", f.Kind, st)
			}
		}
		m.feedback[f.Kind] = i
	}
	return nil
}

// collectFitPaths lists each trait the fit rules read once, in first-use
// order, and then those the account roles read: a lead keeps them all.
func (m *Model) collectFitPaths() {
	m.fitPaths = m.Fit.paths()
	if m.Accounts != nil {
		for _, r := range m.Accounts.Roles {
			if !slices.Contains(m.fitPaths, r.Trait) {
				m.fitPaths = append(m.fitPaths, r.Trait)
			}
		}
	}
}

// paths lists each trait path the fit rules read once, in first-use order.
func (fm *FitModel) paths() []string {
	var paths []string
	for _, r := range fm.Rules {
		for _, p := range r.Traits {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	return paths
}

func (m *Model) rulesTagged(tag string) []int {
	var idx []int
	for i, r := range m.Rules {
		for _, t := range r.Tags {
			if t == tag {
				idx = append(idx, i)
				break
			}
		}
	}
	return idx
}

// StageIndex returns the funnel position of a stage, or -1.
func (m *Model) StageIndex(name string) int {
	if i, ok := m.stageIndex[name]; ok {
		return i
	}
	return -1
}

// RuleIndex returns the position of an engagement rule, or -1.
func (m *Model) RuleIndex(name string) int {
	if i, ok := m.ruleIndex[name]; ok {
		return i
	}
	return -1
}
