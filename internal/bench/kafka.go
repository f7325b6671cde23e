package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/processor"
)

// seqHeader carries a latency-phase record's index in the dataset; the ceiling
// copies headers, so its outputs carry it too.
const seqHeader = "bench-seq"

// cluster is the Kafka the run uses, with an admin and a producer client.
type cluster struct {
	brokers []string
	fake    *kfake.Cluster // nil with outside brokers
	prod    *kgo.Client    // bulk producer (linger) for backlogs
	linger  time.Duration  // Config.OfferLinger: the linger of newLive's producers
	adm     *kadm.Client
}

func openCluster(brokers []string, offerLinger time.Duration) (*cluster, error) {
	c := &cluster{brokers: brokers, linger: offerLinger}
	if len(brokers) == 0 {
		// kfake keeps each partition's log in in-memory segment files that grow
		// by doubling, copied inside its single request loop: with the default
		// 100 MiB segments, a full run's growth copies were 12 % of the CPU of
		// the latency phase, stalling every client meanwhile (2 % with 4 MiB).
		f, err := kfake.NewCluster(kfake.NumBrokers(1),
			kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": "1000", "log.segment.bytes": strconv.Itoa(4 << 20)}))
		if err != nil {
			return nil, fmt.Errorf("bench: starting kfake: %w", err)
		}
		c.fake, c.brokers = f, f.ListenAddrs()
	}
	var err error
	c.prod, err = kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		c.close()
		return nil, fmt.Errorf("bench: kafka producer: %w", err)
	}
	c.adm = kadm.NewClient(c.prod)
	return c, nil
}

// newLive returns a producer for one latency phase or soak. Each gets its own:
// a scenario's topics are new, and a producer that already loaded metadata
// waits up to its minimum metadata age (5 s) before it learns a new topic's
// partitions — measured as a one-off stall of ~250 ms at the start of the
// second scenario's latency phase, whichever it was, that a fresh client does not
// have (its first metadata request is immediate).
func (c *cluster) newLive() (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ProducerLinger(c.linger),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return nil, fmt.Errorf("bench: kafka producer: %w", err)
	}
	return cl, nil
}

func (c *cluster) close() {
	if c.prod != nil {
		c.prod.Close()
	}
	if c.fake != nil {
		c.fake.Close()
	}
}

func allTopics(t processor.Topics) []string {
	return []string{t.Web, t.Email, t.Feedback, t.StageChanges, t.DeadLetter, t.AccountStageChanges}
}

// createTopics creates a scenario's topics; retention, when positive, bounds each
// partition's bytes (soak runs on kfake keep everything in memory otherwise).
func (c *cluster) createTopics(ctx context.Context, t processor.Topics, partitions int, retention int64) error {
	var cfg map[string]*string
	if retention > 0 {
		cfg = map[string]*string{"retention.bytes": kadm.StringPtr(strconv.FormatInt(retention, 10)),
			"segment.bytes": kadm.StringPtr(strconv.FormatInt(min(retention/8, 1<<20), 10))}
	}
	res, err := c.adm.CreateTopics(ctx, int32(partitions), 1, cfg, allTopics(t)...)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("bench: creating topics: %w", err)
	}
	return nil
}

func (c *cluster) deleteTopics(ctx context.Context, t processor.Topics) {
	_, _ = c.adm.DeleteTopics(ctx, allTopics(t)...)
}

// topicOf maps a generator topic to the scenario's input topic.
func topicOf(t processor.Topics, journeyTopic string) string {
	switch journeyTopic {
	case journeys.TopicEmail:
		return t.Email
	case journeys.TopicFeedback:
		return t.Feedback
	}
	return t.Web
}

// produceAll writes records to the scenario's inputs as fast as the producer goes.
func (c *cluster) produceAll(ctx context.Context, t processor.Topics, recs []journeys.Record) error {
	var failed atomic.Pointer[error]
	for i := range recs {
		r := &recs[i]
		c.prod.Produce(ctx, &kgo.Record{Topic: topicOf(t, r.Topic), Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := c.prod.Flush(ctx); err != nil {
		return fmt.Errorf("bench: producing the backlog: %w", err)
	}
	if e := failed.Load(); e != nil {
		return fmt.Errorf("bench: producing the backlog: %w", *e)
	}
	return nil
}

// ends returns the end offsets of topics.
func (c *cluster) ends(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
	o, err := c.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = o.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: listing end offsets: %w", err)
	}
	return o, nil
}

// waitCommitted waits until group has committed every partition of ends to its
// end offset, polling every few milliseconds.
func (c *cluster) waitCommitted(ctx context.Context, group string, ends kadm.ListedOffsets, failed <-chan struct{}) error {
	for {
		offs, err := c.adm.FetchOffsets(ctx, group)
		if err == nil {
			done := true
			ends.Each(func(o kadm.ListedOffset) {
				if cm, ok := offs.Lookup(o.Topic, o.Partition); o.Offset > 0 && (!ok || cm.At < o.Offset) {
					done = false
				}
			})
			if done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for group %s to commit the input: %w", group, ctx.Err())
		case <-failed:
			return errors.New("bench: the scenario ended before consuming its input")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// countRecords sums the end offsets of a topic (every record written to it).
func (c *cluster) countRecords(ctx context.Context, topic string) (int64, error) {
	o, err := c.ends(ctx, topic)
	if err != nil {
		return 0, err
	}
	var n int64
	o.Each(func(l kadm.ListedOffset) { n += l.Offset })
	return n, nil
}

// readAll reads every record of a topic up to its current end.
func (c *cluster) readAll(ctx context.Context, topic string, each func(r *kgo.Record)) error {
	ends, err := c.ends(ctx, topic)
	if err != nil {
		return err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("bench: reading %s: %w", topic, err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("bench: reading %s: %w", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			each(r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}
