package bench

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/processor"
)

// groupClient opens a franz-go consumer-group member that commits by hand after
// each batch, as the processor does (the ceiling and naive scenarios use it).
func groupClient(e *scenarioEnv, group string, t processor.Topics, linger bool) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(e.cluster.brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(t.Inputs()...),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if e.cfg.FetchMaxWait > 0 {
		opts = append(opts, kgo.FetchMaxWait(e.cfg.FetchMaxWait))
	}
	if linger {
		opts = append(opts, kgo.ProducerLinger(e.cfg.ProducerLinger))
	} else {
		opts = append(opts, kgo.ProducerLinger(0))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("bench: kafka client: %w", err)
	}
	return cl, nil
}

// ceiling copies every input record, bytes and headers unchanged, to the output
// topic: poll → produce (wait for acks) → commit, the processor's cycle without
// decoding or state. It is the most this process can do with Kafka alone.
type ceiling struct {
	cl        *kgo.Client
	out       string
	pollLimit int
}

func newCeiling(e *scenarioEnv, group string, t processor.Topics) (worker, error) {
	cl, err := groupClient(e, group, t, true)
	if err != nil {
		return nil, err
	}
	limit := e.cfg.MaxPollRecords
	if limit == 0 {
		limit = 5000 // the backends' default
	}
	return &ceiling{cl: cl, out: t.StageChanges, pollLimit: limit}, nil
}

func (c *ceiling) run(ctx context.Context) error {
	defer func() {
		c.cl.AllowRebalance() // a poll cut short by the cancel still blocks rebalances
		c.cl.Close()
	}()
	var out []*kgo.Record
	for ctx.Err() == nil {
		fs := c.cl.PollRecords(ctx, c.pollLimit)
		if ctx.Err() != nil {
			break
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("ceiling: poll: %w", err)
		}
		out = out[:0]
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, &kgo.Record{Topic: c.out, Key: r.Key, Value: r.Value, Headers: r.Headers})
		})
		if len(out) > 0 {
			if err := c.cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
				return fmt.Errorf("ceiling: produce: %w", err)
			}
			if err := c.cl.CommitUncommittedOffsets(ctx); err != nil {
				return fmt.Errorf("ceiling: commit: %w", err)
			}
		}
		c.cl.AllowRebalance()
	}
	return nil
}
