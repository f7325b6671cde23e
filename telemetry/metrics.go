package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/leadscore/leadscore/processor"
)

// Metric names, as OpenTelemetry instruments. The Prometheus exposition adds
// the unit and "_total" suffixes: leadscore.events.consumed is scraped as
// leadscore_events_consumed_total, leadscore.batch.duration (seconds) as
// leadscore_batch_duration_seconds. docs/observability.md lists the series.
const (
	MetricEventsConsumed   = "leadscore.events.consumed"
	MetricDeadLetters      = "leadscore.dead_letters"
	MetricLateEvents       = "leadscore.late_events"
	MetricStageTransitions = "leadscore.stage.transitions"
	// MetricAccountTransitions counts account stage changes emitted.
	MetricAccountTransitions = "leadscore.account.stage.transitions"
	MetricBatchRecords       = "leadscore.batch.records"
	MetricBatchDuration      = "leadscore.batch.duration"
	MetricStageChangeLag     = "leadscore.stage_change.latency"
	MetricRedisRoundTrip     = "leadscore.redis.round_trip"
	MetricTimersDue          = "leadscore.timers.due"
	MetricTimersFired        = "leadscore.timers.fired"
	MetricReady              = "leadscore.ready"
	MetricConsumerLag        = "leadscore.consumer.lag"
)

// LagSource reports consumer lag per owned partition: the records between the
// last one polled and the partition's high watermark. The franz-go and
// kafka-go clients (processor/franzgo, processor/kafkago) implement it; it is
// not part of processor.Client.
type LagSource interface {
	Lag() map[processor.TopicPartition]int64
}

// Metrics is the processor.Observer that records leadscore's metrics with
// OpenTelemetry instruments. It is safe for concurrent use and cheap on the
// hot path: attribute sets are built once per label combination.
type Metrics struct {
	consumed           metric.Int64Counter
	deadLetters        metric.Int64Counter
	lateEvents         metric.Int64Counter
	transitions        metric.Int64Counter
	accountTransitions metric.Int64Counter
	batchSize          metric.Int64Histogram
	batchTime          metric.Float64Histogram
	latency            metric.Float64Histogram
	redis              metric.Float64Histogram
	timersDue          metric.Int64Counter
	timersFired        metric.Int64Counter
	ready              metric.Int64Gauge

	opts optCache

	lagMu   sync.Mutex
	lagSrcs []LagSource
}

var _ processor.Observer = (*Metrics)(nil)

func newMetrics(m metric.Meter) (*Metrics, error) {
	x := &Metrics{opts: optCache{m: map[[6]string]metric.MeasurementOption{}}}
	var err error
	must := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	var e error
	x.consumed, e = m.Int64Counter(MetricEventsConsumed, metric.WithUnit("{event}"),
		metric.WithDescription("Input records consumed, by topic and outcome (applied, duplicate, ignored, replayed, dead_letter)."))
	must(e)
	x.deadLetters, e = m.Int64Counter(MetricDeadLetters, metric.WithUnit("{record}"),
		metric.WithDescription("Records sent to the dead-letter topic, by reason code."))
	must(e)
	x.lateEvents, e = m.Int64Counter(MetricLateEvents, metric.WithUnit("{event}"),
		metric.WithDescription("Events applied late (earlier than the instant their lead had already been brought to), by topic."))
	must(e)
	x.transitions, e = m.Int64Counter(MetricStageTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Stage changes emitted, by from and to stage."))
	must(e)
	x.accountTransitions, e = m.Int64Counter(MetricAccountTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Account stage changes emitted, by from and to account stage (and model, for named models)."))
	must(e)
	x.batchSize, e = m.Int64Histogram(MetricBatchRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Records per processed batch."),
		metric.WithExplicitBucketBoundaries(0, 1, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000))
	must(e)
	x.batchTime, e = m.Float64Histogram(MetricBatchDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to process one batch: decode, state load and write, produce, commit."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	must(e)
	x.latency, e = m.Float64Histogram(MetricStageChangeLag, metric.WithUnit("s"),
		metric.WithDescription("From the event time of the change (the input's, or the due instant of a time-driven change) to its stage-change record being produced."),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
	must(e)
	x.redis, e = m.Float64Histogram(MetricRedisRoundTrip, metric.WithUnit("s"),
		metric.WithDescription("State-store round trips, by operation (resolve, load, write, tombstone, ack, claim, names)."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
	must(e)
	x.timersDue, e = m.Int64Counter(MetricTimersDue, metric.WithUnit("{timer}"),
		metric.WithDescription("Decay timers that came due and were claimed."))
	must(e)
	x.timersFired, e = m.Int64Counter(MetricTimersFired, metric.WithUnit("{transition}"),
		metric.WithDescription("Stage changes fired by due timers (decay, inactivity)."))
	must(e)
	x.ready, e = m.Int64Gauge(MetricReady,
		metric.WithDescription("1 when the processor's last cycle reached Kafka and Redis, else 0."))
	must(e)
	_, e = m.Int64ObservableGauge(MetricConsumerLag, metric.WithUnit("{record}"),
		metric.WithDescription("Records between the last one polled and the high watermark, per owned input partition."),
		metric.WithInt64Callback(x.observeLag))
	must(e)
	if err != nil {
		return nil, fmt.Errorf("telemetry: creating instruments: %w", err)
	}
	// Series without labels exist from the start, at zero.
	x.timersDue.Add(context.Background(), 0)
	x.timersFired.Add(context.Background(), 0)
	x.ready.Record(context.Background(), 0)
	return x, nil
}

// Consumed implements processor.Observer.
func (x *Metrics) Consumed(topic, outcome string, n int) {
	x.consumed.Add(context.Background(), int64(n), x.opts.get("topic", topic, "outcome", outcome))
}

// DeadLetter implements processor.Observer.
func (x *Metrics) DeadLetter(reason string) {
	x.deadLetters.Add(context.Background(), 1, x.opts.get("reason", reason, "", ""))
}

// Late implements processor.Observer.
func (x *Metrics) Late(topic string) {
	x.lateEvents.Add(context.Background(), 1, x.opts.get("topic", topic, "", ""))
}

// Transition implements processor.Observer. The model label is left out
// for a process's one unnamed model, as before models had names.
func (x *Metrics) Transition(model, from, to string) {
	x.transitions.Add(context.Background(), 1, x.moveOpt(model, from, to))
}

// moveOpt is the attribute set of a stage change: from and to, and the
// model for a named one.
func (x *Metrics) moveOpt(model, from, to string) metric.MeasurementOption {
	if model == "" {
		return x.opts.get("from", from, "to", to)
	}
	return x.opts.get3("from", from, "to", to, "model", model)
}

// AccountTransition implements processor.Observer.
func (x *Metrics) AccountTransition(model, from, to string) {
	x.accountTransitions.Add(context.Background(), 1, x.moveOpt(model, from, to))
}

// Batch implements processor.Observer.
func (x *Metrics) Batch(records int, took time.Duration) {
	ctx := context.Background()
	x.batchSize.Record(ctx, int64(records))
	x.batchTime.Record(ctx, took.Seconds())
}

// Latency implements processor.Observer.
func (x *Metrics) Latency(d time.Duration) {
	x.latency.Record(context.Background(), max(d, 0).Seconds())
}

// Timers implements processor.Observer.
func (x *Metrics) Timers(due, fired int) {
	ctx := context.Background()
	x.timersDue.Add(ctx, int64(due))
	x.timersFired.Add(ctx, int64(fired))
}

// StoreRoundTrip implements processor.Observer.
func (x *Metrics) StoreRoundTrip(op string, d time.Duration) {
	x.redis.Record(context.Background(), d.Seconds(), x.opts.get("op", op, "", ""))
}

// Ready implements processor.Observer. The reason is not a label (it is free
// text); the processor logs it.
func (x *Metrics) Ready(ready bool, _ string) {
	v := int64(0)
	if ready {
		v = 1
	}
	x.ready.Record(context.Background(), v)
}

// ObserveLag adds src to the sources of the consumer-lag gauge; each scrape
// asks every source for its current lag.
func (x *Metrics) ObserveLag(src LagSource) {
	x.lagMu.Lock()
	defer x.lagMu.Unlock()
	x.lagSrcs = append(x.lagSrcs, src)
}

func (x *Metrics) observeLag(_ context.Context, o metric.Int64Observer) error {
	x.lagMu.Lock()
	srcs := append([]LagSource(nil), x.lagSrcs...)
	x.lagMu.Unlock()
	for _, s := range srcs {
		for tp, n := range s.Lag() {
			o.Observe(n, metric.WithAttributes(attribute.String("topic", tp.Topic),
				attribute.String("partition", strconv.Itoa(int(tp.Partition)))))
		}
	}
	return nil
}

// optCache keeps one measurement option (attribute set) per label
// combination, so that recording allocates nothing after the first time.
type optCache struct {
	mu sync.RWMutex
	m  map[[6]string]metric.MeasurementOption
}

// get returns the option for labels k1=v1 and, when k2 is not empty, k2=v2.
func (c *optCache) get(k1, v1, k2, v2 string) metric.MeasurementOption {
	return c.get3(k1, v1, k2, v2, "", "")
}

// get3 is get with a third label k3=v3 when k3 is not empty.
func (c *optCache) get3(k1, v1, k2, v2, k3, v3 string) metric.MeasurementOption {
	key := [6]string{k1, v1, k2, v2, k3, v3}
	c.mu.RLock()
	o, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return o
	}
	kvs := []attribute.KeyValue{attribute.String(k1, v1)}
	if k2 != "" {
		kvs = append(kvs, attribute.String(k2, v2))
	}
	if k3 != "" {
		kvs = append(kvs, attribute.String(k3, v3))
	}
	o = metric.WithAttributeSet(attribute.NewSet(kvs...))
	c.mu.Lock()
	c.m[key] = o
	c.mu.Unlock()
	return o
}
