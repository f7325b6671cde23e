package demo

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/processor"
)

// counters is the processor.Observer of the view: consumed records by outcome
// and topic, dead letters and fired timers.
type counters struct {
	mu        sync.Mutex
	byOutcome map[string]int64
	byTopic   map[string]int64
	total     atomic.Int64
	dead      atomic.Int64
	fired     atomic.Int64
}

func newCounters() *counters {
	return &counters{byOutcome: map[string]int64{}, byTopic: map[string]int64{}}
}

func (d *counters) Consumed(topic, outcome string, n int) {
	d.mu.Lock()
	d.byOutcome[outcome] += int64(n)
	d.byTopic[topic] += int64(n)
	d.mu.Unlock()
	d.total.Add(int64(n))
}
func (d *counters) DeadLetter(string)                        { d.dead.Add(1) }
func (d *counters) Late(string)                              {}
func (d *counters) Transition(string, string, string)        {}
func (d *counters) AccountTransition(string, string, string) {}
func (d *counters) Batch(int, time.Duration)                 {}
func (d *counters) Latency(time.Duration)                    {}
func (d *counters) Timers(_, fired int)                      { d.fired.Add(int64(fired)) }
func (d *counters) StoreRoundTrip(string, time.Duration)     {}
func (d *counters) Ready(bool, string)                       {}

func (d *counters) outcome(o string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byOutcome[o]
}

func (d *counters) topic(t string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byTopic[t]
}

// observer sends the processor's observations to the metrics and to the
// view. Batch durations and latencies are measured on the simulated clock;
// they are converted to wall-clock time for the metrics.
type observer struct {
	metrics processor.Observer
	counts  *counters
	clock   *simClock
}

func (o observer) Consumed(topic, outcome string, n int) {
	o.metrics.Consumed(topic, outcome, n)
	o.counts.Consumed(topic, outcome, n)
}
func (o observer) Late(topic string) { o.metrics.Late(topic) }

func (o observer) DeadLetter(reason string) {
	o.metrics.DeadLetter(reason)
	o.counts.DeadLetter(reason)
}
func (o observer) Transition(model, from, to string) { o.metrics.Transition(model, from, to) }

func (o observer) AccountTransition(model, from, to string) {
	o.metrics.AccountTransition(model, from, to)
}
func (o observer) Batch(records int, took time.Duration) {
	o.metrics.Batch(records, o.clock.toWall(took))
}
func (o observer) Latency(d time.Duration) { o.metrics.Latency(o.clock.toWall(d)) }
func (o observer) Timers(due, fired int) {
	o.metrics.Timers(due, fired)
	o.counts.Timers(due, fired)
}
func (o observer) StoreRoundTrip(op string, d time.Duration) { o.metrics.StoreRoundTrip(op, d) }
func (o observer) Ready(ready bool, reason string)           { o.metrics.Ready(ready, reason) }
