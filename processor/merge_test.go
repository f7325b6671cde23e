package processor

import (
	"reflect"
	"testing"

	"github.com/leadscore/leadscore/scoring"
)

func TestMergeItems(t *testing.T) {
	a, b, c := TopicPartition{"web", 0}, TopicPartition{"web", 1}, TopicPartition{"email", 0}
	mk := func(tp TopicPartition, off, at int64) *item {
		return &item{rec: &Record{Topic: tp.Topic, Partition: tp.Partition, Offset: off}, ev: scoring.Event{Time: at}}
	}
	// a: times 10, 20, 30; b: 15, 40; c: 5, 25
	items := []*item{mk(a, 0, 10), mk(a, 1, 20), mk(a, 2, 30), mk(b, 7, 15), mk(b, 8, 40), mk(c, 3, 5), mk(c, 4, 25)}
	owned := []TopicPartition{a, b, c}
	cases := []struct {
		name     string
		lag      map[TopicPartition]int64
		extra    []TopicPartition // owned partitions absent from the batch
		force    bool
		cut      int64
		wantKeep map[TopicPartition]int64
		applied  int
	}{
		{name: "nothing lags: all applied", applied: 7},
		{name: "b lags: stop where b runs out (after its 40)", lag: map[TopicPartition]int64{b: 3}, applied: 7},
		{name: "c lags: stop after c's 25", lag: map[TopicPartition]int64{c: 1},
			wantKeep: map[TopicPartition]int64{a: 2, b: 8}, applied: 5},
		{name: "a and c lag: the earlier end (c at 25) decides", lag: map[TopicPartition]int64{a: 9, c: 1},
			wantKeep: map[TopicPartition]int64{a: 2, b: 8}, applied: 5},
		{name: "a lagging partition with nothing in the batch blocks all", lag: map[TopicPartition]int64{{"web", 2}: 4},
			extra: []TopicPartition{{"web", 2}}, wantKeep: map[TopicPartition]int64{a: 0, b: 7, c: 3}, applied: 0},
		{name: "forced: applied whole", lag: map[TopicPartition]int64{{"web", 2}: 4, c: 1},
			extra: []TopicPartition{{"web", 2}}, force: true, applied: 7},
		{name: "reorder cut at 20: later events kept", cut: 20,
			wantKeep: map[TopicPartition]int64{a: 2, b: 8, c: 4}, applied: 4},
	}
	// A partition out of event-time order (e-mail webhooks arriving with
	// different lags): a record kept behind a later one holds back what comes
	// after it everywhere.
	d := TopicPartition{"email", 1}
	disorder := []*item{mk(a, 0, 10), mk(a, 1, 20), mk(d, 0, 12), mk(d, 1, 30), mk(d, 2, 15)}
	got, _, keep := mergeItems(disorder, []TopicPartition{a, d}, nil, false, 25)
	if len(got) != 2 || !reflect.DeepEqual(keep, map[TopicPartition]int64{a: 1, d: 1}) {
		t.Errorf("disorder: applied %d, keep %v; want a's 10 and d's 12 applied, a from 1 and d from 1 kept (d's 15 waits behind its 30)", len(got), keep)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, kept, keep := mergeItems(items, append(owned, tc.extra...), tc.lag, tc.force, tc.cut)
			if len(got)+len(kept) != len(items) {
				t.Errorf("%d items applied and %d kept, of %d", len(got), len(kept), len(items))
			}
			for _, it := range kept {
				tp := TopicPartition{it.rec.Topic, it.rec.Partition}
				if k, ok := keep[tp]; !ok || it.rec.Offset < k {
					t.Errorf("item %v/%d kept but not past its partition's kept offset %v", tp, it.rec.Offset, keep)
				}
			}
			if len(got) != tc.applied {
				t.Errorf("%d items applied, want %d", len(got), tc.applied)
			}
			if len(tc.wantKeep) == 0 && keep != nil || len(tc.wantKeep) > 0 && !reflect.DeepEqual(keep, tc.wantKeep) {
				t.Errorf("keep %v, want %v", keep, tc.wantKeep)
			}
			for _, it := range got {
				tp := TopicPartition{it.rec.Topic, it.rec.Partition}
				if k, ok := keep[tp]; ok && it.rec.Offset >= k {
					t.Errorf("item %v/%d applied and kept", tp, it.rec.Offset)
				}
			}
		})
	}
}

func TestAheadPartitions(t *testing.T) {
	a, b, c := TopicPartition{"web", 0}, TopicPartition{"web", 1}, TopicPartition{"email", 0}
	mk := func(tp TopicPartition, off, at int64) *item {
		return &item{rec: &Record{Topic: tp.Topic, Partition: tp.Partition, Offset: off}, ev: scoring.Event{Time: at}}
	}
	// a holds 3 kept records (offsets 1..3), b 2 (8, 9), c 1 (4); a's
	// latest event is 40, b's 50, c's 30.
	items := []*item{
		mk(a, 0, 5), mk(a, 1, 20), mk(a, 2, 30), mk(a, 3, 40),
		mk(b, 7, 10), mk(b, 8, 35), mk(b, 9, 50),
		mk(c, 3, 15), mk(c, 4, 30),
	}
	keep := map[TopicPartition]int64{a: 1, b: 8, c: 4}
	cases := []struct {
		name  string
		lag   map[TopicPartition]int64
		keep  map[TopicPartition]int64
		above int
		want  []TopicPartition
	}{
		{name: "nothing kept: nothing paused", above: 1},
		{name: "every holder at the threshold, none lagging", keep: keep, above: 1, want: []TopicPartition{c, a, b}},
		{name: "threshold spares the small holders", keep: keep, above: 2, want: []TopicPartition{a, b}},
		{name: "the lagging partition with the earliest latest event keeps fetching",
			keep: keep, lag: map[TopicPartition]int64{c: 9, b: 2}, above: 1, want: []TopicPartition{a, b}},
		{name: "only the earliest of the lagging ones is spared",
			keep: keep, lag: map[TopicPartition]int64{a: 5, b: 2}, above: 1, want: []TopicPartition{c, b}},
		{name: "a lagging partition is paused when another binds the frontier",
			keep: keep, lag: map[TopicPartition]int64{a: 5, c: 1}, above: 2, want: []TopicPartition{a, b}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := aheadPartitions(items, tc.lag, tc.keep, tc.above)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("paused %v, want %v", got, tc.want)
			}
		})
	}
}
