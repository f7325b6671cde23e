package demo

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/telemetry"
)

// inputTopic maps the generator's streams to the processor's input topics.
func inputTopic(genTopic string) string {
	switch genTopic {
	case journeys.TopicEmail:
		return topics.Email
	case journeys.TopicFeedback:
		return topics.Feedback
	default:
		return topics.Web
	}
}

// generatorBuffer is the most records the generator's client buffers.
const generatorBuffer = 10000

// newProducer returns a producer for the generator: the senders' keys, Kafka's
// partitioner, and the kotel hooks, so that every input record starts a trace
// when traces are exported.
func newProducer(brokers []string, tel *telemetry.Telemetry, log *slog.Logger) (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("leadscore-generator"), kgo.MaxBufferedRecords(generatorBuffer),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.WithLogger(franzgo.NewLogger(log)), kgo.WithHooks(tel.KafkaHooks("leadscore-generator", "")...))
	if err != nil {
		return nil, fmt.Errorf("kafka: generator client: %w", err)
	}
	return cl, nil
}

// produced counts the generator's records per input topic and failures.
type produced struct {
	web, email, feedback, failed atomic.Int64
	lastErr                      atomic.Value // error
}

func (p *produced) total() int64 { return p.web.Load() + p.email.Load() + p.feedback.Load() }

// emitter returns a pacer's emit function producing to cl asynchronously. It
// waits (or gives up when ctx ends) while the client's buffer is full, so that
// Produce itself never blocks and a record, once handed over, is delivered or
// counted as failed — never dropped by the stop.
func (p *produced) emitter(cl *kgo.Client) func(context.Context, *journeys.Record) error {
	return func(ctx context.Context, rec *journeys.Record) error {
		for cl.BufferedProduceRecords() >= generatorBuffer-1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch rec.Topic {
		case journeys.TopicEmail:
			p.email.Add(1)
		case journeys.TopicFeedback:
			p.feedback.Add(1)
		default:
			p.web.Add(1)
		}
		// Not ctx: the record must outlive the stop, to be flushed.
		kr := &kgo.Record{Topic: inputTopic(rec.Topic), Key: rec.Key, Value: rec.Value}
		cl.Produce(context.WithoutCancel(ctx), kr, func(_ *kgo.Record, err error) {
			if err != nil {
				p.failed.Add(1)
				p.lastErr.Store(err)
			}
		})
		return nil
	}
}
