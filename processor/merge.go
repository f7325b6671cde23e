package processor

import (
	"time"

	"github.com/leadscore/leadscore/scoring"
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
// This assumes each partition is in event-time order, as a pipeline writes live
// events or replays a history; events a partition holds out of order are
// applied in its order, and counted late where they are.

// mergeState is what the merge remembers between batches.
type mergeState struct {
	blockedSince time.Time // first batch of a run of batches that released nothing
}

// mergeItems splits the batch's items into those applied now (returned, in the
// batch's order) and those kept, returning per partition the offset of its
// first kept record. force applies everything (the merge waited long enough);
// reorderCut, when non-zero, keeps every event later than it (the optional
// reorder wait).
func mergeItems(items []*item, owned []TopicPartition, lag map[TopicPartition]int64, force bool, reorderCut int64) ([]*item, map[TopicPartition]int64) {
	if len(items) == 0 {
		return items, nil
	}
	type stream struct {
		tp      TopicPartition
		items   []*item
		next    int
		lagging bool
	}
	byTP := map[TopicPartition]*stream{}
	var streams []*stream
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		s := byTP[tp]
		if s == nil {
			s = &stream{tp: tp, lagging: lag[tp] > 0}
			byTP[tp] = s
			streams = append(streams, s)
		}
		s.items = append(s.items, it)
	}
	// A lagging partition with nothing in this batch blocks everything: the
	// broker holds records of it that may come first.
	blocked := false
	if !force {
		for _, tp := range owned {
			if lag[tp] > 0 && byTP[tp] == nil {
				blocked = true
				break
			}
		}
	}
	released := 0
	for !blocked {
		var best *stream
		for _, s := range streams {
			if s.next == len(s.items) {
				if s.lagging && !force {
					blocked = true // exhausted, and more of it is on the broker
					break
				}
				continue
			}
			if best == nil || scoring.CompareEvents(&s.items[s.next].ev, &best.items[best.next].ev) < 0 {
				best = s
			}
		}
		if blocked || best == nil {
			break
		}
		if reorderCut != 0 && best.items[best.next].ev.Time > reorderCut {
			break // everything left is later than the reorder wait allows
		}
		best.next++
		released++
	}
	if released == len(items) {
		return items, nil
	}
	keep := map[TopicPartition]int64{}
	for _, s := range streams {
		if s.next < len(s.items) {
			keep[s.tp] = s.items[s.next].rec.Offset
		}
	}
	out := items[:0:0]
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		if k, ok := keep[tp]; !ok || it.rec.Offset < k {
			out = append(out, it)
		}
	}
	return out, keep
}
