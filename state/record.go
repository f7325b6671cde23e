package state

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Record is the stored state of one lead.
type Record struct {
	// LeadID identifies the lead.
	LeadID string
	// Version is 0 when the lead has no record (new, or erased), and
	// otherwise changes on every successful write. It is the compare-and-set
	// token of the next Update: a write succeeds only if the record is still
	// at this version. A new record starts at a random small version, so a
	// lead erased and created again does not repeat the versions a stale
	// writer may still hold.
	Version uint64
	// Data is the encoded scoring state, opaque to the store.
	Data []byte
	// MergedInto is non-empty for a tombstone: this lead was stitched into
	// MergedInto, and the processor must apply its events there (see
	// docs/state.md, "Stitching"). A tombstone keeps its Data and Identities
	// until the absorbing lead lists it in Absorbed.
	MergedInto string
	// Absorbed lists the leads whose state was merged into this one. It makes
	// a stitch idempotent: a lead is merged only if it is not listed yet.
	// Like Identities, it is read-only: it shares the memory that the next
	// Update of the lead is merged with.
	Absorbed []string
	// Stage is the lead's current stage ("" when on no leaderboard).
	Stage string
	// Boards are the further leaderboards the lead is on (Update.Boards).
	Boards []Board
	// Identities lists the identities ("anon:…", "user:…", "email:…" or any
	// other string) that belong to this lead. Resolve's answers are hints;
	// this list is the truth. Read-only (see Absorbed).
	Identities []string

	snap *snapshot // as stored; nil when Version is 0
	st   *Store    // names the snapshot's dictionary ids; nil when Version is 0
}

// Detached returns r with a snapshot of its own. The records one Write
// returns share a few allocations (their snapshots and offsets), so one of
// them kept for long — in a cache — would keep the whole batch's; a
// detached copy keeps only its own.
func (r Record) Detached() Record {
	if r.snap == nil {
		return r
	}
	s := *r.snap
	s.offsets = slices.Clone(s.offsets)
	r.snap = &s
	return r
}

// Exists reports whether the lead has a record (tombstones included).
func (r Record) Exists() bool { return r.Version != 0 }

// Applied reports whether the event at offset of topic/partition is already
// reflected in the record: a replayed event must add nothing.
func (r Record) Applied(topic string, partition int32, offset int64) bool {
	if r.snap == nil || r.st == nil || partition < 0 {
		return false
	}
	// The store made sure, when it produced the record, that every topic id
	// in it is in its dictionary: a topic name it does not know is not in
	// the record.
	tid, ok := r.st.dictID('t', topic)
	if !ok {
		return false
	}
	for _, o := range r.snap.offsets {
		if o.topic == tid && o.partition == uint64(partition) {
			return offset <= int64(o.offset) // stored offsets are never negative (Write refuses them)
		}
	}
	return false
}

// CommitAck reports whether the record was written with Update.CommitAck:
// its outbox counts as produced once the Kafka commit of the batch that
// wrote it is known (OffsetsBelow).
func (r Record) CommitAck() bool { return r.snap != nil && r.snap.flags&flagCommitAck != 0 }

// OffsetsBelow reports whether every source partition's offset in the
// record is below what committed says of it (the partition's committed
// offset: the next one the group reads); committed answers false for a
// partition it does not know, and then so does OffsetsBelow. A record
// without offsets is not below anything.
func (r Record) OffsetsBelow(committed func(source string, offset int64) bool) bool {
	if r.snap == nil || r.st == nil || len(r.snap.offsets) == 0 {
		return false
	}
	for _, o := range r.snap.offsets {
		name := r.st.sourceName(o.topic, o.partition)
		if name == "" || !committed(name, int64(o.offset)) {
			return false
		}
	}
	return true
}

// Offsets returns, in a new map, "topic/partition" (see SourceKey) -> the
// offset of the last event of that source partition applied to this record
// (nil when none). It is built on each call: the processor only needs
// Applied, and building a map for every record loaded or written cost a
// tenth of a batch write's client time.
func (r Record) Offsets() map[string]int64 {
	if r.snap == nil || r.st == nil || len(r.snap.offsets) == 0 {
		return nil
	}
	m := make(map[string]int64, len(r.snap.offsets))
	for _, o := range r.snap.offsets {
		m[r.st.sourceName(o.topic, o.partition)] = int64(o.offset)
	}
	return m
}

// SourceKey is the Offsets key of a topic partition: "topic/partition".
func SourceKey(topic string, partition int32) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10)
}

func parseSourceKey(k string) (topic string, partition uint64, err error) {
	i := strings.LastIndexByte(k, '/')
	if i <= 0 {
		return "", 0, fmt.Errorf("offsets key %q is not topic/partition", k)
	}
	p, err := strconv.ParseUint(k[i+1:], 10, 31)
	if err != nil {
		return "", 0, fmt.Errorf("offsets key %q: bad partition", k)
	}
	return k[:i], p, nil
}

// publicList is a snapshot's list as a Record shows it: nil when empty,
// and with its capacity capped, so that a caller's append copies instead of
// writing into the snapshot (Record's lists are read-only).
func publicList(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	return xs[:len(xs):len(xs)]
}

// record builds the public form of a stored record.
func (s *Store) record(ctx context.Context, leadID string, snap *snapshot, data []byte) (Record, error) {
	r := Record{LeadID: leadID, Version: snap.version, Data: data, MergedInto: snap.mergedInto, snap: snap, st: s}
	r.Identities, r.Absorbed = publicList(snap.identities), publicList(snap.absorbed)
	name := func(kind byte, id uint64) (string, error) {
		if n, ok := s.dictName(kind, id); ok {
			return n, nil
		}
		if err := s.refreshDict(ctx); err != nil {
			return "", wrapErr("load dictionary", err)
		}
		if n, ok := s.dictName(kind, id); ok {
			return n, nil
		}
		return "", fmt.Errorf("state: lead %q: unknown dictionary id %c%d", leadID, kind, id)
	}
	if snap.stage != 0 {
		n, err := name('s', snap.stage)
		if err != nil {
			return Record{}, err
		}
		r.Stage = n
	}
	for _, e := range snap.boards {
		n, err := name('s', e.stage)
		if err != nil {
			return Record{}, err
		}
		r.Boards = append(r.Boards, Board{Stage: n, Rank: float64(e.rank) / s.scale})
	}
	// Every topic id must be known here, so that Applied and Offsets can
	// name it without a round trip.
	for _, o := range snap.offsets {
		if _, err := name('t', o.topic); err != nil {
			return Record{}, err
		}
	}
	return r, nil
}
