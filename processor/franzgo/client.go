// Package franzgo is the primary Kafka backend of the processor: a
// processor.Client built on github.com/twmb/franz-go.
//
// At-least-once (default): a consumer-group member with the (eager) sticky
// balancer, autocommit off and kgo.BlockRebalanceOnPoll, so no rebalance callback
// runs between Poll and Commit — a revoke waits until the batch is committed or
// abandoned, and a commit never covers a partition this member no longer owns.
// Commit commits exactly the offsets of the polled batch. Produce is synchronous,
// acks=all and idempotent.
//
// Exactly-once (Config.ExactlyOnce): a kgo.GroupTransactSession. Poll begins a
// transaction, Produce writes into it and Commit ends it: the produced records and
// the input offsets commit atomically, so read_committed consumers see each output
// once. If the group rebalanced or the member was fenced, the transaction aborts
// and Commit returns processor.ErrNotOwner.
//
// The admin helpers EnsureTopics and CheckTopics create or check topics with kadm.
package franzgo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is a processor.Client backed by franz-go. Use New to create one.
//
// Poll, Produce, Commit and Abort follow the processor's strict cycle and must be
// called from one goroutine; Assigned, Ready and Close may be called from any
// goroutine at any time (Close wakes a blocked Poll, which returns
// processor.ErrClosed).
type Client struct {
	cfg  Config
	cl   *kgo.Client
	sess *kgo.GroupTransactSession // nil unless exactly-once

	// op serialises Poll/Produce/Commit/Abort/Keep/Close and guards batch.
	op *kafkaconfig.Turn
	// life is cancelled by Close; a blocked Poll watches it.
	life     context.Context
	stopLife context.CancelFunc

	batch *batch // guarded by op

	mu       sync.Mutex // guards assigned, lag, lost, staleSession and held
	assigned map[processor.TopicPartition]struct{}
	lag      map[processor.TopicPartition]int64
	lost     bool // partitions were lost since the current batch was polled
	// staleSession: partitions were revoked or lost since the last transaction
	// ended (exactly-once), so the session would abort the next one.
	staleSession bool
	// held are the records the processor kept from the last batch (Keep),
	// in offset order per partition: the next Poll delivers them first. They
	// stay in memory rather than being fetched again: a backlog's sparse
	// partitions would otherwise be re-read batch after batch.
	held []*kgo.Record
	// lagUnknown: partitions were assigned whose lag no fetch has told yet.
	lagUnknown bool
	// ownedGen is the group generation in which the member last got
	// partitions (-1: never): its claim under sole ownership.
	ownedGen atomic.Int32
	// changes counts assignments, revocations and losses (Assignments).
	changes atomic.Uint64
	// pauseMu serialises syncPaused; paused are the partitions it paused,
	// pauseWant those the processor asked to pause (Pause; under mu).
	pauseMu   sync.Mutex
	paused    map[processor.TopicPartition]bool
	pauseWant map[processor.TopicPartition]bool
}

// batch is the set of records returned by the last Poll and not yet committed or
// abandoned: per partition, the first record (to rewind to) and the last one (to
// commit after).
type batch struct {
	first map[processor.TopicPartition]*kgo.Record
	last  map[processor.TopicPartition]*kgo.Record
	recs  []*kgo.Record
	// fromHeld are the records of the batch that earlier batches kept: an
	// aborted transaction resets fetching past them, so they are held again.
	fromHeld []*kgo.Record
	// keep: per partition, the first record not processed (Keep); nil when
	// the whole batch was.
	keep map[processor.TopicPartition]*kgo.Record
	// begun is when the batch's transaction began (exactly-once).
	begun time.Time
}

// defaultTransactionTimeout is franz-go's default transaction timeout.
const defaultTransactionTimeout = 40 * time.Second

// txnDeadline is when the open batch's transaction must have committed: a
// margin before the broker's transaction timeout, after which the broker may
// abort it on its own. Past it the batch is dropped rather than committed: a
// commit racing the broker's abort must never be taken for a success.
func (c *Client) txnDeadline(b *batch) time.Time {
	t := c.cfg.TransactionTimeout
	if t <= 0 {
		t = defaultTransactionTimeout
	}
	return b.begun.Add(t * 3 / 4)
}

// errTxnTooOld is returned when a batch outlived its transaction's deadline.
var errTxnTooOld = errors.New("the transaction stayed open too close to the broker's transaction timeout")

var _ processor.Client = (*Client)(nil)

// New validates cfg, creates the group member and returns once the client is
// constructed; joining the group happens in the background (the first Poll
// waits for it). Use Ready to check that the cluster is reachable. ctx bounds
// construction only; the client lives until Close.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("franzgo: new client: %w", err)
	}
	cfg.SetDefaults()
	c := &Client{
		cfg:      cfg,
		op:       kafkaconfig.NewTurn(),
		assigned: make(map[processor.TopicPartition]struct{}),
		lag:      make(map[processor.TopicPartition]int64),
	}
	c.life, c.stopLife = context.WithCancel(context.Background())
	c.ownedGen.Store(-1)
	opts, err := cfg.clientOpts(&c.ownedGen)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
	)
	opts = append(opts, cfg.Opts...)
	if cfg.ExactlyOnce {
		c.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			c.cl = c.sess.Client()
		}
	} else {
		c.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("franzgo: new client: %w", err)
	}
	return c, nil
}

// Poll blocks until records are available on owned partitions and returns up to
// MaxPollRecords of them, in offset order per partition. From then until Commit
// or Abort returns, rebalances are held back (up to the rebalance timeout, after
// which the broker evicts the member and Commit reports processor.ErrNotOwner).
// In exactly-once mode Poll also begins the batch's transaction.
//
// Poll returns ctx.Err() when ctx ends, processor.ErrClosed once Close was
// called, and a wrapped error for fetch errors that come without records (auth
// failures, unknown topics); in all those cases no batch is open. Calling Poll
// while a batch is open (no Commit or Abort since the last Poll) is an error.
func (c *Client) Poll(ctx context.Context) ([]processor.Record, error) {
	if err := c.op.AcquireOpen(ctx); err != nil {
		return nil, err
	}
	defer c.op.Release()
	if c.batch != nil {
		return nil, errors.New("franzgo: poll: the previous batch is still open (call Commit or Abort first)")
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.life, cancel)
	defer stop()

	for {
		c.mu.Lock()
		held := c.held
		c.mu.Unlock()
		fctx, fcancel := pctx, context.CancelFunc(func() {})
		if len(held) > 0 {
			// Held records are ready now: wait only a moment for more.
			fctx, fcancel = context.WithTimeout(pctx, heldPollWait)
		}
		// With records held, the merge waits for other partitions' records:
		// taking as many new ones as are held grows the batch geometrically, so
		// a backlog's held records are delivered again a few times, not once
		// per MaxPollRecords.
		fetches := c.cl.PollRecords(fctx, max(c.cfg.MaxPollRecords, len(held)))
		fcancel()
		c.learnLag(pctx)
		recs := slices.Clone(held)
		fetches.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			// Nothing to process: let any rebalance proceed.
			c.cl.AllowRebalance()
			if err := pollError(ctx, c.life, fetches); err != nil {
				return nil, err
			}
			continue
		}
		if l := c.cfg.Logger; l != nil {
			for _, fe := range fetches.Errors() {
				l.Warn("franzgo: fetch error alongside records", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		// A loss reported before now happened before these records were taken
		// (rebalance callbacks and polls exclude each other), so it does not
		// concern this batch.
		c.mu.Lock()
		c.lost = false
		c.mu.Unlock()
		if c.sess != nil {
			c.mu.Lock()
			stale := c.staleSession
			c.staleSession = false
			c.mu.Unlock()
			if stale {
				// Partitions were revoked or lost after the last transaction
				// ended and before these records were taken; the session still
				// counts that against the next commit and would abort it. Reset
				// it (an empty abort, which rewinds fetching to the committed
				// offsets) and poll these records again.
				if _, err := c.sess.End(ctx, kgo.TryAbort); err != nil {
					c.cl.AllowRebalance()
					return nil, fmt.Errorf("franzgo: poll: reset transaction session: %w", err)
				}
				c.cl.AllowRebalance()
				continue
			}
			if err := c.sess.Begin(); err != nil {
				// The fetch positions moved past recs; End(abort) rewinds them to
				// the committed offsets.
				_, _ = c.sess.End(context.WithoutCancel(ctx), kgo.TryAbort)
				c.cl.AllowRebalance()
				return nil, fmt.Errorf("franzgo: poll: begin transaction: %w", err)
			}
		}
		b := &batch{
			first:    make(map[processor.TopicPartition]*kgo.Record),
			last:     make(map[processor.TopicPartition]*kgo.Record),
			recs:     recs,
			fromHeld: held,
			begun:    time.Now(),
		}
		c.mu.Lock()
		c.held = nil
		c.mu.Unlock()
		out := make([]processor.Record, len(recs))
		for i, r := range recs {
			tp := processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}
			if _, ok := b.first[tp]; !ok {
				b.first[tp] = r
			}
			b.last[tp] = r
			out[i] = fromKgo(r)
		}
		c.batch = b
		c.mu.Lock()
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				tp := processor.TopicPartition{Topic: p.Topic, Partition: p.Partition}
				if last, ok := b.last[tp]; ok {
					c.lag[tp] = max(0, p.HighWatermark-(last.Offset+1))
				}
			}
		})
		c.mu.Unlock()
		return out, nil
	}
}

// Lag returns, per owned partition, how many records lie between the last
// record Poll returned and the partition's high watermark as of that fetch (or,
// before any fetch, between the committed offset and the end offset); a
// partition whose lag is not known yet counts 1, so that the processor's
// event-time merge waits for it rather than take it for caught up. It is also
// a gauge for metrics (consumer lag per partition), updated by Poll;
// partitions leave it when they are revoked or lost.
func (c *Client) Lag() map[processor.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[processor.TopicPartition]int64, len(c.assigned))
	for tp := range c.assigned {
		if n, ok := c.lag[tp]; ok {
			out[tp] = n
		} else {
			// Not known yet (learnLag has not answered): the broker may hold
			// records of it that come before what others delivered.
			out[tp] = 1
		}
	}
	return out
}

// pollError turns the errors of a record-less fetch into Poll's error; nil
// means "nothing worth reporting, poll again".
func pollError(ctx, life context.Context, fetches kgo.Fetches) error {
	if life.Err() != nil {
		return processor.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs []error
	for _, fe := range fetches.Errors() {
		var gs *kgo.ErrGroupSession
		switch {
		case errors.Is(fe.Err, kgo.ErrClientClosed):
			return processor.ErrClosed
		case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded):
			// Our internal cancel (Close) raced ctx; reported above.
		case errors.As(fe.Err, &gs):
			// Lost partitions, reported by the lost callback; the member rejoins.
		default:
			errs = append(errs, fmt.Errorf("topic %s partition %d: %w", fe.Topic, fe.Partition, fe.Err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("franzgo: poll: %w", errors.Join(errs...))
	}
	return nil
}

// Produce writes recs (Topic, Key, Value, Headers, Timestamp; Partition and
// Offset are ignored — the partition comes from the key through Kafka's murmur2
// partitioner) and returns once every record is acknowledged by all in-sync
// replicas. In exactly-once mode the records join the open batch's transaction;
// outside a batch (no Poll since the last Commit or Abort, e.g. timer-driven
// outputs) they are committed in a transaction of their own, atomically but not
// tied to input offsets, and an error wrapping processor.ErrNotOwner means that
// transaction was aborted by a concurrent rebalance (retry). On error some
// records may have been written (at-least-once), or the batch's transaction must
// be aborted with Abort (exactly-once).
func (c *Client) Produce(ctx context.Context, recs []processor.Record) error {
	if ok, err := c.op.AcquireProduce(ctx, len(recs)); !ok {
		return err
	}
	defer c.op.Release()
	krs := make([]*kgo.Record, len(recs))
	for i := range recs {
		krs[i] = toKgo(&recs[i])
	}
	if c.sess != nil && c.batch == nil {
		return c.produceOwnTransaction(ctx, krs)
	}
	var res kgo.ProduceResults
	if c.sess != nil {
		// Bounded by the transaction's deadline: a produce that waits longer
		// (a broker restart) belongs to a transaction the broker may abort.
		pctx, cancel := context.WithDeadline(ctx, c.txnDeadline(c.batch))
		res = c.sess.ProduceSync(pctx, krs...)
		cancel()
		if res.FirstErr() != nil && !time.Now().Before(c.txnDeadline(c.batch)) {
			_ = c.abortLocked(context.WithoutCancel(ctx))
			return fmt.Errorf("franzgo: produce: %w (%w)", processor.ErrNotOwner, errTxnTooOld)
		}
	} else {
		res = c.cl.ProduceSync(ctx, krs...)
	}
	if err := res.FirstErr(); err != nil {
		failed := 0
		for _, r := range res {
			if r.Err != nil {
				failed++
			}
		}
		return fmt.Errorf("franzgo: produce: %d of %d records failed: %w", failed, len(recs), err)
	}
	return nil
}

// produceOwnTransaction writes records produced outside a batch (exactly-once
// mode, e.g. timer-driven outputs) in a transaction of their own, with no input
// offsets.
func (c *Client) produceOwnTransaction(ctx context.Context, krs []*kgo.Record) error {
	c.mu.Lock()
	stale := c.staleSession
	c.staleSession = false
	c.mu.Unlock()
	if stale { // see Poll
		if _, err := c.sess.End(ctx, kgo.TryAbort); err != nil {
			return fmt.Errorf("franzgo: produce: reset transaction session: %w", err)
		}
	}
	if err := c.sess.Begin(); err != nil {
		return fmt.Errorf("franzgo: produce: begin transaction: %w", err)
	}
	if err := c.sess.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RebalanceTimeout)
		defer cancel()
		_, _ = c.sess.End(actx, kgo.TryAbort)
		return fmt.Errorf("franzgo: produce (own transaction, aborted): %w", err)
	}
	committed, err := c.sess.End(ctx, kgo.TryCommit)
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RebalanceTimeout)
		defer cancel()
		_, _ = c.sess.End(actx, kgo.TryAbort)
		return fmt.Errorf("franzgo: produce: commit own transaction: %w", err)
	}
	if !committed {
		return fmt.Errorf("franzgo: produce: own transaction aborted (the group rebalanced meanwhile): %w", processor.ErrNotOwner)
	}
	return nil
}

// Commit commits the offsets of every record of the last Poll (exactly-once:
// commits the transaction with those offsets) and then lets held-back rebalances
// proceed. Without an open batch it does nothing.
//
// The batch is closed whatever the outcome. If the member lost partitions (session
// timeout, fencing, or in exactly-once mode any rebalance that revoked partitions
// during the batch), Commit returns an error wrapping processor.ErrNotOwner and
// nothing of the batch is committed. On any error the records of partitions the
// member still owns are delivered again by the next Poll.
func (c *Client) Commit(ctx context.Context) error {
	if err := c.op.AcquireOpen(ctx); err != nil {
		return err
	}
	defer c.op.Release()
	b := c.batch
	if b == nil {
		return nil
	}
	c.batch = nil
	defer c.cl.AllowRebalance()

	if c.sess != nil {
		// End waits on the broker (flush, offset commit, heartbeat, EndTxn)
		// and the processor calls Commit with a context that is not cancelled
		// at shutdown: bound it, or a broker that restarts mid-commit (or a
		// thawed zombie) can keep the processor here for ever. On timeout the
		// transaction is aborted below and the batch redelivered.
		if !time.Now().Before(c.txnDeadline(b)) {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RebalanceTimeout)
			defer cancel()
			c.holdAgain(b.fromHeld)
			_, _ = c.sess.End(actx, kgo.TryAbort)
			return fmt.Errorf("franzgo: commit transaction: %w (%w)", processor.ErrNotOwner, errTxnTooOld)
		}
		ectx, cancel := context.WithTimeout(ctx, c.cfg.RebalanceTimeout)
		// The session commits what the client polled since its last commit,
		// as it believes it committed. That is not what the batch processed:
		// kept records are not processed (their partitions commit up to the
		// first of them), and records held from earlier batches were polled
		// then, so the session leaves their partitions out. The batch says
		// what each of its partitions commits.
		want := b.commitOffsets()
		ectx = kgo.PreTxnCommitFnContext(ectx, func(req *kmsg.TxnOffsetCommitRequest) error {
			setTxnOffsets(req, want)
			return nil
		})
		committed, err := c.sess.End(ectx, kgo.TryCommit)
		cancel()
		if err != nil || !committed {
			c.holdAgain(b.fromHeld)
		}
		if err != nil {
			// End returns early (still in the transaction) if ctx ended while
			// flushing: abort so the batch is closed and rewound either way.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RebalanceTimeout)
			defer cancel()
			_, _ = c.sess.End(actx, kgo.TryAbort)
			return kafkaconfig.CommitError("franzgo: commit transaction", err, notOwner(err))
		}
		if !committed {
			return fmt.Errorf("franzgo: commit transaction: %w (aborted: the group rebalanced or the member was fenced)", processor.ErrNotOwner)
		}
		c.holdAgain(b.keptRecords())
		return nil
	}

	c.mu.Lock()
	lost := c.lost
	c.mu.Unlock()
	if lost {
		c.rewind(b)
		return fmt.Errorf("franzgo: commit: %w", processor.ErrNotOwner)
	}
	last := make([]*kgo.Record, 0, len(b.last))
	for _, r := range b.last {
		last = append(last, r)
	}
	if len(last) > 0 {
		if err := c.cl.CommitRecords(ctx, last...); err != nil {
			c.rewind(b)
			return kafkaconfig.CommitError("franzgo: commit", err, notOwner(err))
		}
	}
	// Always, kept records or none: holdAgain also resumes the partitions
	// whose held records the batch applied.
	c.holdAgain(b.keptRecords())
	return nil
}

// heldPollWait is how long Poll waits for new records when it has held ones to
// deliver anyway.
const heldPollWait = 20 * time.Millisecond

// holdAgain makes recs the records the next Poll delivers first, leaving out
// those of partitions the member no longer owns (their next owner reads them
// from the committed offsets).
func (c *Client) holdAgain(recs []*kgo.Record) {
	c.mu.Lock()
	c.held = c.held[:0:0]
	for _, r := range recs {
		if _, ok := c.assigned[processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}]; ok {
			c.held = append(c.held, r)
		}
	}
	c.mu.Unlock()
	c.syncPaused()
}

// Pause stops fetching the given partitions, each while the client holds
// records of it (Keep), and resumes those of an earlier call that are not
// given again. The processor pauses the partitions whose held records are
// ahead of the event-time merge: fetching more of them would only hold more,
// batch after batch, while the merge waits for another partition.
func (c *Client) Pause(tps []processor.TopicPartition) {
	c.mu.Lock()
	c.pauseWant = make(map[processor.TopicPartition]bool, len(tps))
	for _, tp := range tps {
		c.pauseWant[tp] = true
	}
	c.mu.Unlock()
}

// syncPaused pauses fetching of the partitions the processor asked to pause
// (Pause) that the client holds records of, and resumes the others it
// paused: a partition without held records is always fetched, so that the
// merge, which waits for it, gets its records.
func (c *Client) syncPaused() {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	c.mu.Lock()
	want := make(map[processor.TopicPartition]bool)
	for _, r := range c.held {
		if tp := (processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}); c.pauseWant[tp] {
			want[tp] = true
		}
	}
	c.mu.Unlock()
	pause, resume := map[string][]int32{}, map[string][]int32{}
	for tp := range want {
		if !c.paused[tp] {
			pause[tp.Topic] = append(pause[tp.Topic], tp.Partition)
		}
	}
	for tp := range c.paused {
		if !want[tp] {
			resume[tp.Topic] = append(resume[tp.Topic], tp.Partition)
		}
	}
	if len(pause) > 0 {
		c.cl.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		c.cl.ResumeFetchPartitions(resume)
	}
	c.paused = want
}

// keptRecords are the batch's records from each kept partition's first kept
// record on, in order.
func (b *batch) keptRecords() []*kgo.Record {
	var out []*kgo.Record
	for _, r := range b.recs {
		if k, ok := b.keep[processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}]; ok && r.Offset >= k.Offset {
			out = append(out, r)
		}
	}
	return out
}

// Keep marks records of the open batch as not processed, per partition from
// the offset given on: Commit commits those partitions up to that offset only
// (exactly-once: in the transaction), and the next Poll delivers the kept
// records again, from memory, before any new one; fetching goes on past them.
// It must be called between Poll and Commit, from the goroutine that polls.
func (c *Client) Keep(from map[processor.TopicPartition]int64) {
	if len(from) == 0 {
		return
	}
	if err := c.op.Acquire(context.Background()); err != nil {
		return
	}
	defer c.op.Release()
	b := c.batch
	if b == nil {
		return
	}
	// b.recs holds each partition's records in offset order: the first at or
	// past from is kept with all after it, and the partition's commit stops at
	// the record before it (none: nothing of the partition is committed).
	prev := map[processor.TopicPartition]*kgo.Record{}
	for _, r := range b.recs {
		tp := processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		off, ok := from[tp]
		if !ok {
			continue
		}
		if r.Offset < off {
			prev[tp] = r
			continue
		}
		if _, kept := b.keep[tp]; kept {
			continue
		}
		if b.keep == nil {
			b.keep = make(map[processor.TopicPartition]*kgo.Record)
		}
		b.keep[tp] = r
		if p, ok := prev[tp]; ok {
			b.last[tp] = p
		} else {
			delete(b.last, tp)
		}
	}
}

// setTxnOffsets makes req commit want: it overwrites the offsets of the
// partitions it names and adds those it lacks. want is emptied.
func setTxnOffsets(req *kmsg.TxnOffsetCommitRequest, want map[string]map[int32]kgo.EpochOffset) {
	add := func(t *kmsg.TxnOffsetCommitRequestTopic, parts map[int32]kgo.EpochOffset) {
		for part, eo := range parts {
			p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = part, eo.Offset, eo.Epoch, &req.MemberID
			t.Partitions = append(t.Partitions, p)
		}
	}
	for i := range req.Topics {
		t := &req.Topics[i]
		parts := want[t.Topic]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if eo, ok := parts[p.Partition]; ok {
				p.Offset, p.LeaderEpoch = eo.Offset, eo.Epoch
				delete(parts, p.Partition)
			}
		}
		add(t, parts)
		delete(want, t.Topic)
	}
	for topic, parts := range want {
		t := kmsg.NewTxnOffsetCommitRequestTopic()
		t.Topic = topic
		add(&t, parts)
		req.Topics = append(req.Topics, t)
	}
}

// commitOffsets is what the batch's transaction commits, per partition of
// the batch: up to its first kept record, or past its last record.
func (b *batch) commitOffsets() map[string]map[int32]kgo.EpochOffset {
	to := make(map[string]map[int32]kgo.EpochOffset)
	set := func(tp processor.TopicPartition, eo kgo.EpochOffset) {
		if to[tp.Topic] == nil {
			to[tp.Topic] = make(map[int32]kgo.EpochOffset)
		}
		to[tp.Topic][tp.Partition] = eo
	}
	for tp, r := range b.last {
		set(tp, kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1})
	}
	for tp, r := range b.keep {
		set(tp, kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset})
	}
	return to
}

// Abort abandons the open batch without committing (exactly-once: aborts its
// transaction, so read_committed consumers never see what it produced), and lets
// held-back rebalances proceed. Its records are delivered again, by the next Poll
// or, after a rebalance, to the partitions' next owner. Without an open batch it
// does nothing.
func (c *Client) Abort(ctx context.Context) error {
	if err := c.op.AcquireOpen(ctx); err != nil {
		return err
	}
	defer c.op.Release()
	return c.abortLocked(ctx)
}

func (c *Client) abortLocked(ctx context.Context) error {
	b := c.batch
	if b == nil {
		return nil
	}
	c.batch = nil
	defer c.cl.AllowRebalance()
	if c.sess != nil {
		// The abort resets fetching to the committed positions, which are
		// past the records earlier batches kept: those are held again.
		c.holdAgain(b.fromHeld)
		if _, err := c.sess.End(ctx, kgo.TryAbort); err != nil {
			return fmt.Errorf("franzgo: abort transaction: %w", err)
		}
		return nil
	}
	c.rewind(b)
	return nil
}

// rewind moves the fetch position of every partition of b back to the batch's
// first record, so the batch is polled again. Partitions no longer consumed are
// skipped (their next owner starts from the committed offset). Must run while the
// rebalance is still held (before AllowRebalance).
func (c *Client) rewind(b *batch) {
	c.mu.Lock()
	c.held = nil // the batch, held records included, is fetched again
	c.mu.Unlock()
	c.syncPaused()
	to := make(map[string]map[int32]kgo.EpochOffset)
	for tp, r := range b.first {
		if to[tp.Topic] == nil {
			to[tp.Topic] = make(map[int32]kgo.EpochOffset)
		}
		to[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
	}
	c.cl.SetOffsets(to)
}

// Assigned returns the input partitions this member owns now, sorted. It is empty
// before the first assignment, after partitions are lost and after Close.
func (c *Client) Assigned() []processor.TopicPartition {
	c.mu.Lock()
	out := make([]processor.TopicPartition, 0, len(c.assigned))
	for tp := range c.assigned {
		out = append(out, tp)
	}
	c.mu.Unlock()
	slices.SortFunc(out, processor.CompareTopicPartitions)
	return out
}

// Committed returns, per owned partition, the group's committed offset as
// the client knows it: fetched when the group was joined, then moved by its
// commits. The processor reads it to know which outboxes its commits have
// acknowledged (processor.Config.CommitAck); a partition without a
// committed offset is left out.
func (c *Client) Committed() map[processor.TopicPartition]int64 {
	c.mu.Lock()
	owned := make(map[processor.TopicPartition]bool, len(c.assigned))
	for tp := range c.assigned {
		owned[tp] = true
	}
	c.mu.Unlock()
	out := make(map[processor.TopicPartition]int64, len(owned))
	for topic, ps := range c.cl.CommittedOffsets() {
		for p, eo := range ps {
			tp := processor.TopicPartition{Topic: topic, Partition: p}
			if owned[tp] && eo.Offset >= 0 {
				out[tp] = eo.Offset
			}
		}
	}
	return out
}

// Ready sends a metadata request to any reachable broker; it returns nil when one
// answers within ctx.
func (c *Client) Ready(ctx context.Context) error {
	if err := c.cl.Ping(ctx); err != nil {
		return fmt.Errorf("franzgo: ready: %w", err)
	}
	return nil
}

// Close wakes a blocked Poll, abandons an open batch without committing it
// (exactly-once: aborts its transaction), leaves the group so its partitions are
// reassigned at once, and releases the client. Call Commit first to keep the work
// of the batch in flight: what was not committed is delivered again to the next
// owner. ctx bounds the whole shutdown; when it ends first, Close returns its error
// and the leave finishes in the background. Calling Close again returns nil.
func (c *Client) Close(ctx context.Context) error {
	c.stopLife()
	if err := c.op.Acquire(ctx); err != nil {
		return fmt.Errorf("franzgo: close: %w", err)
	}
	defer c.op.Release()
	if c.op.MarkClosed() {
		return nil
	}
	var errs []error
	if err := c.abortLocked(ctx); err != nil {
		errs = append(errs, err)
	}
	c.cl.AllowRebalance()
	if err := c.cl.LeaveGroupContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("franzgo: close: leave group: %w", err))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.cl.Close()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("franzgo: close: %w", ctx.Err()))
	}
	c.mu.Lock()
	clear(c.assigned)
	c.mu.Unlock()
	return errors.Join(errs...)
}

// Assignments counts the changes of the member's partitions so far (assigned,
// revoked or lost): the processor empties its working set when it moves, as
// another member may have written the leads meanwhile.
func (c *Client) Assignments() uint64 { return c.changes.Load() }

func (c *Client) onAssigned(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	c.changes.Add(1)
	c.logPartitions("partitions assigned", m)
	if len(m) > 0 {
		_, gen := cl.GroupMetadata()
		c.ownedGen.Store(gen)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range m {
		for _, p := range ps {
			c.assigned[processor.TopicPartition{Topic: topic, Partition: p}] = struct{}{}
		}
	}
	c.lagUnknown = len(m) > 0
}

// learnLag sets the lag of owned partitions that no fetch has reported yet,
// from their end offsets and the group's committed offsets: the processor's
// event-time merge must know from the first batch after an assignment which
// partitions the broker holds records of, including those whose fetch (from
// another broker, say) has not come back yet. Best effort: on error the
// partitions stay unknown (taken as caught up) until they deliver.
func (c *Client) learnLag(ctx context.Context) {
	c.mu.Lock()
	need := c.lagUnknown
	c.lagUnknown = false
	var topics []string
	missing := map[processor.TopicPartition]bool{}
	for tp := range c.assigned {
		if _, ok := c.lag[tp]; !ok {
			missing[tp] = true
			if !slices.Contains(topics, tp.Topic) {
				topics = append(topics, tp.Topic)
			}
		}
	}
	c.mu.Unlock()
	if !need || len(missing) == 0 {
		return
	}
	// Not bounded by Poll's context, which the processor gives a deadline of
	// its next timer tick: once per assignment, this may take its time.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(c.cl).ListEndOffsets(lctx, topics...)
	if err != nil {
		c.mu.Lock()
		c.lagUnknown = true // asked again at the next poll; meanwhile Lag counts them as lagging
		c.mu.Unlock()
		if l := c.cfg.Logger; l != nil {
			l.Warn("franzgo: end offsets of the assigned partitions unknown; asking again", "err", err)
		}
		return
	}
	committed := c.cl.CommittedOffsets()
	c.mu.Lock()
	defer c.mu.Unlock()
	ends.Each(func(o kadm.ListedOffset) {
		tp := processor.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if !missing[tp] || o.Err != nil {
			return
		}
		if _, ok := c.lag[tp]; ok {
			return // a fetch told in the meantime
		}
		from := int64(0)
		if eo, ok := committed[o.Topic][o.Partition]; ok && eo.Offset >= 0 {
			from = eo.Offset
		}
		c.lag[tp] = max(0, o.Offset-from)
	})
}

func (c *Client) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.changes.Add(1)
	c.logPartitions("partitions revoked", m)
	// A paused partition stays paused through a revocation: resume those
	// no longer held, or the member would never fetch them if they come back.
	defer c.syncPaused()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m) > 0 {
		c.staleSession = true
	}
	c.forgetLocked(m)
}

// dropHeldLocked forgets held records of partitions no longer owned. c.mu held.
func (c *Client) dropHeldLocked() {
	n := 0
	for _, r := range c.held {
		if _, ok := c.assigned[processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}]; ok {
			c.held[n] = r
			n++
		}
	}
	c.held = c.held[:n]
}

func (c *Client) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.changes.Add(1)
	c.logPartitions("partitions lost", m)
	defer c.syncPaused() // as in onRevoked
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lost = true
	c.staleSession = true
	c.forgetLocked(m)
}

// forgetLocked forgets partitions the member no longer owns: their
// assignment, lag and held records. c.mu held.
func (c *Client) forgetLocked(m map[string][]int32) {
	for topic, ps := range m {
		for _, p := range ps {
			delete(c.assigned, processor.TopicPartition{Topic: topic, Partition: p})
			delete(c.lag, processor.TopicPartition{Topic: topic, Partition: p})
		}
	}
	c.dropHeldLocked()
}

// logPartitions logs a change of the member's partitions at info level:
// which member owns what is the first question when a group stalls.
func (c *Client) logPartitions(msg string, m map[string][]int32) {
	l := c.cfg.Logger
	if l == nil || len(m) == 0 {
		return
	}
	// One attribute, not one per topic: a topic name is not a safe attribute
	// key (the log redacts keys such as "tracking.email").
	var sb strings.Builder
	for i, topic := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(topic)
		for j, p := range slices.Sorted(slices.Values(m[topic])) {
			if j == 0 {
				sb.WriteByte(':')
			} else {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(int(p)))
		}
	}
	l.Info("franz-go: "+msg, "partitions", sb.String())
}

// notOwner reports whether a commit error means the member is no longer the
// owner of the generation it committed for.
func notOwner(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.UnknownMemberID) ||
		errors.Is(err, kerr.RebalanceInProgress) ||
		errors.Is(err, kerr.FencedInstanceID) ||
		errors.Is(err, kerr.StaleMemberEpoch) ||
		errors.Is(err, kerr.FencedMemberEpoch) ||
		errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.InvalidProducerEpoch)
}

func fromKgo(r *kgo.Record) processor.Record {
	var hs []processor.Header
	if len(r.Headers) > 0 {
		hs = make([]processor.Header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = processor.Header{Key: h.Key, Value: h.Value}
		}
	}
	return processor.Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   hs,
		Timestamp: r.Timestamp,
	}
}

func toKgo(r *processor.Record) *kgo.Record {
	kr := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	if len(r.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return kr
}
