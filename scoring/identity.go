package scoring

import (
	"slices"
	"strings"
)

// Identity key prefixes. Lead ids are identity keys too: a lead is named after the
// strongest identity it was created with (user > email > anonymous).
const (
	PrefixUser  = "user:"
	PrefixEmail = "email:"
	PrefixAnon  = "anon:"
)

// Keys returns the identity keys an event carries ("user:…", "email:…", "anon:…"),
// strongest first, without duplicates. Alias previous ids are returned by
// Resolution, not here, because they may name either an anonymous or a user id.
func (id *Identity) Keys() []string {
	keys := make([]string, 0, 3)
	if id.UserID != "" {
		keys = append(keys, PrefixUser+id.UserID)
	}
	if id.Email != "" {
		keys = append(keys, PrefixEmail+strings.ToLower(id.Email))
	}
	if id.AnonymousID != "" {
		keys = append(keys, PrefixAnon+id.AnonymousID)
	}
	return keys
}

// Resolution says which lead an event belongs to and which other leads it proves
// are the same person.
type Resolution struct {
	// Lead is the lead the event is applied to.
	Lead string
	// Absorb lists existing leads to stitch into Lead before the event is applied
	// (an anonymous visitor's history when it identifies, an e-mail-only lead when
	// its address appears on an identified user).
	Absorb []string
	// Index lists identity keys that must point at Lead from now on.
	Index []string
}

// Resolve decides the lead of an event. lookup returns the lead an identity key
// points at, if any (the identity index). The rules:
//
//   - a sales-feedback event with a lead id goes to that lead;
//   - an event with a userId goes to the lead user:<userId> points at (itself if
//     new); with only an e-mail, to the lead that e-mail points at, else
//     email:<address>; with only an anonymousId, likewise anon:<id>;
//   - anonymous and e-mail-only leads that the event's other identities point at are
//     absorbed into it; two user leads are never merged except by an explicit alias,
//     whose previousId (anonymous or user) is absorbed into the userId's lead.
//
// Resolve is pure: the same event and index give the same answer.
func Resolve(ev *Event, lookup func(key string) (string, bool)) Resolution {
	return ResolveKeys(ev, ev.Identity.Keys(), lookup)
}

// ResolveKeys is Resolve for a caller that already holds the event's identity
// keys (keys must be ev.Identity.Keys()): a processor builds them once per
// event to look them up, and building them again is a tenth of its
// allocations.
func ResolveKeys(ev *Event, keys []string, lookup func(key string) (string, bool)) Resolution {
	id := &ev.Identity
	find := func(key string) string {
		if lead, ok := lookup(key); ok {
			return lead
		}
		return ""
	}
	var res Resolution
	if ev.Source == SourceFeedback && id.LeadID != "" {
		res.Lead = id.LeadID
		if l := find(id.LeadID); l != "" {
			res.Lead = l
		}
	}
	if res.Lead == "" {
		for _, k := range keys {
			if l := find(k); l != "" {
				res.Lead = l
				break
			}
			if strings.HasPrefix(k, PrefixUser) {
				res.Lead = k
				break
			}
		}
	}
	if res.Lead == "" && len(keys) > 0 {
		res.Lead = keys[0]
	}
	if res.Lead == "" {
		return res
	}
	absorb := func(lead string) {
		if lead == "" || lead == res.Lead || slices.Contains(res.Absorb, lead) {
			return
		}
		if strings.HasPrefix(lead, PrefixUser) && ev.Kind != "alias" {
			return
		}
		res.Absorb = append(res.Absorb, lead)
	}
	if ev.Kind == "alias" && id.PreviousID != "" && ev.Source == SourceWeb {
		for _, k := range []string{PrefixAnon + id.PreviousID, PrefixUser + id.PreviousID} {
			if l := find(k); l != "" {
				absorb(l)
			}
			res.Index = append(res.Index, k)
		}
	}
	for _, k := range keys {
		absorb(find(k))
	}
	for _, k := range keys {
		if !slices.Contains(res.Index, k) {
			res.Index = append(res.Index, k)
		}
	}
	return res
}

// Merge stitches the state of lead fromID into into, at instant t (the event time of
// the event that proved they are one person): points (each decayed from its own
// instant), hit histories, dedup fingerprints, traits and activity are combined.
// If from had reached a later, non-terminal stage, into takes it, and the returned
// transition (cause "merge") says so. Merging a lead already absorbed is a no-op, so
// a replayed stitch adds nothing.
func (e *Engine) Merge(into *State, fromID string, from *State, t int64, trigger string) []Transition {
	e.fixStage(into)
	if slices.Contains(into.Absorbed, fromID) {
		return nil
	}
	into.Absorbed = append(into.Absorbed, fromID)
	if from == nil {
		return nil
	}
	e.fixStage(from)
	into.Absorbed = append(into.Absorbed, from.Absorbed...)
	if into.Account == "" {
		into.Account = from.Account
	} else if from.Account != into.Account {
		into.addPastAccount(from.Account) // from's entry there is a member who left
	}
	for _, acct := range from.PastAccounts {
		into.addPastAccount(acct)
	}
	// Express both at the later instant, then add rule by rule.
	at := max(into.ScoreAt, from.ScoreAt)
	e.bringTo(into, at)
	f := decayFactor(at-from.ScoreAt, e.m.HalfLife)
	for _, c := range from.Contribs {
		into.addPoints(c.Rule, c.Points*f)
	}
	for _, h := range from.Hits {
		lg := into.hitLog(h.Rule)
		if lg == nil {
			into.Hits = append(into.Hits, HitLog{Rule: h.Rule})
			lg = &into.Hits[len(into.Hits)-1]
		}
		lg.Count += h.Count
		lg.Base += h.Base
		lg.Visit = max(lg.Visit, h.Visit)
		need := logNeed{count: maxLogCount}
		if i, ok := e.m.ruleIndex[h.Rule]; ok {
			need = e.m.keep[i]
		}
		for k, tm := range h.Times {
			p := 0.0
			if k < len(h.Pts) {
				p = h.Pts[k]
			}
			if need.count > 0 || need.scoring > 0 {
				lg.insert(tm, p, need)
			}
		}
	}
	for _, s := range from.Seen {
		if !into.seen(s.Hash) {
			into.remember(s.Hash, s.At, e.m.Dedup)
		}
	}
	if from.LastActive > into.LastActive {
		into.LastActive, into.StepsDone = from.LastActive, from.StepsDone
	}
	into.ResetAt = max(into.ResetAt, from.ResetAt)
	if from.BANT.At > into.BANT.At || into.BANT == (BANTAnswers{}) {
		into.BANT = from.BANT
	}
	e.mergeVisits(into, from)
	into.Identified = into.Identified || from.Identified
	traitsChanged := false
	for _, p := range from.Traits {
		if _, ok := into.Traits.Get(p.Key); !ok {
			into.Traits = append(into.Traits, p)
			traitsChanged = true
		}
	}
	if traitsChanged {
		into.Fit, into.Grade = e.fit(into.Traits)
	}
	fi, ii := e.stageOf(from), e.stageOf(into)
	if fi > ii && !e.m.Stages[fi].Terminal && !e.m.Stages[ii].Terminal {
		prev := into.Stage
		into.Stage, into.StageSince = from.Stage, t
		tr := []Transition{e.transition(into, prev, t, Cause{Kind: CauseMerge, Rule: fromID}, trigger)}
		e.keepRecent(into, tr)
		return tr
	}
	return nil
}

// mergeVisits combines two histories of visits. Visits of one person seen under
// two identities in the same session (starts within the visit timeout of each
// other) count once.
func (e *Engine) mergeVisits(into, from *State) {
	if from.Visits == 0 {
		return
	}
	if into.Visits == 0 {
		into.Visits, into.LastWebAt, into.SessionID = from.Visits, from.LastWebAt, from.SessionID
		into.VisitStarts = append(into.VisitStarts[:0:0], from.VisitStarts...)
		return
	}
	all := append(append([]int64(nil), into.VisitStarts...), from.VisitStarts...)
	slices.Sort(all)
	merged, dup := all[:0], uint32(0)
	for _, t := range all {
		if len(merged) > 0 && t-merged[len(merged)-1] <= e.m.VisitTimeout {
			dup++
			continue
		}
		merged = append(merged, t)
	}
	into.Visits += from.Visits - min(dup, from.Visits)
	into.VisitStarts = pruneStarts(merged, e.m.visits)
	if from.LastWebAt > into.LastWebAt {
		into.LastWebAt, into.SessionID = from.LastWebAt, from.SessionID
	}
}

// Absorbed is a lead being stitched into another: its id and its state (nil when it
// has no state, e.g. it was erased).
type Absorbed struct {
	ID    string
	State *State
}

// ApplyStitched is Apply preceded by the merges a Resolution asked for: each
// absorbed lead's history is merged into st first (idempotently), then ev is applied.
// Merge transitions come first in the outcome. The live processor and the offline
// oracle both call it, so they stitch identically.
func (e *Engine) ApplyStitched(st *State, absorbed []Absorbed, ev *Event) Outcome {
	return e.applyStitched(st, absorbed, ev, accountRead{})
}

// ApplyStitchedViewing is ApplyStitched for a model whose criteria read the
// lead's account (ApplyViewing).
func (e *Engine) ApplyStitchedViewing(st *State, absorbed []Absorbed, ev *Event, view AccountView, model int) Outcome {
	return e.applyStitched(st, absorbed, ev, accountRead{view: view, model: model})
}

func (e *Engine) applyStitched(st *State, absorbed []Absorbed, ev *Event, acct accountRead) Outcome {
	if len(absorbed) == 0 {
		return e.apply(st, ev, acct)
	}
	e.fixStage(st)
	var merged []Transition
	if ev.Time > st.ScoreAt && !st.seen(idHash(ev.ID)) {
		// Time-driven changes of the absorbing lead happen before the stitch.
		merged = e.advance(st, ev.Time, nil)
		e.keepRecent(st, merged)
	}
	for _, a := range absorbed {
		merged = append(merged, e.Merge(st, a.ID, a.State, ev.Time, ev.ID)...)
	}
	out := e.apply(st, ev, acct)
	if len(merged) > 0 {
		out.Transitions = append(merged, out.Transitions...)
	}
	return out
}
