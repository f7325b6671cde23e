// Package replay runs events through the scoring engine in memory, with the same
// identity resolution and stitching as the live processor. It is the offline
// oracle (`leadscore score`) that tests compare the live system against, and the
// base of backtesting: one code path decides, live or offline.
package replay

import (
	"slices"
	"sort"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
)

// Runner holds every lead's state and the identity index in memory. It is not safe
// for concurrent use.
type Runner struct {
	set        *scoring.Set
	index      map[string]string        // identity key → lead id
	leads      map[string]*scoring.Lead // live leads
	identities map[string][]string      // lead id → identity keys
	outs       []scoring.Outcome
	ups        []modelUpdate // the member updates of the event being applied
	viewing    bool          // a model's criteria read the lead's account
	// accounts holds, per model (nil for a model without accounts), every
	// account by id.
	accounts []map[string]*scoring.Account
	// OnTransition, when set, is called for every stage change in order,
	// with the engine of the model that made it.
	OnTransition func(model *scoring.Engine, lead string, tr *scoring.Transition)
	// OnAccountTransition, when set, is called for every account stage
	// change in order.
	OnAccountTransition func(model *scoring.Engine, account string, tr *scoring.Transition)
}

// New returns an empty runner for one model.
func New(eng *scoring.Engine) *Runner { return NewSet(scoring.SingleSet(eng)) }

// NewSet returns an empty runner for the models of set, side by side: every
// event is applied under each (scoring.Set), as the live processor does.
func NewSet(set *scoring.Set) *Runner {
	r := &Runner{
		set:        set,
		index:      map[string]string{},
		leads:      map[string]*scoring.Lead{},
		identities: map[string][]string{},
		accounts:   make([]map[string]*scoring.Account, set.Len()),
		viewing:    set.UsesAccountStages(),
	}
	for i, e := range set.Engines() {
		if e.Model().Accounts != nil {
			r.accounts[i] = map[string]*scoring.Account{}
		}
	}
	return r
}

// Models returns the runner's models.
func (r *Runner) Models() *scoring.Set { return r.set }

// Result is what applying one event did.
type Result struct {
	Lead string
	// Outcome is the models' outcomes folded into one (scoring.Summary);
	// the stage changes go to OnTransition.
	Outcome scoring.Outcome
}

// Apply resolves the event's lead (stitching leads it proves to be the same person)
// and applies it.
func (r *Runner) Apply(ev *scoring.Event) Result {
	res := scoring.Resolve(ev, func(k string) (string, bool) {
		l, ok := r.index[k]
		return l, ok
	})
	if res.Lead == "" {
		return Result{Outcome: scoring.Outcome{Status: scoring.Ignored, Why: "no_identity"}}
	}
	st := r.leads[res.Lead]
	if st == nil {
		s := r.set.NewLead()
		st = &s
		r.leads[res.Lead] = st
	}
	var absorbed []scoring.AbsorbedLead
	for _, id := range res.Absorb {
		absorbed = append(absorbed, scoring.AbsorbedLead{ID: id, Lead: r.leads[id]})
	}
	before := r.set.Memberships(st, absorbed)
	var view scoring.AccountView
	if r.viewing {
		view = r
	}
	r.outs = r.set.ApplyStitchedViewing(st, absorbed, ev, r.outs, view)
	r.ups = r.ups[:0]
	r.set.MemberUpdates(res.Lead, st, before, r.outs, ev, func(model int, u *scoring.MemberUpdate) {
		r.ups = append(r.ups, modelUpdate{model: model, u: *u})
	})
	for _, a := range res.Absorb {
		for _, k := range r.identities[a] {
			r.point(k, res.Lead)
		}
		delete(r.leads, a)
		delete(r.identities, a)
	}
	for _, k := range res.Index {
		r.point(k, res.Lead)
	}
	if _, ok := r.index[res.Lead]; !ok && res.Lead != "" {
		r.point(res.Lead, res.Lead)
	}
	for i, e := range r.set.Engines() {
		r.emit(e, res.Lead, r.outs[i].Transitions)
	}
	// The accounts hear of the event after the lead has moved, so that the
	// lead's own stage changes come before those its account's rise causes.
	for i := range r.ups {
		r.applyMember(r.ups[i].model, &r.ups[i].u)
	}
	return Result{Lead: res.Lead, Outcome: scoring.Summary(r.outs)}
}

// modelUpdate is a member update under one model of the set.
type modelUpdate struct {
	model int
	u     scoring.MemberUpdate
}

// AccountStage implements scoring.AccountView over the runner's accounts:
// they hold every member update of the events applied so far.
func (r *Runner) AccountStage(model int, account string, t int64) int {
	a := r.Account(model, account)
	if a == nil {
		return 0
	}
	return r.set.Engines()[model].AccountStageAt(a, t)
}

// point makes identity key k resolve to lead, moving it off any other lead.
func (r *Runner) point(k, lead string) {
	if old, ok := r.index[k]; ok && old != lead {
		ids := r.identities[old]
		for i, x := range ids {
			if x == k {
				r.identities[old] = append(ids[:i:i], ids[i+1:]...)
				break
			}
		}
	}
	if r.index[k] != lead || !slices.Contains(r.identities[lead], k) {
		r.index[k] = lead
		if !slices.Contains(r.identities[lead], k) {
			r.identities[lead] = append(r.identities[lead], k)
		}
	}
}

func (r *Runner) emit(e *scoring.Engine, lead string, trs []scoring.Transition) {
	if r.OnTransition == nil {
		return
	}
	for i := range trs {
		r.OnTransition(e, lead, &trs[i])
	}
}

// AdvanceAll brings every lead forward to instant t (in lead-id order, so the output
// is deterministic), applying the time-driven changes due by then.
func (r *Runner) AdvanceAll(t int64) {
	for _, lead := range r.LeadIDs() {
		for i, trs := range r.set.AdvanceEach(r.leads[lead], t) {
			r.emit(r.set.Engines()[i], lead, trs)
		}
	}
	for i, e := range r.set.Engines() {
		for _, id := range r.AccountIDs(i) {
			a := r.accounts[i][id]
			r.emitAccount(e, id, e.AdvanceAccount(a, t))
		}
	}
}

// LeadIDs returns the ids of all live leads, sorted.
func (r *Runner) LeadIDs() []string {
	ids := make([]string, 0, len(r.leads))
	for id := range r.leads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Lead returns a lead's state under the first model, or nil.
func (r *Runner) Lead(id string) *scoring.State {
	if l := r.leads[id]; l != nil {
		return &l.States[0]
	}
	return nil
}

// States returns a lead's state under every model, or nil.
func (r *Runner) States(id string) *scoring.Lead { return r.leads[id] }

// Identities returns the identity keys of a lead, grouped for output.
func (r *Runner) Identities(lead string) output.Identities {
	return output.IdentitiesFromKeys(r.identities[lead])
}

// Lookup returns the lead an identity key resolves to.
func (r *Runner) Lookup(key string) (string, bool) {
	l, ok := r.index[key]
	return l, ok
}

// applyMember applies a member update under model i to its account.
func (r *Runner) applyMember(i int, u *scoring.MemberUpdate) {
	e := r.set.Engines()[i]
	a := r.accounts[i][u.Account]
	if a == nil {
		n := e.NewAccount()
		a = &n
		r.accounts[i][u.Account] = a
	}
	trs := e.ApplyMember(a, u)
	r.emitAccount(e, u.Account, trs)
	if !e.Model().UsesAccountStages() {
		return
	}
	e.TellRises(a, trs, func(lead string, rise *scoring.Transition) {
		if l := r.leads[lead]; l != nil {
			r.emit(e, lead, e.AccountRose(&l.States[i], u.Account, rise))
		}
	})
}

func (r *Runner) emitAccount(e *scoring.Engine, id string, trs []scoring.Transition) {
	if r.OnAccountTransition == nil {
		return
	}
	for i := range trs {
		r.OnAccountTransition(e, id, &trs[i])
	}
}

// AccountIDs returns the ids of the accounts under model i, sorted.
func (r *Runner) AccountIDs(i int) []string {
	ids := make([]string, 0, len(r.accounts[i]))
	for id := range r.accounts[i] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Account returns an account under model i, or nil.
func (r *Runner) Account(i int, id string) *scoring.Account {
	if r.accounts[i] == nil {
		return nil
	}
	return r.accounts[i][id]
}
