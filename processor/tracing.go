package processor

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Tracing.
//
// With SetTracing, every batch that holds records is traced, and W3C trace
// context flows from input record headers to output record headers:
//
//   - "process batch" (consumer): a new root span per batch, with a link to
//     the context of every input record that carries one (a batch cannot have
//     many parents); the state-store round trips ("redis load", "redis
//     write", …), the produce ("kafka produce") and the commit ("kafka
//     commit") are its children.
//   - "<topic> process" (consumer): one span per input record, a child of the
//     context extracted from the record's headers, so it continues the
//     producer's trace; it links to the batch span and lasts until the batch
//     is committed.
//   - Output headers: a stage change caused by an input record of the batch
//     (its trigger event id is that record's event id) and a dead letter get
//     the traceparent of that record's process span: the producer's trace id
//     carries through. A stage change without such a record — time-driven
//     (decay, inactivity) or re-emitted from the outbox — starts a new trace
//     (a "stage change" root span, linked to the batch span when there is one).
//
// Cycles without records (timer ticks) open no batch span. With a provider
// that makes no spans (no exporter configured), no span is started: outputs
// get the producer's own context from the input's headers, time-driven
// changes none, and records without a traceparent cost a header scan
// (BenchmarkTraceBatch). Without SetTracing nothing is traced and output
// headers carry no trace context (dead letters keep the input's headers as
// they were). The hooks below are no-ops on a nil *batchTrace, so the
// untraced hot path costs a nil check.

// tracerName is the instrumentation scope of the processor's spans.
const tracerName = "github.com/leadscore/leadscore/processor"

// maxLinks bounds the links of a batch span (the SDK's default span limit).
const maxLinks = 128

type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// spans is false for a provider that makes no spans of its own (a no-op
	// provider, no exporter): the processor then only passes each producer's
	// context through to the outputs, starting no span and allocating nothing
	// for records without one.
	spans bool
}

// SetTracing makes the processor trace its batches with tp and carry trace
// context through Kafka record headers with prop (W3C trace context: use
// propagation.TraceContext, or a composite that includes it); see the
// comment at the top of tracing.go for the spans. With a no-op tp nothing is
// recorded, but the producer's context still reaches the outputs' headers.
// Call it after New and before Run; nil arguments turn tracing off.
func (p *Processor) SetTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) {
	if ts, ok := p.raw.(*tracedStore); ok {
		p.raw = ts.Store
	}
	defer p.wireStore()
	if c, ok := p.client.(*tracedClient); ok {
		p.client = c.Client
	}
	if tp == nil || prop == nil {
		p.tracing = nil
		return
	}
	t := &tracing{tracer: tp.Tracer(tracerName), prop: prop}
	// A provider that gives a root span no valid context makes no spans. The
	// probe is never ended, so it is never exported.
	_, probe := t.tracer.Start(context.Background(), "probe", trace.WithNewRoot())
	t.spans = probe.SpanContext().IsValid()
	p.tracing = t
	p.raw = &tracedStore{Store: p.raw, t: t}
	p.client = &tracedClient{Client: p.client, t: t}
}

// HeaderCarrier adapts a record's headers to propagation.TextMapCarrier, for
// injecting trace context into records and extracting it from them with any
// Kafka client. Set replaces an existing header of the same key.
type HeaderCarrier struct{ Headers *[]Header }

// Get returns the value of the first header named key, or "".
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the value of the header named key, or appends the header.
func (c HeaderCarrier) Set(key, val string) {
	hs := *c.Headers
	for i := range hs {
		if hs[i].Key == key {
			hs[i].Value = []byte(val)
			return
		}
	}
	*c.Headers = append(hs, Header{Key: key, Value: []byte(val)})
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	ks := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		ks[i] = h.Key
	}
	return ks
}

// batchTrace is the tracing state of one processBatch call.
type batchTrace struct {
	t    *tracing
	span trace.Span // nil when the batch has no records
	recs map[*Record]*recordTrace
}

type recordTrace struct {
	parent context.Context // extracted from the record's headers
	span   trace.Span      // "<topic> process"; nil until record is called
}

// traceBatch opens the batch span (when recs is not empty) and extracts the
// context of every record that carries one. It returns nil when tracing is off.
func (p *Processor) traceBatch(ctx context.Context, recs []Record) (context.Context, *batchTrace) {
	t := p.tracing
	if t == nil {
		return ctx, nil
	}
	bt := &batchTrace{t: t}
	if len(recs) == 0 {
		return ctx, bt
	}
	bt.recs = make(map[*Record]*recordTrace)
	var links []trace.Link
	for i := range recs {
		r := &recs[i]
		pc := context.Background()
		if hasTraceparent(r.Headers) {
			pc = t.prop.Extract(pc, HeaderCarrier{&r.Headers})
		}
		sc := trace.SpanContextFromContext(pc)
		if t.spans || sc.IsValid() {
			bt.recs[r] = &recordTrace{parent: pc}
		}
		if t.spans && sc.IsValid() && len(links) < maxLinks {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	if !t.spans {
		return ctx, bt
	}
	ctx, bt.span = t.tracer.Start(ctx, "process batch", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...), trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.Int("messaging.batch.message_count", len(recs))))
	return ctx, bt
}

func hasTraceparent(hs []Header) bool {
	for i := range hs {
		if hs[i].Key == "traceparent" {
			return true
		}
	}
	return false
}

// record starts the process span of r, a child of the context in r's headers.
func (bt *batchTrace) record(r *Record) {
	if bt == nil || !bt.t.spans {
		return
	}
	rt := bt.recs[r]
	if rt == nil || rt.span != nil {
		return
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", r.Topic),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(int(r.Partition))),
		attribute.Int64("messaging.kafka.offset", r.Offset))}
	if bt.span != nil {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: bt.span.SpanContext()}))
	}
	_, rt.span = bt.t.tracer.Start(rt.parent, r.Topic+" process", opts...)
}

// recordContext returns the context of r's process span (without spans: the
// producer's context from its headers), or nil.
func (bt *batchTrace) recordContext(r *Record) context.Context {
	rt := bt.recs[r]
	switch {
	case rt == nil:
		return nil
	case rt.span != nil:
		return trace.ContextWithSpan(rt.parent, rt.span)
	case !bt.t.spans:
		return rt.parent
	}
	return nil
}

// deadLetter marks r's process span and gives the dead letter out its context.
func (bt *batchTrace) deadLetter(r, out *Record, reason string) {
	if bt == nil {
		return
	}
	ctx := bt.recordContext(r)
	if ctx == nil {
		return
	}
	if bt.t.spans {
		sp := trace.SpanFromContext(ctx)
		sp.SetAttributes(attribute.String("leadscore.dead_letter.reason", reason))
		sp.SetStatus(codes.Error, "dead letter: "+reason)
	}
	bt.t.prop.Inject(ctx, HeaderCarrier{&out.Headers})
}

// stageChange gives the stage-change record out the context of the input
// record that triggered tr (tr.TriggerID is its event id), or a new trace.
func (bt *batchTrace) stageChange(out *Record, w *leadWork, tr *scoring.Transition) {
	if bt == nil {
		return
	}
	if tr.TriggerID != "" && len(bt.recs) > 0 {
		for _, it := range w.items {
			if it.ev.ID != tr.TriggerID {
				continue
			}
			if ctx := bt.recordContext(it.rec); ctx != nil {
				if bt.t.spans {
					trace.SpanFromContext(ctx).AddEvent("stage change", trace.WithAttributes(transitionAttrs(tr)...))
				}
				bt.t.prop.Inject(ctx, HeaderCarrier{&out.Headers})
				return
			}
		}
	}
	if !bt.t.spans {
		return // a new trace needs spans
	}
	attrs := transitionAttrs(tr)
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrs...)}
	if bt.span != nil {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: bt.span.SpanContext()}))
	}
	ctx, sp := bt.t.tracer.Start(context.Background(), "stage change", opts...)
	bt.t.prop.Inject(ctx, HeaderCarrier{&out.Headers})
	sp.End()
}

func transitionAttrs(tr *scoring.Transition) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("leadscore.stage.from", tr.From),
		attribute.String("leadscore.stage.to", tr.To), attribute.String("leadscore.cause", tr.Cause.Kind.String())}
}

// end closes the record spans and the batch span; err is the batch's outcome.
func (bt *batchTrace) end(err error) {
	if bt == nil || !bt.t.spans {
		return
	}
	now := time.Now()
	for _, rt := range bt.recs {
		if rt.span == nil {
			continue
		}
		if err != nil {
			rt.span.SetStatus(codes.Error, "batch not committed: "+err.Error())
		}
		rt.span.End(trace.WithTimestamp(now))
	}
	if bt.span != nil {
		if err != nil {
			bt.span.RecordError(err)
			bt.span.SetStatus(codes.Error, err.Error())
		}
		bt.span.End(trace.WithTimestamp(now))
	}
}

// child starts a span under the batch span in ctx; it returns a no-op when ctx
// holds no valid span (cycles without records are not traced).
func (t *tracing) child(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, func(error) {}
	}
	ctx, sp := t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
	}
}

// tracedStore traces the state-store round trips of a batch.
type tracedStore struct {
	Store
	t *tracing
}

func redisAttrs(op string, n int) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("db.system.name", "redis"),
		attribute.String("db.operation.name", op), attribute.Int("leadscore.leads", n)}
}

func (s *tracedStore) Resolve(ctx context.Context, identities []string) (map[string]string, error) {
	ctx, end := s.t.child(ctx, "redis resolve", trace.SpanKindClient, redisAttrs("resolve", len(identities))...)
	m, err := s.Store.Resolve(ctx, identities)
	end(err)
	return m, err
}

func (s *tracedStore) ResolveLoad(ctx context.Context, identities []string) (map[string]string, map[string]state.Record, error) {
	ctx, end := s.t.child(ctx, "redis resolve and load", trace.SpanKindClient, redisAttrs("resolve_load", len(identities))...)
	idx, recs, err := s.Store.ResolveLoad(ctx, identities)
	end(err)
	return idx, recs, err
}

func (s *tracedStore) Load(ctx context.Context, leadIDs []string) (map[string]state.Record, error) {
	ctx, end := s.t.child(ctx, "redis load", trace.SpanKindClient, redisAttrs("load", len(leadIDs))...)
	m, err := s.Store.Load(ctx, leadIDs)
	end(err)
	return m, err
}

func (s *tracedStore) Write(ctx context.Context, updates []state.Update) ([]state.Result, error) {
	ctx, end := s.t.child(ctx, "redis write", trace.SpanKindClient, redisAttrs("write", len(updates))...)
	res, err := s.Store.Write(ctx, updates)
	end(err)
	return res, err
}

func (s *tracedStore) ClaimDueShards(ctx context.Context, shards []int, now int64, lease time.Duration, limit int) ([]state.Timer, error) {
	ctx, end := s.t.child(ctx, "redis claim timers", trace.SpanKindClient, redisAttrs("claim", 0)...)
	ts, err := s.Store.ClaimDueShards(ctx, shards, now, lease, limit)
	end(err)
	return ts, err
}

// tracedClient traces a batch's produce and commit.
type tracedClient struct {
	Client
	t *tracing
}

func (c *tracedClient) Produce(ctx context.Context, recs []Record) error {
	ctx, end := c.t.child(ctx, "kafka produce", trace.SpanKindProducer,
		attribute.String("messaging.system", "kafka"), attribute.String("messaging.operation.type", "send"),
		attribute.Int("messaging.batch.message_count", len(recs)))
	err := c.Client.Produce(ctx, recs)
	end(err)
	return err
}

func (c *tracedClient) Commit(ctx context.Context) error {
	ctx, end := c.t.child(ctx, "kafka commit", trace.SpanKindClient, attribute.String("messaging.system", "kafka"))
	err := c.Client.Commit(ctx)
	end(err)
	return err
}
