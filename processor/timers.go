package processor

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// ownedShards returns the timer shards this member sweeps: shard s belongs to the
// owner of partition s mod TimerPartitions of the first input topic (every shard
// when TimerPartitions is 0). Claims are exclusive, so overlap during a rebalance
// costs only duplicate work, never a duplicate stage change.
func (p *Processor) ownedShards() []int {
	n := p.store.TimerShards()
	var out []int
	if p.cfg.TimerPartitions == 0 {
		for s := 0; s < n; s++ {
			out = append(out, s)
		}
		return out
	}
	topic := p.cfg.Topics.Inputs()[0]
	owned := map[int32]bool{}
	for _, tp := range p.client.Assigned() {
		if tp.Topic == topic {
			owned[tp.Partition] = true
		}
	}
	for s := 0; s < n; s++ {
		if owned[int32(s%p.cfg.TimerPartitions)] {
			out = append(out, s)
		}
	}
	return out
}

// sweepTimers claims the timers of the owned shards due by now (the timer clock,
// clock.go: event time while events flow) and advances those leads change by
// change up to now: decay regressions and inactivity steps fire, and stage
// changes left in an outbox by a crash are produced. Their ids are
// deterministic (lead, move, due instant), so a sweep repeated after a crash
// produces duplicates, never new ones.
func (b *batch) sweepTimers(ctx context.Context, now int64) error {
	if now <= 0 {
		return nil // no clock yet: nothing read, and not idle long enough
	}
	t0 := time.Now()
	due, err := b.p.store.ClaimDueShards(ctx, b.p.ownedShards(), now, b.p.cfg.TimerLease, b.p.cfg.TimerBatch)
	b.p.cfg.Observer.StoreRoundTrip("claim", time.Since(t0))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if len(due) == 0 {
		return nil
	}
	var accounts []string
	due = slices.DeleteFunc(due, func(t state.Timer) bool {
		if state.IsAccountRecord(t.LeadID) {
			accounts = append(accounts, t.LeadID)
			return true
		}
		return false
	})
	if err := b.sweepAccounts(ctx, accounts, now); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, t := range due {
		if !b.isDone(t.LeadID) {
			delete(b.loaded, t.LeadID) // a fresh read: the event path may have written it
			want[t.LeadID] = true
		}
	}
	if err := b.load(ctx, want); err != nil {
		return err
	}
	fired := map[string]int{} // per lead, so a lead re-applied after a conflict counts once
	for round := 0; len(want) > 0 && round < b.p.cfg.MaxConflictRounds; round++ {
		var works []*leadWork
		for id := range want {
			r := b.loaded[id]
			if !r.Exists() {
				continue // erased: the claim simply lapses
			}
			st, err := b.decodeState(r)
			if err != nil {
				b.p.cfg.Logger.Error("corrupt lead state on timer", "lead", id, "err", err)
				continue
			}
			if r.MergedInto != "" {
				// Stitched away: only an outbox left by a crash is still due.
				if st.Pending() > 0 {
					works = append(works, &leadWork{id: id, base: r, st: st, into: r.MergedInto})
				}
				continue
			}
			w := &leadWork{id: id, base: r, st: st, swept: true}
			fired[id] = b.advanceDue(&w.st, now)
			works = append(works, w)
		}
		// A tombstone's outbox is produced with the identities of the lead
		// that absorbed it when it has none of its own (outboxIdentities).
		absorbers := map[string]bool{}
		for _, w := range works {
			if w.into != "" && len(w.base.Identities) == 0 {
				if _, ok := b.loaded[w.into]; !ok {
					absorbers[w.into] = true
				}
			}
		}
		if err := b.load(ctx, absorbers); err != nil {
			return err
		}
		retry, err := b.write(ctx, works)
		if err != nil {
			return err
		}
		want = map[string]bool{}
		for _, id := range retry {
			delete(b.loaded, id)
			want[id] = true
		}
		if err := b.load(ctx, want); err != nil {
			return err
		}
	}
	n := 0
	for _, f := range fired {
		n += f
	}
	b.p.cfg.Observer.Timers(len(due), n)
	return nil
}

// advanceDue fires the lead's time-driven changes due by now, each at its own
// instant, and leaves the state expressed at the last of them rather than at
// now: an event of the lead between that instant and now is then not late,
// and the state goes through exactly the steps the oracle's does when it
// meets the lead's next event. It returns the number of stage changes fired.
func (b *batch) advanceDue(st *scoring.Lead, now int64) int {
	fired := 0
	last := int64(-1)
	for guard := 0; guard < 64; guard++ {
		due, ok := b.set.NextChange(st)
		if !ok || due > now || due <= last {
			break
		}
		last = due
		fired += b.set.Advance(st, due)
	}
	return fired
}

func (b *batch) isDone(id string) bool {
	_, ok := b.doneAt[id]
	return ok
}
