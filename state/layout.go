package state

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Key layout (docs/state.md has the full table). With prefix p, record
// bucket b (of Buckets) and shard s = (b>>2) % TimerShards, written {s}:
//
//	p:{s}:r:<b>    hash  lead id -> encoded record (with deadline, stage, rank)
//	                     "~t"      -> earliest deadline in the bucket (a lower bound)
//	                     "~b<id>"  -> best rank of stage <id> in the bucket (an upper bound)
//	p:{s'}:i:<ib>  hash  8-byte identity digest -> lead id
//	p:meta         hash  layout, topic and stage dictionaries
//
// A lead's whole state - record, timer, leaderboard position - is one field
// of one small hash, so a write touches one key (one HMGET and one HSET in
// the write script) and Cluster keeps it in one slot. The summaries let
// ClaimDue and Top skip the buckets that cannot matter; they are only ever
// tightened by writes and repaired by the sweeps that read them. Identity
// index buckets are addressed by the identity, not by the lead, so they
// carry the identity's own tag s'.
const (
	groupShift = 2 // a shard groups record buckets by 4
	indexDiv   = 4 // index buckets = Buckets / indexDiv
	layoutVer  = 2
)

type layout struct {
	prefix       string
	buckets      uint64
	shards       uint64
	indexBuckets uint64
	recordKeys   []string // precomputed when Buckets <= 1<<16
}

func newLayout(o *Options) layout {
	l := layout{
		prefix:       o.KeyPrefix,
		buckets:      uint64(o.Buckets),
		shards:       uint64(o.TimerShards),
		indexBuckets: uint64(o.Buckets / indexDiv),
	}
	if l.buckets <= 1<<16 {
		keys := make([]string, l.buckets)
		for b := range keys {
			keys[b] = l.key(l.shardOfBucket(uint64(b)), "r", uint64(b))
		}
		l.recordKeys = keys
	}
	return l
}

// describe is the layout fingerprint kept in the meta key.
func (l layout) describe() string {
	return fmt.Sprintf("v%d buckets=%d shards=%d", layoutVer, l.buckets, l.shards)
}

func (l layout) bucket(leadID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(leadID))
	return h.Sum64() % l.buckets
}

func (l layout) shardOfBucket(b uint64) uint64 { return (b >> groupShift) % l.shards }

func (l layout) key(s uint64, kind string, n uint64) string {
	return l.prefix + ":{" + strconv.FormatUint(s, 10) + "}:" + kind + ":" + strconv.FormatUint(n, 10)
}

func (l layout) recordKey(b uint64) string {
	if l.recordKeys != nil {
		return l.recordKeys[b]
	}
	return l.key(l.shardOfBucket(b), "r", b)
}
func (l layout) metaKey() string { return l.prefix + ":meta" }

// allShards lists every timer shard, 0 to shards-1.
func (l layout) allShards() []uint64 {
	out := make([]uint64, l.shards)
	for s := range out {
		out[s] = uint64(s)
	}
	return out
}

// shardBuckets lists the record buckets of shard s: those b with
// (b>>2) % shards == s.
func (l layout) shardBuckets(s uint64) []uint64 {
	var out []uint64
	for g := s; g < l.buckets>>groupShift; g += l.shards {
		for j := uint64(0); j < 1<<groupShift; j++ {
			out = append(out, g<<groupShift|j)
		}
	}
	return out
}

// shardRecordKeys lists the record buckets of shard s.
func (l layout) shardRecordKeys(s uint64) []string {
	var out []string
	for _, b := range l.shardBuckets(s) {
		out = append(out, l.recordKey(b))
	}
	return out
}

// Summary fields of a record bucket. Lead ids never start with '~'.
const (
	timerField = "~t"
	boardField = "~b" // + stage id
	// rankBias makes rank units non-negative in summaries, which are
	// 16-digit decimals (fixed width, so rewriting one does not move the
	// rest of the listpack).
	rankBias = 1 << 51
)

// appendBoardSummary appends a leaderboard summary value (see above) to b.
func appendBoardSummary(b []byte, rankUnits int64) []byte {
	var d [24]byte
	digits := strconv.AppendInt(d[:0], rankUnits+rankBias, 10)
	for i := len(digits); i < 16; i++ {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// identityDigest hashes an identity with a fixed, public domain separator.
// The digest gives the identity's home lead id, its index bucket and its
// field in that bucket.
func identityDigest(identity string) [sha256.Size]byte {
	return sha256.Sum256([]byte("leadscore/identity\x00" + identity))
}

type indexLoc struct {
	key   string
	field string
	home  string
}

func (l layout) index(identity string) indexLoc {
	d := identityDigest(identity)
	ib := binary.BigEndian.Uint64(d[8:16]) % l.indexBuckets
	return indexLoc{
		key:   l.key(ib%l.shards, "i", ib),
		field: string(d[16:24]),
		home:  base64.RawURLEncoding.EncodeToString(d[:8]),
	}
}

// HomeLeadID is the lead id that belongs to an identity by default: 11
// URL-safe characters derived from a SHA-256 digest of the identity. A lead
// created for a new identity should use it (a replay or a concurrent
// processor then derives the same id, and the store keeps no index entry for
// an identity whose lead is its home lead). Resolve returns it for every
// identity that has no explicit index entry.
func HomeLeadID(identity string) string {
	d := identityDigest(identity)
	return base64.RawURLEncoding.EncodeToString(d[:8])
}

// homeLeadIDLen is the length of every HomeLeadID.
var homeLeadIDLen = base64.RawURLEncoding.EncodedLen(8)

// IsHomeLeadID reports whether lead is identity's HomeLeadID, as Resolve
// answers for an identity without an index entry. It hashes the identity
// only when lead has a home id's length, which a caller that names leads by
// identity key (as leadscore's processor does) rarely meets.
func IsHomeLeadID(identity, lead string) bool {
	return len(lead) == homeLeadIDLen && lead == HomeLeadID(identity)
}

// BoardName is the leaderboard of a model's stage: the stage's name for an
// unnamed model (a process running one model), else "model/stage", so that
// models with stages of the same name keep separate boards.
func BoardName(model, stage string) string {
	if model == "" || stage == "" {
		return stage
	}
	return model + "/" + stage
}
