package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Accounts (account-based scoring, scoring/abm.go) in the live path.
//
// Every applied event of a person tells their account (under each model
// that scores accounts) their score and role now, or that they left it: a
// member update. The batch collects them while it applies its leads, sorts
// them into the canonical order of their events — the order the oracle
// applies them in — and applies them to account records, stored beside the
// lead records with the same compare-and-set, leaderboards, timers and
// outbox. The accounts are written before the leads: after a crash between
// the two, the leads' events are delivered again and applied again, and the
// accounts recognise the updates they already hold (each member keeps the
// instant and event of its latest update), so nothing is lost and nothing
// counted twice. Written the other way round, the events would be replays
// for the leads and their account updates would be lost.

// accountUpdate is one member update of the batch, with where its event
// stands in the batch's canonical order.
type accountUpdate struct {
	pos   int // the event's position in the batch's items
	model int
	u     scoring.MemberUpdate
}

// accountWork is one account the batch changes.
type accountWork struct {
	id      string // record id
	account string
	model   int
	base    state.Record
	st      scoring.Account
	ups     []int // indexes of the batch's updates for it, in order
	written state.Record
	emit    []scoring.Transition
}

// memberships are, per model with accounts, the account of the lead and
// of each lead the event stitches into it, before the event.
func (b *batch) memberships(w *leadWork, absorbed []scoring.AbsorbedLead) []membership {
	out := make([]membership, len(b.set.Engines()))
	for i, e := range b.set.Engines() {
		if e.Model().Accounts == nil {
			continue
		}
		out[i].lead = w.st.States[i].Account
		for _, a := range absorbed {
			if a.Lead != nil && a.Lead.States[i].Account != "" {
				if out[i].absorbed == nil {
					out[i].absorbed = map[string]string{}
				}
				out[i].absorbed[a.ID] = a.Lead.States[i].Account
			}
		}
	}
	return out
}

type membership struct {
	lead     string
	absorbed map[string]string
}

// memberUpdates records what the item's event, just applied to w, tells the
// accounts.
func (b *batch) memberUpdates(w *leadWork, it *item, before []membership) {
	for i, e := range b.set.Engines() {
		if e.Model().Accounts == nil || w.outs[i].Status != scoring.Applied {
			continue
		}
		for _, u := range e.MemberUpdates(w.id, &w.st.States[i], before[i].lead, before[i].absorbed, &it.ev) {
			w.acctUps = append(w.acctUps, accountUpdate{pos: it.pos, model: i, u: u})
		}
	}
}

// applyAccounts applies the member updates of the round's leads (works,
// with the leads they absorb) to their accounts in the canonical order and
// writes the accounts, retrying those another writer changed meanwhile.
func (b *batch) applyAccounts(ctx context.Context, works []*leadWork) error {
	var ups []accountUpdate
	var gather func(w *leadWork)
	gather = func(w *leadWork) {
		for _, s := range w.subs {
			gather(s)
		}
		ups = append(ups, w.acctUps...)
	}
	for _, w := range works {
		gather(w)
	}
	if len(ups) == 0 {
		return nil
	}
	// Stable: one event's updates keep their order (leaving, then joining).
	slices.SortStableFunc(ups, func(x, y accountUpdate) int { return x.pos - y.pos })
	byID := map[string]*accountWork{}
	var order []*accountWork
	for i, up := range ups {
		id := state.AccountRecordID(b.names[up.model], up.u.Account)
		if err := state.ValidRecordID(id); err != nil {
			// A free-form group id the store cannot key (too long): the
			// account is not scored rather than the batch blocked.
			b.p.cfg.Logger.Warn("account not scored: its id cannot key a record", "account", up.u.Account, "err", err)
			continue
		}
		aw := byID[id]
		if aw == nil {
			aw = &accountWork{id: id, account: up.u.Account, model: up.model}
			byID[id] = aw
			order = append(order, aw)
		}
		aw.ups = append(aw.ups, i)
	}
	for round := 0; len(order) > 0; round++ {
		if round >= b.p.cfg.MaxConflictRounds {
			return fmt.Errorf("redis: %d accounts still conflicting after %d rounds", len(order), round)
		}
		ids := make([]string, len(order))
		for i, aw := range order {
			ids[i] = aw.id
		}
		t0 := time.Now()
		recs, err := b.p.store.Load(ctx, ids)
		b.p.cfg.Observer.StoreRoundTrip("load", time.Since(t0))
		if err != nil {
			return fmt.Errorf("redis: accounts: %w", err)
		}
		upds := make([]state.Update, 0, len(order))
		for _, aw := range order {
			eng := b.set.Engines()[aw.model]
			aw.base = recs[aw.id]
			aw.base.LeadID = aw.id
			aw.st = b.decodeAccount(eng, aw.base)
			for _, i := range aw.ups {
				eng.ApplyMember(&aw.st, &ups[i].u)
			}
			up, err := b.accountUpdate(aw)
			if err != nil {
				return err
			}
			upds = append(upds, up)
		}
		res, err := b.storeWrite(ctx, "write", upds)
		if err != nil {
			return fmt.Errorf("redis: accounts: %w", err)
		}
		var retry []*accountWork
		for i, r := range res {
			aw := order[i]
			switch {
			case r.Err == nil:
				aw.written = r.Record
				b.accountDone(aw)
			case errors.Is(r.Err, state.ErrConflict) || state.IsRetryable(r.Err):
				retry = append(retry, aw)
			default:
				return fmt.Errorf("redis: write %s: %w", aw.id, r.Err)
			}
		}
		order = retry
	}
	return nil
}

// decodeAccount decodes an account record; a missing one is a new account,
// and a corrupt one is started over, loudly, rather than block the batch.
func (b *batch) decodeAccount(eng *scoring.Engine, r state.Record) scoring.Account {
	if !r.Exists() || len(r.Data) == 0 {
		return eng.NewAccount()
	}
	var a scoring.Account
	if err := a.UnmarshalBinary(r.Data); err != nil {
		b.p.cfg.Logger.Error("corrupt account state replaced", "account", r.LeadID, "err", err)
		return eng.NewAccount()
	}
	return a
}

// accountUpdate is the store write of an account: its state, leaderboard
// and next timer (sooner while stage changes wait in its outbox).
func (b *batch) accountUpdate(aw *accountWork) (state.Update, error) {
	eng := b.set.Engines()[aw.model]
	data, err := aw.st.MarshalBinary()
	if err != nil {
		return state.Update{}, err
	}
	up := state.Update{Base: aw.base, Data: data, Stage: state.AccountBoard(b.names[aw.model], aw.st.Stage), Rank: eng.AccountRank(&aw.st)}
	next, ok := eng.NextAccountChange(&aw.st)
	if aw.st.Pending > 0 && (!ok || b.retryAt() < next) {
		next, ok = b.retryAt(), true
	}
	if ok {
		up.Deadline = next
	}
	return up, nil
}

// accountChanges appends the account stage-change records of the batch's
// accounts (their outboxes) to out.
func (b *batch) accountChanges(out []Record) []Record {
	for _, aw := range b.accounts {
		n := aw.st.Pending
		if n == 0 {
			continue
		}
		eng := b.set.Engines()[aw.model]
		trs := aw.st.Recent[len(aw.st.Recent)-n:]
		for i := range trs {
			sc := output.NewAccountStageChange(eng, aw.account, &trs[i], b.now.UnixMilli())
			v, err := sc.Marshal()
			if err != nil {
				b.p.cfg.Logger.Error("account stage change not encodable", "account", aw.id, "err", err)
				continue
			}
			hdrs := []Header{{Key: "content-type", Value: []byte("application/json")}}
			if sc.Model != "" {
				hdrs = append(hdrs, Header{Key: "leadscore-model", Value: []byte(sc.Model)})
			}
			hdrs = append(hdrs, Header{Key: "leadscore-model-version", Value: []byte(sc.ModelVersion)},
				Header{Key: "leadscore-event-id", Value: []byte(sc.ID)})
			out = append(out, Record{Topic: b.p.cfg.Topics.AccountStageChanges, Key: []byte(aw.account), Value: v, Headers: hdrs})
		}
		aw.emit = trs
	}
	return out
}

// ackAccounts clears the outbox of the batch's accounts whose stage changes
// are now produced and committed.
func (b *batch) ackAccounts() []state.Update {
	var ups []state.Update
	for _, aw := range b.accounts {
		if aw.st.Pending == 0 {
			continue
		}
		aw.st.Pending = 0
		aw.base = aw.written
		up, err := b.accountUpdate(aw)
		if err != nil {
			continue
		}
		ups = append(ups, up)
	}
	return ups
}

// sweepAccounts fires the exits of accounts whose timers came due (ids),
// each at its own instant, and produces outboxes a crash left behind.
func (b *batch) sweepAccounts(ctx context.Context, ids []string, now int64) error {
	if len(ids) == 0 {
		return nil
	}
	for round := 0; len(ids) > 0 && round < b.p.cfg.MaxConflictRounds; round++ {
		recs, err := b.p.store.Load(ctx, ids)
		if err != nil {
			return fmt.Errorf("redis: accounts: %w", err)
		}
		var works []*accountWork
		var upds []state.Update
		for _, id := range ids {
			r := recs[id]
			if !r.Exists() {
				continue // erased
			}
			r.LeadID = id
			model, account, ok := b.parseAccountID(id)
			if !ok {
				continue // a model this process does not run
			}
			eng := b.set.Engines()[model]
			aw := &accountWork{id: id, account: account, model: model, base: r, st: b.decodeAccount(eng, r)}
			for guard := 0; guard < 64; guard++ {
				due, ok := eng.NextAccountChange(&aw.st)
				if !ok || due > now {
					break
				}
				eng.AdvanceAccount(&aw.st, due)
			}
			up, err := b.accountUpdate(aw)
			if err != nil {
				return err
			}
			works, upds = append(works, aw), append(upds, up)
		}
		res, err := b.storeWrite(ctx, "write", upds)
		if err != nil {
			return fmt.Errorf("redis: accounts: %w", err)
		}
		ids = nil
		for i, r := range res {
			switch {
			case r.Err == nil:
				works[i].written = r.Record
				b.accountDone(works[i])
			case errors.Is(r.Err, state.ErrConflict) || state.IsRetryable(r.Err):
				ids = append(ids, works[i].id)
			default:
				return fmt.Errorf("redis: write %s: %w", works[i].id, r.Err)
			}
		}
	}
	return nil
}

// parseAccountID finds the model and account of an account record id.
func (b *batch) parseAccountID(id string) (model int, account string, ok bool) {
	rest := strings.TrimPrefix(id, state.AccountRecordPrefix)
	for i, name := range b.names {
		if b.set.Engines()[i].Model().Accounts == nil {
			continue
		}
		if name == "" {
			return i, rest, true
		}
		if a, found := strings.CutPrefix(rest, name+"/"); found {
			return i, a, true
		}
	}
	return 0, "", false
}

// accountDone records a written account, once: an account written again in
// the same batch (a later conflict round, or its timer) replaces its earlier
// entry, whose outbox the later state holds too.
func (b *batch) accountDone(aw *accountWork) {
	for i, x := range b.accounts {
		if x.id == aw.id {
			b.accounts[i] = aw
			return
		}
	}
	b.accounts = append(b.accounts, aw)
}
