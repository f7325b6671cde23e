package processor

import "time"

// Observer receives what the processor does, for metrics. Implementations must be
// safe for concurrent use and cheap: they are called on the hot path.
type Observer interface {
	// Consumed counts input records by topic and outcome (applied, duplicate,
	// ignored, replayed, dead_letter).
	Consumed(topic, outcome string, n int)
	// Late counts events applied late, by topic: earlier than the instant
	// their lead had already been brought to by a later event or a timer.
	Late(topic string)
	// DeadLetter counts dead letters by reason code.
	DeadLetter(reason string)
	// Transition counts stage changes by model (its name; "" for a
	// process's one unnamed model), from and to stage.
	Transition(model, from, to string)
	// AccountTransition counts account stage changes likewise.
	AccountTransition(model, from, to string)
	// Batch reports one processed batch: its size and how long processing took.
	Batch(records int, took time.Duration)
	// Latency reports the time from an input's event time to its stage change
	// being produced.
	Latency(d time.Duration)
	// Timers counts timers that came due and stage changes they fired.
	Timers(due, fired int)
	// StoreRoundTrip reports the duration of one state-store round trip.
	StoreRoundTrip(op string, d time.Duration)
	// Ready reports readiness changes.
	Ready(ready bool, reason string)
}

type nopObserver struct{}

func (nopObserver) Consumed(string, string, int)             {}
func (nopObserver) DeadLetter(string)                        {}
func (nopObserver) Late(string)                              {}
func (nopObserver) Transition(string, string, string)        {}
func (nopObserver) AccountTransition(string, string, string) {}
func (nopObserver) Batch(int, time.Duration)                 {}
func (nopObserver) Latency(time.Duration)                    {}
func (nopObserver) Timers(int, int)                          {}
func (nopObserver) StoreRoundTrip(string, time.Duration)     {}
func (nopObserver) Ready(bool, string)                       {}
