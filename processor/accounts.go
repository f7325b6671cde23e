package processor

import (
	"context"
	"errors"
	"fmt"
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

// applyAccounts applies the member updates of the round's leads, in the
// canonical order of their events (gatherUpdates), to their accounts and
// writes the accounts, retrying those another writer changed meanwhile.
func (b *batch) applyAccounts(ctx context.Context, ups []accountUpdate) error {
	if len(ups) == 0 {
		return nil
	}
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
	left, err := b.changeAccounts(ctx, order, false, func(eng *scoring.Engine, aw *accountWork) {
		for _, i := range aw.ups {
			eng.ApplyMember(&aw.st, &ups[i].u)
		}
	})
	if err == nil && left > 0 {
		// The leads wait for their accounts: they must not be written without.
		err = fmt.Errorf("redis: %d accounts still conflicting after %d rounds", left, b.p.cfg.MaxConflictRounds)
	}
	return err
}

// changeAccounts loads works' accounts, changes each (change), and writes
// them with a compare-and-set, starting over from a fresh read for those
// another writer changed meanwhile, at most MaxConflictRounds times; it
// returns how many were still conflicting then. With onlyExisting, an
// account without a record (erased since its timer was claimed) is left
// alone.
func (b *batch) changeAccounts(ctx context.Context, works []*accountWork, onlyExisting bool,
	change func(eng *scoring.Engine, aw *accountWork)) (left int, err error) {
	for round := 0; len(works) > 0 && round < b.p.cfg.MaxConflictRounds; round++ {
		ids := make([]string, len(works))
		for i, aw := range works {
			ids[i] = aw.id
		}
		t0 := time.Now()
		recs, err := b.p.store.Load(ctx, ids)
		b.p.cfg.Observer.StoreRoundTrip("load", time.Since(t0))
		if err != nil {
			return 0, fmt.Errorf("redis: accounts: %w", err)
		}
		todo := works[:0:0]
		upds := make([]state.Update, 0, len(works))
		for _, aw := range works {
			eng := b.set.Engines()[aw.model]
			aw.base = recs[aw.id]
			if onlyExisting && !aw.base.Exists() {
				continue
			}
			aw.base.LeadID = aw.id
			aw.st = b.decodeAccount(eng, aw.base)
			change(eng, aw)
			up, err := b.accountUpdate(aw)
			if err != nil {
				return 0, err
			}
			todo, upds = append(todo, aw), append(upds, up)
		}
		res, err := b.storeWrite(ctx, "write", upds)
		if err != nil {
			return 0, fmt.Errorf("redis: accounts: %w", err)
		}
		works = nil
		for i, r := range res {
			aw := todo[i]
			switch {
			case r.Err == nil:
				aw.written = r.Record
				b.accountDone(aw)
			case errors.Is(r.Err, state.ErrConflict) || state.IsRetryable(r.Err):
				works = append(works, aw)
			default:
				return 0, fmt.Errorf("redis: write %s: %w", aw.id, r.Err)
			}
		}
	}
	return len(works), nil
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
			out = append(out, Record{Topic: b.p.cfg.Topics.AccountStageChanges, Key: []byte(aw.account), Value: v,
				Headers: changeHeaders(sc.Model, sc.ModelVersion, sc.ID)})
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
	var works []*accountWork
	for _, id := range ids {
		if model, account, ok := b.parseAccountID(id); ok { // else a model this process does not run
			works = append(works, &accountWork{id: id, account: account, model: model})
		}
	}
	// Timers of accounts still conflicting after every round come due
	// again, as the leads' do.
	_, err := b.changeAccounts(ctx, works, true, func(eng *scoring.Engine, aw *accountWork) {
		for guard := 0; guard < 64; guard++ {
			due, ok := eng.NextAccountChange(&aw.st)
			if !ok || due > now {
				break
			}
			eng.AdvanceAccount(&aw.st, due)
		}
	})
	return err
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
