package processor

import (
	"math"
	"slices"
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
// This assumes each partition is in event-time order, as a pipeline writes live
// events or replays a history; events a partition holds out of order are
// applied in its order, and counted late where they are.

// mergeState is what the merge remembers between batches.
type mergeState struct {
	blockedSince time.Time // first batch of a run of batches that released nothing
}

// mergeItems splits the batch's items into those applied now and those kept
// (each in the batch's order), returning per partition the offset of its
// first kept record (nil when nothing is kept). force applies everything (the merge waited long enough);
// reorderCut, when non-zero, keeps every event later than it (the optional
// reorder wait).
//
// It computes a frontier F: every event at or before F is in the batch, and is
// applied; the rest is kept. F starts at the reorder cut and at the latest
// event of each lagging partition (what comes next from it is later, a
// partition being in event-time order); a lagging partition with nothing in
// the batch makes it -∞. Since commits are per-partition prefixes, a partition
// applies only the prefix of its records at or before F; the first record past
// F keeps the rest of its partition, and whatever kept record is earliest
// lowers F below it, so that nothing later than a kept record is applied
// anywhere. That is repeated until F holds still (it only goes down).
func mergeItems(items []*item, owned []TopicPartition, lag map[TopicPartition]int64, force bool, reorderCut int64) (applied, kept []*item, keep map[TopicPartition]int64) {
	if len(items) == 0 {
		return items, nil, nil
	}
	type stream struct {
		tp    TopicPartition
		items []*item
		n     int // items applied: a prefix
	}
	byTP := map[TopicPartition]*stream{}
	var streams []*stream
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		s := byTP[tp]
		if s == nil {
			s = &stream{tp: tp}
			byTP[tp] = s
			streams = append(streams, s)
		}
		s.items = append(s.items, it)
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
				latest := int64(math.MinInt64)
				for _, it := range s.items {
					latest = max(latest, it.ev.Time)
				}
				frontier = min(frontier, latest)
			}
		}
	} else if reorderCut == 0 {
		return items, nil, nil
	}
	for changed := true; changed; {
		changed = false
		for _, s := range streams {
			s.n = 0
			for s.n < len(s.items) && s.items[s.n].ev.Time <= frontier {
				s.n++
			}
			for _, it := range s.items[s.n:] {
				if it.ev.Time <= frontier {
					frontier, changed = it.ev.Time-1, true
				}
			}
		}
	}
	keep = map[TopicPartition]int64{}
	released := 0
	for _, s := range streams {
		released += s.n
		if s.n < len(s.items) {
			keep[s.tp] = s.items[s.n].rec.Offset
		}
	}
	if released == len(items) {
		return items, nil, nil
	}
	applied = make([]*item, 0, released)
	kept = make([]*item, 0, len(items)-released)
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		if k, ok := keep[tp]; !ok || it.rec.Offset < k {
			applied = append(applied, it)
		} else {
			kept = append(kept, it)
		}
	}
	return applied, kept, keep
}

// fetchPauser is implemented by clients that can stop fetching partitions
// whose records they hold (both backends: Pause).
type fetchPauser interface {
	Pause(tps []TopicPartition)
}

// pauseAbove is how many kept records of one partition the client holds
// before the processor may pause its fetching (Kafka Streams pauses a
// partition at buffered.records.per.partition, 1000 by default). Below it a
// backlog's partitions are all fetched at once, each fetch a few thousand
// records; above it the held records of a partition far ahead stop growing.
// It is a few fetches' worth: a partition is resumed when its held records
// drop below it, and at 1 024 (less than one fetch of the partition that
// binds the frontier moves it by) a paused partition was often the next to
// bind, so every resume cost a batch that applied nothing (1 M events:
// franz-go 24 k events/s against 36 k at 4 096; docs/performance.md).
const pauseAbove = 4096

// aheadPartitions returns the kept partitions that the client may stop
// fetching while it holds their records: those holding at least above
// records, except the lagging ones whose latest event is the earliest. The
// merge's frontier starts at that event, so only those partitions' next
// records can move it; fetching more of the others would only hold more
// records, batch after batch (all of a backlog, when an upstream re-send
// sits out of order in a partition). items are the batch's items before
// the merge.
func aheadPartitions(items []*item, lag, keep map[TopicPartition]int64, above int) []TopicPartition {
	latest := map[TopicPartition]int64{}
	held := map[TopicPartition]int{}
	for _, it := range items {
		tp := TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		if k, ok := keep[tp]; ok && it.rec.Offset >= k {
			held[tp]++
		}
		if lag[tp] <= 0 {
			continue
		}
		if t, ok := latest[tp]; !ok || it.ev.Time > t {
			latest[tp] = it.ev.Time
		}
	}
	first := int64(math.MaxInt64)
	for _, t := range latest {
		first = min(first, t)
	}
	var out []TopicPartition
	for tp := range keep {
		if t, ok := latest[tp]; ok && t == first || held[tp] < above {
			continue
		}
		out = append(out, tp)
	}
	slices.SortFunc(out, CompareTopicPartitions)
	return out
}
