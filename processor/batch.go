package processor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	src    string   // state.SourceKey(topic, partition)
	keys   []string // itemKeys of ev, computed once
	nid    int      // keys[:nid] are ev.Identity.Keys(), for scoring.ResolveKeys
	lead   string
	absorb []string
	index  []string
	// pos is the item's place in the batch's canonical order.
	pos int
	// origins are the leads the event's identities named before any stitch
	// was followed: their tombstones tell whether it was applied there
	// before they were stitched into lead.
	origins []string
	outcome string // the last apply round's outcome, counted once committed
	late    bool   // the last apply round found the event late for its lead
}

// leadWork is everything a batch does to one lead.
type leadWork struct {
	id       string
	base     state.Record
	st       scoring.Lead
	items    []*item
	absorbed []string
	// into is set for a lead stitched into another one: it is written as a
	// tombstone (its state and offsets as of the stitch, no stage) and its
	// outbox is still produced under its own id.
	into string
	// subs are the leads this one absorbs, worked on first: the state of a
	// lead stitched mid-batch is its state after its own events of the batch.
	subs []*leadWork
	// applied counts the events applied in this round (not replays).
	applied int
	// idents are the lead's identity keys as its events are applied, and
	// trIdents the identities of each transition they caused, as known right
	// after the event (what the oracle reports, however the log was batched).
	idents []string
	// trIdents holds, per model, the identities of each transition added
	// to the model's outbox in this round.
	trIdents [][]output.Identities
	// written is the record after this batch's write (for the outbox ack).
	written state.Record
	emit    [][]scoring.Transition // per model: the transitions produced from its outbox
	// outs and pending are scratch space of applyLead, per model.
	outs    []scoring.Outcome
	pending []int
	// acctUps are what the lead's events of this round tell the accounts.
	acctUps []accountUpdate
	// swept is set for a lead the timer sweep writes: its outbox is
	// acknowledged by a second write, not by a commit (commitack.go).
	swept bool
	// Linked batches (linked.go): the account stages the lead's events
	// read, how many rises it was told and how many moved it.
	reads    []linkRead
	told     int
	toldKeys []signalKey
	rises    int
}

// deadLetterCount is one dead letter, counted once the batch is committed.
type deadLetterCount struct {
	topic, reason string
	rec           *Record
}

// batch is the working set of one cycle.
type batch struct {
	p     *Processor
	set   *scoring.Set
	names []string // the models' names, in set order
	// withAccounts is set when a model scores accounts (accounts.go);
	// accounts are the accounts the batch wrote, and gateErr why it could
	// not (then no lead of the round is written either).
	withAccounts bool
	// link is set when a model's lead criteria read the account (linked.go).
	link     *linkState
	accounts []*accountWork
	gateErr  error
	now      time.Time
	// clock is the timer clock (Unix ms) at the batch's start: the instant
	// deadlines written by this batch count from (clock.go).
	clock int64
	// newRecords: the poll brought records the last batch had not kept.
	newRecords bool
	items      []*item
	outputs    []Record // dead letters and stage changes to produce
	loaded     map[string]state.Record
	redir      map[string]string // tombstone in the store → the lead it was stitched into
	// absorber maps a lead stitched by an event of this batch to the lead of
	// that event. Events before the stitch still apply to the absorbed lead,
	// as they would one by one: resolution follows absorber, grouping does not.
	absorber map[string]string
	// tombsInto lists, per lead, the loaded tombstones that name it (this
	// apply round's view).
	tombsInto map[string][]string
	done      []*leadWork    // leads written in this cycle
	doneAt    map[string]int // lead id → its index in done
	dead      []deadLetterCount
	tr        *batchTrace // tracing.go: nil when tracing is off
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
	set := p.models.Load()
	b := &batch{p: p, set: set, names: set.Names(), withAccounts: set.HasAccounts(), now: start, loaded: map[string]state.Record{}, redir: map[string]string{},
		absorber: map[string]string{}, tr: bt}
	if set.UsesAccountStages() {
		b.link = newLinkState(b)
	}
	b.decode(recs)
	if len(recs) > 0 {
		p.clock.polled(start)
	}
	owned, lag := p.partitions()
	all := b.items
	keep := p.mergeBatch(b, start, owned, lag)
	if keep != nil {
		p.client.Keep(keep)
	} else {
		p.pending = nil
	}
	if p.pauser != nil {
		var ahead []TopicPartition
		if keep != nil && p.cfg.ReorderWait == 0 {
			ahead = aheadPartitions(all, lag, keep, pauseAbove)
		}
		p.pauser.Pause(ahead)
	}
	// Each lead's events are applied in the canonical order, whatever order
	// the partitions of the batch were fetched in: identities are resolved
	// and stitched in that order too, as the oracle does.
	slices.SortStableFunc(b.items, func(x, y *item) int { return scoring.CompareEvents(&x.ev, &y.ev) })
	for i, it := range b.items {
		it.pos = i
	}
	b.clock = p.clock.at(start, owned, lag, p.cfg.IdleTimeout)
	p.learnCommitted()
	// The previous batch's outbox acknowledgement ran during the poll and the
	// decode; it must land before this batch loads leads it may rewrite.
	p.waitAck()
	p.checkWorkingSet(owned)
	if len(b.items) > 0 {
		if err := b.resolveAndLoad(ctx); err != nil {
			return err
		}
		if err := b.applyAndWrite(ctx); err != nil {
			return err
		}
		for _, it := range b.items {
			p.clock.applied(TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}, it.ev.Time)
		}
	}
	if !p.nextTick.After(start) {
		// The same partitions and lag as the batch's start: the applied
		// events have moved the clock on since.
		if err := b.sweepTimers(ctx, p.clock.at(p.cfg.Now(), owned, lag, p.cfg.IdleTimeout)); err != nil {
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
	b.committedBatch()
	b.observe(recs, start)
	// Clearing the outbox is one more round trip that nothing of this batch
	// waits for: it overlaps the next poll and decode (waitAck).
	done := make(chan struct{})
	p.ackDone = done
	go func() {
		defer close(done)
		b.ackOutbox(ctx)
	}()
	return nil
}

// mergeBatch applies the event-time merge (merge.go) to the batch: it drops
// the items kept for a later batch, and the dead letters of records kept with
// them (they come again), and returns what the client must keep.
func (p *Processor) mergeBatch(b *batch, now time.Time, owned []TopicPartition, lag map[TopicPartition]int64) map[TopicPartition]int64 {
	if len(b.items) == 0 {
		return nil
	}
	force := !p.merge.blockedSince.IsZero() && now.Sub(p.merge.blockedSince) >= p.cfg.MergeWait
	var cut int64
	if p.cfg.ReorderWait > 0 {
		cut = now.Add(-p.cfg.ReorderWait).UnixMilli()
	}
	items, kept, keep := mergeItems(b.items, owned, lag, force, cut)
	if force {
		var waiting []string
		present := map[TopicPartition]bool{}
		for _, it := range b.items {
			present[TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}] = true
		}
		for _, tp := range owned {
			if lag[tp] > 0 && !present[tp] {
				waiting = append(waiting, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
			}
		}
		p.cfg.Logger.Warn("event-time merge: waited --merge-wait for partitions the broker holds records of; applying the batch without them",
			"merge_wait", p.cfg.MergeWait, "partitions", waiting)
	}
	// The merge is stuck when it applies nothing and no new record comes:
	// records still arriving (the client working through a fetch, partition
	// after partition) are progress.
	if len(items) == 0 && !b.newRecords {
		if p.merge.blockedSince.IsZero() {
			p.merge.blockedSince = now
		}
	} else {
		p.merge.blockedSince = time.Time{}
	}
	if keep == nil {
		return nil
	}
	// The kept items, decoded, wait for the next batch, which gets their
	// records again.
	p.pending = kept
	earliest := int64(0) // of the kept events
	for _, it := range kept {
		if earliest == 0 || it.ev.Time < earliest {
			earliest = it.ev.Time
		}
	}
	// Kept records come straight back from the next poll: when nothing could
	// be applied, or the reorder wait holds events, pause a moment rather than
	// spin on them.
	if len(items) == 0 || cut != 0 {
		wait := 10 * time.Millisecond
		if cut != 0 && earliest != 0 {
			wait = time.UnixMilli(earliest).Add(p.cfg.ReorderWait).Sub(now)
		}
		p.pauseUntil = now.Add(min(max(wait, 5*time.Millisecond), p.cfg.TimerTick))
	}
	b.items = items
	n := 0
	for i, d := range b.dead {
		tp := TopicPartition{Topic: d.rec.Topic, Partition: d.rec.Partition}
		if k, ok := keep[tp]; ok && d.rec.Offset >= k {
			continue
		}
		b.dead[n], b.outputs[n] = d, b.outputs[i]
		n++
	}
	b.dead, b.outputs = b.dead[:n], b.outputs[:n]
	return keep
}

// samePending reports whether r is the record of the kept item it: the
// clients deliver kept records again from memory, first and in their order,
// so the same payload bytes prove it is the same record.
func samePending(it *item, r *Record) bool {
	k := it.rec
	return k.Offset == r.Offset && k.Partition == r.Partition && len(r.Value) > 0 && len(k.Value) > 0 &&
		&k.Value[0] == &r.Value[0] && k.Topic == r.Topic
}

// waitAck waits for the previous batch's outbox acknowledgement, if any.
func (p *Processor) waitAck() {
	if p.ackDone != nil {
		<-p.ackDone
		p.ackDone = nil
	}
}

// decodeSlot is one record of a batch on its way to an item.
type decodeSlot struct {
	r   *Record
	it  *item          // nil: a record of a topic the processor does not read
	src scoring.Source // SourceUnknown: a kept item reused as it is
	err error
}

// minDecodeShare is the fewest new records worth a decoding goroutine of
// their own: below it, starting one costs more than it saves.
const minDecodeShare = 256

func (b *batch) decode(recs []Record) {
	t := b.p.cfg.Topics
	slots := make([]decodeSlot, len(recs))
	// A backlog's kept records come back batch after batch until the merge
	// applies them: their items are reused, not decoded and built again. They
	// come first, in the order they were kept (a subsequence of recs).
	pending := b.p.pending
	var fresh []int // indexes of slots to decode
	for i := range recs {
		r := &recs[i]
		b.tr.record(r) // tracing.go
		sl := &slots[i]
		sl.r = r
		if len(pending) > 0 && samePending(pending[0], r) {
			sl.it = pending[0]
			pending = pending[1:]
			continue
		}
		switch r.Topic {
		case t.Web:
			sl.src = scoring.SourceWeb
		case t.Email:
			sl.src = scoring.SourceEmail
		case t.Feedback:
			sl.src = scoring.SourceFeedback
		default:
			continue
		}
		fresh = append(fresh, i)
	}
	if len(fresh) > 0 {
		b.newRecords = true
		// One allocation for the batch's new items, decoded in place (an item
		// is ~480 bytes, its event ~330); items are pointed to, so the slab
		// never grows.
		slab := make([]item, len(fresh))
		for j, i := range fresh {
			slots[i].it = &slab[j]
		}
		b.p.decodeSlots(slots, fresh)
	}
	// Records come in runs of one partition: their source key is made once a run.
	var lastTopic, lastSrc string
	lastPart := int32(-1)
	for i := range slots {
		sl := &slots[i]
		r := sl.r
		switch {
		case sl.it == nil:
			b.deadLetter(r, "unknown_topic", "record from a topic the processor does not read", "")
			continue
		case sl.src == scoring.SourceUnknown: // kept, reused
			sl.it.rec = r
			b.items = append(b.items, sl.it)
			continue
		case sl.err != nil:
			var de *events.Error
			if errors.As(sl.err, &de) {
				b.deadLetter(r, string(de.Reason), de.Msg, de.Field)
			} else {
				b.deadLetter(r, "decode_error", sl.err.Error(), "")
			}
			continue
		}
		if r.Topic != lastTopic || r.Partition != lastPart {
			lastTopic, lastPart, lastSrc = r.Topic, r.Partition, state.SourceKey(b.p.cfg.source(r.Topic), r.Partition)
		}
		sl.it.rec, sl.it.src = r, lastSrc
		b.items = append(b.items, sl.it)
	}
}

// decodeSlots decodes the slots listed in fresh, in parallel shares when
// there are enough of them: decoding is the largest part of a batch's CPU,
// and the one part that needs nothing but the record. Each share has its
// own decoder (a decoder keeps scratch space).
func (p *Processor) decodeSlots(slots []decodeSlot, fresh []int) {
	inParts(min(len(p.decs), len(fresh)/minDecodeShare), len(fresh), func(part, lo, hi int) {
		d := p.decs[part]
		for _, i := range fresh[lo:hi] {
			sl := &slots[i]
			if sl.err = d.DecodeInto(sl.src, sl.r.Value, &sl.it.ev); sl.err == nil {
				sl.it.keys, sl.it.nid = itemKeys(&sl.it.ev)
			}
		}
	})
}

// inParts calls fn for n contiguous parts of [0, total), side by side (the
// first part on the calling goroutine), and returns when all are done; with
// n ≤ 1, once for the whole.
func inParts(n, total int, fn func(part, lo, hi int)) {
	if n <= 1 {
		fn(0, 0, total)
		return
	}
	var wg sync.WaitGroup
	share := (total + n - 1) / n
	for part := 1; part < n; part++ {
		wg.Go(func() { fn(part, min(part*share, total), min((part+1)*share, total)) })
	}
	fn(0, 0, min(share, total))
	wg.Wait()
}

func (b *batch) deadLetter(r *Record, reason, msg, field string) {
	hs := make([][2][]byte, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = [2][]byte{[]byte(h.Key), h.Value}
	}
	dl := output.NewDeadLetter(output.DeadLetterInfo{
		Reason: reason, Message: msg, Field: field,
		Source: output.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		Key:    r.Key, Value: r.Value, Headers: hs,
		At: b.now.UnixMilli(), Version: b.p.cfg.Version,
	})
	v, _ := dl.Marshal()
	headers := append([]Header{}, r.Headers...)
	headers = append(headers, Header{Key: "content-type", Value: []byte("application/json")},
		Header{Key: "leadscore-dlq-reason", Value: []byte(reason)})
	b.outputs = append(b.outputs, Record{Topic: b.p.cfg.Topics.DeadLetter, Key: r.Key, Value: v, Headers: headers})
	b.tr.deadLetter(r, &b.outputs[len(b.outputs)-1], reason) // tracing.go
	b.dead = append(b.dead, deadLetterCount{r.Topic, reason, r})
}

// identityKeys lists every identity key and lead id the items may resolve to.
func (b *batch) identityKeys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, it := range b.items {
		for _, k := range it.keys {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// itemKeys lists the identity keys and lead id an event names; the first n
// are its Identity.Keys().
func itemKeys(ev *scoring.Event) (keys []string, n int) {
	id := &ev.Identity
	keys = id.Keys()
	n = len(keys)
	if ev.Kind == "alias" && id.PreviousID != "" {
		keys = append(keys, scoring.PrefixAnon+id.PreviousID, scoring.PrefixUser+id.PreviousID)
	}
	if id.LeadID != "" {
		keys = append(keys, id.LeadID)
	}
	return keys, n
}

// resolveAndLoad asks the identity index where every identity points (one round
// trip), loads every lead that any of them may name (one round trip, plus one per
// level of stitch redirection found), then decides each item's lead in order.
func (b *batch) resolveAndLoad(ctx context.Context) error {
	keys := b.identityKeys()
	t0 := time.Now()
	// Lead ids are identity keys, so the leads the keys name themselves are
	// read in the same round trip as the index; only leads the index names
	// elsewhere need another.
	idx, recs, err := b.p.store.ResolveLoad(ctx, keys)
	b.p.cfg.Observer.StoreRoundTrip("resolve_load", time.Since(t0))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := b.knowNames(ctx, recs); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, k := range keys {
		r := recs[k]
		if r.LeadID == "" {
			r.LeadID = k
		}
		b.loaded[k] = r
		if r.MergedInto != "" {
			b.redir[k] = r.MergedInto
			want[r.MergedInto] = true // load follows the tombstone from there
		}
	}
	// The store answers an identity without an index entry with its home lead id;
	// leadscore names leads by identity key instead, so such an answer means "not
	// indexed". Normalise once: idx[k] is then "" or the lead the index names.
	for _, k := range keys {
		if l := idx[k]; state.IsHomeLeadID(k, l) {
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
		l = b.followAll(l)
		if _, made := overlay[l]; made {
			return l, true
		}
		if r, ok := b.loaded[l]; ok && r.Exists() {
			return l, true
		}
		return "", false
	}
	for _, it := range b.items {
		res := scoring.ResolveKeys(&it.ev, it.keys[:it.nid], lookup)
		if res.Lead == "" {
			continue // the decoder guarantees an identity; defensive
		}
		it.lead = b.followAll(res.Lead)
		it.absorb = res.Absorb
		it.index = res.Index
		it.origins = make([]string, 0, 2*len(it.keys)) // one allocation, not one per growth
		for _, k := range it.keys {
			if l := idx[k]; l != "" {
				it.origins = appendUnique(it.origins, l)
			}
			it.origins = appendUnique(it.origins, k)
		}
		overlay[it.lead] = it.lead
		for _, k := range res.Index {
			overlay[k] = it.lead
		}
		for _, a := range res.Absorb {
			if a != it.lead {
				b.absorber[a] = it.lead
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

// follow resolves stitches stored as tombstones.
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

// followAll resolves stitches stored as tombstones and those made by this
// batch's events so far: where an event's identities lead now.
func (b *batch) followAll(l string) string {
	for i := 0; i < 16; i++ {
		n, ok := b.absorber[l]
		if !ok || n == l {
			if n, ok = b.redir[l]; !ok || n == l {
				return l
			}
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
		if err := b.knowNames(ctx, recs); err != nil {
			return err
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
	if b.link != nil {
		return b.applyLinked(ctx, order, byLead)
	}
	for round := 0; len(order) > 0; round++ {
		if round >= b.p.cfg.MaxConflictRounds {
			return fmt.Errorf("redis: %d leads still conflicting after %d rounds", len(order), round)
		}
		var gen uint64
		if ws := b.p.ws; ws != nil {
			gen = ws.generation()
		}
		retry, err := b.applyWriting(ctx, order, byLead)
		if err != nil {
			return err
		}
		if len(retry) == 0 {
			return nil
		}
		if ws := b.p.ws; ws != nil && !b.p.staleRetry && ws.generation() != gen {
			// A lost compare-and-set emptied the working set: what this
			// batch resolved from it may be stale too.
			return errStaleWorkingSet
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

// decodeState decodes a lead record's state; an outbox the commit has
// acknowledged since the record was written is cleared (commitack.go).
func (b *batch) decodeState(r state.Record) (scoring.Lead, error) {
	if !r.Exists() || len(r.Data) == 0 {
		return b.set.NewLead(), nil
	}
	// The loads made sure the dictionary's copy knows the record's ids
	// (knowNames).
	l, err := b.set.DecodeNames(r.Data, b.p.store.Names())
	if err != nil {
		return l, fmt.Errorf("lead %s: %w", r.LeadID, err)
	}
	if l.Pending() > 0 && b.produced(r) {
		l.ClearPending()
	}
	return l, nil
}

// writeChunk is how many leads one store write carries while the next ones
// are applied: the store (Redis, on another core) works on a chunk while the
// processor computes the next, so a batch's write costs little more than
// its last chunk.
const writeChunk = 1024

// minApplyShare is the fewest leads worth an apply lane of their own.
const minApplyShare = 64

// applyWriting computes the new state of each lead in order and writes the
// leads chunk by chunk as they are ready (send), one chunk in flight while
// the next is applied. With several apply lanes (Config.ApplyLanes) each
// lane does so for its share of the leads, side by side. It returns the
// leads to reload and retry.
func (b *batch) applyWriting(ctx context.Context, order []string, byLead map[string][]*item) ([]string, error) {
	b.indexTombstones()
	shares := b.shares(order, byLead, b.p.cfg.ApplyLanes)
	lanes := make([][]*writeJob, len(shares))
	// With accounts, no lead is written before the accounts (accounts.go):
	// the leads' writes wait at the gate.
	var gate chan struct{}
	if b.withAccounts {
		gate = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i := 1; i < len(shares); i++ {
		wg.Go(func() { lanes[i] = b.applyShare(ctx, shares[i], byLead, gate) })
	}
	lanes[0] = b.applyShare(ctx, shares[0], byLead, gate)
	wg.Wait()
	if gate != nil {
		var works []*leadWork
		for _, jobs := range lanes {
			for _, j := range jobs {
				works = append(works, j.works...)
			}
		}
		b.gateErr = b.applyAccounts(ctx, gatherUpdates(works))
		close(gate)
	}
	// Results are taken in once every lane is done with the apply: they
	// change the batch's view of the store (loaded, done), which the apply
	// reads.
	var retry []string
	var errs []error
	for _, jobs := range lanes {
		for _, j := range jobs {
			<-j.done
			r, err := b.finish(j)
			retry = append(retry, r...)
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return retry, ctx.Err()
}

// indexTombstones lists, per lead, the loaded tombstones that name it.
func (b *batch) indexTombstones() {
	b.tombsInto = map[string][]string{}
	for k, r := range b.loaded {
		if r.MergedInto != "" && r.MergedInto != k {
			b.tombsInto[r.MergedInto] = append(b.tombsInto[r.MergedInto], k)
		}
	}
}

// shares splits the round's leads into at most n shares for the apply
// lanes, each in the round's order. Leads an event of the batch stitches
// together (or a stitch left unfinished joins) are one lead's work
// (leadWork.subs), so they go to one share; shares are balanced by events.
func (b *batch) shares(order []string, byLead map[string][]*item, n int) [][]string {
	if n = min(n, len(order)/minApplyShare); n <= 1 {
		return [][]string{order}
	}
	parent := map[string]string{}
	var root func(string) string
	root = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			return x
		}
		r := root(p)
		parent[x] = r
		return r
	}
	union := func(x, y string) {
		if rx, ry := root(x), root(y); rx != ry {
			parent[rx] = ry
		}
	}
	for _, id := range order {
		if a := b.absorber[id]; a != "" {
			union(id, a)
		}
		for _, t := range b.tombsInto[id] {
			union(id, t)
		}
		for _, it := range byLead[id] {
			for _, a := range it.absorb {
				union(id, a)
			}
		}
	}
	out := make([][]string, n)
	load := make([]int, n)
	lane := map[string]int{} // component root → its share
	for _, id := range order {
		r := root(id)
		l, ok := lane[r]
		if !ok {
			l = 0
			for i := range load {
				if load[i] < load[l] {
					l = i
				}
			}
			lane[r] = l
		}
		out[l] = append(out[l], id)
		load[l] += len(byLead[id])
	}
	return out
}

// applyShare applies one share's leads and sends them to the store in
// chunks, each chunk after the one before it; it returns the chunks'
// jobs, whose results finish takes in. A lead stitched into another by an
// event of the batch is worked on as part of the absorbing lead
// (leadWork.subs), at the stitch; it is worked on alone only when no event
// of the round stitched it after all (the stitching event was a replay).
func (b *batch) applyShare(ctx context.Context, order []string, byLead map[string][]*item, gate <-chan struct{}) []*writeJob {
	chunk := b.p.writeChunk
	if chunk <= 0 {
		chunk = writeChunk
	}
	var (
		jobs  []*writeJob
		works = make([]*leadWork, 0, min(len(order), chunk))
		prev  = gate
	)
	flush := func() {
		if len(works) == 0 {
			return
		}
		j := &writeJob{works: works, done: make(chan struct{})}
		jobs = append(jobs, j)
		go b.send(ctx, j, prev)
		prev = j.done
		works = make([]*leadWork, 0, min(len(order), chunk))
	}
	add := func(w *leadWork) {
		if works = append(works, w); len(works) >= chunk {
			flush()
		}
	}
	visited := map[string]bool{}
	for _, id := range order {
		if b.absorber[id] != "" || ctx.Err() != nil {
			continue
		}
		add(b.applyLead(id, "", byLead, visited))
	}
	for _, id := range order {
		if !visited[id] && ctx.Err() == nil {
			add(b.applyLead(id, "", byLead, visited))
		}
	}
	flush()
	return jobs
}

// applyLead applies the lead's items to its loaded state. into is the lead
// that absorbs it ("" for a lead written as itself).
func (b *batch) applyLead(id, into string, byLead map[string][]*item, visited map[string]bool) *leadWork {
	visited[id] = true
	w := &leadWork{id: id, base: b.loaded[id], items: byLead[id], into: into}
	w.base.LeadID = id
	st, err := b.decodeState(w.base)
	if err != nil {
		// A corrupt record must not block the partition: start the lead over
		// and say so loudly.
		b.p.cfg.Logger.Error("corrupt lead state replaced", "lead", id, "err", err)
		st = b.set.NewLead()
	}
	w.st = st
	w.idents = slices.Clone(w.base.Identities)
	// A tombstone that names this lead but that the lead does not list yet is a
	// stitch whose second half (this lead's write) was lost, e.g. to a crash: its
	// state is merged at the first new event.
	var unfinished []string
	if into == "" {
		for _, k := range b.tombsInto[id] {
			if !slices.Contains(w.base.Absorbed, k) {
				unfinished = append(unfinished, k)
			}
		}
		slices.Sort(unfinished)
	}
	// note gives the stage changes an event or a rise just added to the
	// outboxes the identities known at that point (mark takes the outboxes'
	// sizes before).
	mark := func() {
		w.pending = w.pending[:0]
		for i := range w.st.States {
			w.pending = append(w.pending, w.st.States[i].Pending)
		}
	}
	note := func() {
		var ids *output.Identities
		for m := range w.st.States {
			n := w.st.States[m].Pending - w.pending[m]
			if n <= 0 {
				continue
			}
			if ids == nil {
				x := output.IdentitiesFromKeys(w.idents)
				ids = &x
			}
			if w.trIdents == nil {
				w.trIdents = make([][]output.Identities, len(w.st.States))
			}
			for range n {
				w.trIdents[m] = append(w.trIdents[m], *ids)
			}
		}
	}
	var view *leadView
	if b.link != nil {
		view = &leadView{ls: b.link, w: w}
		if len(w.items) == 0 && into == "" {
			// Told a rise, with no event of its own: the commit does not
			// acknowledge its outbox (its record's offsets are older), a
			// second write does, as for a timer's change.
			w.swept = true
		}
	}
	for _, it := range w.items {
		if b.link != nil {
			b.tell(w, it.pos, mark, note)
		}
		if b.applied(w, it) {
			it.outcome = "replayed"
			if b.link != nil {
				// Its member updates, in case the accounts did not get
				// them, are in its partition's journal.
				b.link.replayed(w, it)
			}
			continue
		}
		var absorbed []scoring.AbsorbedLead
		nsubs := len(w.subs)
		for _, a := range append(it.absorb, unfinished...) {
			if a == id || slices.Contains(w.absorbed, a) || slices.Contains(w.base.Absorbed, a) || visited[a] {
				continue
			}
			ra, ok := b.loaded[a]
			if !ok || ra.MergedInto != "" && ra.MergedInto != id {
				continue // stitched into another lead meanwhile
			}
			if !ra.Exists() && len(byLead[a]) == 0 {
				continue // nothing to absorb
			}
			sub := b.applyLead(a, id, byLead, visited)
			w.subs = append(w.subs, sub)
			absorbed = append(absorbed, scoring.AbsorbedLead{ID: a, Lead: &sub.st})
			w.absorbed = append(w.absorbed, a)
		}
		unfinished = nil
		before := b.set.Memberships(&w.st, absorbed)
		mark()
		if view != nil {
			view.pos = it.pos
			w.outs = b.set.ApplyStitchedViewing(&w.st, absorbed, &it.ev, w.outs, view)
		} else {
			w.outs = b.set.ApplyStitched(&w.st, absorbed, &it.ev, w.outs)
		}
		b.set.MemberUpdates(w.id, &w.st, before, w.outs, &it.ev, func(model int, u *scoring.MemberUpdate) {
			w.acctUps = append(w.acctUps, accountUpdate{pos: it.pos, model: model, u: *u})
		})
		sum := scoring.Summary(w.outs)
		it.outcome, it.late = sum.Status.String(), sum.Late
		w.applied++
		for _, s := range w.subs[nsubs:] {
			w.idents = unionKeys(w.idents, s.idents)
		}
		w.idents = unionKeys(unionKeys(w.idents, it.index), []string{id})
		note()
	}
	if b.link != nil {
		b.tell(w, -1, mark, note)
	}
	return w
}

// unionKeys adds to keys those of more it lacks.
func unionKeys(keys, more []string) []string {
	for _, k := range more {
		keys = appendUnique(keys, k)
	}
	return keys
}

// applied reports whether the item's event is already in the lead's state:
// its offset is in the lead's stored offsets, or in those of a tombstone on
// the way from the event's identities to the lead (it was applied to a lead
// stitched into this one since).
func (b *batch) applied(w *leadWork, it *item) bool {
	r := it.rec
	src := b.p.cfg.source(r.Topic)
	if w.base.Applied(src, r.Partition, r.Offset) {
		return true
	}
	for _, o := range it.origins {
		t, ok := b.loaded[o]
		var via []state.Record
		for i := 0; ok && t.MergedInto != "" && i < 8; i++ {
			via = append(via, t)
			t, ok = b.loaded[t.MergedInto]
		}
		if !ok || t.LeadID != w.id && w.into == "" {
			continue
		}
		for _, v := range via {
			if v.Applied(src, r.Partition, r.Offset) {
				return true
			}
		}
	}
	return false
}

// write stores the leads (send, then finish) and returns the leads to reload
// and retry.
func (b *batch) write(ctx context.Context, works []*leadWork) ([]string, error) {
	j := &writeJob{works: works, done: make(chan struct{})}
	b.send(ctx, j, nil)
	return b.finish(j)
}

// writeJob is one store write of leads: what send did, for finish to take in.
type writeJob struct {
	works []*leadWork
	done  chan struct{} // closed when send has returned
	// tombs are the absorbed leads of works, each with its root (the lead of
	// works that absorbs it, directly or not); already are those whose
	// tombstone was in place with nothing new to write.
	tombs, already []tomb
	tombRes        []state.Result // one per tombs
	// blocked are roots whose absorbed leads' tombstones did not take: they
	// are not written, but retried.
	blocked map[string]bool
	written []*leadWork
	res     []state.Result // one per written
	err     error
}

// tomb is a lead absorbed by root, written as a tombstone.
type tomb struct{ w, root *leadWork }

// send writes a job's leads: first the tombstones of leads being absorbed (so
// their identities lead to the absorbing lead before it lists them), then the
// leads themselves, each a compare-and-set. It waits for prev first (nil:
// nothing to wait for). It runs beside the apply of the next leads, so it
// only reads the batch and its own job; finish takes the results in.
func (b *batch) send(ctx context.Context, j *writeJob, prev <-chan struct{}) {
	defer close(j.done)
	if prev != nil {
		<-prev
	}
	if b.gateErr != nil {
		j.err = b.gateErr
		return
	}
	var walk func(root, w *leadWork)
	walk = func(root, w *leadWork) {
		for _, s := range w.subs {
			walk(root, s)
			j.tombs = append(j.tombs, tomb{s, root})
		}
	}
	for _, w := range j.works {
		walk(w, w)
	}
	j.blocked = map[string]bool{}
	if len(j.tombs) > 0 {
		ws := make([]*leadWork, 0, len(j.tombs))
		n := 0
		for _, t := range j.tombs {
			s := t.w
			if s.base.MergedInto == s.into && s.applied == 0 {
				// Already a tombstone pointing here, with nothing new: its
				// outbox, if any, is still produced.
				j.already = append(j.already, t)
				continue
			}
			ws = append(ws, s)
			j.tombs[n] = t
			n++
		}
		j.tombs = j.tombs[:n]
		ups, err := b.updates(ctx, ws)
		if err != nil {
			j.err = err
			return
		}
		if len(ups) > 0 {
			res, err := b.storeWrite(ctx, "tombstone", ups)
			if err != nil {
				j.err = err
				return
			}
			j.tombRes = res
			for i, r := range res {
				if r.Err != nil && !errors.Is(r.Err, state.ErrIndexIncomplete) {
					if !errors.Is(r.Err, state.ErrConflict) && !state.IsRetryable(r.Err) {
						j.err = fmt.Errorf("redis: tombstone %s: %w", r.LeadID, r.Err)
						return
					}
					j.blocked[j.tombs[i].root.id] = true
				}
			}
		}
	}
	for _, w := range j.works {
		if !j.blocked[w.id] {
			j.written = append(j.written, w)
		}
	}
	ups, err := b.updates(ctx, j.written)
	if err != nil {
		j.err = err
		return
	}
	if len(ups) == 0 {
		return
	}
	j.res, j.err = b.storeWrite(ctx, "write", ups)
}

// finish takes a sent job's results into the batch: leads written are done,
// those another writer changed (or whose reply was lost) are returned to
// reload and retry.
func (b *batch) finish(j *writeJob) ([]string, error) {
	if j.err != nil {
		return nil, j.err
	}
	for _, t := range j.already {
		t.w.written = t.w.base
		b.markDone(t.w)
	}
	for i, r := range j.tombRes {
		if r.Err != nil && !errors.Is(r.Err, state.ErrIndexIncomplete) {
			continue // its root is blocked
		}
		t := j.tombs[i]
		t.w.written = r.Record
		b.loaded[r.LeadID] = r.Record
		b.markDone(t.w)
	}
	var retry []string
	for _, w := range j.works {
		if j.blocked[w.id] {
			retry = append(retry, w.id)
		}
	}
	for i, r := range j.res {
		w := j.written[i]
		switch {
		case r.Err == nil || errors.Is(r.Err, state.ErrIndexIncomplete):
			w.written = r.Record
			b.markDone(w)
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

// markDone records a written lead, once: a lead written again in a later
// round replaces its earlier entry, so its outbox is produced once.
func (b *batch) markDone(w *leadWork) {
	if i, ok := b.doneAt[w.id]; ok {
		b.done[i] = w
		return
	}
	if b.doneAt == nil {
		b.doneAt = make(map[string]int, len(b.items))
	}
	b.doneAt[w.id] = len(b.done)
	b.done = append(b.done, w)
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

// updates builds the store writes of leads (update). Their states name
// their rules by id of the name dictionary: the names the process's copy
// lacks (new rules, a new model version) are added in one round trip, and
// the leads that named them are encoded again with their ids.
func (b *batch) updates(ctx context.Context, ws []*leadWork) ([]state.Update, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	t := &missTable{d: b.p.store.Names()}
	ups := make([]state.Update, len(ws))
	var again []int
	for i, w := range ws {
		n := len(t.miss)
		up, err := b.update(w, t)
		if err != nil {
			return nil, err
		}
		ups[i] = up
		if len(t.miss) > n {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return ups, nil
	}
	t0 := time.Now()
	d, err := b.p.store.EnsureNames(ctx, t.miss)
	b.p.cfg.Observer.StoreRoundTrip("names", time.Since(t0))
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	for _, i := range again {
		data, err := ws[i].st.AppendBinaryNames(ups[i].Data[:0], b.names, d)
		if err != nil {
			return nil, err
		}
		ups[i].Data = data
	}
	return ups, nil
}

// missTable is a copy of the name dictionary that notes the names asked of
// it that it lacks.
type missTable struct {
	d    *state.NameDict
	miss []string
}

func (t *missTable) NameID(name string) (uint64, bool) {
	id, ok := t.d.NameID(name)
	if !ok {
		t.miss = append(t.miss, name)
	}
	return id, ok
}

func (t *missTable) Name(id uint64) (string, bool) { return t.d.Name(id) }

// knowNames makes sure the process's copy of the name dictionary knows
// every id the records name, so that decoding them does not fail on an id
// another process added (one round trip when it must catch up). A record
// naming an id the dictionary does not hold is an error, as an unknown
// stage or topic id is for the store: decoding it would replace the lead.
func (b *batch) knowNames(ctx context.Context, recs map[string]state.Record) error {
	top, lead := uint64(0), ""
	for id, r := range recs {
		if n := scoring.MaxNameID(r.Data); n > top {
			top, lead = n, id
		}
	}
	if top <= b.p.store.Names().Len() {
		return nil
	}
	t0 := time.Now()
	d, err := b.p.store.NamesUpTo(ctx, top)
	b.p.cfg.Observer.StoreRoundTrip("names", time.Since(t0))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if d.Len() < top {
		return fmt.Errorf("redis: lead %s names id %d, the name dictionary holds %d", lead, top, d.Len())
	}
	return nil
}

// update builds the store write of one lead: state, offsets of the events applied,
// leaderboard, next timer and identities. A lead absorbed by another is written
// as a tombstone: its state and offsets (so that its events are recognised as
// applied when they are delivered again), and a timer only while its outbox
// waits.
func (b *batch) update(w *leadWork, names scoring.NameTable) (state.Update, error) {
	// Sized from the stored state, which the new one rarely outgrows by
	// much: MarshalBinary's default start grows the buffer two or three
	// times for a typical state.
	data, err := w.st.AppendBinaryNames(make([]byte, 0, len(w.base.Data)+64), b.names, names)
	if err != nil {
		return state.Update{}, err
	}
	up := state.Update{Base: w.base, Data: data}
	up.Offsets = map[string]int64{}
	for _, it := range w.items {
		if o, ok := up.Offsets[it.src]; !ok || it.rec.Offset > o {
			up.Offsets[it.src] = it.rec.Offset
		}
	}
	if into := w.into; into != "" || w.base.MergedInto != "" {
		if into == "" {
			into = w.base.MergedInto
		}
		up.MergedInto = into
		if w.st.Pending() > 0 {
			up.Deadline = b.retryAt()
		}
		return up, nil
	}
	up.CommitAck = b.p.cfg.CommitAck && !w.swept
	up.Absorbed, up.Deadline = w.absorbed, b.deadline(&w.st, !up.CommitAck)
	b.boards(&up, &w.st)
	// The lead takes over the identities of the leads it absorbs, so that they
	// resolve to it directly rather than through their tombstones.
	var ids []string
	var collect func(w *leadWork)
	collect = func(w *leadWork) {
		for _, it := range w.items {
			for _, k := range it.index {
				ids = appendUnique(ids, k)
			}
		}
		for _, s := range w.subs {
			for _, k := range s.base.Identities {
				ids = appendUnique(ids, k)
			}
			collect(s)
		}
	}
	collect(w)
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

// deadline is the lead's next timer: its next time-driven change, or, with
// retry, sooner when stage changes wait in its outbox (so a crash before
// they are produced is repaired by the timer sweep even if no event for the
// lead ever comes). An outbox the commit acknowledges needs no retry: if
// the batch does not commit, its events come again.
func (b *batch) deadline(st *scoring.Lead, retry bool) int64 {
	next, ok := b.set.NextChange(st)
	if retry && st.Pending() > 0 {
		retry := b.retryAt()
		if !ok || retry < next {
			return retry
		}
	}
	if !ok {
		return 0
	}
	return next
}

// boards puts the lead on each model's leaderboard of its current stage:
// the first model's as the update's Stage, the others' as its Boards.
func (b *batch) boards(up *state.Update, l *scoring.Lead) {
	for i, e := range b.set.Engines() {
		st := &l.States[i]
		name, rank := state.BoardName(b.names[i], st.Stage), e.Rank(st)
		if i == 0 {
			up.Stage, up.Rank = name, rank
			continue
		}
		up.Boards = append(up.Boards, state.Board{Stage: name, Rank: rank})
	}
}

// retryAt is when a lead whose stage changes wait in its outbox is looked at
// again by its timer. It counts on the timer clock, the one its timer is swept
// by: during a backfill that clock runs on event time.
func (b *batch) retryAt() int64 {
	base := b.clock
	if base == 0 {
		base = b.now.UnixMilli()
	}
	return base + b.p.cfg.OutboxRetry.Milliseconds()
}

// collectOutputs turns every written lead's pending transitions into stage-change
// records (deterministic ids), in the order the leads were written (absorbed
// leads before the leads that absorbed them). With several apply lanes and
// no tracing (which keeps per-batch state), the leads are encoded in
// contiguous parts side by side, and the parts joined in order.
func (b *batch) collectOutputs() {
	defer func() { b.outputs = b.accountChanges(b.outputs) }()
	n := b.p.cfg.ApplyLanes
	if n = min(n, len(b.done)/minApplyShare); n <= 1 || b.tr != nil {
		b.outputs = b.stageChanges(b.outputs, b.done)
		return
	}
	parts := make([][]Record, n)
	inParts(n, len(b.done), func(part, lo, hi int) { parts[part] = b.stageChanges(nil, b.done[lo:hi]) })
	for _, p := range parts {
		b.outputs = append(b.outputs, p...)
	}
}

// stageChanges appends the stage-change records of the leads in done to
// out: each model's outbox in set order, each change with the model's name
// in its payload and headers.
func (b *batch) stageChanges(out []Record, done []*leadWork) []Record {
	for _, w := range done {
		if w.st.Pending() == 0 {
			continue
		}
		// Changes of this batch's events carry the identities known right after
		// their event; older ones waiting in the outbox, the lead's identities now.
		now := output.IdentitiesFromKeys(b.outboxIdentities(w))
		for m, e := range b.set.Engines() {
			st := &w.st.States[m]
			n := st.Pending
			if n == 0 {
				continue
			}
			trs := st.Recent[len(st.Recent)-n:]
			var fresh []output.Identities
			if w.trIdents != nil {
				fresh = w.trIdents[m]
			}
			first := len(trs) - len(fresh)
			for i := range trs {
				ids := now
				if first >= 0 && i >= first {
					ids = fresh[i-first]
				}
				sc := output.NewStageChange(e, w.id, ids, &trs[i], b.now.UnixMilli())
				out = append(out, b.stageChangeRecord(w.id, &sc))
				b.tr.stageChange(&out[len(out)-1], w, &trs[i]) // tracing.go
			}
			if w.emit == nil {
				w.emit = make([][]scoring.Transition, len(w.st.States))
			}
			w.emit[m] = trs
		}
	}
	return out
}

// stageChangeRecord is the output record of a stage change: keyed by lead,
// so one lead's changes keep their order, with the model in the headers so
// a consumer can pick one model's changes without parsing the payload.
func (b *batch) stageChangeRecord(lead string, sc *output.StageChange) Record {
	v, _ := sc.Marshal()
	return Record{Topic: b.p.cfg.Topics.StageChanges, Key: []byte(lead), Value: v,
		Headers: changeHeaders(sc.Model, sc.ModelVersion, sc.ID)}
}

// changeHeaders are the headers of a stage change, a lead's or an
// account's: JSON, the model (named models only) and its version, the id.
func changeHeaders(model, version, id string) []Header {
	hdrs := make([]Header, 0, 4)
	hdrs = append(hdrs, Header{Key: "content-type", Value: []byte("application/json")})
	if model != "" {
		hdrs = append(hdrs, Header{Key: "leadscore-model", Value: []byte(model)})
	}
	return append(hdrs, Header{Key: "leadscore-model-version", Value: []byte(version)},
		Header{Key: "leadscore-event-id", Value: []byte(id)})
}

// outboxIdentities are the identity keys that stage changes waiting in w's
// outbox are produced with: the lead's own. A lead created and stitched into
// another in one batch has a tombstone without any (its identities went to
// the lead that absorbed it); its outbox, produced again after a crash, then
// names the absorbing lead's, which include every identity the change knew.
func (b *batch) outboxIdentities(w *leadWork) []string {
	if len(w.written.Identities) > 0 {
		return w.written.Identities
	}
	into := cmp.Or(w.into, w.written.MergedInto, w.base.MergedInto)
	for i := 0; into != "" && i < 8; i++ {
		var r state.Record
		if j, ok := b.doneAt[into]; ok {
			r = b.done[j].written
		} else if l, ok := b.loaded[into]; ok {
			r = l
		} else {
			break
		}
		if len(r.Identities) > 0 {
			return r.Identities
		}
		into = r.MergedInto
	}
	return []string{w.id}
}

// ackOutbox clears the outbox of leads whose stage changes are now produced and
// committed. A lead changed meanwhile by another writer keeps its outbox, which
// only means a duplicate stage change (same id) later — never a lost one.
//
// It also empties the state of tombstones whose absorbing lead was written in
// this batch listing them as absorbed: their state has been merged for good and
// their outbox produced, and only their offsets (kept) are still read, to
// recognise redelivered events; a merged state kept there would only cost Redis
// memory.
func (b *batch) ackOutbox(ctx context.Context) {
	ups := b.ackAccounts()
	for _, w := range b.done {
		if into := cmp.Or(w.into, w.written.MergedInto); into != "" && len(w.written.Data) > 0 {
			if i, ok := b.doneAt[into]; ok && slices.Contains(b.done[i].written.Absorbed, w.id) {
				ups = append(ups, state.Update{Base: w.written})
				continue
			}
		}
		if w.st.Pending() == 0 || w.written.CommitAck() {
			continue
		}
		w.st.ClearPending()
		// The names were added when the lead was written.
		data, err := w.st.AppendBinaryNames(nil, b.names, b.p.store.Names())
		if err != nil {
			continue
		}
		if w.written.MergedInto != "" {
			ups = append(ups, state.Update{Base: w.written, Data: data})
			continue
		}
		up := state.Update{Base: w.written, Data: data, Deadline: b.deadline(&w.st, true)}
		b.boards(&up, &w.st)
		ups = append(ups, up)
	}
	if len(ups) == 0 {
		return
	}
	if _, err := b.storeWrite(ctx, "ack", ups); err != nil {
		b.p.cfg.Logger.Warn("outbox acknowledgement failed; stage changes may be produced again", "err", err)
	}
}

// observe counts the committed batch: records by outcome, dead letters, stage
// changes and their latency. Counting after the commit, not while working,
// keeps a batch that is retried or redelivered from being counted twice.
func (b *batch) observe(recs []Record, start time.Time) {
	o := b.p.cfg.Observer
	for _, d := range b.dead {
		o.DeadLetter(d.reason)
		o.Consumed(d.topic, "dead_letter", 1)
	}
	for _, it := range b.items {
		if it.outcome != "" {
			o.Consumed(it.rec.Topic, it.outcome, 1)
		}
		if it.late {
			o.Late(it.rec.Topic)
		}
	}
	for _, w := range b.done {
		for m, trs := range w.emit {
			for i := range trs {
				o.Transition(b.names[m], trs[i].From, trs[i].To)
				o.Latency(b.now.Sub(time.UnixMilli(trs[i].At)))
			}
		}
	}
	for _, aw := range b.accounts {
		for i := range aw.emit {
			o.AccountTransition(b.names[aw.model], aw.emit[i].From, aw.emit[i].To)
		}
	}
	o.Batch(len(recs), b.p.cfg.Now().Sub(start))
}
