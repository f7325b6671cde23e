package bench

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Breakdown says where a leadscore scenario's throughput phase spent its time:
// how many batches it processed, how long processing them took in all (the rest
// of the wall time is spent polling), and the count and total time of each kind
// of state-store round trip.
type Breakdown struct {
	Batches     int                 `json:"batches"`
	Records     int                 `json:"records"`
	BatchMillis float64             `json:"batch_ms"`
	Store       map[string]OpTiming `json:"store"`
	TimersDue   int                 `json:"timers_due"`
}

// OpTiming is the count and total duration of one kind of round trip.
type OpTiming struct {
	Count  int     `json:"count"`
	Millis float64 `json:"ms"`
}

// observer implements processor.Observer, accumulating a Breakdown.
type observer struct {
	mu sync.Mutex
	b  Breakdown
}

func newObserver() *observer { return &observer{b: Breakdown{Store: map[string]OpTiming{}}} }

func (o *observer) Consumed(string, string, int)             {}
func (o *observer) DeadLetter(string)                        {}
func (o *observer) Late(string)                              {}
func (o *observer) Transition(string, string, string)        {}
func (o *observer) AccountTransition(string, string, string) {}
func (o *observer) Latency(time.Duration)                    {}
func (o *observer) Ready(bool, string)                       {}

func (o *observer) Batch(records int, took time.Duration) {
	o.mu.Lock()
	o.b.Batches++
	o.b.Records += records
	o.b.BatchMillis += float64(took) / 1e6
	o.mu.Unlock()
}

func (o *observer) Timers(due, _ int) {
	o.mu.Lock()
	o.b.TimersDue += due
	o.mu.Unlock()
}

func (o *observer) StoreRoundTrip(op string, d time.Duration) {
	o.mu.Lock()
	t := o.b.Store[op]
	t.Count++
	t.Millis += float64(d) / 1e6
	o.b.Store[op] = t
	o.mu.Unlock()
}

// await waits, at most d, until the breakdown holds a batch and at least
// records records. A batch is counted once committed, a moment after the
// phase's end saw its commit: without the wait, a phase done in one batch
// would count none.
func (o *observer) await(ctx context.Context, records int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		o.mu.Lock()
		done := o.b.Batches > 0 && o.b.Records >= records
		o.mu.Unlock()
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// take returns the breakdown so far and starts a new one.
func (o *observer) take() Breakdown {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.b
	o.b = Breakdown{Store: map[string]OpTiming{}}
	return b
}

// ops returns the store operations in a fixed order.
func (b *Breakdown) ops() []string {
	var ops []string
	for op := range b.Store {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}
