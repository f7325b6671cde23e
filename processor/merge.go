package processor

import (
	"math"
	"time"
)

// The event-time merge: a batch holds records of several partitions and
// topics, each partition in offset order. A lead's events may sit on several
// of them (its anonymous visits keyed by anonymousId, the rest by userId, its
// e-mails by address), so applying a batch whole would let the partition that
// happened to be fetched first decide the lead's order. Instead, like Kafka
// Streams' timestamp synchronisation (KIP-353 with max.task.idle.ms = 0), the
// batch's partitions are merged by event time and applied only as far as the
// merge is sure of: up to the point where a partition that the broker still
// holds records of (it lags) has nothing more in the batch — its next record may
// be earlier than what comes after. The rest of each partition is kept: not
// committed, and polled again (Client.Keep). A partition that is caught up does
// not hold the others back, so in steady state nothing waits; a backlog, an
// outage catch-up or a history load is applied in event-time order across
// partitions, exactly like the oracle's canonical order.
//
// A partition is taken in its own order: a record earlier than one before it
// in its partition (an upstream re-send, a client that batched events offline)
// counts as at that earlier record's time, its partition's time so far. It is
// applied in its partition's order, after events of other partitions up to
// that time, and is late for its lead where the lead has moved past it (a
// re-send is then recognised as a duplicate, as the oracle recognises it next
// to the original). Were it to hold the merge back to its own time instead,
// nothing after it in its partition could be applied before it, nor anything
// later elsewhere: a backlog would be read whole before a single event is
// applied.

// mergeState is what the merge remembers between batches.
type mergeState struct {
	blockedSince time.Time // first batch of a run of batches that released nothing
}

// mergeItems splits the batch's items into those applied now (returned, in the
// batch's order) and those kept, returning per partition the offset of its
// first kept record. force applies everything (the merge waited long enough);
// reorderCut, when non-zero, keeps every event later than it (the optional
// reorder wait).
//
// Each item's merge time is the latest event time of its partition up to it
// (see above), so each partition's merge times never go down. The frontier F
// is the reorder cut and the latest merge time of each lagging partition
// (what comes next from it is at least that); a lagging partition with
// nothing in the batch makes it -∞. Each partition applies the prefix of its
// records whose merge time is at or before F, and keeps the rest (commits are
// per-partition prefixes).
func mergeItems(items []*item, owned []TopicPartition, lag map[TopicPartition]int64, force bool, reorderCut int64) ([]*item, map[TopicPartition]int64) {
	if len(items) == 0 {
		return items, nil
	}
	type stream struct {
		tp     TopicPartition
		items  []*item
		latest int64 // the merge time of its last item: the latest event time
	}
	byTP := map[TopicPartition]*stream{}
	var streams []*stream
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		s := byTP[tp]
		if s == nil {
			s = &stream{tp: tp, latest: math.MinInt64}
			byTP[tp] = s
			streams = append(streams, s)
		}
		s.items = append(s.items, it)
		s.latest = max(s.latest, it.ev.Time)
	}
	const inf = int64(math.MaxInt64)
	frontier := inf
	if reorderCut != 0 {
		frontier = reorderCut
	}
	if !force {
		for _, tp := range owned {
			if lag[tp] > 0 && byTP[tp] == nil {
				frontier = math.MinInt64 // the broker holds records of it that may come first
			}
		}
		for _, s := range streams {
			if lag[s.tp] > 0 {
				frontier = min(frontier, s.latest)
			}
		}
	} else if reorderCut == 0 {
		return items, nil
	}
	keep := map[TopicPartition]int64{}
	released := 0
	for _, s := range streams {
		n, at := 0, int64(math.MinInt64)
		for ; n < len(s.items); n++ {
			at = max(at, s.items[n].ev.Time)
			if at > frontier {
				break
			}
		}
		released += n
		if n < len(s.items) {
			keep[s.tp] = s.items[n].rec.Offset
		}
	}
	if released == len(items) {
		return items, nil
	}
	out := make([]*item, 0, released)
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		if k, ok := keep[tp]; !ok || it.rec.Offset < k {
			out = append(out, it)
		}
	}
	return out, keep
}
