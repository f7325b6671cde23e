package state

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Timer is a claimed due timer.
type Timer struct {
	LeadID string
	// Due is the deadline that came due, in unix milliseconds (a whole
	// second: timers have one-second resolution).
	Due   int64
	Shard int
}

// ClaimDue claims up to limit timers of shard whose deadline is at or before
// now (unix ms), in one script call (one round trip). Claiming moves each
// claimed timer to now+lease (rounded up to a second): two sweepers never
// claim the same due entry, and if the claimer crashes before handling it
// the timer comes due again when the lease ends. Handling a timer means
// loading the lead and writing it with its next Deadline (0 for none), which
// re-arms or removes the timer; a write that keeps Deadline unchanged also
// re-arms it. On error nothing is claimed for certain: a claim whose reply
// was lost comes due again after the lease.
//
// The sweep reads one summary field ("~t", the bucket's earliest deadline)
// per record bucket of the shard, and decodes the records of due buckets
// only: it never scans the leads of buckets with nothing due. A deadline that
// a write moved later leaves "~t" early; the sweep that finds nothing due
// there repairs it.
func (s *Store) ClaimDue(ctx context.Context, shard int, now int64, lease time.Duration, limit int) ([]Timer, error) {
	return s.ClaimDueShards(ctx, []int{shard}, now, lease, limit)
}

// ClaimDueShards is ClaimDue for several shards at once, in one round trip
// (one pipeline of one script call per shard): a sweeper that owns many
// shards pays one network wait per sweep, not one per shard. limit bounds the
// timers claimed per shard. On error, the claims of the shards that
// succeeded stand (they come due again after the lease, like any claim that
// is not handled).
func (s *Store) ClaimDueShards(ctx context.Context, shards []int, now int64, lease time.Duration, limit int) ([]Timer, error) {
	ids := make([]uint64, len(shards))
	for i, shard := range shards {
		if shard < 0 || uint64(shard) >= s.lay.shards {
			return nil, fmt.Errorf("state: claim due: shard %d not in [0, %d)", shard, s.lay.shards)
		}
		ids[i] = uint64(shard)
	}
	if len(shards) == 0 {
		return nil, nil
	}
	if limit < 1 {
		return nil, fmt.Errorf("state: claim due: limit %d < 1", limit)
	}
	if now < 0 {
		return nil, fmt.Errorf("state: claim due: negative now")
	}
	nowSec := now / 1000
	leaseSec := int64((lease + time.Second - 1) / time.Second)
	if leaseSec < 1 {
		leaseSec = 1
	}
	till := nowSec + leaseSec
	if till > math.MaxUint32 {
		return nil, fmt.Errorf("state: claim due: time out of range")
	}
	tillb := binary.BigEndian.AppendUint32(nil, uint32(till))
	args := []interface{}{nowSec, till, limit, tillb}
	cmds, err := s.evalShards(ctx, claimLua, ids, s.lay.shardRecordKeys, args...)
	if err != nil {
		return nil, wrapErr("claim due", err)
	}
	var out []Timer
	for i, c := range cmds {
		vals, err := c.StringSlice()
		if err != nil {
			return nil, wrapErr("claim due", err)
		}
		for j := 0; j+1 < len(vals); j += 2 {
			sec, err := strconv.ParseFloat(vals[j+1], 64)
			if err != nil {
				return nil, fmt.Errorf("state: claim due: bad score %q", vals[j+1])
			}
			out = append(out, Timer{LeadID: vals[j], Due: int64(sec) * 1000, Shard: shards[i]})
		}
	}
	return out, nil
}
