package processor

import (
	"testing"
	"time"
)

func TestEventClock(t *testing.T) {
	const idle = 30 * time.Second
	wall := time.UnixMilli(1_000_000_000)
	a, b, c := TopicPartition{"web", 0}, TopicPartition{"web", 1}, TopicPartition{"email", 0}
	owned := []TopicPartition{a, b, c}
	type step struct {
		name    string
		after   time.Duration // wall time since the clock was made
		polled  bool
		applied map[TopicPartition]int64
		owned   []TopicPartition
		lag     map[TopicPartition]int64
		want    int64
	}
	steps := []step{
		{name: "nothing read yet: no timer fires", want: 0},
		{name: "a backlog: the least progress among lagging partitions", after: time.Second, polled: true,
			applied: map[TopicPartition]int64{a: 500, b: 300, c: 900}, lag: map[TopicPartition]int64{a: 10, b: 5}, want: 300},
		{name: "a caught-up partition does not hold it back", after: 2 * time.Second, polled: true,
			applied: map[TopicPartition]int64{b: 450}, lag: map[TopicPartition]int64{a: 10}, want: 500},
		{name: "all caught up: the greatest progress", after: 3 * time.Second, polled: true, want: 900},
		{name: "never backwards (a lagging partition behind)", after: 4 * time.Second, polled: true,
			applied: map[TopicPartition]int64{a: 600}, lag: map[TopicPartition]int64{b: 3}, want: 900},
		{name: "quiet for less than the idle timeout", after: 4*time.Second + idle - time.Millisecond, want: 900},
		{name: "idle: the wall clock takes over", after: 4*time.Second + idle, want: wall.Add(4*time.Second + idle).UnixMilli()},
		{name: "lagging again: still never backwards", after: 40 * time.Second, polled: true,
			applied: map[TopicPartition]int64{a: 700}, lag: map[TopicPartition]int64{a: 1}, want: wall.Add(4*time.Second + idle).UnixMilli()},
	}
	k := newEventClock(wall)
	for _, s := range steps {
		now := wall.Add(s.after)
		if s.polled {
			k.polled(now)
		}
		for tp, ts := range s.applied {
			k.applied(tp, ts)
		}
		o := owned
		if s.owned != nil {
			o = s.owned
		}
		if got := k.at(now, o, s.lag, idle); got != s.want {
			t.Errorf("%s: clock %d, want %d", s.name, got, s.want)
		}
	}
}

func TestEventClockNeverAheadOfTheWallClock(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	k := newEventClock(wall)
	tp := TopicPartition{"web", 0}
	k.polled(wall)
	k.applied(tp, wall.Add(time.Hour).UnixMilli()) // an event dated in the future
	if got := k.at(wall, []TopicPartition{tp}, nil, time.Minute); got != wall.UnixMilli() {
		t.Fatalf("clock %d ahead of the wall clock %d", got, wall.UnixMilli())
	}
}

func TestEventClockForgetsRevokedPartitions(t *testing.T) {
	wall := time.UnixMilli(1_000_000_000)
	k := newEventClock(wall)
	a, b := TopicPartition{"web", 0}, TopicPartition{"web", 1}
	k.polled(wall)
	k.applied(a, 100)
	k.applied(b, 800)
	// b moved to another member: its progress no longer speaks for this one.
	if got := k.at(wall, []TopicPartition{a}, nil, time.Minute); got != 100 {
		t.Fatalf("clock %d after b was revoked, want a's progress 100", got)
	}
}
