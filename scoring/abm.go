package scoring

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Account-based scoring: people belong to accounts (companies), and an
// account is scored from its members — its engagement is the sum of its most
// engaged members' scores, its buying group the members engaged enough to
// count, with the roles they hold — and moves through stages of its own
// (target → engaged → MQA …) with entry and exit criteria, like a lead.
//
// An account changes only when one of its members' events is applied (a
// member update) or when its engagement decays below a stage's exit: both
// the live processor and the oracle feed it member updates in the canonical
// order of the events, so an account's stage changes are as deterministic as
// a lead's.

// AccountModel is a model's account part (rules file `accounts:`).
type AccountModel struct {
	// ByGroup puts a person in the account a Segment group call or
	// context.groupId names (Event.Account).
	ByGroup bool
	// ByEmailDomain puts a person no group names in the account of their
	// e-mail domain ("domain:acme.example"), free-mail domains excluded.
	ByEmailDomain bool
	// FreeMail lists the excluded domains (nil: the built-in list).
	FreeMail *FreeMail
	// Top is how many members' scores make the engagement: the sum of the
	// Top highest decayed member scores (default 3), so one very busy
	// person does not make an account, nor a crowd of passers-by.
	Top int
	// EngagedScore is the score from which a member counts as engaged (in
	// the buying group).
	EngagedScore float64
	// Roles classify members by a trait (their job title): the first role
	// whose pattern matches is the member's.
	Roles []AccountRole
	// Fit scores the account's own traits (a group call's: industry,
	// employees, revenue, country…), with the syntax of lead fit.
	Fit FitModel
	// Stages are the account funnel, the first where every account starts.
	Stages []AccountStage

	stageIndex map[string]int
	fitPaths   []string // trait paths the account fit rules read
}

// AccountRole is a buying-group role: a member whose Trait matches Pattern.
type AccountRole struct {
	Name    string
	Trait   string
	Pattern *Pattern
}

// AccountStage is one stage of the account funnel.
type AccountStage struct {
	Name string
	// Entry lists alternatives, each a set of conditions that must all hold.
	Entry []AccountCriteria
	// Exit, when set, moves the account to Exit.To once its engagement is
	// below Exit.Below.
	Exit *Exit
}

// AccountCriteria are conditions on an account; zero values are not
// checked.
type AccountCriteria struct {
	Engagement     float64  // engagement at least this (0: no condition)
	EngagedMembers int      // at least this many engaged members
	Roles          []string // an engaged member holds each of these roles
	Fit            float64  // account fit at least this (0: no condition)
}

// compile checks the account model and indexes its stages.
func (am *AccountModel) compile() error {
	if len(am.Stages) == 0 {
		return fmt.Errorf("scoring: the account model has no stages")
	}
	if am.Top <= 0 {
		am.Top = DefaultAccountTop
	}
	var err error
	if am.stageIndex, err = indexNames(am.StageNames(), "account stage"); err != nil {
		return err
	}
	am.fitPaths = am.Fit.paths()
	roles := map[string]bool{}
	for _, r := range am.Roles {
		roles[r.Name] = true
	}
	for _, s := range am.Stages {
		if s.Exit != nil {
			if _, ok := am.stageIndex[s.Exit.To]; !ok {
				return fmt.Errorf("scoring: account stage %q exits to unknown stage %q", s.Name, s.Exit.To)
			}
		}
		for _, c := range s.Entry {
			for _, r := range c.Roles {
				if !roles[r] {
					return fmt.Errorf("scoring: account stage %q needs unknown role %q", s.Name, r)
				}
			}
		}
	}
	return nil
}

// DefaultAccountTop is AccountModel.Top's default.
const DefaultAccountTop = 3

// StageNames lists the account stages in order.
func (am *AccountModel) StageNames() []string {
	out := make([]string, len(am.Stages))
	for i := range am.Stages {
		out[i] = am.Stages[i].Name
	}
	return out
}

// StageIndex returns the funnel position of an account stage, or -1.
func (am *AccountModel) StageIndex(name string) int {
	if i, ok := am.stageIndex[name]; ok {
		return i
	}
	return -1
}

// Account is what leadscore knows about one account.
type Account struct {
	Stage      string
	StageSince int64
	// At is the instant the account was last brought to (its latest member
	// update or timer); member scores decay from their own instants.
	At      int64
	Members []Member // by lead id
	Traits  Props    // only the trait paths the account fit rules read
	Fit     float64
	Grade   byte
	// Recent and Pending are the latest stage changes and the outbox, as
	// for a lead (State).
	Recent  []Transition
	Pending int
}

// Member is one person of an account: their lead's score as of At (it
// decays with the model's half-life from there) and role. A member who left
// is kept (Left) with the instant and event of their leaving, so that an
// older update delivered again after a crash cannot bring them back. An
// erased person is kept the same way, but under the ErasedMemberID of their
// lead id, never the lead id itself.
type Member struct {
	Lead    string
	Score   float64
	At      int64
	EventID string // the event of the latest update applied
	Role    string
	Left    bool
}

// MemberUpdate is what one applied event of a person tells their account:
// their score and role now, or (Leave) that they left it.
type MemberUpdate struct {
	Account string
	Lead    string
	At      int64  // the event's time
	EventID string // the event's id; ignored for an Erase (ErasureEventID)
	Score   float64
	Role    string
	Leave   bool
	// Erase says that the person leaves because they are erased (GDPR;
	// Leave is implied): the account then keeps no trace of their lead id,
	// only ErasedMemberID, which still refuses their older updates
	// delivered again, and its recent stage changes name them by it too.
	// Nothing in the event stream sets it; the erasure (api) does.
	Erase bool
	// Traits are the account's own traits a group call carried.
	Traits Props
}

// ErasedMemberPrefix starts the member id an account keeps for an erased
// person (ErasedMemberID). Lead ids start with an identity prefix
// (PrefixUser…), so the two cannot be confused.
const ErasedMemberPrefix = "erased:"

// erasureDomain separates the erasure digests from any other SHA-256 of a
// lead id, so that they cannot be matched against digests computed for
// another purpose (the state store's identity index hashes identities too).
const erasureDomain = "leadscore/account-erasure/v1\x00"

// erasureDigest is the pseudonym of an erased lead id: deterministic, so
// that the processor and the oracle, given the same lead id in a redelivered
// event, find the same entry; 16 bytes keep collisions out of reach.
func erasureDigest(lead string) string {
	sum := sha256.Sum256([]byte(erasureDomain + lead))
	return hex.EncodeToString(sum[:16])
}

// ErasedMemberID is the id under which an account keeps an erased person as
// a member who left ("erased:" and 32 hex digits): a digest of the lead id,
// which whoever knows the lead id can recompute — a pseudonym, not an
// anonymisation — but from which the lead id cannot be read.
func ErasedMemberID(lead string) string { return ErasedMemberPrefix + erasureDigest(lead) }

// ErasureEventID is the event id of an erasure's member update ("erase:" and
// the digest ErasedMemberID carries): the trigger of the stage change it
// causes, which must not name the lead either.
func ErasureEventID(lead string) string { return "erase:" + erasureDigest(lead) }

// NewAccount returns the state of an account never seen before.
func (e *Engine) NewAccount() Account {
	return Account{Stage: e.m.Accounts.Stages[0].Name}
}

// joinAccount sets the lead's account from the event: the group a Segment
// group call or context.groupId names, else (once) the e-mail's domain.
func (e *Engine) joinAccount(st *State, ev *Event) {
	am := e.m.Accounts
	switch {
	case am.ByGroup && ev.Account != "":
		if st.Account != ev.Account {
			st.addPastAccount(st.Account)
		}
		st.Account = ev.Account
	case am.ByEmailDomain && st.Account == "" && ev.Identity.Email != "":
		if id, ok := AccountFromEmail(ev.Identity.Email, am.FreeMail); ok {
			st.Account = id
		}
	}
}

// maxPastAccounts bounds State.PastAccounts: people rarely change company
// more than a few times in a lead's life; beyond it the oldest is dropped
// (and an erasure no longer reaches that account).
const maxPastAccounts = 8

// addPastAccount records an account the lead no longer belongs to.
func (st *State) addPastAccount(acct string) {
	if acct == "" || slices.Contains(st.PastAccounts, acct) {
		return
	}
	if len(st.PastAccounts) >= maxPastAccounts {
		st.PastAccounts = append(st.PastAccounts[:0], st.PastAccounts[1:]...)
	}
	st.PastAccounts = append(st.PastAccounts, acct)
}

// MemberUpdates returns what applying ev to lead (whose state is now st;
// before is the account it was in before the event, absorbed the accounts
// of the leads stitched into it by the event, by lead id) tells the
// accounts: those the lead or an absorbed lead left, then the lead's own.
// Nil when the model scores no accounts.
func (e *Engine) MemberUpdates(lead string, st *State, before string, absorbed map[string]string, ev *Event) []MemberUpdate {
	am := e.m.Accounts
	if am == nil {
		return nil
	}
	var ups []MemberUpdate
	leave := func(acct, who string) {
		if acct != "" && (acct != st.Account || who != lead) {
			ups = append(ups, MemberUpdate{Account: acct, Lead: who, At: ev.Time, EventID: ev.ID, Leave: true})
		}
	}
	ids := make([]string, 0, len(absorbed))
	for id := range absorbed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		leave(absorbed[id], id)
	}
	leave(before, lead)
	if st.Account != "" {
		u := MemberUpdate{Account: st.Account, Lead: lead, At: ev.Time, EventID: ev.ID,
			Score: e.Score(st, ev.Time), Role: am.role(st.Traits)}
		if ev.Kind == "group" && ev.Account == st.Account {
			u.Traits = ev.AccountTraits
		}
		ups = append(ups, u)
	}
	return ups
}

// role is the first role whose trait matches.
func (am *AccountModel) role(traits Props) string {
	for _, r := range am.Roles {
		if v, ok := traits.Get(r.Trait); ok && v.Kind == PropString && r.Pattern.MatchString(v.Str) {
			return r.Name
		}
	}
	return ""
}

// ApplyMember brings the account to the update's time (firing the exits due
// before it), applies the update, and moves the account to the stage its
// criteria now call for. It returns the stage changes, oldest first. An
// update older than the account's instant (late) is applied at the
// account's instant. An erasure (MemberUpdate.Erase) is never refused, and
// also scrubs the lead id from the recent stage changes, the returned ones
// included.
func (e *Engine) ApplyMember(a *Account, u *MemberUpdate) []Transition {
	var out []Transition
	if u.At > a.At {
		out = e.advanceAccount(a, u.At, out)
		a.At = u.At
	}
	trigger := u.EventID
	if u.Erase {
		trigger = ErasureEventID(u.Lead)
		a.eraseMember(u.Lead, u.At, trigger)
	} else if !a.updateMember(u) {
		return out // applied already (a replay), or older than what is known
	}
	if len(u.Traits) > 0 {
		var changed bool
		if a.Traits, changed = keepTraits(a.Traits, u.Traits, e.m.Accounts.fitPaths); changed {
			a.Fit, a.Grade = e.m.Accounts.Fit.score(a.Traits)
		}
	}
	if tr, ok := e.settleAccount(a, a.At, trigger); ok {
		out = append(out, tr)
	}
	e.keepRecentAccount(a, out)
	if u.Erase {
		// The exits fired on the way to the erasure were computed with the
		// person still a member; they are in Recent now, like the older
		// changes, and share their Top slices with out.
		scrubTransitions(a.Recent, u.Lead, ErasedMemberID(u.Lead))
	}
	return out
}

// member finds the entry of id (a lead id or an ErasedMemberID) in the
// account's members, sorted by it, or where it would go.
func (a *Account) member(id string) (int, bool) {
	return slices.BinarySearchFunc(a.Members, id, func(m Member, id string) int { return strings.Compare(m.Lead, id) })
}

// updateMember applies an update of the event stream to the members, and
// reports false when it is refused: the same event again, or an event older
// than the one the member's entry holds — or, for a person erased since, no
// newer than their erasure.
func (a *Account) updateMember(u *MemberUpdate) bool {
	i, found := a.member(u.Lead)
	if found {
		if m := &a.Members[i]; u.At < m.At || u.At == m.At && u.EventID == m.EventID {
			return false
		}
	} else if j, erased := a.member(ErasedMemberID(u.Lead)); erased {
		// An event of the erasure's own instant is refused too: the
		// erasure is the person's last word until they come back later.
		if u.At <= a.Members[j].At {
			return false
		}
		if !u.Leave {
			// Back after their erasure, with a newer event: their own entry
			// refuses from now on all the pseudonym did, and the account
			// should not keep linking the two.
			a.Members = slices.Delete(a.Members, j, j+1)
			i, _ = a.member(u.Lead)
		}
	}
	m := Member{Lead: u.Lead, Score: u.Score, At: u.At, EventID: u.EventID, Role: u.Role, Left: u.Leave}
	switch {
	case found:
		a.Members[i] = m
	case !u.Leave:
		a.Members = slices.Insert(a.Members, i, m)
	}
	return true
}

// eraseMember replaces the person's entry, current or left, with a left
// member under ErasedMemberID: at the later of the erasure's instant and
// the entry's, so that every update the entry refused is still refused.
// Unlike other updates it is never refused: an erasure must happen even if
// it arrives late.
func (a *Account) eraseMember(lead string, at int64, eventID string) {
	if i, ok := a.member(lead); ok {
		at = max(at, a.Members[i].At)
		a.Members = slices.Delete(a.Members, i, i+1)
	}
	id := ErasedMemberID(lead)
	m := Member{Lead: id, At: at, EventID: eventID, Left: true}
	switch i, ok := a.member(id); {
	case !ok:
		a.Members = slices.Insert(a.Members, i, m)
	case a.Members[i].At < at:
		a.Members[i] = m
	}
}

// scrubTransitions renames lead to pseudonym among the members of the stage
// changes. The contribution stays, under the pseudonym, so that the members
// still sum to the recorded engagement.
func scrubTransitions(trs []Transition, lead, pseudonym string) {
	for i := range trs {
		for j := range trs[i].Top {
			if trs[i].Top[j].Rule == lead {
				trs[i].Top[j].Rule = pseudonym
			}
		}
	}
}

// scrubLegacyErasures gives the erasures recorded before erasure leaves
// were pseudonymous — a left member whose leaving event is "erase:" and their
// own lead id, and the stage changes it triggered — the form an erasure
// takes now. Those lead ids are recognisable without the erasure request,
// which is gone; nothing else in an account says that a person was erased.
func (a *Account) scrubLegacyErasures() {
	var erased []string
	for i := range a.Members {
		if m := &a.Members[i]; m.Left && isLegacyErasure(m.EventID, m.Lead) {
			erased = append(erased, m.Lead)
		}
	}
	for _, lead := range erased {
		i, ok := a.member(lead)
		if !ok {
			continue // members out of order: not a record this package wrote
		}
		a.eraseMember(lead, a.Members[i].At, ErasureEventID(lead))
		scrubTransitions(a.Recent, lead, ErasedMemberID(lead))
		for j := range a.Recent {
			if isLegacyErasure(a.Recent[j].TriggerID, lead) {
				a.Recent[j].TriggerID = ErasureEventID(lead)
			}
		}
	}
}

// isLegacyErasure reports whether eventID is "erase:" + lead, without
// building the string: it is checked for every member an account decodes.
func isLegacyErasure(eventID, lead string) bool {
	rest, ok := strings.CutPrefix(eventID, "erase:")
	return ok && rest == lead
}

// Mentions reports whether the account holds lead's id anywhere: as a
// member, current or left, or among the members of a recent stage change.
// An erasure need only change the accounts that do.
func (a *Account) Mentions(lead string) bool {
	if _, ok := a.member(lead); ok {
		return true
	}
	for i := range a.Recent {
		for _, c := range a.Recent[i].Top {
			if c.Rule == lead {
				return true
			}
		}
	}
	return false
}

// keepTraits updates kept with the values traits carry for paths (later
// calls send only what changed, so values accumulate), and reports whether
// any did.
func keepTraits(kept, traits Props, paths []string) (Props, bool) {
	changed := false
	for _, path := range paths {
		vals := 0
		for _, p := range traits {
			if p.Key != path {
				continue
			}
			if vals == 0 {
				kept = removeKey(kept, path)
			}
			kept = append(kept, p)
			vals++
			changed = true
		}
	}
	return kept, changed
}

// AdvanceAccount brings the account to t, firing the exits due by then, and
// returns them.
func (e *Engine) AdvanceAccount(a *Account, t int64) []Transition {
	out := e.advanceAccount(a, t, nil)
	if t > a.At {
		a.At = t
	}
	e.keepRecentAccount(a, out)
	return out
}

func (e *Engine) advanceAccount(a *Account, t int64, out []Transition) []Transition {
	for guard := 0; guard < len(e.m.Accounts.Stages)+1; guard++ {
		due, ok := e.NextAccountChange(a)
		if !ok || due > t {
			break
		}
		a.At = max(a.At, due)
		from := a.Stage
		a.Stage, a.StageSince = e.m.Accounts.Stages[e.accountStage(a)].Exit.To, due
		out = append(out, e.accountTransition(a, from, due, Cause{Kind: CauseDecay}, ""))
	}
	return out
}

// NextAccountChange is when the account's engagement decays below its
// stage's exit, if it ever will.
func (e *Engine) NextAccountChange(a *Account) (int64, bool) {
	s := &e.m.Accounts.Stages[e.accountStage(a)]
	if s.Exit == nil {
		return 0, false
	}
	return crossing(e.Engagement(a, a.At), a.At, e.m.HalfLife, s.Exit.Below)
}

// accountStage is the funnel position of the account's stage; a stage the
// rules no longer have is read as the first.
func (e *Engine) accountStage(a *Account) int {
	if i := e.m.Accounts.StageIndex(a.Stage); i >= 0 {
		return i
	}
	a.Stage = e.m.Accounts.Stages[0].Name
	return 0
}

// settleAccount moves the account at t: to its exit when the engagement is
// below it, else up to the furthest stage whose entry holds.
func (e *Engine) settleAccount(a *Account, t int64, trigger string) (Transition, bool) {
	am := e.m.Accounts
	cur := e.accountStage(a)
	from := a.Stage
	if s := &am.Stages[cur]; s.Exit != nil && e.Engagement(a, t) < s.Exit.Below {
		a.Stage, a.StageSince = s.Exit.To, t
		return e.accountTransition(a, from, t, Cause{Kind: CauseDecay}, trigger), true
	}
	for j := len(am.Stages) - 1; j > cur; j-- {
		for _, c := range am.Stages[j].Entry {
			if e.accountHolds(a, c, t) {
				a.Stage, a.StageSince = am.Stages[j].Name, t
				return e.accountTransition(a, from, t, Cause{Kind: CauseCriteria}, trigger), true
			}
		}
	}
	return Transition{}, false
}

func (e *Engine) accountHolds(a *Account, c AccountCriteria, t int64) bool {
	if c.Engagement != 0 && e.Engagement(a, t) < c.Engagement {
		return false
	}
	if c.Fit != 0 && a.Fit < c.Fit {
		return false
	}
	if c.EngagedMembers == 0 && len(c.Roles) == 0 {
		return true
	}
	engaged, roles := e.BuyingGroup(a, t)
	if engaged < c.EngagedMembers {
		return false
	}
	for _, r := range c.Roles {
		if !slices.Contains(roles, r) {
			return false
		}
	}
	return true
}

// memberScore is a member's score decayed to t.
func (e *Engine) memberScore(m *Member, t int64) float64 {
	return m.Score * decayFactor(t-m.At, e.m.HalfLife)
}

// Engagement is the account's engagement at t: the sum of its Top highest
// member scores, decayed to t.
func (e *Engine) Engagement(a *Account, t int64) float64 {
	top := e.topMembers(a, t)
	sum := 0.0
	for _, c := range top {
		sum += c.Points
	}
	return sum
}

// topMembers are the Top members with the highest positive scores at t, as
// contributions (lead id, decayed score), highest first.
func (e *Engine) topMembers(a *Account, t int64) []Contribution {
	cs := e.MemberScores(a, t)
	n := 0
	for n < len(cs) && n < e.m.Accounts.Top && cs[n].Points > 0 {
		n++
	}
	return cs[:n:n]
}

// MemberScores are every member with a score at t (lead id, decayed
// score), highest first.
func (e *Engine) MemberScores(a *Account, t int64) []Contribution {
	cs := make([]Contribution, 0, len(a.Members))
	for i := range a.Members {
		if !a.Members[i].Left {
			cs = append(cs, Contribution{Rule: a.Members[i].Lead, Points: e.memberScore(&a.Members[i], t)})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Points != cs[j].Points {
			return cs[i].Points > cs[j].Points
		}
		return cs[i].Rule < cs[j].Rule
	})
	return cs
}

// BuyingGroup is the account's buying group at t: how many members are
// engaged (score at least EngagedScore), and their roles, sorted, once each.
func (e *Engine) BuyingGroup(a *Account, t int64) (engaged int, roles []string) {
	for i := range a.Members {
		m := &a.Members[i]
		if s := e.memberScore(m, t); m.Left || s <= 0 || s < e.m.Accounts.EngagedScore {
			continue
		}
		engaged++
		if m.Role != "" && !slices.Contains(roles, m.Role) {
			roles = append(roles, m.Role)
		}
	}
	slices.Sort(roles)
	return engaged, roles
}

func (e *Engine) accountTransition(a *Account, from string, t int64, c Cause, trigger string) Transition {
	engaged, roles := e.BuyingGroup(a, t)
	return Transition{From: from, To: a.Stage, At: t, Cause: c, TriggerID: trigger,
		Score: e.Engagement(a, t), Fit: a.Fit, Grade: a.Grade, Top: e.topMembers(a, t),
		EngagedMembers: engaged, Roles: roles}
}

// keepRecentAccount records transitions in the account's recent list and
// outbox, keeping the model's Recent newest plus any still pending.
func (e *Engine) keepRecentAccount(a *Account, trs []Transition) {
	if len(trs) == 0 {
		return
	}
	a.Recent = append(a.Recent, trs...)
	a.Pending += len(trs)
	if keep := max(e.m.Recent, a.Pending); len(a.Recent) > keep {
		a.Recent = slices.Delete(a.Recent, 0, len(a.Recent)-keep)
	}
}

// AccountDirection is "up" or "down" for an account stage change.
func (e *Engine) AccountDirection(from, to string) string {
	if e.m.Accounts.StageIndex(to) > e.m.Accounts.StageIndex(from) {
		return "up"
	}
	return "down"
}

// AccountRank is a decay-invariant ordering key for account leaderboards,
// as Rank is for leads: members share the model's half-life, so the
// engagement decays as one exponential from the account's instant.
func (e *Engine) AccountRank(a *Account) float64 {
	eng := e.Engagement(a, a.At)
	if e.m.HalfLife <= 0 {
		return max(NoRank, min(-NoRank, eng))
	}
	if eng <= 0 {
		return NoRank
	}
	return math.Log2(eng) + float64(a.At)/float64(e.m.HalfLife)
}

// EngagementFromRank turns an AccountRank back into the engagement at
// instant t (0 for NoRank), as ScoreFromRank does for leads: an account
// leaderboard stores ranks, which do not decay, and readers convert them at
// their own instant.
func (e *Engine) EngagementFromRank(rank float64, t int64) float64 {
	return e.ScoreFromRank(rank, t)
}

// MemberCount counts the account's current members (those who left excluded).
func (a *Account) MemberCount() int {
	n := 0
	for i := range a.Members {
		if !a.Members[i].Left {
			n++
		}
	}
	return n
}

// AccountStageAt is the funnel position of the account's stage at t: its
// stage now, after the exits its engagement decays through by t — what a
// member's account_stage condition sees at t. The account is not changed.
func (e *Engine) AccountStageAt(a *Account, t int64) int {
	return e.AccountPath(a).At(t)
}

// AccountPath is where an account goes with no further member update: its
// stage at its instant, then each exit its engagement decays through.
func (e *Engine) AccountPath(a *Account) AccountPath {
	v := *a // the exits change Stage and At only; Members is read, not written
	p := AccountPath{Stage: e.accountStage(&v)}
	for range e.m.Accounts.Stages {
		due, ok := e.NextAccountChange(&v)
		if !ok {
			break
		}
		v.At = max(v.At, due)
		v.Stage = e.m.Accounts.Stages[e.accountStage(&v)].Exit.To
		p.Exits = append(p.Exits, AccountExit{At: due, Stage: e.accountStage(&v)})
	}
	return p
}

// AccountPath is an account's stage (funnel position) and the exits it
// decays through, in time order (Engine.AccountPath).
type AccountPath struct {
	Stage int
	Exits []AccountExit
}

// AccountExit is one exit of an AccountPath: from At on, the account is at
// Stage.
type AccountExit struct {
	At    int64
	Stage int
}

// At is the path's stage at instant t.
func (p AccountPath) At(t int64) int {
	stage := p.Stage
	for _, x := range p.Exits {
		if x.At > t {
			break
		}
		stage = x.Stage
	}
	return stage
}

// rises reports whether an account stage change moved the account up the
// funnel: the changes its members are told of (AccountRose).
func (e *Engine) rises(tr *Transition) bool {
	return e.m.Accounts.StageIndex(tr.To) > e.m.Accounts.StageIndex(tr.From)
}

// TellRises passes to tell, for each rise among trs (stage changes the
// account a just made: ApplyMember), every current member of the account,
// in lead-id order — whom each rise is told to (AccountRose). The oracle
// and the live processor both call it, so they tell the same members in
// the same order.
func (e *Engine) TellRises(a *Account, trs []Transition, tell func(lead string, rise *Transition)) {
	for k := range trs {
		if !e.rises(&trs[k]) {
			continue
		}
		for _, m := range a.Members {
			if !m.Left {
				tell(m.Lead, &trs[k])
			}
		}
	}
}

// AccountRose tells a member lead that its account rose (tr, one of the
// account's stage changes, told by TellRises) — the moment an account_stage condition
// may start to hold. The lead is brought to the change's instant (its
// time-driven changes due by then fire at their own instants) and moves up
// if an entry alternative now holds; the stage change says cause
// "account" and carries the account change's trigger (the member event
// that moved the account). Each rise is taken once (it is remembered like
// an event id), so telling a lead again after a redelivery changes nothing.
// Nil when the model has no account_stage condition or the lead is no
// longer in the account.
func (e *Engine) AccountRose(st *State, account string, tr *Transition) []Transition {
	if !e.m.accountConds || st.Account != account {
		return nil
	}
	e.fixStage(st)
	h := idHash(riseID(account, tr))
	if st.seen(h) {
		return nil
	}
	acct := e.m.Accounts.StageIndex(tr.To)
	if due, kind := e.nextChange(st); (kind == changeNone || due > tr.At) && !e.couldEnter(st, tr.At, acct) {
		// A member the rise cannot move is left at its own instant: its
		// next event, even one a little older than the rise, is not late.
		st.remember(h, tr.At, e.m.Dedup)
		return nil
	}
	var out []Transition
	late := tr.At < st.ScoreAt
	if tr.At > st.ScoreAt {
		out = e.advance(st, tr.At, out)
	}
	st.remember(h, tr.At, e.m.Dedup)
	if !e.m.Stages[e.stageOf(st)].Terminal {
		from := st.Stage
		e.settle(st, tr.At, nil, acct)
		if st.Stage != from {
			t := e.transition(st, from, tr.At, Cause{Kind: CauseAccount}, tr.TriggerID)
			t.Late = late
			out = append(out, t)
		}
	}
	e.keepRecent(st, out)
	return out
}

// couldEnter reports whether a later stage's entry holds at t with the
// account at stage acct, the lead's stage as it is: nothing changes.
func (e *Engine) couldEnter(st *State, t int64, acct int) bool {
	cur := e.stageOf(st)
	if e.m.Stages[cur].Terminal {
		return false
	}
	j, _ := e.entryAbove(st, t, cur, nil, acct)
	return j >= 0
}

// riseID names an account's rise for a member's dedup window: the account,
// the stage it reached and the member event that moved it.
func riseID(account string, tr *Transition) string {
	return "account-rise\x00" + account + "\x00" + tr.To + "\x00" + tr.TriggerID
}
