package state

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Update is the new state of one lead, computed from the Record that Load
// (or Get, or a previous Write's Result) returned for it.
type Update struct {
	// Base is the record the update was computed from, unmodified. Its
	// LeadID names the lead and its Version is the compare-and-set
	// expectation: the write applies only if the lead is still at that
	// version (Version 0: only if it does not exist). Use the record Load
	// returned even for a lead that does not exist yet.
	Base Record
	// Data replaces the encoded scoring state.
	Data []byte
	// Offsets ("topic/partition" -> offset of the last event applied) are
	// merged into Base.Offsets, keeping the larger offset per key, and written
	// atomically with Data: that is what makes a replayed event recognisable.
	Offsets map[string]int64
	// MergedInto, when set, makes the lead a tombstone stitched into that
	// lead: it leaves its leaderboard, and Resolve's answers for its
	// identities lead here until the absorbing lead has been written with
	// them (see docs/state.md). Once set it stays set; Stage must be empty.
	MergedInto string
	// Absorbed adds the ids of leads merged into this one (kept as a set).
	Absorbed []string
	// Stage places the lead on Stage's leaderboard with score Rank (a
	// decay-invariant rank computed by the caller), leaving the previous
	// stage's board; "" takes it off every board.
	Stage string
	Rank  float64
	// Boards are the further leaderboards the lead is on besides Stage's —
	// with several scoring models, the others' stages (named so that they
	// differ from each other's) — replacing those of Base. A tombstone has
	// none.
	Boards []Board
	// Deadline is the unix time in milliseconds of the lead's next
	// time-driven change; 0 removes its timer. Timers have one-second
	// resolution and never fire early (the deadline is rounded up). Writing
	// the lead after ClaimDue claimed its timer replaces the claim with this
	// deadline (re-arms it).
	Deadline int64
	// Identities are added to the lead's identity list, and indexed so that
	// Resolve finds the lead by them (an identity whose home lead is this
	// lead needs no index entry). Re-sending an identity is harmless and
	// repairs a missing index entry.
	Identities []string
	// CommitAck marks the lead's outbox (the stage changes the engine's
	// state holds as pending) as acknowledged by the Kafka commit of the
	// batch that writes it, rather than by a later write: once every offset
	// of the record is below its partition's committed offset, the writer
	// that produced the outbox has committed, so it was produced
	// (Record.CommitAck, Record.OffsetsBelow). Only a sole owner, which
	// knows the committed offsets of every partition its leads' events come
	// from, can read it so; other readers see an outbox still pending and at
	// worst produce it again, with the same ids.
	CommitAck bool
}

// Result is the outcome of one Update.
type Result struct {
	LeadID string
	// Version is the lead's version after the write when Err is nil; with
	// ErrConflict, the version that is stored now (0: none).
	Version uint64
	// Record is the record as written (when Err is nil or wraps
	// ErrIndexIncomplete): a valid Base for a further update.
	Record Record
	// Err is nil (applied), ErrConflict (not applied: reload and
	// re-apply), an error wrapping ErrIndexIncomplete (applied, see there),
	// or another error; when IsRetryable(Err) the update may or may not have
	// been applied (a lost reply): Load the lead again, and its Version and
	// Offsets tell.
	Err error
}

// maxGroup bounds the leads of one script call, so that one call does not
// block Redis for long.
const maxGroup = 500

// pendingWrite is one encoded update.
type pendingWrite struct {
	idx    int
	leadID string
	shard  uint64
	key    string
	// The lead's script arguments (see writeLua): record key, lead id,
	// expected version prefix, new record, deadline ("" for none), summary
	// field and value ("" for none). They are byte slices of the batch's
	// arena passed by pointer, so that a lead's arguments cost no
	// allocation at all: boxing a string or a slice into an interface{}
	// allocates, boxing a pointer does not.
	argv    [7]scriptArg
	boards  []scriptArg // further leaderboard summaries: field, value, ...
	index   []indexOp   // identity index writes (Standalone: in the script; Cluster: after it)
	version uint64
	record  Record
}

// scriptArg is one script argument. go-redis writes an
// encoding.BinaryMarshaler's bytes as they are.
type scriptArg []byte

// MarshalBinary returns the argument's bytes.
func (a *scriptArg) MarshalBinary() ([]byte, error) { return *a, nil }

// String shows the argument in go-redis's command strings (hooks, errors).
func (a *scriptArg) String() string { return string(*a) }

// nargs is the number of script arguments of the lead.
func (pw *pendingWrite) nargs() int { return 7 + 2*pw.nboards() + 3*len(pw.index) }

// nboards is the number of leaderboard summaries the lead's script call
// tightens.
func (pw *pendingWrite) nboards() int {
	n := len(pw.boards) / 2
	if len(pw.argv[5]) > 0 {
		n++
	}
	return n
}

// appendArgs appends the lead's script arguments, with its identity index
// operations when withIndex.
func (pw *pendingWrite) appendArgs(args []interface{}, withIndex bool) []interface{} {
	a := &pw.argv
	n := 0
	if withIndex {
		n = len(pw.index)
	}
	args = append(args, &a[0], &a[1], &a[2], &a[3], &a[4], pw.nboards())
	if len(a[5]) > 0 {
		args = append(args, &a[5], &a[6])
	}
	for i := range pw.boards {
		args = append(args, &pw.boards[i])
	}
	args = append(args, n)
	for _, op := range pw.index[:n] {
		if op.del {
			args = append(args, "D", op.key, op.field)
		} else {
			args = append(args, "H", op.key, op.field)
		}
	}
	return args
}

type indexOp struct {
	del        bool
	key, field string
}

// Write applies a batch of updates in one round trip: a few script calls
// grouped by Redis Cluster slot (one call per 500 leads on a standalone
// server), each checking and applying per lead. Each lead's update is atomic
// with its own compare-and-set: its record, offsets, leaderboard entry and
// timer change together or not at all. In Redis Cluster, identity index
// entries live in other slots: they are written in a second round trip, only
// for the updates that applied (see ErrIndexIncomplete).
//
// results[i] is the outcome of updates[i]. Write returns a non-nil error,
// and no results, only when nothing was written: invalid input (an
// empty or duplicate lead id, a Base not returned by the store, a bad
// offsets key, a tombstone with a stage…), a cancelled context, or Redis
// unreachable before anything was sent (wrapping ErrUnavailable). Updates
// that lose their compare-and-set get ErrConflict; a zombie writer therefore
// never overwrites newer state.
func (s *Store) Write(ctx context.Context, updates []Update) ([]Result, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	topics, stages := map[string]bool{}, map[string]bool{}
	seen := make(map[string]bool, len(updates))
	for i := range updates {
		u := &updates[i]
		if err := s.checkUpdate(u, seen); err != nil {
			return nil, fmt.Errorf("state: write: update %d: %w", i, err)
		}
		for k := range u.Offsets {
			t, _, _ := parseSourceKey(k)
			topics[t] = true
		}
		if u.Stage != "" {
			stages[u.Stage] = true
		}
		for _, bd := range u.Boards {
			stages[bd.Stage] = true
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("state: write: %w", err)
	}
	if err := s.ensureIDs(ctx, topics, stages); err != nil {
		return nil, wrapErr("write: register names", err)
	}
	groups, bufs, err := s.encodeWrites(updates)
	if err != nil {
		return nil, err
	}
	defer bufs.release()
	outs, err := s.runWrites(ctx, groups)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(updates))
	var phase2 []*pendingWrite
	for gi, g := range groups {
		out := outs[gi]
		for j, pw := range g {
			r := &results[pw.idx]
			r.LeadID = pw.leadID
			if out.err != nil {
				r.Err = wrapErr("write "+pw.leadID, out.err)
				continue
			}
			switch v := out.vals[j].(type) {
			case int64:
				if v == 1 {
					r.Version, r.Record = pw.version, pw.record
					if s.cluster && len(pw.index) > 0 {
						phase2 = append(phase2, pw)
					}
					continue
				}
				r.Err = ErrConflict
			case string:
				r.Version, _ = binary.Uvarint([]byte(v))
				r.Err = ErrConflict
			default:
				r.Err = fmt.Errorf("state: write %s: unexpected script reply %T", pw.leadID, v)
			}
		}
	}
	if len(phase2) > 0 {
		s.writeIndex(ctx, phase2, results)
	}
	return results, nil
}

// encodeWrites encodes checked updates (whose names are in the dictionary)
// and groups them into script calls. The groups live in bufs, which the
// caller returns to writePool once the results are built.
func (s *Store) encodeWrites(updates []Update) (groups [][]*pendingWrite, bufs *writeBufs, err error) {
	bufs = writePool.Get().(*writeBufs)
	slab, pend := bufs.slab(len(updates))
	// Snapshots are not pooled: the results' records keep them.
	snaps := make([]snapshot, len(updates))
	arena := newWriteArena(updates, bufs.buf)
	for i := range updates {
		pw := &slab[i]
		if err := s.encodeUpdate(&updates[i], pw, &snaps[i], &arena); err != nil {
			bufs.release()
			return nil, nil, fmt.Errorf("state: write: update %d: %w", i, err)
		}
		pw.idx = i
		pend[i] = pw
	}
	bufs.buf = arena.buf
	return s.groupWrites(pend), bufs, nil
}

// writeBufs are the buffers of one batch write that nothing keeps once
// Write returns (a Record keeps neither its encoding nor its pending write).
// Reusing them spares each batch a few large allocations, their zeroed
// pages and the garbage collector's work on them.
type writeBufs struct {
	pws  []pendingWrite
	pend []*pendingWrite
	buf  []byte
}

var writePool = sync.Pool{New: func() any { return new(writeBufs) }}

// slab returns n zero pending writes and room for n pointers. Pooled
// buffers are zero already: release clears every entry a batch used.
func (b *writeBufs) slab(n int) ([]pendingWrite, []*pendingWrite) {
	if cap(b.pws) < n {
		b.pws, b.pend = make([]pendingWrite, n), make([]*pendingWrite, n)
	} else {
		b.pws, b.pend = b.pws[:n], b.pend[:n]
	}
	return b.pws, b.pend
}

// release returns the buffers to writePool, without what they point to.
func (b *writeBufs) release() {
	clear(b.pws)
	clear(b.pend)
	b.buf = b.buf[:0]
	writePool.Put(b)
}

func (s *Store) checkUpdate(u *Update, seen map[string]bool) error {
	id := u.Base.LeadID
	if err := validLeadID(id); err != nil {
		return err
	}
	if seen[id] {
		return fmt.Errorf("lead %q updated twice in one batch", id)
	}
	seen[id] = true
	if u.Base.Version != 0 && (u.Base.snap == nil || u.Base.snap.version != u.Base.Version) {
		return fmt.Errorf("lead %q: Base was not returned by the store (or its Version was changed)", id)
	}
	if u.MergedInto != "" {
		if err := validLeadID(u.MergedInto); err != nil {
			return fmt.Errorf("MergedInto: %w", err)
		}
		if u.MergedInto == id {
			return fmt.Errorf("lead %q merged into itself", id)
		}
	}
	if (u.MergedInto != "" || u.Base.MergedInto != "") && (u.Stage != "" || len(u.Boards) > 0) {
		return fmt.Errorf("lead %q: a tombstone has no stage", id)
	}
	for i, bd := range u.Boards {
		if err := s.checkBoard(id, bd.Stage, bd.Rank); err != nil {
			return err
		}
		if bd.Stage == u.Stage || slices.ContainsFunc(u.Boards[:i], func(o Board) bool { return o.Stage == bd.Stage }) {
			return fmt.Errorf("lead %q: board %q given twice", id, bd.Stage)
		}
	}
	if u.Stage != "" {
		if err := s.checkBoard(id, u.Stage, u.Rank); err != nil {
			return err
		}
	}
	if u.Deadline < 0 || u.Deadline > math.MaxUint32*1000 {
		return fmt.Errorf("lead %q: deadline %d out of range", id, u.Deadline)
	}
	for k, off := range u.Offsets {
		t, _, err := parseSourceKey(k)
		if err != nil {
			return err
		}
		if err := validName("topic", t); err != nil {
			return err
		}
		if off < 0 {
			return fmt.Errorf("offsets key %q: negative offset", k)
		}
	}
	for _, ident := range u.Identities {
		if ident == "" || len(ident) > maxIdentityLen {
			return fmt.Errorf("lead %q: invalid identity %.40q", id, ident)
		}
	}
	for _, a := range u.Absorbed {
		if err := validLeadID(a); err != nil {
			return fmt.Errorf("Absorbed: %w", err)
		}
	}
	return nil
}

// Board is a leaderboard position: the lead ranks Rank on Stage's board.
type Board struct {
	Stage string
	Rank  float64
}

// checkBoard refuses a board name or rank the record cannot hold.
func (s *Store) checkBoard(id, stage string, rank float64) error {
	if err := validName("stage", stage); err != nil {
		return err
	}
	if r := math.Round(rank * s.scale); math.IsNaN(r) || math.Abs(r) >= rankBias {
		return fmt.Errorf("lead %q: rank %v out of range", id, rank)
	}
	return nil
}

// encodeUpdate merges u into its Base (into n) and encodes the script
// arguments into pw, which must be zero.
func (s *Store) encodeUpdate(u *Update, pw *pendingWrite, n *snapshot, arena *writeArena) error {
	id := u.Base.LeadID
	base := u.Base.snap
	if base == nil {
		base = &snapshot{}
	}
	b := s.lay.bucket(id)
	if base.version == 0 {
		n.version = 1 + rand.Uint64N(1<<21-1)
	} else {
		n.version = base.version + 1
	}

	// Offsets: max-merge by (topic id, partition).
	n.offsets = arena.offsets(len(base.offsets) + len(u.Offsets))
	n.offsets = append(n.offsets, base.offsets...)
	for k, off := range u.Offsets {
		t, p, _ := parseSourceKey(k)
		tid, _ := s.dictID('t', t)
		e := offsetEntry{topic: tid, partition: p, offset: uint64(off)}
		found := false
		for i := range n.offsets {
			if n.offsets[i].topic == e.topic && n.offsets[i].partition == e.partition {
				n.offsets[i].offset = max(n.offsets[i].offset, e.offset)
				found = true
				break
			}
		}
		if !found {
			n.offsets = append(n.offsets, e)
		}
	}
	if len(n.offsets) > 1 {
		slices.SortFunc(n.offsets, func(a, b offsetEntry) int {
			if a.topic != b.topic {
				return cmp.Compare(a.topic, b.topic)
			}
			return cmp.Compare(a.partition, b.partition)
		})
	}
	n.identities = unionStrings(base.identities, u.Identities)
	if len(n.identities) == len(base.identities) {
		n.identEnc = base.identEnc
	}
	n.absorbed = unionStrings(base.absorbed, u.Absorbed)
	n.mergedInto = base.mergedInto
	if u.MergedInto != "" {
		n.mergedInto = u.MergedInto
	}
	if n.mergedInto != "" {
		n.flags |= flagTombstone
	}
	if u.CommitAck {
		n.flags |= flagCommitAck
	}
	if len(n.absorbed) > 0 {
		n.flags |= flagAbsorbed
	}
	if u.Stage != "" {
		n.stage, _ = s.dictID('s', u.Stage)
		n.rank = int64(math.Round(u.Rank * s.scale))
	}
	if len(u.Boards) > 0 {
		n.flags |= flagBoards
		n.boards = make([]boardEntry, len(u.Boards))
		for i, bd := range u.Boards {
			n.boards[i].stage, _ = s.dictID('s', bd.Stage)
			n.boards[i].rank = int64(math.Round(bd.Rank * s.scale))
		}
	}
	if u.Deadline > 0 {
		n.deadline = uint32((u.Deadline + 999) / 1000)
	}

	// Field by field: pw is zero, and assigning a whole pendingWrite literal
	// into the batch's slab costs a bulk write barrier per lead.
	pw.leadID = id
	pw.shard = s.lay.shardOfBucket(b)
	pw.version = n.version
	pw.key = s.lay.recordKey(b)
	pw.argv[0] = arena.str(pw.key)
	pw.argv[1] = arena.str(id)
	if base.version != 0 {
		pw.argv[2] = arena.add(binary.AppendUvarint(arena.buf, base.version))
	}
	pw.argv[3] = arena.encode(n, u.Data)
	if n.deadline != 0 {
		pw.argv[4] = arena.add(strconv.AppendUint(arena.buf, uint64(n.deadline), 10))
	}
	if n.stage != 0 {
		pw.argv[5] = arena.str(s.stageField(n.stage))
		pw.argv[6] = arena.add(appendBoardSummary(arena.buf, n.rank))
	}
	for _, e := range n.boards {
		pw.boards = append(pw.boards, arena.str(s.stageField(e.stage)), arena.add(appendBoardSummary(arena.buf, e.rank)))
	}
	for _, ident := range dedupe(u.Identities) {
		loc := s.lay.index(ident)
		pw.index = append(pw.index, indexOp{del: loc.home == id, key: loc.key, field: loc.field})
	}

	r := &pw.record
	r.LeadID, r.Version, r.Data, r.MergedInto, r.Stage = id, n.version, u.Data, n.mergedInto, u.Stage
	r.Boards = slices.Clone(u.Boards)
	r.snap, r.st = n, s
	r.Identities, r.Absorbed = publicList(n.identities), publicList(n.absorbed)
	return nil
}

// writeArena hands out the memory of one batch's records from a few
// buffers: a handful of allocations per batch instead of several per lead.
// buf holds the script arguments, encoded records included, which live as
// long as the Write call; offs holds the new snapshots' offsets, each owned
// by one snapshot (sliced with its capacity capped, so an append never
// reaches a neighbour).
type writeArena struct {
	buf  []byte
	offs []offsetEntry
}

// recordOverhead is the usual size of a record without its data (version,
// flags, deadline, stage, rank, two offsets and two identities) plus its
// other script arguments.
const recordOverhead = 80 + 100

// newWriteArena sizes an arena for updates, reusing buf when it is big
// enough.
func newWriteArena(updates []Update, buf []byte) writeArena {
	n, offs := 0, 0
	for i := range updates {
		u := &updates[i]
		n += recordOverhead + len(u.Data)
		offs += len(u.Offsets)
		if u.Base.snap != nil {
			offs += len(u.Base.snap.offsets)
		}
	}
	if cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	return writeArena{buf: buf[:0], offs: make([]offsetEntry, 0, offs)}
}

// encode encodes a record into the arena (or, when it does not fit, into a
// buffer of its own). It sets n.identEnc, so that the next update of the
// lead copies its identities section instead of encoding it again.
func (a *writeArena) encode(n *snapshot, data []byte) []byte {
	free := a.buf[len(a.buf):cap(a.buf)]
	fresh := n.identEnc == nil
	rec, idFrom, idTo := encodeRecord(free[:0], n, data)
	if fresh {
		// A copy of its own: it must not keep the batch's buffer alive.
		n.identEnc = slices.Clone(rec[idFrom:idTo])
	}
	if len(rec) <= len(free) && (len(rec) == 0 || &rec[0] == &free[0]) {
		a.buf = a.buf[:len(a.buf)+len(rec)]
		return rec[:len(rec):len(rec)]
	}
	return rec
}

// add keeps what the caller appended to a.buf (which may have moved it to
// a bigger array: slices handed out earlier keep the old one) and returns it.
func (a *writeArena) add(grown []byte) []byte {
	from := len(a.buf)
	a.buf = grown
	return grown[from:len(grown):len(grown)]
}

// str returns a copy of s in the arena.
func (a *writeArena) str(s string) []byte { return a.add(append(a.buf, s...)) }

// offsets returns an empty slice with room for n entries.
func (a *writeArena) offsets(n int) []offsetEntry {
	if n > cap(a.offs)-len(a.offs) {
		return make([]offsetEntry, 0, n)
	}
	out := a.offs[len(a.offs) : len(a.offs) : len(a.offs)+n]
	a.offs = a.offs[:len(a.offs)+n]
	return out
}

func dedupe(xs []string) []string {
	if len(xs) < 2 {
		return xs
	}
	return unionStrings(nil, xs)
}

// unionStrings returns a followed by the elements of b not in a, without
// duplicates (nil when both are empty).
func unionStrings(a, b []string) []string {
	if len(b) == 0 {
		return a // snapshots are never modified: sharing is safe
	}
	out := make([]string, 0, len(a)+len(b))
	for _, x := range a {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// groupWrites splits the updates into script calls: per hash slot in Cluster
// (the shard tag), one group otherwise; at most maxGroup leads per call.
func (s *Store) groupWrites(pend []*pendingWrite) [][]*pendingWrite {
	var groups [][]*pendingWrite
	size := maxGroup
	if s.groupSize > 0 {
		size = s.groupSize
	}
	if !s.cluster {
		for i := 0; i < len(pend); i += size {
			groups = append(groups, pend[i:min(i+size, len(pend))])
		}
		return groups
	}
	byShard := map[uint64]int{}
	for _, pw := range pend {
		gi, ok := byShard[pw.shard]
		if !ok || len(groups[gi]) >= size {
			gi = len(groups)
			byShard[pw.shard] = gi
			groups = append(groups, nil)
		}
		groups[gi] = append(groups[gi], pw)
	}
	return groups
}

// scriptArgs returns the keys and arguments of a group's script call.
func (s *Store) scriptArgs(g []*pendingWrite) (keys []string, args []interface{}) {
	n := 1
	for _, pw := range g {
		n += pw.nargs()
	}
	args = make([]interface{}, 0, n)
	args = append(args, len(g))
	for _, pw := range g {
		// In Cluster, index entries live in other slots: they are written
		// after the script.
		args = pw.appendArgs(args, !s.cluster)
	}
	return []string{g[0].key}, args
}

type groupOut struct {
	vals []interface{}
	err  error
}

// runWrites sends every group's script call in one pipeline; groups that hit
// a node without the script are sent again with EVAL (a second round trip,
// only after a restart, failover or SCRIPT FLUSH).
func (s *Store) runWrites(ctx context.Context, groups [][]*pendingWrite) ([]groupOut, error) {
	outs := make([]groupOut, len(groups))
	cmds := make([]*redis.Cmd, len(groups))
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, g := range groups {
			keys, args := s.scriptArgs(g)
			cmds[i] = writeLua.EvalSha(ctx, p, keys, args...)
		}
	})
	var retry []int
	sentAny := false
	var firstErr error
	for i, c := range cmds {
		err := c.Err()
		switch {
		case isNoScript(err):
			retry = append(retry, i)
			sentAny = true
		case err != nil:
			outs[i].err = err
			if !notSent(err) {
				sentAny = true
			}
			if firstErr == nil {
				firstErr = err
			}
		default:
			outs[i].vals, _ = c.Val().([]interface{})
			sentAny = true
		}
	}
	if !sentAny {
		return nil, wrapErr("write", firstErr)
	}
	if len(retry) > 0 {
		rcmds := make([]*redis.Cmd, len(retry))
		_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
			for j, i := range retry {
				keys, args := s.scriptArgs(groups[i])
				rcmds[j] = writeLua.Eval(ctx, p, keys, args...)
			}
		})
		for j, i := range retry {
			if err := rcmds[j].Err(); err != nil {
				outs[i].err = err
			} else {
				outs[i].vals, _ = rcmds[j].Val().([]interface{})
			}
		}
	}
	for i, g := range groups {
		if outs[i].err == nil && len(outs[i].vals) != len(g) {
			outs[i].err = errors.New("state: write: script reply of unexpected length")
		}
	}
	return outs, nil
}

// writeIndex writes (Cluster) the identity entries of the updates that
// applied, in one round trip.
func (s *Store) writeIndex(ctx context.Context, pws []*pendingWrite, results []Result) {
	type ref struct {
		pw  *pendingWrite
		cmd redis.Cmder
	}
	var refs []ref
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, pw := range pws {
			for _, op := range pw.index {
				var c redis.Cmder
				if op.del {
					c = p.HDel(ctx, op.key, op.field)
				} else {
					c = p.HSet(ctx, op.key, op.field, pw.leadID)
				}
				refs = append(refs, ref{pw, c})
			}
		}
	})
	for _, r := range refs {
		res := &results[r.pw.idx]
		if err := r.cmd.Err(); err != nil && res.Err == nil {
			res.Err = fmt.Errorf("state: write %s: %w: %w: %w", r.pw.leadID, ErrIndexIncomplete, ErrUnavailable, err)
			if !transient(err) {
				res.Err = fmt.Errorf("state: write %s: %w: %w", r.pw.leadID, ErrIndexIncomplete, err)
			}
		}
	}
}
