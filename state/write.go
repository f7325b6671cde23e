package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

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
	// The script arguments of the lead (see writeLua), kept typed until the
	// group's argument list is built, so that a lead costs one interface
	// conversion per argument and no intermediate slice.
	key      string
	expected []byte
	rec      []byte
	deadline string // "" for none
	board    string // summary field, "" for none
	boardVal string
	index    []indexOp // identity index writes (Standalone: in the script; Cluster: after it)
	version  uint64
	record   Record
	expBuf   [binary.MaxVarintLen64]byte
}

// nargs is the number of script arguments of the lead.
func (pw *pendingWrite) nargs() int { return 8 + 3*len(pw.index) }

// appendArgs appends the lead's script arguments.
func (pw *pendingWrite) appendArgs(args []interface{}) []interface{} {
	args = append(args, pw.key, pw.leadID, pw.expected, pw.rec, pw.deadline, pw.board, pw.boardVal, len(pw.index))
	for _, op := range pw.index {
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
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("state: write: %w", err)
	}
	if err := s.ensureIDs(ctx, topics, stages); err != nil {
		return nil, wrapErr("write: register names", err)
	}
	// One allocation each for the batch's pending writes and snapshots.
	slab := make([]pendingWrite, len(updates))
	snaps := make([]snapshot, len(updates))
	pend := make([]*pendingWrite, len(updates))
	arena := newWriteArena(updates)
	for i := range updates {
		pw := &slab[i]
		if err := s.encodeUpdate(&updates[i], pw, &snaps[i], &arena); err != nil {
			return nil, fmt.Errorf("state: write: update %d: %w", i, err)
		}
		pw.idx = i
		pend[i] = pw
	}
	groups := s.groupWrites(pend)
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
	if (u.MergedInto != "" || u.Base.MergedInto != "") && u.Stage != "" {
		return fmt.Errorf("lead %q: a tombstone has no stage", id)
	}
	if u.Stage != "" {
		if err := validName("stage", u.Stage); err != nil {
			return err
		}
		if r := math.Round(u.Rank * s.scale); math.IsNaN(r) || math.Abs(r) >= rankBias {
			return fmt.Errorf("lead %q: rank %v out of range", id, u.Rank)
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
				return cmpU(a.topic, b.topic)
			}
			return cmpU(a.partition, b.partition)
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
	if len(n.absorbed) > 0 {
		n.flags |= flagAbsorbed
	}
	if u.Stage != "" {
		n.stage, _ = s.dictID('s', u.Stage)
		n.rank = int64(math.Round(u.Rank * s.scale))
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
	if base.version != 0 {
		pw.expected = binary.AppendUvarint(pw.expBuf[:0], base.version)
	}
	pw.rec = arena.encode(n, u.Data)
	if n.deadline != 0 {
		pw.deadline = strconv.FormatUint(uint64(n.deadline), 10)
	}
	if n.stage != 0 {
		pw.board = s.stageField(n.stage)
		pw.boardVal = boardSummary(n.rank)
	}
	for _, ident := range dedupe(u.Identities) {
		loc := s.lay.index(ident)
		pw.index = append(pw.index, indexOp{del: loc.home == id, key: loc.key, field: loc.field})
	}

	r := &pw.record
	r.LeadID, r.Version, r.Data, r.MergedInto, r.Stage = id, n.version, u.Data, n.mergedInto, u.Stage
	r.snap, r.st = n, s
	// The public lists are copies, so that a caller changing them cannot
	// change the snapshot the next update is merged with.
	r.Identities = arena.strings(n.identities)
	r.Absorbed = arena.strings(n.absorbed)
	return nil
}

// writeArena hands out the memory of one batch's records from a few
// buffers: a handful of allocations per batch instead of several per lead.
// Encoded records live as long as the batch's results (a Record does not
// keep its encoding); offsets and lists are owned by one record each (sliced
// with their capacity capped, so an append never reaches a neighbour).
type writeArena struct {
	buf  []byte
	offs []offsetEntry
	strs []string
}

// recordOverhead is the usual size of a record without its data: version,
// flags, deadline, stage, rank, two offsets and two identities.
const recordOverhead = 80

func newWriteArena(updates []Update) writeArena {
	n, offs, strs := 0, 0, 0
	for i := range updates {
		u := &updates[i]
		n += recordOverhead + len(u.Data)
		offs += len(u.Offsets)
		strs += len(u.Identities) + len(u.Absorbed)
		if u.Base.snap != nil {
			offs += len(u.Base.snap.offsets)
			strs += len(u.Base.snap.identities) + len(u.Base.snap.absorbed)
		}
	}
	return writeArena{buf: make([]byte, 0, n), offs: make([]offsetEntry, 0, offs), strs: make([]string, 0, strs)}
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

// offsets returns an empty slice with room for n entries.
func (a *writeArena) offsets(n int) []offsetEntry {
	if n > cap(a.offs)-len(a.offs) {
		return make([]offsetEntry, 0, n)
	}
	out := a.offs[len(a.offs) : len(a.offs) : len(a.offs)+n]
	a.offs = a.offs[:len(a.offs)+n]
	return out
}

// strings returns a copy of xs (nil when empty).
func (a *writeArena) strings(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	if len(xs) > cap(a.strs)-len(a.strs) {
		return slices.Clone(xs)
	}
	out := append(a.strs[len(a.strs):len(a.strs):len(a.strs)+len(xs)], xs...)
	a.strs = a.strs[:len(a.strs)+len(xs)]
	return out
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

type groupOut struct {
	vals []interface{}
	err  error
}

// runWrites sends every group's script call in one pipeline; groups that hit
// a node without the script are sent again with EVAL (a second round trip,
// only after a restart, failover or SCRIPT FLUSH).
func (s *Store) runWrites(ctx context.Context, groups [][]*pendingWrite) ([]groupOut, error) {
	argsOf := func(g []*pendingWrite) (keys []string, args []interface{}) {
		n := 1
		for _, pw := range g {
			n += pw.nargs()
		}
		args = make([]interface{}, 0, n)
		args = append(args, len(g))
		for _, pw := range g {
			if s.cluster {
				// Index entries live in other slots: written after the script.
				args = append(args, pw.key, pw.leadID, pw.expected, pw.rec, pw.deadline, pw.board, pw.boardVal, 0)
				continue
			}
			args = pw.appendArgs(args)
		}
		return []string{g[0].key}, args
	}
	outs := make([]groupOut, len(groups))
	cmds := make([]*redis.Cmd, len(groups))
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, g := range groups {
			keys, args := argsOf(g)
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
				keys, args := argsOf(groups[i])
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
