package processor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Store is the lead-state store the processor needs; *state.Store implements it.
type Store interface {
	Resolve(ctx context.Context, identities []string) (map[string]string, error)
	ResolveLoad(ctx context.Context, identities []string) (map[string]string, map[string]state.Record, error)
	Load(ctx context.Context, leadIDs []string) (map[string]state.Record, error)
	Write(ctx context.Context, updates []state.Update) ([]state.Result, error)
	ClaimDueShards(ctx context.Context, shards []int, now int64, lease time.Duration, limit int) ([]state.Timer, error)
	TimerShards() int
	Ping(ctx context.Context) error
	// Names, EnsureNames and NamesUpTo give the name dictionary lead states
	// are encoded with (batch.go: updates, knowNames): each record names its
	// rules by id.
	Names() *state.NameDict
	EnsureNames(ctx context.Context, names []string) (*state.NameDict, error)
	NamesUpTo(ctx context.Context, id uint64) (*state.NameDict, error)
}

// Processor turns input records into lead state and stage changes. One Processor
// is one consumer-group member; run several (processes or goroutines with their
// own Client) to scale out.
type Processor struct {
	cfg    Config
	client Client
	// lag is the client's lag report (nil when it has none), taken from the
	// client itself: SetTracing wraps the client in a type that has no Lag.
	lag lagReporter
	// pauser is the client's, taken likewise (nil when it cannot pause).
	pauser fetchPauser
	// store is what batches use: raw, seen through the working set when
	// there is one (ws); raw is the store given to New, traced once
	// SetTracing is called.
	store Store
	raw   Store
	ws    *workingSet
	// counter is the client's assignment count, taken likewise (nil when it
	// keeps none); assignment is its count when the working set was last
	// known good, or assignedAtCheck the partitions then owned for a client
	// that does not count.
	counter         assignmentCounter
	assignment      uint64
	assignedAtCheck []TopicPartition
	// staleRetry is set while a batch starts over after errStaleWorkingSet:
	// it reads Redis afresh, so a conflict then is an ordinary one.
	staleRetry bool
	models     atomic.Pointer[scoring.Set]
	// decs decode a batch's records, in parallel shares (batch.go).
	decs []*events.Decoder
	// writeChunk overrides the package's writeChunk (tests: small chunks).
	writeChunk int

	readyMu  sync.Mutex
	notReady string // why not ready; "" when ready

	nextTick time.Time
	// ackDone is closed when the last batch's outbox acknowledgement, which
	// runs while the next batch is polled and decoded, has finished.
	ackDone chan struct{}

	tracing *tracing // tracing.go: nil unless SetTracing was called

	// clock drives timers on event time (clock.go).
	clock *eventClock
	// merge and pauseUntil belong to the event-time merge (merge.go).
	merge      mergeState
	pauseUntil time.Time
	pending    []*item // the items the last batch's merge kept, in record order
	// committed is, per source partition (state.SourceKey), the group's
	// committed offset as far as this processor knows (commitack.go).
	committed map[string]int64
}

// New validates cfg and returns a processor that scores with the given
// models (one set for every event: see scoring.Set). It does not contact
// Kafka or Redis.
func New(cfg Config, client Client, store Store, models *scoring.Set) (*Processor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil || store == nil || models == nil {
		return nil, errors.New("processor: client, store and models are required")
	}
	if err := checkLinked(&cfg, models); err != nil {
		return nil, err
	}
	if models.HasAccounts() && cfg.Topics.AccountStageChanges == "" {
		return nil, errors.New("processor: a model scores accounts: the account stage-change topic is required")
	}
	decs := make([]*events.Decoder, max(1, runtime.GOMAXPROCS(0)))
	for i := range decs {
		d, err := events.NewDecoder(cfg.Events)
		if err != nil {
			return nil, fmt.Errorf("processor: %w", err)
		}
		decs[i] = d
	}
	p := &Processor{cfg: cfg, client: client, raw: store, decs: decs, notReady: "starting", clock: newEventClock(cfg.Now())}
	p.lag, _ = client.(lagReporter)
	p.pauser, _ = client.(fetchPauser)
	if p.counter, _ = client.(assignmentCounter); p.counter != nil {
		p.assignment = p.counter.Assignments()
	}
	if cfg.WorkingSet > 0 {
		p.ws = newWorkingSet(cfg.WorkingSet)
	}
	p.wireStore()
	p.models.Store(models)
	return p, nil
}

// wireStore sets the store batches use: the raw store, through the working
// set when there is one.
func (p *Processor) wireStore() {
	p.store = p.raw
	if p.ws != nil {
		p.store = &cachedStore{Store: p.raw, ws: p.ws}
	}
}

// SetModels swaps the scoring models (reloaded rules files) between batches.
// State written under the old ones stays valid: see docs/rules.md,
// "Changing rules", and docs/models.md.
// Models the processor cannot run (a linked model without a sole owner:
// linked.go) are refused and the current ones kept.
func (p *Processor) SetModels(m *scoring.Set) error {
	if err := checkLinked(&p.cfg, m); err != nil {
		return err
	}
	p.models.Store(m)
	return nil
}

// Models returns the current models.
func (p *Processor) Models() *scoring.Set { return p.models.Load() }

// Ready returns nil when the processor's last cycle reached Kafka and Redis, or why not.
func (p *Processor) Ready() error {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	if p.notReady != "" {
		return errors.New(p.notReady)
	}
	return nil
}

func (p *Processor) setReady(reason string) {
	p.readyMu.Lock()
	changed := p.notReady != reason
	p.notReady = reason
	p.readyMu.Unlock()
	if changed {
		p.cfg.Observer.Ready(reason == "", reason)
		if reason == "" {
			p.cfg.Logger.Info("processor ready")
		} else {
			p.cfg.Logger.Warn("processor not ready", "reason", reason)
		}
	}
}

// Run consumes until ctx is cancelled, then shuts down in order: it stops polling,
// finishes the batch in flight (state write, produce, commit) within
// Config.ShutdownTimeout, and leaves the group. Redis or Kafka failures do not end
// Run: the batch is retried with exponential backoff and jitter while the
// processor reports not ready, and no new records are fetched meanwhile. Run
// returns nil after a clean shutdown.
func (p *Processor) Run(ctx context.Context) error {
	log := p.cfg.Logger
	p.nextTick = p.cfg.Now()
	for ctx.Err() == nil {
		if d := p.pauseUntil.Sub(p.cfg.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		p.pauseUntil = time.Time{}
		recs, err := p.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, ErrClosed) {
				return err
			}
			p.setReady("kafka: " + err.Error())
			p.sleep(ctx, 0)
			continue
		}
		// The batch in flight is finished even if ctx is cancelled meanwhile:
		// shutdown is a sequence, not an abort.
		work := context.WithoutCancel(ctx)
		if err := p.cycle(ctx, work, recs); err != nil {
			log.Error("batch abandoned", "err", err, "records", len(recs))
		}
	}
	p.waitAck()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	if err := p.client.Close(sctx); err != nil {
		return fmt.Errorf("processor: leaving the group: %w", err)
	}
	log.Info("processor stopped")
	return nil
}

// partitions returns the input partitions this member owns now and their lag
// (nil when the client does not report it), read once per batch for the
// event-time merge and the timer clock.
func (p *Processor) partitions() ([]TopicPartition, map[TopicPartition]int64) {
	var lag map[TopicPartition]int64
	if p.lag != nil {
		lag = p.lag.Lag()
	}
	return p.client.Assigned(), lag
}

// poll waits for records until the next timer tick.
func (p *Processor) poll(ctx context.Context) ([]Record, error) {
	wait := p.nextTick.Sub(p.cfg.Now()) // the processor clock, which tests and the demo control
	if wait < 10*time.Millisecond {
		wait = 10 * time.Millisecond
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	recs, err := p.client.Poll(pctx)
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		return recs, nil // the tick came: no records is not an error
	}
	return recs, err
}

// cycle processes one polled batch (and due timers) until it is committed, retrying
// with backoff on retryable failures. ctx ends retries (shutdown); work is used for
// the I/O of the batch itself.
func (p *Processor) cycle(ctx, work context.Context, recs []Record) error {
	for attempt := 0; ; attempt++ {
		err := p.processBatch(work, recs)
		if errors.Is(err, errStaleWorkingSet) && !p.staleRetry {
			// At once, and once: the retry reads every lead from Redis.
			p.staleRetry = true
			p.cfg.Logger.Info("batch starts over", "reason", err)
			attempt--
			continue
		}
		p.staleRetry = false
		if err == nil {
			p.setReady("")
			return nil
		}
		if errors.Is(err, ErrNotOwner) {
			p.cfg.Logger.Warn("batch not committed; it will be redelivered (its state writes are idempotent)", "err", err)
			return nil
		}
		p.setReady(err.Error())
		if ctx.Err() != nil {
			_ = p.client.Abort(work)
			return fmt.Errorf("shutting down with the batch unfinished (it will be redelivered): %w", err)
		}
		p.sleep(ctx, attempt)
	}
}

// sleep waits an exponential backoff with full jitter, or until ctx ends.
func (p *Processor) sleep(ctx context.Context, attempt int) {
	d := p.cfg.BackoffMin << min(attempt, 20)
	if d > p.cfg.BackoffMax || d <= 0 {
		d = p.cfg.BackoffMax
	}
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
