package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/leadscore/leadscore/events"
)

// Topics names the processor's topics.
type Topics struct {
	Web          string // Segment-spec web events (input)
	Email        string // SendGrid Event Webhook events (input)
	Feedback     string // sales feedback (input)
	StageChanges string // stage-change events (output)
	DeadLetter   string // dead letters (output)
	// AccountStageChanges receives account stage changes (output), when a
	// model scores accounts.
	AccountStageChanges string
}

// DefaultTopics returns the topic names used when none are configured. It is
// a function so that no caller can change the defaults of every other one.
func DefaultTopics() Topics {
	return Topics{
		Web:          "tracking.web",
		Email:        "tracking.email",
		Feedback:     "crm.feedback",
		StageChanges: "leads.stage-changes",
		DeadLetter:   "leads.dead-letter",

		AccountStageChanges: "accounts.stage-changes",
	}
}

// Outputs returns the output topics, with the account stage-change topic
// when accounts is set (a model scores accounts).
func (t Topics) Outputs(accounts bool) []string {
	out := []string{t.StageChanges, t.DeadLetter}
	if accounts && t.AccountStageChanges != "" {
		out = append(out, t.AccountStageChanges)
	}
	return out
}

// Inputs returns the configured input topics, in a fixed order.
func (t Topics) Inputs() []string {
	var in []string
	for _, s := range []string{t.Web, t.Email, t.Feedback} {
		if s != "" {
			in = append(in, s)
		}
	}
	return in
}

// maxApplyLanes bounds Config.ApplyLanes.
const maxApplyLanes = 64

// DefaultApplyLanes is Config.ApplyLanes's default, and `leadscore run
// --lanes`'s: one lane per core the Go runtime uses, at most 8 (beyond that
// Redis, one core itself, is the bound).
func DefaultApplyLanes() int { return min(max(runtime.GOMAXPROCS(0), 1), 8) }

// Defaults of Config's durations that `leadscore run` exposes as flags.
const (
	DefaultTimerTick       = time.Second
	DefaultIdleTimeout     = 30 * time.Second
	DefaultMergeWait       = 2 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// DefaultWorkingSet is the working set `leadscore run` gives a sole owner
// (Config.WorkingSet): at about 1 KB a lead, ~100 MB.
const DefaultWorkingSet = 100_000

// Config tunes a Processor. Zero fields take defaults; New validates it once.
type Config struct {
	Topics Topics
	// TimerTick is how often owned timer shards are swept for leads whose
	// decayed score or inactivity makes them change stage with no new event.
	// Time-driven stage changes are emitted within about one tick of their due
	// time. Default 1 s.
	TimerTick time.Duration
	// IdleTimeout is how long the input must have been quiet (no record
	// polled, no partition lagging) before the wall clock, rather than the
	// event time of the applied events, drives decay and inactivity timers.
	// While events flow — a history load, a catch-up, live traffic — timers
	// fire at the event-time watermark, so a backfill fires exactly the
	// oracle's time-driven changes; a pause in a history load longer than this
	// hands over to the wall clock. Default 30 s.
	IdleTimeout time.Duration
	// MergeWait bounds how long the event-time merge (merge.go) waits for a
	// partition that the broker holds records of but that delivers none:
	// after this long without applying anything, the batch is applied as it
	// is (its late events counted). Default 2 s.
	MergeWait time.Duration
	// ReorderWait, when positive, holds every event until the wall clock is
	// this far past its event time, so that events of one lead arriving on
	// different topics a little apart (e-mail webhooks lagging web events)
	// are applied in event-time order: latency traded for order. Default 0:
	// only what Kafka already holds is merged, and steady-state latency does
	// not grow.
	ReorderWait time.Duration
	// TimerLease is how long a claimed timer is held before it comes due again
	// (if the processor crashed while handling it). Default 30 s.
	TimerLease time.Duration
	// TimerBatch is the most timers claimed per shard per tick. Default 1000.
	TimerBatch int
	// TimerPartitions is the partition count of the first input topic; timer
	// shard s is swept by the member owning partition s mod TimerPartitions.
	// 0: every member sweeps every shard (correct — claims are exclusive — but
	// more Redis work).
	TimerPartitions int
	// OutboxRetry is how soon a lead whose stage change could not be confirmed
	// produced is looked at again by its timer. Default 10 s.
	OutboxRetry time.Duration
	// BackoffMin and BackoffMax bound the exponential backoff (with jitter)
	// while Redis or Kafka fail. Defaults 100 ms and 10 s.
	BackoffMin, BackoffMax time.Duration
	// ShutdownTimeout bounds finishing the batch in flight, committing and
	// leaving the group after Run's context is cancelled. Default 30 s.
	ShutdownTimeout time.Duration
	// MaxConflictRounds bounds how often one batch reloads leads that another
	// writer changed concurrently before giving up on them (they are then
	// retried with the whole batch). Default 8.
	MaxConflictRounds int
	// WorkingSet is how many leads the processor keeps in memory between
	// batches (records and identity-index answers, least recently used out
	// first), so that a batch reads Redis only for the leads it does not
	// hold. Only for a processor that is the sole writer of its leads — sole
	// ownership (docs/processing.md, "The working set"); every write is
	// still a compare-and-set, and the set is emptied when the client's
	// partitions change or a write finds a lead changed by someone else.
	// 0 (the default) keeps none.
	WorkingSet int
	// CommitAck acknowledges the outbox of leads written by event batches
	// with the batch's Kafka commit instead of a second write of each lead
	// (commitack.go). Only for a processor that is the one consumer of every
	// input partition its leads' events come from — sole ownership: a
	// member of a spread group does not know the others' commits, and would
	// produce every outbox again.
	CommitAck bool
	// ApplyLanes is how many goroutines apply a batch's events and write
	// its leads, each a share of the leads (leads that an event of the
	// batch stitches together are one share's): the event-time merge and
	// identity resolution see the whole batch, the apply and the writes
	// run side by side. Default DefaultApplyLanes().
	ApplyLanes int
	// Sources names, per input topic, the source its offsets are kept under in
	// lead records (state.TopicEpochs): a topic recreated in Kafka restarts its
	// offsets at 0 and must not have its new events taken for replays of the
	// old ones. A topic not listed is its own source.
	Sources map[string]string
	// Version is reported in dead letters ("leadscore/<version>").
	Version string
	// Now is the clock (tests pass a controllable one). Default time.Now.
	Now func() time.Time
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Observer receives counts and timings (metrics); nil records nothing.
	Observer Observer
	// Events bounds what the decoder accepts (payload size, nesting depth,
	// plausible event times); larger or stranger events go to the dead-letter
	// topic with a reason. Zero fields take the events package's defaults.
	Events events.Options
}

func (c *Config) setDefaults() {
	if c.Topics == (Topics{}) {
		c.Topics = DefaultTopics()
	}
	if c.TimerTick <= 0 {
		c.TimerTick = DefaultTimerTick
	}
	if c.ApplyLanes == 0 {
		c.ApplyLanes = DefaultApplyLanes()
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.TimerLease <= 0 {
		c.TimerLease = 30 * time.Second
	}
	if c.MergeWait <= 0 {
		c.MergeWait = DefaultMergeWait
	}
	if c.TimerBatch <= 0 {
		c.TimerBatch = 1000
	}
	if c.OutboxRetry <= 0 {
		c.OutboxRetry = 10 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 10 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxConflictRounds <= 0 {
		c.MaxConflictRounds = 8
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
}

// source is the name topic's offsets are kept under (Config.Sources).
func (c *Config) source(topic string) string {
	if s, ok := c.Sources[topic]; ok {
		return s
	}
	return topic
}

// Validate checks a configuration after defaults are applied.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Topics.Inputs()) == 0 {
		errs = append(errs, errors.New("no input topic"))
	}
	if c.Topics.StageChanges == "" || c.Topics.DeadLetter == "" {
		errs = append(errs, errors.New("stage-change and dead-letter topics are required"))
	}
	seen := map[string]bool{}
	for _, t := range []string{c.Topics.Web, c.Topics.Email, c.Topics.Feedback, c.Topics.StageChanges, c.Topics.DeadLetter, c.Topics.AccountStageChanges} {
		if t != "" && seen[t] {
			errs = append(errs, fmt.Errorf("topic %q is used twice", t))
		}
		seen[t] = true
	}
	if c.BackoffMax < c.BackoffMin {
		errs = append(errs, errors.New("backoff max is below backoff min"))
	}
	if c.ReorderWait < 0 {
		errs = append(errs, errors.New("reorder wait must not be negative"))
	}
	if c.WorkingSet < 0 {
		errs = append(errs, errors.New("working set must not be negative"))
	}
	if c.ApplyLanes < 0 || c.ApplyLanes > maxApplyLanes {
		errs = append(errs, fmt.Errorf("apply lanes must be within 0..%d, got %d", maxApplyLanes, c.ApplyLanes))
	}
	if c.TimerPartitions < 0 {
		errs = append(errs, errors.New("timer partitions must not be negative"))
	}
	if err := c.Events.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("events: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("processor: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
