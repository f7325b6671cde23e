package processor

import (
	"sync"
	"time"
)

// lagReporter is implemented by Kafka clients that know, per owned partition,
// how many records the broker holds beyond the last one polled (both backends
// do). Without it every partition counts as caught up.
type lagReporter interface {
	Lag() map[TopicPartition]int64
}

// eventClock is the clock that fires time-driven changes (decay, inactivity,
// criteria windows closing): the event-time watermark of the owned partitions,
// never ahead of the wall clock.
//
//   - Each owned partition's progress is the latest event time applied from it.
//   - While some owned partitions still have records on the broker (lag), the
//     watermark is the least progress among them: a lead's timer does not fire
//     at an instant some partition has not reached, since an event of that lead
//     up to that instant may still be on its way. Caught-up partitions do not
//     hold the watermark back (they have nothing more to say).
//   - Once every owned partition is caught up, the watermark is the greatest
//     progress: everything the broker holds has been applied.
//   - Once no record has been polled for Config.IdleTimeout and nothing is
//     lagging, the wall clock takes over: a quiet lead regresses on time even
//     when no event comes at all.
//
// The clock never goes backwards. Before the first record or idle period it
// is zero, and no timer fires: a processor that starts on a backlog must not
// fire the wall clock's regressions before it has read the history.
type eventClock struct {
	mu       sync.Mutex
	progress map[TopicPartition]int64
	lastData time.Time // wall time of the last poll that returned records
	started  time.Time
	value    int64 // Unix ms; monotonic
}

func newEventClock(start time.Time) *eventClock {
	return &eventClock{progress: map[TopicPartition]int64{}, started: start}
}

// polled notes that a poll returned records at wall time now.
func (c *eventClock) polled(now time.Time) {
	c.mu.Lock()
	c.lastData = now
	c.mu.Unlock()
}

// applied notes that an event of tp at event time t (Unix ms) was applied.
func (c *eventClock) applied(tp TopicPartition, t int64) {
	c.mu.Lock()
	if t > c.progress[tp] {
		c.progress[tp] = t
	}
	c.mu.Unlock()
}

// at returns the clock's value at wall time now, given the partitions owned
// now and their lag (nil: unknown, taken as caught up).
func (c *eventClock) at(now time.Time, owned []TopicPartition, lag map[TopicPartition]int64, idle time.Duration) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := now.UnixMilli()
	lagging := false
	var least, most int64
	haveLeast := false
	for _, tp := range owned {
		p, seen := c.progress[tp]
		if lag[tp] > 0 {
			lagging = true
			if seen && (!haveLeast || p < least) {
				least, haveLeast = p, true
			}
		}
		if seen && p > most {
			most = p
		}
	}
	// Forget partitions this member no longer owns: their next owner's
	// clock covers them, and a partition that comes back starts afresh.
	if len(c.progress) > len(owned) {
		keep := make(map[TopicPartition]bool, len(owned))
		for _, tp := range owned {
			keep[tp] = true
		}
		for tp := range c.progress {
			if !keep[tp] {
				delete(c.progress, tp)
			}
		}
	}
	var w int64
	switch {
	case lagging && haveLeast:
		w = least
	case lagging:
		w = 0 // lagging partitions have delivered nothing yet: wait for them
	default:
		w = most
		quietSince := c.lastData
		if quietSince.IsZero() {
			quietSince = c.started
		}
		if now.Sub(quietSince) >= idle {
			w = wall
		}
	}
	w = min(w, wall)
	if w > c.value {
		c.value = w
	}
	return c.value
}
