// Package kafkago is the alternative Kafka backend of the processor: a
// processor.Client built on github.com/segmentio/kafka-go. It is at-least-once
// only; use processor/franzgo for exactly-once.
//
// Consuming uses kafka-go's ConsumerGroup API rather than a group Reader, so the
// client knows its assignment and controls commits: it never commits on read.
// Each group generation starts one partition reader per assigned partition; Poll
// returns what they fetched. A generation ends (a rebalance, or the member lost
// its membership) only once the batch in flight is committed or abandoned: the
// client holds the generation open until then, so a commit never covers a
// partition handed to another member, and no partition is read by two members at
// once. kafka-go's group protocol is eager: on every rebalance all partitions are
// revoked and reassigned, and consumption resumes from the committed offsets.
//
// Producing uses a synchronous kafka.Writer with acks=all and
// kafka.Murmur2Balancer, so a key lands on the same partition as with franz-go
// (and the Java client). kafka-go has no idempotent producer: a retried write may
// be duplicated, which at-least-once processing with deterministic output ids
// already tolerates.
package kafkago

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/segmentio/kafka-go"
)

// Client is a processor.Client backed by kafka-go. Use New to create one.
//
// Poll, Produce, Commit and Abort follow the processor's strict cycle and must be
// called from one goroutine; Assigned, Ready and Close may be called from any
// goroutine (Close wakes a blocked Poll, which returns processor.ErrClosed).
type Client struct {
	cfg    Config
	dialer *kafka.Dialer
	group  *kafka.ConsumerGroup
	writer *kafka.Writer

	life     context.Context // cancelled by Close
	stopLife context.CancelFunc
	mgrDone  chan struct{}
	op       *kafkaconfig.Turn // serialises Poll/Produce/Commit/Abort/Keep/Close
	errs     chan error        // group and fetch errors for a waiting Poll (latest wins)

	// claim is the member's claim under sole ownership: the generation it
	// was last in if it got partitions in it, else -1.
	claim *atomic.Int32
	// changes counts generations started and ended (Assignments).
	changes atomic.Uint64

	mu       sync.Mutex
	gen      *generation   // generation Poll reads from; nil once it is ending
	owned    *generation   // generation whose partitions the member owns: until its batch is done
	genReady chan struct{} // closed (and replaced) when a generation starts
	batch    *batch        // open batch; written under op and mu
	lag      map[processor.TopicPartition]int64
	// held are the messages the processor kept from the last batch (Keep),
	// delivered first by the next Poll of the same generation; heldGen is
	// that generation. They stay in memory rather than being fetched again.
	held    []kafka.Message
	heldGen *generation
	// pauseWant are the partitions the processor asked to pause (Pause).
	pauseWant map[processor.TopicPartition]bool
}

// generation is one kafka-go group generation as the client sees it.
type generation struct {
	kg       *kafka.Generation
	assigned []processor.TopicPartition
	ending   chan struct{} // closed (under Client.mu) when no new batch may start
	// next is, per partition, the offset after the last record Poll returned (or
	// the assignment's start offset). Touched only under Client.op or before the
	// generation is published.
	next  map[processor.TopicPartition]int64
	fetch *fetchSession // guarded by Client.mu
	// committed is, per partition, the group's committed offset at the
	// assignment (none when the group had not committed one). Read-only.
	committed map[processor.TopicPartition]int64
}

// batch is what the last Poll returned and not yet committed or abandoned.
type batch struct {
	gen   *generation
	first map[processor.TopicPartition]int64
	last  map[processor.TopicPartition]int64
	// keep: per partition, the first offset not processed (Keep).
	keep map[processor.TopicPartition]int64
	msgs []kafka.Message
	done chan struct{} // closed once committed or abandoned: the generation may end
}

// fetchSession is the set of partition readers feeding one channel.
type fetchSession struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	parts  []chan kafka.Message // one buffer per partition reader
	tps    []processor.TopicPartition
	notify chan struct{} // signalled when a reader buffered a message
	next   int           // the partition Poll starts its next round at
	// lagKnown is closed once every reader has reported its partition's lag
	// at the session's start (or failed to within a second).
	lagKnown chan struct{}
	readers  []*kafka.Reader
}

var _ processor.Client = (*Client)(nil)

// New validates cfg, starts the group member and the writer, and returns at once;
// joining the group happens in the background (the first Poll waits for it). Use
// Ready to check that the cluster is reachable. ctx bounds construction only.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kafkago: new client: %w", err)
	}
	cfg.setDefaults()
	dialer := &kafka.Dialer{ClientID: cfg.ClientID, Timeout: cfg.DialTimeout, DualStack: true}
	transport := &kafka.Transport{ClientID: cfg.ClientID, DialTimeout: cfg.DialTimeout}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.Build()
		if err != nil {
			return nil, fmt.Errorf("kafkago: %w", err)
		}
		dialer.TLS, transport.TLS = tc, tc
	}
	if cfg.SASL != nil {
		m, err := saslMechanism(*cfg.SASL)
		if err != nil {
			return nil, fmt.Errorf("kafkago: %w", err)
		}
		dialer.SASLMechanism, transport.SASL = m, m
	}
	start := kafka.FirstOffset
	if cfg.StartOffset == "latest" {
		start = kafka.LastOffset
	}
	// nil: kafka-go's range and round-robin strategies.
	var balancers []kafka.GroupBalancer
	claim := new(atomic.Int32)
	claim.Store(-1)
	if cfg.SoleOwner {
		balancers = []kafka.GroupBalancer{soleOwner{claim: claim}}
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    cfg.Group,
		Brokers:               cfg.Brokers,
		Dialer:                dialer,
		Topics:                cfg.InputTopics,
		HeartbeatInterval:     cfg.HeartbeatInterval,
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      cfg.RebalanceTimeout,
		WatchPartitionChanges: true,
		JoinGroupBackoff:      time.Second,
		StartOffset:           start,
		Timeout:               cfg.DialTimeout,
		ErrorLogger:           errorLogger(cfg.Logger, "group"),
		GroupBalancers:        balancers,
	})
	if err != nil {
		return nil, fmt.Errorf("kafkago: consumer group: %w", err)
	}
	codec := compression(cfg.Compression)
	linger := cfg.ProducerLinger
	if linger == 0 {
		// kafka-go reads 0 as 1 s. A batch collects the messages of one
		// WriteMessages call under a lock before its timer can flush it, so a tiny
		// linger still sends each call's messages of a partition as one batch.
		linger = time.Microsecond
	}
	c := &Client{
		cfg:    cfg,
		claim:  claim,
		dialer: dialer,
		group:  group,
		writer: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			Async:        false,
			BatchSize:    max(cfg.MaxPollRecords, 1000),
			BatchTimeout: linger,
			Compression:  codec,
			Transport:    transport,
			ErrorLogger:  errorLogger(cfg.Logger, "writer"),
		},
		mgrDone:  make(chan struct{}),
		op:       kafkaconfig.NewTurn(),
		errs:     make(chan error, 1),
		genReady: make(chan struct{}),
		lag:      map[processor.TopicPartition]int64{},
	}
	c.life, c.stopLife = context.WithCancel(context.Background())
	go c.manage()
	return c, nil
}

// manage follows the group's generations until Close.
func (c *Client) manage() {
	defer close(c.mgrDone)
	for {
		kg, err := c.group.Next(c.life)
		if err != nil {
			if c.life.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			if !errors.Is(err, kafka.RebalanceInProgress) { // routine while the group rebalances
				c.report(fmt.Errorf("kafkago: consumer group %s: %w", c.cfg.Group, err))
			}
			continue
		}
		g := &generation{kg: kg, ending: make(chan struct{}), next: map[processor.TopicPartition]int64{},
			committed: map[processor.TopicPartition]int64{}}
		for topic, ps := range kg.Assignments {
			for _, p := range ps {
				tp := processor.TopicPartition{Topic: topic, Partition: int32(p.ID)}
				g.assigned = append(g.assigned, tp)
				g.next[tp] = p.Offset
				if p.Offset >= 0 { // else FirstOffset or LastOffset: nothing committed
					g.committed[tp] = p.Offset
				}
			}
		}
		slices.SortFunc(g.assigned, processor.CompareTopicPartitions)
		c.changes.Add(1)
		if len(g.assigned) > 0 {
			c.claim.Store(kg.ID)
		} else {
			c.claim.Store(-1)
		}
		if l := c.cfg.Logger; l != nil && len(g.assigned) > 0 {
			// The franz-go backend's line, for the same log queries.
			l.Info("kafka-go: partitions assigned", "partitions", fmt.Sprint(g.assigned))
		}
		g.fetch = c.startFetch(g)
		// Start before publishing: kafka-go waits for functions started before the
		// generation ends; one started later would not hold it.
		kg.Start(func(gctx context.Context) { c.hold(gctx, g) })
		c.mu.Lock()
		select {
		case <-g.ending: // already over (hold ran): never publish it
		default:
			c.gen, c.owned = g, g
			close(c.genReady)
			c.genReady = make(chan struct{})
		}
		c.mu.Unlock()
	}
}

// Pause stops taking new messages of the given partitions, each while the
// client holds messages of it (Keep), and takes them again for those of an
// earlier call not given again: the processor pauses the partitions whose
// held messages are ahead of the event-time merge.
func (c *Client) Pause(tps []processor.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pauseWant = make(map[processor.TopicPartition]bool, len(tps))
	for _, tp := range tps {
		c.pauseWant[tp] = true
	}
}

// Assignments counts the generations the member has started and ended so
// far: the processor empties its working set when it moves, as another
// member may have written the leads meanwhile.
func (c *Client) Assignments() uint64 { return c.changes.Load() }

// hold keeps generation g open until it ends (kafka-go cancels gctx on a
// rebalance or a heartbeat failure) or the client closes, and then until the
// batch in flight from g is committed or abandoned. Returning lets kafka-go join
// the next generation.
func (c *Client) hold(gctx context.Context, g *generation) {
	select {
	case <-gctx.Done():
	case <-c.life.Done():
	}
	c.changes.Add(1)
	c.mu.Lock()
	close(g.ending)
	if c.gen == g {
		c.gen = nil
	}
	b := c.batch
	c.mu.Unlock()
	if b != nil && b.gen == g {
		select {
		case <-b.done:
		case <-c.life.Done():
		}
	}
	c.mu.Lock()
	fs := g.fetch
	g.fetch = nil
	if c.owned == g {
		c.owned = nil
	}
	clear(c.lag)
	if c.heldGen == g {
		c.held, c.heldGen = nil, nil // the next generation reads them from the committed offsets
	}
	c.mu.Unlock()
	fs.stop()
	if l := c.cfg.Logger; l != nil && len(g.assigned) > 0 {
		l.Info("kafka-go: partitions revoked", "partitions", fmt.Sprint(g.assigned))
	}
}

// startFetch starts one reader per assigned partition of g at g.next.
func (c *Client) startFetch(g *generation) *fetchSession {
	ctx, cancel := context.WithCancel(c.life)
	fs := &fetchSession{cancel: cancel, notify: make(chan struct{}, 1), lagKnown: make(chan struct{})}
	// Each partition has its own buffer, and Poll takes from all of them in
	// turn: with one shared channel the fastest readers filled every batch,
	// and the processor's event-time merge waited on the partitions they
	// crowded out.
	share := max(16, c.cfg.MaxPollRecords/max(1, len(g.assigned)))
	// Each reader first asks how far behind its partition is, so that the
	// processor's event-time merge knows from the first poll which
	// partitions the broker holds records of, even before they deliver any.
	var lagWG sync.WaitGroup
	lagWG.Add(len(g.assigned))
	go func() { lagWG.Wait(); close(fs.lagKnown) }()
	iso := kafka.ReadUncommitted
	if c.cfg.ReadCommitted {
		iso = kafka.ReadCommitted
	}
	for _, tp := range g.assigned {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:         c.cfg.Brokers,
			Topic:           tp.Topic,
			Partition:       int(tp.Partition),
			Dialer:          c.dialer,
			MinBytes:        1,
			MaxBytes:        10 << 20,
			MaxWait:         c.cfg.FetchMaxWait,
			ReadLagInterval: -1,
			IsolationLevel:  iso,
			ErrorLogger:     errorLogger(c.cfg.Logger, "reader"),
		})
		if err := r.SetOffset(g.next[tp]); err != nil {
			c.report(fmt.Errorf("kafkago: %s/%d: set offset %d: %w", tp.Topic, tp.Partition, g.next[tp], err))
		}
		fs.readers = append(fs.readers, r)
		pb := make(chan kafka.Message, share)
		fs.parts = append(fs.parts, pb)
		fs.tps = append(fs.tps, tp)
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			lctx, lcancel := context.WithTimeout(ctx, time.Second)
			lag, err := r.ReadLag(lctx)
			lcancel()
			if err == nil && lag >= 0 {
				c.mu.Lock()
				c.lag[tp] = lag
				c.mu.Unlock()
			}
			lagWG.Done()
			for {
				m, err := r.FetchMessage(ctx) // a partition reader: never commits
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					c.report(fmt.Errorf("kafkago: fetch %s/%d: %w", tp.Topic, tp.Partition, err))
					select {
					case <-ctx.Done():
						return
					case <-time.After(200 * time.Millisecond):
					}
					continue
				}
				select {
				case pb <- m:
				case <-ctx.Done():
					return
				}
				select {
				case fs.notify <- struct{}{}:
				default:
				}
			}
		}()
	}
	return fs
}

// idle waits, with nothing to return, until a or b (either may be nil) says
// there may be something now (nil), or the group or a reader failed, the
// client was closed or ctx ended (the error Poll returns).
func (c *Client) idle(ctx context.Context, a, b <-chan struct{}) error {
	select {
	case <-a:
		return nil
	case <-b:
		return nil
	case err := <-c.errs:
		return fmt.Errorf("kafkago: poll: %w", err)
	case <-c.life.Done():
		return processor.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitLagging gives the readers of partitions that the broker holds records
// of, and that have none buffered, up to FetchMaxWait to deliver, so that a
// batch holds some of every lagging partition (as one Kafka fetch request
// does): the processor's event-time merge can then apply it, instead of
// waiting on the partitions a faster reader crowded out.
func (c *Client) awaitLagging(ctx context.Context, fs *fetchSession, hasHeld map[processor.TopicPartition]bool) {
	t := time.NewTimer(c.cfg.FetchMaxWait)
	defer t.Stop()
	for {
		waiting := false
		c.mu.Lock()
		for k, tp := range fs.tps {
			if c.lag[tp] > 0 && len(fs.parts[k]) == 0 && !hasHeld[tp] {
				waiting = true
				break
			}
		}
		c.mu.Unlock()
		if !waiting {
			return
		}
		select {
		case <-fs.notify:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// take drains up to n buffered messages, a fair share from each partition in
// turn (each partition's in offset order), then whatever is left up to n,
// leaving out the partitions in skip.
func (fs *fetchSession) take(n int, skip map[processor.TopicPartition]bool) []kafka.Message {
	var msgs []kafka.Message
	if len(fs.parts) == 0 {
		return nil
	}
	share := max(1, n/len(fs.parts))
	for round := 0; round < 2 && len(msgs) < n; round++ {
		for k := range fs.parts {
			i := (fs.next + k) % len(fs.parts)
			if skip[fs.tps[i]] {
				continue
			}
			ch := fs.parts[i]
		part:
			for got := 0; len(msgs) < n && (round == 1 || got < share); got++ {
				select {
				case m := <-ch:
					msgs = append(msgs, m)
				default:
					break part
				}
			}
		}
	}
	fs.next = (fs.next + 1) % len(fs.parts)
	return msgs
}

func (fs *fetchSession) stop() {
	if fs == nil {
		return
	}
	fs.cancel()
	fs.wg.Wait()
	for _, r := range fs.readers {
		_ = r.Close()
	}
}

// report hands err to a waiting Poll, replacing an older unread one.
func (c *Client) report(err error) {
	for {
		select {
		case c.errs <- err:
			return
		default:
		}
		select {
		case <-c.errs:
		default:
		}
	}
}

// Poll blocks until records are available on owned partitions and returns up to
// MaxPollRecords of them, in offset order per partition. From then until Commit
// or Abort returns, the member's generation is held open: a rebalance waits for
// this batch (the member does not heartbeat meanwhile, so the batch must finish
// within the session timeout, or Commit reports processor.ErrNotOwner).
//
// Poll returns ctx.Err() when ctx ends, processor.ErrClosed once Close was
// called, and a wrapped error when joining the group or fetching fails while no
// records are available; in all those cases no batch is open. Calling Poll while
// a batch is open is an error.
func (c *Client) Poll(ctx context.Context) ([]processor.Record, error) {
	if err := c.op.AcquireOpen(ctx); err != nil {
		return nil, err
	}
	defer c.op.Release()
	if c.batch != nil {
		return nil, errors.New("kafkago: poll: the previous batch is still open (call Commit or Abort first)")
	}
	for {
		c.mu.Lock()
		g, ready := c.gen, c.genReady
		var fs *fetchSession
		if g != nil {
			fs = g.fetch
		}
		c.mu.Unlock()
		if g == nil || fs == nil {
			if err := c.idle(ctx, ready, nil); err != nil {
				return nil, err
			}
			continue
		}
		select {
		case <-fs.lagKnown:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		var held []kafka.Message
		if c.heldGen == g {
			held = c.held
		}
		want := c.pauseWant // Pause replaces the map, never changes it
		c.mu.Unlock()
		hasHeld := map[processor.TopicPartition]bool{}
		paused := map[processor.TopicPartition]bool{}
		for _, m := range held {
			tp := processor.TopicPartition{Topic: m.Topic, Partition: int32(m.Partition)}
			hasHeld[tp] = true
			if want[tp] {
				paused[tp] = true
			}
		}
		c.awaitLagging(ctx, fs, hasHeld)
		// As many new messages as are held (franzgo.Client.Poll says why).
		// Held partitions the processor paused are ahead of what the
		// event-time merge can apply: their readers wait (their buffers
		// fill) until the merge has applied what is held.
		msgs := append(slices.Clone(held), fs.take(max(c.cfg.MaxPollRecords, len(held)), paused)...)
		if len(msgs) == 0 {
			if err := c.idle(ctx, fs.notify, g.ending); err != nil {
				return nil, err
			}
			continue
		}

		b := &batch{gen: g, first: map[processor.TopicPartition]int64{}, last: map[processor.TopicPartition]int64{}, done: make(chan struct{}), msgs: msgs}
		out := make([]processor.Record, len(msgs))
		for i := range msgs {
			out[i] = fromKafka(&msgs[i])
			tp := processor.TopicPartition{Topic: msgs[i].Topic, Partition: int32(msgs[i].Partition)}
			if _, ok := b.first[tp]; !ok {
				b.first[tp] = msgs[i].Offset
			}
			b.last[tp] = msgs[i].Offset
		}
		c.mu.Lock()
		select {
		case <-g.ending:
			// The generation ended while we read: these records go to the
			// partitions' next owner, from the committed offsets.
			c.mu.Unlock()
			continue
		default:
		}
		c.batch = b
		c.held, c.heldGen = nil, nil
		for i := range msgs {
			if hw := msgs[i].HighWaterMark; hw > 0 {
				tp := processor.TopicPartition{Topic: msgs[i].Topic, Partition: int32(msgs[i].Partition)}
				c.lag[tp] = max(0, hw-(msgs[i].Offset+1))
			}
		}
		c.mu.Unlock()
		for tp, off := range b.last {
			g.next[tp] = off + 1
		}
		return out, nil
	}
}

// Lag returns, per owned partition that has delivered records, how many records
// lie between the last record Poll returned and the partition's high watermark as
// of that fetch. It is a gauge for metrics (consumer lag per partition), updated
// by Poll and reset by every rebalance.
func (c *Client) Lag() map[processor.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[processor.TopicPartition]int64, len(c.lag))
	if c.owned == nil {
		return out
	}
	for _, tp := range c.owned.assigned {
		if n, ok := c.lag[tp]; ok {
			out[tp] = n
		}
	}
	return out
}

// Committed returns, per owned partition, the group's committed offset when
// the partitions were assigned (the processor follows its own commits
// from there: processor.Config.CommitAck).
func (c *Client) Committed() map[processor.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owned == nil {
		return nil
	}
	return maps.Clone(c.owned.committed)
}

// Produce writes recs (Topic, Key, Value, Headers, Timestamp; Partition and
// Offset are ignored — the partition comes from the key through murmur2, as with
// franz-go) and returns once every record is acknowledged by all in-sync
// replicas. On error some records may have been written; the processor may
// retry, and duplicates are possible (at-least-once).
func (c *Client) Produce(ctx context.Context, recs []processor.Record) error {
	if ok, err := c.op.AcquireProduce(ctx, len(recs)); !ok {
		return err
	}
	defer c.op.Release()
	msgs := make([]kafka.Message, len(recs))
	for i := range recs {
		msgs[i] = toKafka(&recs[i])
	}
	if err := c.writer.WriteMessages(ctx, msgs...); err != nil {
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) {
			return fmt.Errorf("kafkago: produce: %d of %d records failed: %w", werrs.Count(), len(recs), err)
		}
		return fmt.Errorf("kafkago: produce %d records: %w", len(recs), err)
	}
	return nil
}

// Commit commits the offsets of every record of the last Poll, then lets a
// pending rebalance proceed. Without an open batch it does nothing.
//
// The batch is closed whatever the outcome. If the broker refuses the commit
// because the member's generation is gone (evicted after a session timeout,
// rebalanced without it), Commit returns an error wrapping processor.ErrNotOwner.
// On any error the records are delivered again: by the next Poll while the
// generation lasts, otherwise to the partitions' next owner.
func (c *Client) Commit(ctx context.Context) error {
	if err := c.op.AcquireOpen(ctx); err != nil {
		return err
	}
	defer c.op.Release()
	b := c.batch
	if b == nil {
		return nil
	}
	offsets := map[string]map[int]int64{}
	for tp, off := range b.last {
		next := off + 1
		if k, ok := b.keep[tp]; ok {
			next = k // the records from k on were not processed
		}
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int]int64{}
		}
		offsets[tp.Topic][int(tp.Partition)] = next
	}
	errc := make(chan error, 1)
	go func() { errc <- b.gen.kg.CommitOffsets(offsets) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err() // the commit may still land; the batch is redelivered either way
	}
	if err != nil {
		c.rewind(b)
		c.finish(b)
		return kafkaconfig.CommitError("kafkago: commit", err, notOwner(err))
	}
	if len(b.keep) > 0 {
		// The kept messages stay in memory for the next Poll; the readers
		// go on past them.
		held := make([]kafka.Message, 0, len(b.msgs))
		for _, m := range b.msgs {
			if k, ok := b.keep[processor.TopicPartition{Topic: m.Topic, Partition: int32(m.Partition)}]; ok && m.Offset >= k {
				held = append(held, m)
			}
		}
		c.mu.Lock()
		c.held, c.heldGen = held, b.gen
		c.mu.Unlock()
	}
	c.finish(b)
	return nil
}

// Keep marks records of the open batch as not processed, per partition from
// the offset given on: Commit commits those partitions up to that offset only,
// and the next Poll of the same generation delivers the kept messages again,
// from memory, before any new one. It must be called between Poll and Commit,
// from the goroutine that polls.
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
	for tp, off := range from {
		first, ok := b.first[tp]
		if !ok || off > b.last[tp] {
			continue
		}
		if b.keep == nil {
			b.keep = map[processor.TopicPartition]int64{}
		}
		b.keep[tp] = max(off, first)
	}
}

// Abort abandons the open batch without committing and lets a pending rebalance
// proceed; its records are delivered again, by the next Poll while the
// generation lasts, otherwise to the partitions' next owner. Without an open
// batch it does nothing.
func (c *Client) Abort(ctx context.Context) error {
	if err := c.op.AcquireOpen(ctx); err != nil {
		return err
	}
	defer c.op.Release()
	if b := c.batch; b != nil {
		c.rewind(b)
		c.finish(b)
	}
	return nil
}

// rewind restarts the readers of b's generation so the batch is fetched again:
// each partition of the batch from its first record, the others from where Poll
// stopped. Runs under op with the batch still open, so the generation cannot end
// meanwhile; an ending generation is not rewound (its successor starts from the
// committed offsets).
func (c *Client) rewind(b *batch) {
	g := b.gen
	c.mu.Lock()
	c.held, c.heldGen = nil, nil // the batch, held messages included, is fetched again
	select {
	case <-g.ending:
		c.mu.Unlock()
		return
	default:
	}
	old := g.fetch
	g.fetch = nil
	c.mu.Unlock()
	old.stop()
	for tp, off := range b.first {
		g.next[tp] = off
	}
	fs := c.startFetch(g)
	c.mu.Lock()
	g.fetch = fs
	c.mu.Unlock()
}

// finish closes the batch and releases its generation.
func (c *Client) finish(b *batch) {
	c.mu.Lock()
	if c.batch == b {
		c.batch = nil
	}
	c.mu.Unlock()
	close(b.done)
}

// Assigned returns the input partitions this member owns now, sorted: those of
// its current generation, including while it holds a rebalance for the batch in
// flight. It is empty between generations and after Close.
func (c *Client) Assigned() []processor.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owned == nil {
		return nil
	}
	return slices.Clone(c.owned.assigned)
}

// Ready connects to a broker (TLS and SASL included) and asks it for the broker
// list; it returns nil when one seed broker answers within ctx.
func (c *Client) Ready(ctx context.Context) error {
	var errs []error
	for _, addr := range c.cfg.Brokers {
		conn, err := c.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		} else {
			_ = conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
		}
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafkago: ready: %w", c.explainAuth(errors.Join(errs...)))
}

// explainAuth names the mechanism and the user (never the password) when err
// says that the brokers refused the SASL credentials.
func (c *Client) explainAuth(err error) error {
	if c.cfg.SASL == nil || !errors.Is(err, kafka.SASLAuthenticationFailed) {
		return err
	}
	return fmt.Errorf("SASL %s authentication as user %q failed (wrong user or password, or a mechanism the brokers do not enable): %w",
		strings.ToUpper(c.cfg.SASL.Mechanism), c.cfg.SASL.User, err)
}

// Close wakes a blocked Poll, abandons an open batch without committing it (its
// records go to the partitions' next owner), leaves the group, and closes the
// writer. Call Commit first to keep the batch's work. ctx bounds the shutdown;
// when it ends first, Close returns its error and the leave finishes in the
// background. Calling Close again returns nil.
func (c *Client) Close(ctx context.Context) error {
	c.stopLife()
	if err := c.op.Acquire(ctx); err != nil {
		return fmt.Errorf("kafkago: close: %w", err)
	}
	defer c.op.Release()
	if c.op.MarkClosed() {
		return nil
	}
	if b := c.batch; b != nil {
		c.finish(b)
	}
	done := make(chan error, 1)
	go func() {
		errs := []error{c.group.Close()}
		<-c.mgrDone
		if err := c.writer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafkago: close: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafkago: close: %w", ctx.Err())
	}
}

// notOwner reports whether a commit error means the member's generation is gone.
func notOwner(err error) bool {
	return errors.Is(err, kafka.IllegalGeneration) ||
		errors.Is(err, kafka.UnknownMemberId) ||
		errors.Is(err, kafka.RebalanceInProgress) ||
		errors.Is(err, kafka.FencedInstanceID)
}

func fromKafka(m *kafka.Message) processor.Record {
	var hs []processor.Header
	if len(m.Headers) > 0 {
		hs = make([]processor.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = processor.Header{Key: h.Key, Value: h.Value}
		}
	}
	return processor.Record{
		Topic:     m.Topic,
		Partition: int32(m.Partition),
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Headers:   hs,
		Timestamp: m.Time,
	}
}

func toKafka(r *processor.Record) kafka.Message {
	m := kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Time: r.Timestamp}
	if len(r.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}
