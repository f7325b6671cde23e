package replay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
)

// LeadLine is one lead's final state in ScoreLog's output.
type LeadLine struct {
	Type          string                 `json:"type"`
	LeadID        string                 `json:"lead_id"`
	Identities    output.Identities      `json:"identities"`
	Stage         string                 `json:"stage"`
	StageSince    string                 `json:"stage_since,omitempty"`
	Score         float64                `json:"score"`
	Fit           float64                `json:"fit"`
	Grade         string                 `json:"grade,omitempty"`
	Identified    bool                   `json:"identified"`
	Contributions []scoring.Contribution `json:"contributions"`
	At            string                 `json:"at"`
	// Model is the model's name when the oracle runs named models (one line
	// per lead and model).
	Model        string `json:"model,omitempty"`
	ModelVersion string `json:"model_version"`
}

// AccountLine is one account's final state in ScoreLog's output (models
// with accounts).
type AccountLine struct {
	Type       string  `json:"type"`
	AccountID  string  `json:"account_id"`
	Stage      string  `json:"stage"`
	StageSince string  `json:"stage_since,omitempty"`
	Engagement float64 `json:"engagement"`
	// Members are every member with their score at At, highest first.
	Members        []output.MemberScore `json:"members"`
	EngagedMembers int                  `json:"engaged_members"`
	Roles          []string             `json:"roles"`
	Fit            float64              `json:"fit"`
	Grade          string               `json:"grade,omitempty"`
	At             string               `json:"at"`
	Model          string               `json:"model,omitempty"`
	ModelVersion   string               `json:"model_version"`
}

// NewAccountLine is the oracle's line for account id in state a under
// eng's model, as of at.
func NewAccountLine(eng *scoring.Engine, id string, a *scoring.Account, at int64) AccountLine {
	engaged, roles := eng.BuyingGroup(a, at)
	al := AccountLine{Type: "account", AccountID: id, Stage: a.Stage, Engagement: output.Round(eng.Engagement(a, at)),
		Members: []output.MemberScore{}, EngagedMembers: engaged, Roles: roles, Fit: a.Fit,
		At: output.FormatTime(at), Model: eng.Model().Name, ModelVersion: eng.Model().Version}
	if al.Roles == nil {
		al.Roles = []string{}
	}
	if a.StageSince != 0 {
		al.StageSince = output.FormatTime(a.StageSince)
	}
	al.Grade = output.Grade(a.Grade)
	for _, m := range eng.MemberScores(a, at) {
		al.Members = append(al.Members, output.MemberScore{LeadID: m.Rule, Score: output.Round(m.Points)})
	}
	return al
}

// ErrAtBeforeLog is returned by ScoreLog when LogOptions.At is earlier than the
// log's last event: a state "at" an instant before its own events would be
// mislabelled.
var ErrAtBeforeLog = errors.New("replay: the requested instant is before the log's last event")

// sortCanonical sorts events into the order every lead's events are applied in
// (scoring.CompareEvents), keeping the log's order among equal events.
func sortCanonical(evs []scoring.Event) {
	slices.SortStableFunc(evs, func(a, b scoring.Event) int { return scoring.CompareEvents(&a, &b) })
}

// LogStats counts what ScoreLog did.
type LogStats struct {
	Events, Duplicates, Ignored, Bad, Leads, Transitions int
	// Accounts and AccountTransitions count the accounts (over every model
	// with accounts) and their stage changes.
	Accounts, AccountTransitions int
}

// LogOptions tunes ScoreLog.
type LogOptions struct {
	// At is the instant every lead is brought to before its final state is written
	// (Unix ms); 0 means the latest event time in the log.
	At int64
	// NoAdvance leaves every lead at its own last event: no time-driven change
	// after it is applied, and each lead is reported as of its last event (At
	// must be 0). The stage changes are then exactly those the events cause.
	NoAdvance bool
	// Strict stops at the first bad line instead of reporting it and going on.
	Strict bool
	// Bad is told about every bad line (1-based line number, error with a reason code).
	Bad func(line int, err error)
}

// ScoreLog is the offline oracle: it decodes every line of in (Segment, SendGrid
// and sales-feedback payloads, mixed), applies it through a Runner, writes each
// stage change as it happens and, at the end, every lead brought to opts.At — all
// as JSONL, in an order and form that depend only on the input.
func ScoreLog(eng *scoring.Engine, in io.Reader, w io.Writer, opts LogOptions) (LogStats, error) {
	return ScoreLogSet(scoring.SingleSet(eng), in, w, opts)
}

// ScoreLogSet is ScoreLog for several models side by side: each stage change
// names its model, and each lead has one line per model, in the set's order.
func ScoreLogSet(set *scoring.Set, in io.Reader, w io.Writer, opts LogOptions) (LogStats, error) {
	var st LogStats
	at, strict, bad := opts.At, opts.Strict, opts.Bad
	if bad == nil {
		bad = func(int, error) {}
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		return st, err
	}
	r := NewSet(set)
	enc := json.NewEncoder(w)
	var werr error
	r.OnAccountTransition = func(eng *scoring.Engine, id string, tr *scoring.Transition) {
		st.AccountTransitions++
		sc := output.NewAccountStageChange(eng, id, tr, tr.At)
		if err := enc.Encode(&sc); err != nil && werr == nil {
			werr = err
		}
	}
	r.OnTransition = func(eng *scoring.Engine, lead string, tr *scoring.Transition) {
		st.Transitions++
		sc := output.NewStageChange(eng, lead, r.Identities(lead), tr, tr.At)
		if err := enc.Encode(&sc); err != nil && werr == nil {
			werr = err
		}
	}
	// The log is read whole, then applied in the canonical order
	// (scoring.CompareEvents): the result does not depend on how the lines of
	// a mixed log were interleaved, exactly as the live processor's does not
	// depend on the order Kafka delivered them in.
	var evs []scoring.Event
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 2*1024*1024)
	latest := int64(0)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		ev, err := dec.DecodeAny(b)
		if err != nil {
			st.Bad++
			bad(line, err)
			if strict {
				return st, fmt.Errorf("line %d: %w", line, err)
			}
			continue
		}
		evs = append(evs, ev)
		if ev.Time > latest {
			latest = ev.Time
		}
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("reading events: line %d: %w", line+1, err)
	}
	if opts.NoAdvance && at != 0 {
		return st, errors.New("replay: NoAdvance and At exclude each other")
	}
	if at != 0 && at < latest {
		return st, fmt.Errorf("%w: --at %s is before the log's last event (%s)", ErrAtBeforeLog, output.FormatTime(at), output.FormatTime(latest))
	}
	sortCanonical(evs)
	for i := range evs {
		st.Events++
		res := r.Apply(&evs[i])
		switch res.Outcome.Status {
		case scoring.Duplicate:
			st.Duplicates++
		case scoring.Ignored:
			st.Ignored++
		}
		if werr != nil {
			return st, werr
		}
	}
	if at == 0 {
		at = latest
	}
	if !opts.NoAdvance {
		r.AdvanceAll(at)
	}
	for _, id := range r.LeadIDs() {
		l := r.States(id)
		for i, eng := range set.Engines() {
			leadAt := at
			if opts.NoAdvance {
				leadAt = l.States[i].ScoreAt
			}
			ll := NewLeadLine(eng, id, r.Identities(id), &l.States[i], leadAt)
			if err := enc.Encode(&ll); err != nil {
				return st, err
			}
		}
	}
	for i, eng := range set.Engines() {
		for _, id := range r.AccountIDs(i) {
			a := r.Account(i, id)
			accountAt := at
			if opts.NoAdvance {
				accountAt = a.At
			}
			al := NewAccountLine(eng, id, a, accountAt)
			if err := enc.Encode(&al); err != nil {
				return st, err
			}
			st.Accounts++
		}
	}
	st.Leads = len(r.LeadIDs())
	return st, werr
}

// NewLeadLine is the oracle's line for lead id (known by ids) in state s
// under eng's model, as of at. Tests build it from the live system's state
// to compare it with the oracle's.
func NewLeadLine(eng *scoring.Engine, id string, ids output.Identities, s *scoring.State, at int64) LeadLine {
	x := eng.Explain(s, at)
	for i := range x.Contributions {
		x.Contributions[i].Points = output.Round(x.Contributions[i].Points)
	}
	ll := LeadLine{Type: "lead", LeadID: id, Identities: ids, Stage: s.Stage,
		Score: output.Round(x.Score), Fit: s.Fit, Identified: s.Identified, Contributions: x.Contributions,
		At: output.FormatTime(at), Model: eng.Model().Name, ModelVersion: eng.Model().Version}
	if s.StageSince != 0 {
		ll.StageSince = output.FormatTime(s.StageSince)
	}
	ll.Grade = output.Grade(s.Grade)
	return ll
}
