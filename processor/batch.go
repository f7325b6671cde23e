package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// item is one decoded input record on its way to a lead.
type item struct {
	rec    *Record
	ev     scoring.Event
	src    string // state.SourceKey(topic, partition)
	lead   string
	absorb []string
	index  []string
}

// leadWork is everything a batch does to one lead.
type leadWork struct {
	id       string
	base     state.Record
	st       scoring.State
	items    []*item
	absorbed []string
	// written is the record after this batch's write (for the outbox ack).
	written state.Record
	emit    []scoring.Transition
}

// batch is the working set of one cycle.
type batch struct {
	p       *Processor
	eng     *scoring.Engine
	now     time.Time
	items   []*item
	outputs []Record // dead letters and stage changes to produce
	loaded  map[string]state.Record
	redir   map[string]string // tombstoned or absorbed lead → absorbing lead
	done    []*leadWork       // leads written in this cycle
	tr      *batchTrace       // tracing.go: nil when tracing is off
}

// processBatch runs one cycle: decode → resolve identities → load → apply → write
// (compare-and-set, reloading leads another writer changed) → produce → commit →
// acknowledge the outbox. Every step is idempotent, so after a failure the caller
// runs it again on the same records: events already applied are recognised by the
// offsets stored with each lead and add nothing, and their unconfirmed stage
// changes (the lead's outbox) are produced again, with the same ids.
func (p *Processor) processBatch(ctx context.Context, recs []Record) (err error) {
	start := p.cfg.Now()
	ctx, bt := p.traceBatch(ctx, recs) // tracing.go
	defer func() { bt.end(err) }()     // tracing.go
	b := &batch{p: p, eng: p.eng.Load(), now: start, loaded: map[string]state.Record{}, redir: map[string]string{}, tr: bt}
	b.decode(recs)
	if len(b.items) > 0 {
		if err := b.resolveAndLoad(ctx); err != nil {
			return err
		}
		if err := b.applyAndWrite(ctx); err != nil {
			return err
		}
	}
	if !p.nextTick.After(start) {
		if err := b.sweepTimers(ctx); err != nil {
			return err
		}
		p.nextTick = start.Add(p.cfg.TimerTick)
	}
	b.collectOutputs()
	if len(b.outputs) > 0 {
		if err := p.client.Produce(ctx, b.outputs); err != nil {
			return fmt.Errorf("kafka: produce: %w", err)
		}
	}
	if err := p.client.Commit(ctx); err != nil {
		// A failed commit closes the batch and its records come back through Poll:
		// retrying here would only produce the outbox twice.
		return fmt.Errorf("kafka: commit: %w: %w", ErrNotOwner, err)
	}
	b.ackOutbox(ctx)
	b.observe(recs, start)
	return nil
}

func (b *batch) decode(recs []Record) {
	t := b.p.cfg.Topics
	for i := range recs {
		r := &recs[i]
		b.tr.record(r) // tracing.go
		var src scoring.Source
		switch r.Topic {
		case t.Web:
			src = scoring.SourceWeb
		case t.Email:
			src = scoring.SourceEmail
		case t.Feedback:
			src = scoring.SourceFeedback
		}
		if src == scoring.SourceUnknown {
			b.deadLetter(r, "unknown_topic", "record from a topic the processor does not read", "")
			continue
		}
		ev, err := b.p.dec.Decode(src, r.Value)
		if err != nil {
			var de *events.Error
			if errors.As(err, &de) {
				b.deadLetter(r, string(de.Reason), de.Msg, de.Field)
			} else {
				b.deadLetter(r, "decode_error", err.Error(), "")
			}
			continue
		}
		b.items = append(b.items, &item{rec: r, ev: ev, src: state.SourceKey(r.Topic, r.Partition)})
	}
}

func (b *batch) deadLetter(r *Record, reason, msg, field string) {
	hs := make([][2][]byte, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = [2][]byte{[]byte(h.Key), h.Value}
	}
	dl := output.NewDeadLetter(reason, msg, field, output.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		r.Key, r.Value, hs, b.now.UnixMilli(), b.p.cfg.Version)
	v, _ := dl.Marshal()
	headers := append([]Header{}, r.Headers...)
	headers = append(headers, Header{Key: "content-type", Value: []byte("application/json")},
		Header{Key: "leadscore-dlq-reason", Value: []byte(reason)})
	b.outputs = append(b.outputs, Record{Topic: b.p.cfg.Topics.DeadLetter, Key: r.Key, Value: v, Headers: headers})
	b.tr.deadLetter(r, &b.outputs[len(b.outputs)-1], reason) // tracing.go
	b.p.cfg.Observer.DeadLetter(reason)
	b.p.cfg.Observer.Consumed(r.Topic, "dead_letter", 1)
}

// identityKeys lists every identity key and lead id the items may resolve to.
func (b *batch) identityKeys() []string {
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, it := range b.items {
		id := &it.ev.Identity
		for _, k := range id.Keys() {
			add(k)
		}
		if it.ev.Kind == "alias" && id.PreviousID != "" {
			add(scoring.PrefixAnon + id.PreviousID)
			add(scoring.PrefixUser + id.PreviousID)
		}
		add(id.LeadID)
	}
	return keys
}

// resolveAndLoad asks the identity index where every identity points (one round
// trip), loads every lead that any of them may name (one round trip, plus one per
// level of stitch redirection found), then decides each item's lead in order.
func (b *batch) resolveAndLoad(ctx context.Context) error {
	keys := b.identityKeys()
	t0 := time.Now()
	idx, err := b.p.store.Resolve(ctx, keys)
	b.p.cfg.Observer.StoreRoundTrip("resolve", time.Since(t0))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	// The store answers an identity without an index entry with its home lead id;
	// leadscore names leads by identity key instead, so such an answer means "not
	// indexed". Normalise once: idx[k] is then "" or the lead the index names.
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true // lead ids are identity keys: the lead may exist under it
		if l := idx[k]; l == state.HomeLeadID(k) {
			idx[k] = ""
		} else if l != "" {
			want[l] = true
		}
	}
	if err := b.load(ctx, want); err != nil {
		return err
	}
	overlay := map[string]string{}
	lookup := func(k string) (string, bool) {
		l, ok := overlay[k]
		if !ok {
			if l = idx[k]; l == "" {
				l = k
			}
		}
		l = b.follow(l)
		if _, made := overlay[l]; made {
			return l, true
		}
		if r, ok := b.loaded[l]; ok && r.Exists() {
			return l, true
		}
		return "", false
	}
	for _, it := range b.items {
		res := scoring.Resolve(&it.ev, lookup)
		if res.Lead == "" {
			continue // the decoder guarantees an identity; defensive
		}
		it.lead = b.follow(res.Lead)
		it.absorb = res.Absorb
		it.index = res.Index
		overlay[it.lead] = it.lead
		for _, k := range res.Index {
			overlay[k] = it.lead
		}
		for _, a := range res.Absorb {
			if a != it.lead {
				b.redir[a] = it.lead
			}
		}
	}
	// Leads named for the first time by this batch may exist without an index
	// entry (an earlier write whose index update failed): load them too.
	more := map[string]bool{}
	for _, it := range b.items {
		if _, ok := b.loaded[it.lead]; !ok && it.lead != "" {
			more[it.lead] = true
		}
	}
	return b.load(ctx, more)
}

// follow resolves stitch redirections (tombstones and this batch's absorbs).
func (b *batch) follow(l string) string {
	for i := 0; i < 8; i++ {
		n, ok := b.redir[l]
		if !ok || n == l {
			return l
		}
		l = n
	}
	return l
}

// load reads leads not loaded yet, following tombstones to the leads they were
// stitched into.
func (b *batch) load(ctx context.Context, want map[string]bool) error {
	for depth := 0; len(want) > 0 && depth < 8; depth++ {
		ids := make([]string, 0, len(want))
		for id := range want {
			if _, ok := b.loaded[id]; !ok {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		t0 := time.Now()
		recs, err := b.p.store.Load(ctx, ids)
		b.p.cfg.Observer.StoreRoundTrip("load", time.Since(t0))
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		want = map[string]bool{}
		for _, id := range ids {
			r := recs[id]
			if r.LeadID == "" {
				r.LeadID = id
			}
			b.loaded[id] = r
			if r.MergedInto != "" {
				b.redir[id] = r.MergedInto
				if _, ok := b.loaded[r.MergedInto]; !ok {
					want[r.MergedInto] = true
				}
			}
		}
	}
	return nil
}

// applyAndWrite applies the items lead by lead and writes the leads with
// compare-and-set, in rounds: a lead another writer changed meanwhile is reloaded
// and its items applied again to the fresh state (already-applied events are
// recognised by their offsets).
func (b *batch) applyAndWrite(ctx context.Context) error {
	order := []string{}
	byLead := map[string][]*item{}
	for _, it := range b.items {
		if it.lead == "" {
			continue
		}
		it.lead = b.follow(it.lead)
		if _, ok := byLead[it.lead]; !ok {
			order = append(order, it.lead)
		}
		byLead[it.lead] = append(byLead[it.lead], it)
	}
	for round := 0; len(order) > 0; round++ {
		if round >= b.p.cfg.MaxConflictRounds {
			return fmt.Errorf("redis: %d leads still conflicting after %d rounds", len(order), round)
		}
		works, err := b.apply(ctx, order, byLead)
		if err != nil {
			return err
		}
		retry, err := b.write(ctx, works)
		if err != nil {
			return err
		}
		if len(retry) == 0 {
			return nil
		}
		// Reload what changed under us, then go again for those leads only.
		want := map[string]bool{}
		for _, id := range retry {
			delete(b.loaded, id)
			want[id] = true
			for _, it := range byLead[id] {
				for _, a := range it.absorb {
					delete(b.loaded, a)
					want[a] = true
				}
			}
		}
		if err := b.load(ctx, want); err != nil {
			return err
		}
		order = b.regroup(retry, byLead)
	}
	return nil
}

// regroup re-targets items of leads that turned out to be tombstones.
func (b *batch) regroup(ids []string, byLead map[string][]*item) []string {
	var order []string
	for _, id := range ids {
		to := b.follow(id)
		items := byLead[id]
		if to != id {
			delete(byLead, id)
			for _, it := range items {
				it.lead = to
				it.absorb = appendUnique(it.absorb, id)
			}
		}
		if _, ok := byLead[to]; !ok || to != id {
			byLead[to] = append(byLead[to], items...)
		}
		if !slices.Contains(order, to) {
			order = append(order, to)
		}
	}
	return order
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (b *batch) decodeState(r state.Record) (scoring.State, error) {
	if !r.Exists() || len(r.Data) == 0 {
		return b.eng.NewState(), nil
	}
	var st scoring.State
	if err := st.UnmarshalBinary(r.Data); err != nil {
		return st, fmt.Errorf("lead %s: %w", r.LeadID, err)
	}
	return st, nil
}

func (b *batch) apply(ctx context.Context, order []string, byLead map[string][]*item) ([]*leadWork, error) {
	works := make([]*leadWork, 0, len(order))
	for _, id := range order {
		w := &leadWork{id: id, base: b.loaded[id], items: byLead[id]}
		w.base.LeadID = id
		st, err := b.decodeState(w.base)
		if err != nil {
			// A corrupt record must not block the partition: start the lead over
			// and say so loudly.
			b.p.cfg.Logger.Error("corrupt lead state replaced", "lead", id, "err", err)
			st = b.eng.NewState()
		}
		w.st = st
		for _, it := range w.items {
			if w.base.Applied(it.rec.Topic, it.rec.Partition, it.rec.Offset) {
				b.p.cfg.Observer.Consumed(it.rec.Topic, "replayed", 1)
				continue
			}
			var absorbed []scoring.Absorbed
			for _, a := range it.absorb {
				if a == id || slices.Contains(w.absorbed, a) || slices.Contains(w.base.Absorbed, a) {
					continue
				}
				ra, ok := b.loaded[a]
				if !ok || !ra.Exists() {
					continue
				}
				sa, err := b.decodeState(ra)
				if err != nil {
					b.p.cfg.Logger.Error("corrupt absorbed lead skipped", "lead", a, "err", err)
					continue
				}
				absorbed = append(absorbed, scoring.Absorbed{ID: a, State: &sa})
				w.absorbed = append(w.absorbed, a)
			}
			out := b.eng.ApplyStitched(&w.st, absorbed, &it.ev)
			b.p.cfg.Observer.Consumed(it.rec.Topic, out.Status.String(), 1)
		}
		works = append(works, w)
	}
	return works, ctx.Err()
}

// write stores the leads: first tombstones for leads being absorbed (so their
// identities lead to the absorbing lead before it lists them), then the leads
// themselves, each a compare-and-set. It returns the leads to reload and retry.
func (b *batch) write(ctx context.Context, works []*leadWork) ([]string, error) {
	var tombs []state.Update
	blocked := map[string]bool{} // absorbing leads whose tombstones did not take
	owner := map[string]string{}
	for _, w := range works {
		for _, a := range w.absorbed {
			ra := b.loaded[a]
			if ra.MergedInto == w.id {
				continue // already a tombstone pointing here
			}
			tombs = append(tombs, state.Update{Base: ra, Data: ra.Data, MergedInto: w.id})
			owner[a] = w.id
		}
	}
	var retry []string
	if len(tombs) > 0 {
		res, err := b.storeWrite(ctx, "tombstone", tombs)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			if r.Err != nil && !errors.Is(r.Err, state.ErrIndexIncomplete) {
				if !errors.Is(r.Err, state.ErrConflict) && !state.IsRetryable(r.Err) {
					return nil, fmt.Errorf("redis: tombstone %s: %w", r.LeadID, r.Err)
				}
				blocked[owner[r.LeadID]] = true
			} else {
				b.loaded[r.LeadID] = r.Record
				b.redir[r.LeadID] = owner[r.LeadID]
			}
		}
	}
	ups := make([]state.Update, 0, len(works))
	var written []*leadWork
	for _, w := range works {
		if blocked[w.id] {
			retry = append(retry, w.id)
			continue
		}
		up, err := b.update(w)
		if err != nil {
			return nil, err
		}
		ups = append(ups, up)
		written = append(written, w)
	}
	if len(ups) == 0 {
		return retry, nil
	}
	res, err := b.storeWrite(ctx, "write", ups)
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		w := written[i]
		switch {
		case r.Err == nil || errors.Is(r.Err, state.ErrIndexIncomplete):
			w.written = r.Record
			b.done = append(b.done, w)
		case errors.Is(r.Err, state.ErrConflict):
			retry = append(retry, w.id)
		case state.IsRetryable(r.Err):
			// The reply was lost: the write may or may not have applied. Reload
			// and re-apply: the stored offsets tell which events are in.
			retry = append(retry, w.id)
		default:
			return nil, fmt.Errorf("redis: write %s: %w", w.id, r.Err)
		}
	}
	return retry, nil
}

func (b *batch) storeWrite(ctx context.Context, op string, ups []state.Update) ([]state.Result, error) {
	t0 := time.Now()
	res, err := b.p.store.Write(ctx, ups)
	b.p.cfg.Observer.StoreRoundTrip(op, time.Since(t0))
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	return res, nil
}

// update builds the store write of one lead: state, offsets of the events applied,
// leaderboard, next timer and identities.
func (b *batch) update(w *leadWork) (state.Update, error) {
	data, err := w.st.MarshalBinary()
	if err != nil {
		return state.Update{}, err
	}
	up := state.Update{Base: w.base, Data: data, Absorbed: w.absorbed, Stage: w.st.Stage,
		Rank: b.eng.Rank(&w.st), Deadline: b.deadline(&w.st)}
	up.Offsets = map[string]int64{}
	var ids []string
	for _, it := range w.items {
		if o, ok := up.Offsets[it.src]; !ok || it.rec.Offset > o {
			up.Offsets[it.src] = it.rec.Offset
		}
		for _, k := range it.index {
			ids = appendUnique(ids, k)
		}
	}
	// The lead id is an identity key too ("user:…"): index it so Resolve finds
	// the lead under its own name. Only identities the record lacks are sent.
	ids = appendUnique(ids, w.id)
	for _, k := range ids {
		if !slices.Contains(w.base.Identities, k) {
			up.Identities = append(up.Identities, k)
		}
	}
	return up, nil
}

// deadline is the lead's next timer: its next time-driven change, or sooner when
// stage changes wait in its outbox (so a crash before they are produced is
// repaired by the timer sweep even if no event for the lead ever comes).
func (b *batch) deadline(st *scoring.State) int64 {
	next, ok := b.eng.NextChange(st)
	if st.Pending > 0 {
		retry := b.now.Add(b.p.cfg.OutboxRetry).UnixMilli()
		if !ok || retry < next {
			return retry
		}
	}
	if !ok {
		return 0
	}
	return next
}

// collectOutputs turns every written lead's pending transitions into stage-change
// records (deterministic ids), in lead order.
func (b *batch) collectOutputs() {
	for _, w := range b.done {
		n := w.st.Pending
		if n == 0 {
			continue
		}
		trs := w.st.Recent[len(w.st.Recent)-n:]
		ids := output.IdentitiesFromKeys(w.written.Identities)
		for i := range trs {
			sc := output.NewStageChange(b.eng, w.id, ids, &trs[i], b.now.UnixMilli())
			v, _ := sc.Marshal()
			b.outputs = append(b.outputs, Record{Topic: b.p.cfg.Topics.StageChanges, Key: []byte(w.id), Value: v,
				Headers: []Header{{Key: "content-type", Value: []byte("application/json")},
					{Key: "leadscore-model-version", Value: []byte(sc.ModelVersion)},
					{Key: "leadscore-event-id", Value: []byte(sc.ID)}}})
			b.tr.stageChange(&b.outputs[len(b.outputs)-1], w, &trs[i]) // tracing.go
			b.p.cfg.Observer.Transition(trs[i].From, trs[i].To)
			b.p.cfg.Observer.Latency(b.now.Sub(time.UnixMilli(trs[i].At)))
		}
		w.emit = trs
	}
}

// ackOutbox clears the outbox of leads whose stage changes are now produced and
// committed. A lead changed meanwhile by another writer keeps its outbox, which
// only means a duplicate stage change (same id) later — never a lost one.
func (b *batch) ackOutbox(ctx context.Context) {
	var ups []state.Update
	for _, w := range b.done {
		if w.st.Pending == 0 {
			continue
		}
		w.st.Pending = 0
		data, err := w.st.MarshalBinary()
		if err != nil {
			continue
		}
		ups = append(ups, state.Update{Base: w.written, Data: data, Stage: w.st.Stage,
			Rank: b.eng.Rank(&w.st), Deadline: b.deadline(&w.st)})
	}
	if len(ups) == 0 {
		return
	}
	if _, err := b.storeWrite(ctx, "ack", ups); err != nil {
		b.p.cfg.Logger.Warn("outbox acknowledgement failed; stage changes may be produced again", "err", err)
	}
}

func (b *batch) observe(recs []Record, start time.Time) {
	b.p.cfg.Observer.Batch(len(recs), b.p.cfg.Now().Sub(start))
}
