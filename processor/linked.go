package processor

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Leads whose criteria read their account (account_stage conditions,
// scoring.Model.UsesAccountStages): linked batches.
//
// The oracle applies events one by one in the canonical order: a lead's
// event reads its account as the events before it left it, the member
// updates it makes go to the accounts right after, and an account that rises
// tells its members at once (scoring.Engine.AccountRose). A batch applies
// lead by lead, so it computes the same thing as a fixed point, in memory:
//
//  1. apply every lead of the batch from its stored state, each event seeing
//     the accounts through a timeline (the account after each member update
//     of the batch, by the update's place in the canonical order) and each
//     rise told at its place among the lead's events;
//  2. apply the member updates of that round to the stored accounts in the
//     canonical order, which gives the next timelines and the rises, with
//     the members each is told to (members the batch does not hold are
//     loaded and join it);
//  3. stop when no lead read an account stage the new timelines disagree
//     with and the rises are the ones told; else go round again. A round
//     fixes at least the earliest place where the last one was wrong, so it
//     ends; in practice in two or three rounds.
//
// The leads are then written *before* the accounts. After a crash between
// the two writes the events are delivered again and the leads recognise
// them as applied (their offsets): they make no member update this time.
// So before the leads, the batch writes its member updates to a journal,
// one record per input partition ("journal:<topic>/<partition>"), each
// update under the offset of its event; a replayed event's updates come
// from there, at their places, and the accounts, their stage changes and
// the rises come out as before (the accounts refuse the updates they hold
// already, and a member told a rise again recognises it: AccountRose
// remembers each). Written the other way round, an account would already
// hold the updates of leads that apply their events again, and those would
// read the account's future. The journal is rewritten by the partition's
// next batch, keeping the entries past that batch's last offset (a batch
// redone in smaller parts); its size is one batch's updates per partition.
// Linked batches need a sole owner (Config.CommitAck): a member told a rise
// with no event of its own in the batch has its outbox acknowledged by a
// second write, the others by the commit.

// maxLinkRounds bounds the fixed point; each round applies the batch's
// leads in memory once.
const maxLinkRounds = 16

// journalPrefix starts the record id of a partition's journal.
const journalPrefix = "journal:"

// journalEntry is one member update of the journal, under its event's
// offset. The event's id and time are the update's (the event comes again
// with them).
type journalEntry struct {
	offset int64
	model  int
	u      scoring.MemberUpdate
}

// linkSignal is a rise of an account, to be told to one member. A lead's
// signals are in the canonical order of the updates that made them.
type linkSignal struct {
	pos     int // the place of the update's event among the batch's items
	model   int
	account string
	tr      scoring.Transition
}

// signalKey is what of a signal decides what telling it does
// (Engine.AccountRose reads the account and the rise's stage, instant and
// trigger; pos places it among the lead's events): two rounds whose
// signals to a lead have the same keys, in the same order, move it alike.
type signalKey struct {
	pos, model           int
	account, to, trigger string
	at                   int64
}

func (s *linkSignal) key() signalKey {
	return signalKey{pos: s.pos, model: s.model, account: s.account, to: s.tr.To, trigger: s.tr.TriggerID, at: s.tr.At}
}

// linkRead is one account stage a lead's event read.
type linkRead struct {
	model   int
	account string
	pos     int
	t       int64
	got     int
}

// accountSnap is where an account goes after the batch's updates up to
// one of them.
type accountSnap struct {
	pos  int // the event of the update it follows (-1: the stored account)
	path scoring.AccountPath
}

// linkState is a linked batch's view of its accounts.
type linkState struct {
	b *batch
	// stored are the account records read (by record id); a record id
	// stored without Exists is an account never written.
	stored map[string]state.Record
	// timelines are, per account record id, the account as stored and after
	// each update of the round, in order.
	timelines map[string][]accountSnap
	// signals are, per lead id, the rises it is told, in order.
	signals map[string][]linkSignal
	// untold are members a rise cannot be told to: no lead record, or one
	// stitched into another lead (whose account hears of it by the stitch).
	untold map[string]bool
	// applied counts the leads applied over the rounds (observeLinked).
	applied int
	// journals are the journal records of the batch's partitions, by
	// source key, and journaled their entries by offset.
	journals  map[string]state.Record
	journaled map[string]map[int64][]journalEntry
}

func newLinkState(b *batch) *linkState {
	return &linkState{b: b, stored: map[string]state.Record{}, timelines: map[string][]accountSnap{},
		signals: map[string][]linkSignal{}, untold: map[string]bool{},
		journals: map[string]state.Record{}, journaled: map[string]map[int64][]journalEntry{}}
}

// stageAt is the funnel position of the account's stage at t, as the
// updates of the batch's events before pos left it; an account not loaded
// yet reads as new (the next round loads it: loadAccounts). It only reads,
// so the leads of a round are applied side by side.
func (ls *linkState) stageAt(model int, account string, pos int, t int64) int {
	tl, ok := ls.timelines[state.AccountRecordID(ls.b.names[model], account)]
	if !ok {
		return 0
	}
	// The last snapshot of an update before pos (the stored account's, at
	// -1, is before every item).
	k, _ := slices.BinarySearchFunc(tl, pos, func(s accountSnap, pos int) int { return cmp.Compare(s.pos, pos) })
	return tl[max(k-1, 0)].path.At(t)
}

// leadView is the scoring.AccountView of one lead's event.
type leadView struct {
	ls  *linkState
	w   *leadWork
	pos int
}

// AccountStage implements scoring.AccountView.
func (v *leadView) AccountStage(model int, account string, t int64) int {
	got := v.ls.stageAt(model, account, v.pos, t)
	v.w.reads = append(v.w.reads, linkRead{model: model, account: account, pos: v.pos, t: t, got: got})
	return got
}

// tell applies to w the rises told to it that come before pos (all of
// them for pos < 0).
func (b *batch) tell(w *leadWork, pos int, mark, note func()) {
	sigs := b.link.signals[w.id]
	for w.told < len(sigs) && (pos < 0 || sigs[w.told].pos < pos) {
		s := &sigs[w.told]
		w.told++
		w.toldKeys = append(w.toldKeys, s.key())
		mark()
		eng := b.set.Engines()[s.model]
		if trs := eng.AccountRose(&w.st.States[s.model], s.account, &s.tr); len(trs) > 0 {
			w.rises++
		}
		note()
	}
}

// applyLinked applies a linked batch's leads to the fixed point, then
// writes the leads, then their accounts.
func (b *batch) applyLinked(ctx context.Context, order []string, byLead map[string][]*item) error {
	ls := b.link
	b.indexTombstones()
	if err := ls.loadJournals(ctx); err != nil {
		return err
	}
	var (
		works []*leadWork
		ups   []accountUpdate // the member updates of the last round's leads
		round int
	)
	prev := map[string]*leadWork{}
	for ; ; round++ {
		if round == maxLinkRounds {
			return fmt.Errorf("processor: leads and their accounts still changing after %d rounds", round)
		}
		var err error
		if order, err = b.joinMembers(ctx, order); err != nil {
			return err
		}
		works = b.applyRound(order, byLead, prev)
		clear(prev)
		for _, w := range works {
			prev[w.id] = w
		}
		ups = gatherUpdates(works)
		if err := ls.loadAccounts(ctx, ups, works); err != nil {
			return err
		}
		if ls.rebuild(ups, works) {
			break
		}
	}
	b.observeLinked(works, round+1)
	if err := b.writeJournals(ctx, ups); err != nil {
		return err
	}
	retry, err := b.write(ctx, works)
	if err != nil {
		return err
	}
	if len(retry) > 0 {
		// The journal holds the written leads' updates: the batch starts
		// over from fresh reads and the accounts get every update then.
		return fmt.Errorf("%w: %d leads of a linked batch changed by another writer", errStaleWorkingSet, len(retry))
	}
	return b.applyAccounts(ctx, ups)
}

// applyRound applies the leads of order in shares side by side (as
// applyShare does, leads an event stitches together in one share), reusing
// from prev the work of a lead that read the same account stages and was
// told the same rises as in the last round: it would come out the same.
func (b *batch) applyRound(order []string, byLead map[string][]*item, prev map[string]*leadWork) []*leadWork {
	shares := b.shares(order, byLead, b.p.cfg.ApplyLanes)
	out := make([][]*leadWork, len(shares))
	applied := make([]int, len(shares))
	apply := func(i int) {
		visited := map[string]bool{}
		for _, pass := range []bool{true, false} {
			for _, id := range shares[i] {
				if pass && b.absorber[id] != "" || !pass && visited[id] {
					continue
				}
				if w := prev[id]; w != nil && !b.link.dirty(w) {
					markVisited(w, visited)
					out[i] = append(out[i], w)
					continue
				}
				out[i] = append(out[i], b.applyLead(id, "", byLead, visited))
				applied[i]++
			}
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < len(shares); i++ {
		wg.Go(func() { apply(i) })
	}
	apply(0)
	wg.Wait()
	var works []*leadWork
	for i := range out {
		works = append(works, out[i]...)
		b.link.applied += applied[i]
	}
	return works
}

// observeLinked logs, at debug level, what a linked batch's fixed point
// took and what its rises did.
func (b *batch) observeLinked(works []*leadWork, rounds int) {
	n := 0
	var walk func(w *leadWork)
	walk = func(w *leadWork) {
		n += w.rises
		for _, s := range w.subs {
			walk(s)
		}
	}
	for _, w := range works {
		walk(w)
	}
	b.p.cfg.Logger.Debug("linked batch settled", "rounds", rounds, "leads", len(works), "leads_applied", b.link.applied,
		"moved_by_their_account", n)
}

// gatherUpdates lists the member updates of works (absorbed leads' first)
// in the canonical order of their events, the order applyAccounts applies
// them in.
func gatherUpdates(works []*leadWork) []accountUpdate {
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
	// Stable: one event's updates keep their order (leaving, then joining).
	slices.SortStableFunc(ups, func(x, y accountUpdate) int { return x.pos - y.pos })
	return ups
}

// joinMembers loads the leads told a rise that the batch does not hold yet
// and adds them to order (sorted, so that the order does not depend on
// maps); a member whose record is gone or stitched into another lead is
// not told.
func (b *batch) joinMembers(ctx context.Context, order []string) ([]string, error) {
	held := make(map[string]bool, len(order))
	for _, id := range order {
		held[id] = true
	}
	var ids []string
	for id := range b.link.signals {
		// A lead an event stitches into another is told through it.
		if !held[id] && b.absorber[id] == "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return order, nil
	}
	slices.Sort(ids)
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	if err := b.load(ctx, want); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if r, ok := b.loaded[id]; ok && r.Exists() && r.MergedInto == "" {
			order = append(order, id)
		} else {
			b.link.untold[id] = true
			delete(b.link.signals, id)
		}
	}
	return order, nil
}

// loadAccounts reads the accounts the round's updates and reads name that
// are not loaded yet.
func (ls *linkState) loadAccounts(ctx context.Context, ups []accountUpdate, works []*leadWork) error {
	want := map[string]bool{}
	var read func(w *leadWork)
	read = func(w *leadWork) {
		for _, r := range w.reads {
			want[state.AccountRecordID(ls.b.names[r.model], r.account)] = true
		}
		for _, s := range w.subs {
			read(s)
		}
	}
	for _, w := range works {
		read(w)
	}
	for i := range ups {
		want[state.AccountRecordID(ls.b.names[ups[i].model], ups[i].u.Account)] = true
	}
	var ids []string
	for id := range want {
		if _, ok := ls.stored[id]; !ok && state.ValidRecordID(id) == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	recs, err := ls.load(ctx, ids, "accounts")
	if err != nil {
		return err
	}
	for _, r := range recs {
		ls.stored[r.LeadID] = r
	}
	return nil
}

// load reads records of the store (accounts, journals), each named by its
// id even when it does not exist.
func (ls *linkState) load(ctx context.Context, ids []string, what string) ([]state.Record, error) {
	t0 := time.Now()
	recs, err := ls.b.p.store.Load(ctx, ids)
	ls.b.p.cfg.Observer.StoreRoundTrip("load", time.Since(t0))
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", what, err)
	}
	out := make([]state.Record, len(ids))
	for i, id := range ids {
		out[i] = recs[id]
		out[i].LeadID = id
	}
	return out, nil
}

// rebuild applies the round's updates to the stored accounts, in order,
// into new timelines and rises, and reports whether the round's leads saw
// them already: every account stage they read is the new timelines', and
// they were told exactly the new rises.
func (ls *linkState) rebuild(ups []accountUpdate, works []*leadWork) bool {
	b := ls.b
	timelines := map[string][]accountSnap{}
	signals := map[string][]linkSignal{}
	accts := map[string]*scoring.Account{}
	for id, r := range ls.stored {
		model, _, ok := b.parseAccountID(id)
		if !ok {
			continue
		}
		eng := b.set.Engines()[model]
		a := b.decodeAccount(eng, r)
		accts[id] = &a
		timelines[id] = []accountSnap{{pos: -1, path: eng.AccountPath(&a)}}
	}
	for i := range ups {
		up := &ups[i]
		id := state.AccountRecordID(b.names[up.model], up.u.Account)
		a := accts[id]
		if a == nil {
			continue // an id the store cannot key: not scored (applyAccounts says so)
		}
		eng := b.set.Engines()[up.model]
		trs := eng.ApplyMember(a, &up.u)
		timelines[id] = append(timelines[id], accountSnap{pos: up.pos, path: eng.AccountPath(a)})
		eng.TellRises(a, trs, func(lead string, rise *scoring.Transition) {
			if !ls.untold[lead] {
				signals[lead] = append(signals[lead], linkSignal{pos: up.pos, model: up.model, account: up.u.Account, tr: *rise})
			}
		})
	}
	stable := sameSignals(ls.signals, signals)
	ls.timelines, ls.signals = timelines, signals
	if !stable {
		return false
	}
	for _, w := range works {
		if ls.dirty(w) {
			return false
		}
	}
	return true
}

// dirty reports whether a lead (or one it absorbs) read an account stage
// that the current timelines disagree with, or was told other rises than
// the current ones.
func (ls *linkState) dirty(w *leadWork) bool {
	for _, r := range w.reads {
		if ls.stageAt(r.model, r.account, r.pos, r.t) != r.got {
			return true
		}
	}
	sigs := ls.signals[w.id]
	if len(sigs) != len(w.toldKeys) {
		return true
	}
	for i := range sigs {
		if sigs[i].key() != w.toldKeys[i] {
			return true
		}
	}
	for _, s := range w.subs {
		if ls.dirty(s) {
			return true
		}
	}
	return false
}

// markVisited marks a lead and those it absorbs as worked on.
func markVisited(w *leadWork, visited map[string]bool) {
	visited[w.id] = true
	for _, s := range w.subs {
		markVisited(s, visited)
	}
}

func sameSignals(x, y map[string][]linkSignal) bool {
	if len(x) != len(y) {
		return false
	}
	for id, xs := range x {
		ys, ok := y[id]
		if !ok || len(xs) != len(ys) {
			return false
		}
		for i := range xs {
			if xs[i].key() != ys[i].key() {
				return false
			}
		}
	}
	return true
}

// checkLinked refuses models whose leads read their accounts unless the
// processor is the sole owner of its input (Config.CommitAck).
func checkLinked(cfg *Config, m *scoring.Set) error {
	if m != nil && m.UsesAccountStages() && !cfg.CommitAck {
		return errors.New("processor: a model's lead criteria read the account (account_stage): they need a sole owner of the input (--ownership sole), which acknowledges outboxes with its commits")
	}
	return nil
}

// loadJournals reads the journals of the batch's partitions.
func (ls *linkState) loadJournals(ctx context.Context) error {
	srcs := map[string]bool{}
	for _, it := range ls.b.items {
		srcs[it.src] = true
	}
	ids := make([]string, 0, len(srcs))
	for src := range srcs {
		ids = append(ids, journalPrefix+src)
	}
	if len(ids) == 0 {
		return nil
	}
	recs, err := ls.load(ctx, ids, "journals")
	if err != nil {
		return err
	}
	for _, r := range recs {
		src := strings.TrimPrefix(r.LeadID, journalPrefix)
		ls.journals[src] = r
		entries, err := decodeJournal(r.Data)
		if err != nil {
			ls.b.p.cfg.Logger.Error("corrupt journal ignored", "journal", r.LeadID, "err", err)
			continue
		}
		byOffset := map[int64][]journalEntry{}
		for _, e := range entries {
			byOffset[e.offset] = append(byOffset[e.offset], e)
		}
		ls.journaled[src] = byOffset
	}
	return nil
}

// replayed appends to w the journaled member updates of a replayed item.
func (ls *linkState) replayed(w *leadWork, it *item) {
	for _, e := range ls.journaled[it.src][it.rec.Offset] {
		u := e.u
		u.At, u.EventID = it.ev.Time, it.ev.ID
		w.acctUps = append(w.acctUps, accountUpdate{pos: it.pos, model: e.model, u: u})
	}
}

// writeJournals writes, before the leads, the member updates of the batch's
// events to their partitions' journals, keeping the entries past the
// batch's last offset in each.
func (b *batch) writeJournals(ctx context.Context, ups []accountUpdate) error {
	ls := b.link
	last := map[string]int64{}
	for _, it := range b.items {
		last[it.src] = max(last[it.src], it.rec.Offset)
	}
	fresh := map[string][]journalEntry{}
	for _, up := range ups {
		it := b.items[up.pos]
		fresh[it.src] = append(fresh[it.src], journalEntry{offset: it.rec.Offset, model: up.model, u: up.u})
	}
	var writes []state.Update
	for src, end := range last {
		entries := fresh[src]
		old := ls.journaled[src]
		for off, es := range old {
			if off > end {
				entries = append(entries, es...)
			}
		}
		if len(entries) == 0 && len(old) == 0 {
			continue
		}
		slices.SortStableFunc(entries, func(x, y journalEntry) int { return cmp.Compare(x.offset, y.offset) })
		writes = append(writes, state.Update{Base: ls.journals[src], Data: encodeJournal(entries)})
	}
	if len(writes) == 0 {
		return nil
	}
	res, err := b.storeWrite(ctx, "journal", writes)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("%w: journal %s: %w", errStaleWorkingSet, r.LeadID, r.Err)
		}
	}
	return nil
}

// journalFormat is the first byte of an encoded journal.
const journalFormat = 1

// Entry flags.
const (
	journalLeave  = 1 << iota // MemberUpdate.Leave
	journalTraits             // the update carries account traits
)

// encodeJournal encodes journal entries: for each, its offset (a delta
// from the previous one), model, flags, account, lead, score, role and,
// for a group call, the account traits.
func encodeJournal(entries []journalEntry) []byte {
	b := []byte{journalFormat}
	b = binary.AppendUvarint(b, uint64(len(entries)))
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	prev := int64(0)
	for _, e := range entries {
		b = binary.AppendVarint(b, e.offset-prev)
		prev = e.offset
		b = binary.AppendUvarint(b, uint64(e.model))
		var flags byte
		if e.u.Leave {
			flags |= journalLeave
		}
		if len(e.u.Traits) > 0 {
			flags |= journalTraits
		}
		b = append(b, flags)
		str(e.u.Account)
		str(e.u.Lead)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.u.Score))
		str(e.u.Role)
		if flags&journalTraits != 0 {
			b = binary.AppendUvarint(b, uint64(len(e.u.Traits)))
			for _, p := range e.u.Traits {
				str(p.Key)
				b = append(b, byte(p.Kind))
				str(p.Str)
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Num))
			}
		}
	}
	return b
}

// errCorruptJournal is a journal record encodeJournal did not write.
var errCorruptJournal = errors.New("processor: corrupt journal")

// decodeJournal decodes a journal encoded by encodeJournal (nil: empty).
func decodeJournal(data []byte) ([]journalEntry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if data[0] != journalFormat {
		return nil, fmt.Errorf("%w: format %d", errCorruptJournal, data[0])
	}
	r := data[1:]
	fail := false
	uv := func() uint64 {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			fail = true
			return 0
		}
		r = r[n:]
		return v
	}
	str := func() string {
		n := uv()
		if fail || n > uint64(len(r)) {
			fail = true
			return ""
		}
		s := string(r[:n])
		r = r[n:]
		return s
	}
	f64 := func() float64 {
		if len(r) < 8 {
			fail = true
			return 0
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(r))
		r = r[8:]
		return v
	}
	byte1 := func() byte {
		if len(r) < 1 {
			fail = true
			return 0
		}
		v := r[0]
		r = r[1:]
		return v
	}
	n := uv()
	if fail || n > uint64(len(r)) {
		return nil, errCorruptJournal
	}
	out := make([]journalEntry, 0, n)
	prev := int64(0)
	for range n {
		d, k := binary.Varint(r)
		if k <= 0 {
			return nil, errCorruptJournal
		}
		r = r[k:]
		var e journalEntry
		e.offset = prev + d
		prev = e.offset
		e.model = int(uv())
		flags := byte1()
		e.u.Leave = flags&journalLeave != 0
		e.u.Account, e.u.Lead = str(), str()
		e.u.Score = f64()
		e.u.Role = str()
		if flags&journalTraits != 0 {
			k := uv()
			if fail || k > uint64(len(r)) {
				return nil, errCorruptJournal
			}
			for range k {
				var p scoring.Prop
				p.Key = str()
				p.Kind = scoring.PropKind(byte1())
				p.Str = str()
				p.Num = f64()
				e.u.Traits = append(e.u.Traits, p)
			}
		}
		if fail {
			return nil, errCorruptJournal
		}
		out = append(out, e)
	}
	if len(r) != 0 {
		return nil, errCorruptJournal
	}
	return out, nil
}
