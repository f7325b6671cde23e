package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
// decoding or state. It is the most this process can do with Kafka alone. It
// runs as many copy loops (group members) as leadscore runs lanes.
type ceiling struct {
	cls       []*kgo.Client
	out       string
	pollLimit int
}

func newCeiling(e *scenarioEnv, group string, t processor.Topics) (worker, error) {
	c := &ceiling{out: t.StageChanges, pollLimit: e.cfg.MaxPollRecords}
	if c.pollLimit == 0 {
		c.pollLimit = 5000 // the backends' default
	}
	for range e.cfg.Lanes {
		cl, err := groupClient(e, group, t, true)
		if err != nil {
			for _, cl := range c.cls {
				cl.Close()
			}
			return nil, err
		}
		c.cls = append(c.cls, cl)
	}
	return c, nil
}

func (c *ceiling) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(c.cls))
	var wg sync.WaitGroup
	for i, cl := range c.cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = c.copyLoop(ctx, cl); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// copyLoop is one group member's poll → produce → commit loop.
func (c *ceiling) copyLoop(ctx context.Context, cl *kgo.Client) error {
	defer func() {
		cl.AllowRebalance() // a poll cut short by the cancel still blocks rebalances
		cl.Close()
	}()
	var out []*kgo.Record
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, c.pollLimit)
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
			if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
				return fmt.Errorf("ceiling: produce: %w", err)
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				return fmt.Errorf("ceiling: commit: %w", err)
			}
		}
		cl.AllowRebalance()
	}
	return nil
}
