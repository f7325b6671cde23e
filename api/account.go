package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Accounts (account-based scoring, scoring/abm.go): GET /v1/accounts/{id}
// and GET /v1/accounts?stage=, and the erased person's leaving their
// accounts on DELETE /v1/leads/{id}. The account records are the ones the
// processor writes (processor/accounts.go), under state.AccountRecordID, on
// the leaderboards state.AccountBoard names.

// Account is the answer to GET /v1/accounts/{id}: the account as it stands at
// At under one model (the first that scores accounts, or ?model=). It shows
// the facts of the oracle's final account line (replay.NewAccountLine) at
// the same instant, and more: roles, the next change and recent transitions.
type Account struct {
	// AccountID is the account's id: a Segment groupId, or "domain:…" for an
	// account found from people's e-mail domain.
	AccountID string `json:"account_id"`
	// Model is the model's name (absent for a process's one unnamed model).
	Model string `json:"model,omitempty"`
	// Stage is the account's stored stage, and StageSince when it entered it
	// (null while it is in the first stage).
	Stage      string  `json:"stage"`
	StageSince *string `json:"stage_since"`
	// Engagement is the sum of the model's `top` highest member scores at
	// At, decay applied.
	Engagement float64 `json:"engagement"`
	// Members are the account's current members, highest score first.
	Members []AccountMember `json:"members"`
	// EngagedMembers and Roles are the buying group at At: the members
	// whose score reaches the model's engaged_score, and their roles.
	EngagedMembers int      `json:"engaged_members"`
	Roles          []string `json:"roles"`
	// Fit is the account's own fit (its group traits), Grade its letter.
	Fit   float64 `json:"fit"`
	Grade string  `json:"grade,omitempty"`
	At    string  `json:"at"`
	// NextChangeAt is when the engagement will decay below the stage's exit
	// with no new member activity, if ever.
	NextChangeAt *string `json:"next_change_at"`
	// RecentTransitions are the latest account stage changes, newest first,
	// with the ids of the account stage-change topic.
	RecentTransitions []AccountTransition `json:"recent_transitions"`
	// ModelVersion is the version of the model in force.
	ModelVersion string `json:"model_version"`
}

// AccountMember is one current member of an account.
type AccountMember struct {
	LeadID string `json:"lead_id"`
	// Score is the member's lead score at the answer's instant, as the
	// account knows it (from the member's latest event), decay applied.
	Score float64 `json:"score"`
	// Role is the buying-group role the member's job title gives (absent
	// when none matches).
	Role string `json:"role,omitempty"`
}

// AccountTransition is one account stage change, as on the account
// stage-change topic (output.AccountStageChange).
type AccountTransition struct {
	ID             string               `json:"id"`
	From           string               `json:"from"`
	To             string               `json:"to"`
	Direction      string               `json:"direction"`
	At             string               `json:"at"`
	Cause          output.Cause         `json:"cause"`
	TriggerEventID *string              `json:"trigger_event_id"`
	Engagement     float64              `json:"engagement"`
	Members        []output.MemberScore `json:"members"`
	EngagedMembers int                  `json:"engaged_members"`
	Roles          []string             `json:"roles"`
	Fit            float64              `json:"fit"`
	Grade          string               `json:"grade,omitempty"`
}

// TopAccounts is the answer to GET /v1/accounts?stage=…: the accounts of an
// account stage with the highest engagement at At, best first.
type TopAccounts struct {
	Model    string          `json:"model,omitempty"`
	Stage    string          `json:"stage"`
	At       string          `json:"at"`
	Accounts []RankedAccount `json:"accounts"`
}

// RankedAccount is one entry of TopAccounts.
type RankedAccount struct {
	AccountID  string  `json:"account_id"`
	Engagement float64 `json:"engagement"`
}

// noAccountsError is a model (named, or the default) that scores no
// accounts.
type noAccountsError struct{ model string }

func (e noAccountsError) Error() string {
	if e.model == "" {
		return "the model in force scores no accounts (its rules have no accounts section)"
	}
	return fmt.Sprintf("model %q scores no accounts (its rules have no accounts section)", e.model)
}

// accountModel finds the model named name that scores accounts; "" is the
// first model that does, so that a process running a lead-only model beside
// an ABM one answers account requests without ?model=.
func (a *API) accountModel(name string) (*scoring.Engine, error) {
	set, sel, err := a.model(name)
	if err != nil {
		return nil, err
	}
	if name == "" {
		for _, e := range set.Engines() {
			if e.Model().Accounts != nil {
				return e, nil
			}
		}
	}
	eng := set.Engines()[sel]
	if eng.Model().Accounts == nil {
		return nil, noAccountsError{eng.Model().Name}
	}
	return eng, nil
}

// modelError answers a ?model= that names no model, or none with accounts;
// it reports whether err was one of those.
func modelError(w http.ResponseWriter, err error) bool {
	var um unknownModelError
	var na noAccountsError
	switch {
	case errors.As(err, &um):
		writeError(w, http.StatusBadRequest, CodeUnknownModel, um.Error())
	case errors.As(err, &na):
		writeError(w, http.StatusBadRequest, CodeNoAccounts, na.Error())
	default:
		return false
	}
	return true
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" {
		writeError(w, http.StatusNotFound, CodeNotFound, "no account id in the path")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	acct, _, err := a.LookupAccount(ctx, id, r.URL.Query().Get("model"))
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, acct)
	case modelError(w, err):
	case errors.Is(err, errCorrupt):
		writeError(w, http.StatusInternalServerError, CodeInternal, "the account's state cannot be decoded")
	default:
		a.storeError(w, r, "account "+strconv.Quote(id), err)
	}
}

// LookupAccount returns what GET /v1/accounts/{id}?model= answers for
// account id and model ("": the first model with accounts), and the
// account's decoded state. The error wraps state.ErrNotFound when the
// account has no record (never seen, or a member-less id).
func (a *API) LookupAccount(ctx context.Context, id, model string) (Account, *scoring.Account, error) {
	eng, err := a.accountModel(model)
	if err != nil {
		return Account{}, nil, err
	}
	recID := state.AccountRecordID(eng.Model().Name, id)
	if err := state.ValidRecordID(recID); err != nil {
		return Account{}, nil, fmt.Errorf("account %q: %v: %w", id, err, state.ErrNotFound)
	}
	rec, err := a.cfg.Store.Get(ctx, recID)
	if err != nil {
		return Account{}, nil, err
	}
	var st scoring.Account
	if err := st.UnmarshalBinary(rec.Data); err != nil {
		a.cfg.Logger.Error("api: corrupt account state", "account", rec.LeadID, "err", err)
		return Account{}, nil, fmt.Errorf("account %s: %w: %v", rec.LeadID, errCorrupt, err)
	}
	return newAccount(eng, id, &st, a.cfg.Now().UnixMilli()), &st, nil
}

// newAccount is the view of account id (state st) under eng's model at now.
// The stage is the stored one, as for leads: an exit that is due but not yet
// swept by the processor's timers shows as next_change_at in the past.
func newAccount(eng *scoring.Engine, id string, st *scoring.Account, now int64) Account {
	engaged, roles := eng.BuyingGroup(st, now)
	out := Account{
		AccountID:      id,
		Model:          eng.Model().Name,
		Stage:          st.Stage,
		StageSince:     timePtr(st.StageSince),
		Engagement:     output.Round(eng.Engagement(st, now)),
		Members:        []AccountMember{},
		EngagedMembers: engaged,
		Roles:          roles,
		Fit:            output.Round(st.Fit),
		At:             output.FormatTime(now),
		ModelVersion:   eng.Model().Version,
	}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	out.Grade = output.Grade(st.Grade)
	if next, ok := eng.NextAccountChange(st); ok {
		out.NextChangeAt = timePtr(next)
	}
	for _, m := range eng.MemberScores(st, now) {
		out.Members = append(out.Members, AccountMember{LeadID: m.Rule, Score: output.Round(m.Points), Role: memberRole(st, m.Rule)})
	}
	out.RecentTransitions = make([]AccountTransition, 0, len(st.Recent))
	for _, tr := range slices.Backward(st.Recent) {
		// Built as the topic's event is, so that ids, rounding and
		// directions cannot drift apart.
		sc := output.NewAccountStageChange(eng, id, &tr, now)
		out.RecentTransitions = append(out.RecentTransitions, AccountTransition{
			ID: sc.ID, From: sc.From, To: sc.To, Direction: sc.Direction, At: sc.EventTime, Cause: sc.Cause,
			TriggerEventID: sc.TriggerEventID, Engagement: sc.Engagement, Members: sc.Members,
			EngagedMembers: sc.EngagedMembers, Roles: sc.Roles, Fit: sc.Fit, Grade: sc.Grade,
		})
	}
	return out
}

// memberRole is the role of the account's current member lead.
func memberRole(st *scoring.Account, lead string) string {
	if i, ok := memberIndex(st, lead); ok {
		return st.Members[i].Role
	}
	return ""
}

// memberIndex finds the current (not left) member lead; Members are sorted
// by lead id.
func memberIndex(st *scoring.Account, lead string) (int, bool) {
	i, ok := slices.BinarySearchFunc(st.Members, lead, func(m scoring.Member, lead string) int { return strings.Compare(m.Lead, lead) })
	return i, ok && !st.Members[i].Left
}

func (a *API) topAccounts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	eng, err := a.accountModel(q.Get("model"))
	if modelError(w, err) {
		return
	}
	am := eng.Model().Accounts
	stage := q.Get("stage")
	if stage == "" || am.StageIndex(stage) < 0 {
		unknownStage(w, stage, "an account stage", eng.Model().Version, am.StageNames())
		return
	}
	limit, ok := parseLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	out, err := a.accountBoard(r.Context(), eng, stage, limit)
	if err != nil {
		a.storeError(w, r, "account stage "+strconv.Quote(stage), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// AccountLeaderboard is what GET /v1/accounts?stage=…&model=…&limit=…
// answers (model "": the first model with accounts), for the web console in
// the same process: the same cached ranking, without an HTTP round trip.
func (a *API) AccountLeaderboard(ctx context.Context, model, stage string, limit int) (TopAccounts, error) {
	eng, err := a.accountModel(model)
	if err != nil {
		return TopAccounts{}, err
	}
	if eng.Model().Accounts.StageIndex(stage) < 0 {
		return TopAccounts{}, fmt.Errorf("stage %q is not an account stage of model %s", stage, eng.Model().Version)
	}
	if limit < 1 || limit > MaxLimit {
		return TopAccounts{}, fmt.Errorf("limit %d: want 1 to %d", limit, MaxLimit)
	}
	return a.accountBoard(ctx, eng, stage, limit)
}

// accountBoard reads the best accounts of eng's account stage.
func (a *API) accountBoard(ctx context.Context, eng *scoring.Engine, stage string, limit int) (TopAccounts, error) {
	name := eng.Model().Name
	ranks, err := a.top(ctx, state.AccountBoard(name, stage), limit)
	if err != nil {
		return TopAccounts{}, err
	}
	now := a.cfg.Now().UnixMilli()
	prefix := state.AccountRecordID(name, "")
	out := TopAccounts{Model: name, Stage: stage, At: output.FormatTime(now), Accounts: make([]RankedAccount, len(ranks))}
	for i, rk := range ranks {
		out.Accounts[i] = RankedAccount{AccountID: strings.TrimPrefix(rk.LeadID, prefix), Engagement: output.Round(eng.EngagementFromRank(rk.Rank, now))}
	}
	return out, nil
}

// maxAccountRounds bounds the compare-and-set attempts of an erasure's
// account write: the processor writes an account at most a few times per
// batch, so losing this many rounds in a row means something is wrong.
const maxAccountRounds = 5

// leaveAccounts removes the lead of rec from its account under every model
// that scores accounts, as a member update that says they left (the one the
// processor applies when a person moves to another company), marked as an
// erasure so that the account keeps no trace of the lead id. The accounts
// the person left before, and those of the leads merged into theirs
// (scoring.State.PastAccounts), still hold those lead ids as members who
// left: they are cleaned the same way. A lead whose state cannot be decoded
// is logged and left to be erased all the same: an erasure must not be
// blocked by what it erases.
func (a *API) leaveAccounts(ctx context.Context, rec state.Record) error {
	if rec.MergedInto != "" || len(rec.Data) == 0 {
		return nil // a tombstone left its account when it was stitched
	}
	set := a.cfg.Models()
	names, err := a.cfg.Store.NamesUpTo(ctx, scoring.MaxNameID(rec.Data))
	if err != nil {
		return fmt.Errorf("load names: %w", err)
	}
	l, err := set.DecodeNames(rec.Data, names)
	if err != nil {
		a.cfg.Logger.Error("api: erasure: corrupt lead state; its accounts are not updated", "lead", rec.LeadID, "err", err)
		return nil
	}
	now := a.cfg.Now().UnixMilli()
	for i, eng := range set.Engines() {
		st := &l.States[i]
		if eng.Model().Accounts == nil {
			continue
		}
		// The person's lead ids: theirs and those merged into it, each
		// possibly a member (who left) of the accounts.
		leads := append([]string{rec.LeadID}, rec.Absorbed...)
		for _, x := range st.Absorbed {
			if !slices.Contains(leads, x) {
				leads = append(leads, x)
			}
		}
		accts := slices.Clone(st.PastAccounts)
		if st.Account != "" && !slices.Contains(accts, st.Account) {
			accts = append(accts, st.Account)
		}
		for _, acct := range accts {
			if err := a.leaveAccount(ctx, eng, acct, leads, now); err != nil {
				return fmt.Errorf("lead %s leaving account %q: %w", rec.LeadID, acct, err)
			}
		}
	}
	return nil
}

// leaveAccount applies the erasure of leads (one person's lead ids) to the account's record with a
// compare-and-set, reloading and re-applying when the processor wrote it
// meanwhile: the person leaves, and the account keeps only a pseudonym of
// their lead id (scoring.MemberUpdate.Erase). The update is at the
// account's instant or now, whichever is later, so that it is newer than
// every update the account holds. The record keeps its board and rank as
// processor/accounts.go writes them; the stage changes the leaving causes
// wait in the account's outbox, and its timer is set to now so that the
// processor's next timer sweep produces them. Repeating it is harmless: an
// account that no longer mentions the lead id is left alone.
func (a *API) leaveAccount(ctx context.Context, eng *scoring.Engine, account string, leads []string, now int64) error {
	name := eng.Model().Name
	id := state.AccountRecordID(name, account)
	if state.ValidRecordID(id) != nil {
		return nil // the store cannot hold it: it was never written
	}
	for round := 0; round < maxAccountRounds; round++ {
		base, err := a.cfg.Store.Get(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			return nil // never written (the processor has not got there yet), or erased
		}
		if err != nil {
			return fmt.Errorf("load %s: %w", id, err)
		}
		var st scoring.Account
		if err := st.UnmarshalBinary(base.Data); err != nil {
			// The processor starts a corrupt account over on its next
			// update, without this member.
			a.cfg.Logger.Error("api: erasure: corrupt account state; not updated", "account", id, "err", err)
			return nil
		}
		erased := 0
		for _, lead := range leads {
			if !st.Mentions(lead) {
				continue
			}
			u := scoring.MemberUpdate{Account: account, Lead: lead, At: max(st.At, now), EventID: scoring.ErasureEventID(lead),
				Leave: true, Erase: true}
			eng.ApplyMember(&st, &u)
			erased++
		}
		if erased == 0 {
			return nil
		}
		data, err := st.MarshalBinary()
		if err != nil {
			return fmt.Errorf("encode %s: %w", id, err)
		}
		up := state.Update{Base: base, Data: data, Stage: state.AccountBoard(name, st.Stage), Rank: eng.AccountRank(&st)}
		next, ok := eng.NextAccountChange(&st)
		if st.Pending > 0 && (!ok || now < next) {
			next, ok = now, true
		}
		if ok {
			up.Deadline = next
		}
		res, err := a.cfg.Store.Write(ctx, []state.Update{up})
		if err != nil {
			return fmt.Errorf("write %s: %w", id, err)
		}
		switch err := res[0].Err; {
		case err == nil:
			return nil
		case errors.Is(err, state.ErrConflict), state.IsRetryable(err):
			// Changed meanwhile, or the reply was lost: reload and see
			// whether the member is still there.
			continue
		default:
			return fmt.Errorf("write %s: %w", id, err)
		}
	}
	return fmt.Errorf("write %s: still conflicting after %d attempts: %w", id, maxAccountRounds, state.ErrConflict)
}
