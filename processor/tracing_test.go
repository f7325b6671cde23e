package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkago"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/telemetry"
)

const (
	inTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	inSpanID  = "00f067aa0ba902b7"
)

// TestTracePropagation feeds records that carry a W3C traceparent to a traced
// processor, on each Kafka backend (franz-go with the kotel hooks installed),
// and checks that the stage change an input triggers and the dead letter of a
// bad input carry the input's trace id; that a time-driven stage change starts
// a new trace; and that the spans are the documented ones.
func TestTracePropagation(t *testing.T) {
	for _, backend := range []string{"franz-go", "kafka-go"} {
		t.Run(backend, func(t *testing.T) { testTracePropagation(t, backend, true) })
	}
	// Without an exporter (no OTEL_EXPORTER_OTLP_ENDPOINT) nothing is recorded,
	// but the producer's context still reaches the outputs unchanged.
	t.Run("franz-go/no-exporter", func(t *testing.T) { testTracePropagation(t, "franz-go", false) })
}

func testTracePropagation(t *testing.T, backend string, record bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	brokers := newCluster(t, 1).ListenAddrs()
	store, _ := newStore(t)
	eng := testrules.Parse(t, journeys.B2BRulesFile, journeys.B2BRules())
	exp := tracetest.NewInMemoryExporter()
	tcfg := telemetry.Config{Logger: quiet, Getenv: func(string) string { return "" }}
	if record {
		tcfg.SpanExporter = exp
	}
	tel, err := telemetry.New(ctx, tcfg)
	if err != nil {
		t.Fatal(err)
	}

	group := "trace-" + backend
	var cl processor.Client
	switch backend {
	case "franz-go":
		cl, err = franzgo.New(ctx, franzgo.Config{Config: kafkaConfig(brokers, group, false), Opts: []kgo.Opt{kgo.WithHooks(tel.KafkaHooks("leadscore", group)...)}})
	default:
		cl, err = kafkago.New(ctx, kafkago.Config{Config: kafkaConfig(brokers, group, false)})
	}
	if err != nil {
		t.Fatal(err)
	}
	evTime := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{}
	clk.Set(evTime.UnixMilli())
	p, err := processor.New(processor.Config{Topics: topics, TimerTick: 20 * time.Millisecond, Now: clk.Now, Logger: quiet,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond}, cl, store, scoring.SingleSet(eng))
	if err != nil {
		t.Fatal(err)
	}
	p.SetTracing(tel.TracerProvider(), tel.Propagator())
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	defer func() {
		stop()
		<-done
	}()

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	traceparent := []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-" + inTraceID + "-" + inSpanID + "-01")}}
	ts := evTime.Format(time.RFC3339)
	inputs := []*kgo.Record{
		{Topic: topics.Web, Key: []byte("u1"), Headers: traceparent,
			Value: fmt.Appendf(nil, `{"type":"track","event":"Newsletter Signed Up","userId":"u1","messageId":"m-newsletter","timestamp":%q}`, ts)},
		{Topic: topics.Web, Key: []byte("u2"), Headers: traceparent, Value: []byte(`{"type":"track"`)},
	}
	if err := prod.ProduceSync(ctx, inputs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.StageChanges, topics.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	queued := map[string][]*kgo.Record{}
	next := func(topic string) *kgo.Record {
		t.Helper()
		for len(queued[topic]) == 0 && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { queued[r.Topic] = append(queued[r.Topic], r) })
		}
		if len(queued[topic]) == 0 {
			t.Fatalf("no record on %s", topic)
		}
		r := queued[topic][0]
		queued[topic] = queued[topic][1:]
		return r
	}
	sc, dl := next(topics.StageChanges), next(topics.DeadLetter)
	var out struct {
		To      string  `json:"to"`
		Trigger *string `json:"trigger_event_id"`
	}
	if err := json.Unmarshal(sc.Value, &out); err != nil || out.To != "lead" || out.Trigger == nil || *out.Trigger != "m-newsletter" {
		t.Fatalf("stage change %s (%v)", sc.Value, err)
	}
	scCtx := headerContext(sc)
	if got := scCtx.TraceID().String(); got != inTraceID {
		t.Errorf("stage change traceparent trace id = %s, want the input's %s (headers %v)", got, inTraceID, sc.Headers)
	}
	if record && scCtx.SpanID().String() == inSpanID {
		t.Errorf("stage change parent is the producer's span itself, want leadscore's process span")
	}
	if !record && scCtx.SpanID().String() != inSpanID {
		t.Errorf("without an exporter the stage change should carry the producer's span %s, got %s", inSpanID, scCtx.SpanID())
	}
	if got := headerContext(dl).TraceID().String(); got != inTraceID {
		t.Errorf("dead letter trace id = %s, want %s", got, inTraceID)
	}

	// Time-driven: 100 days of silence make the lead lapse (inactive_90d).
	clk.Set(evTime.Add(100 * 24 * time.Hour).UnixMilli())
	lapse := next(topics.StageChanges)
	if !strings.Contains(string(lapse.Value), `"to":"lapsed"`) {
		t.Fatalf("expected the lapse, got %s", lapse.Value)
	}
	lc := headerContext(lapse)
	if record && (!lc.IsValid() || lc.TraceID().String() == inTraceID) {
		t.Errorf("time-driven stage change: traceparent %v, want a new trace", lc)
	}
	if !record && lc.IsValid() {
		t.Errorf("time-driven stage change without an exporter: traceparent %v, want none", lc)
	}

	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil
	if !record {
		return
	}
	if err := tel.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	// Both inputs carry the same traceparent: find the process span of the
	// one that made the stage change.
	var proc *tracetest.SpanStub
	for i, s := range byName[topics.Web+" process"] {
		if s.SpanContext.SpanID() == scCtx.SpanID() {
			proc = &byName[topics.Web+" process"][i]
		}
	}
	if proc == nil {
		t.Fatalf("the stage change's parent %s is no %q span; spans: %v", scCtx.SpanID(), topics.Web+" process", names(spans))
	}
	if proc.Parent.SpanID().String() != inSpanID || proc.SpanContext.TraceID().String() != inTraceID {
		t.Errorf("process span parent %s in trace %s, want the input's span %s in %s", proc.Parent.SpanID(),
			proc.SpanContext.TraceID(), inSpanID, inTraceID)
	}
	var linked bool
	for _, b := range byName["process batch"] {
		for _, l := range b.Links {
			linked = linked || l.SpanContext.TraceID().String() == inTraceID
		}
	}
	if !linked {
		t.Errorf("no batch span links to the input's context; spans: %v", names(spans))
	}
	for _, want := range []string{"redis resolve and load", "redis write", "kafka produce", "kafka commit"} {
		if len(byName[want]) == 0 {
			t.Errorf("no %q span; spans: %v", want, names(spans))
		}
	}
	if backend == "franz-go" && len(byName[topics.StageChanges+" publish"]) == 0 {
		t.Errorf("no kotel publish span; spans: %v", names(spans))
	}
}

func headerContext(r *kgo.Record) trace.SpanContext {
	hs := make([]processor.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = processor.Header{Key: h.Key, Value: h.Value}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), processor.HeaderCarrier{Headers: &hs})
	return trace.SpanContextFromContext(ctx)
}

func names(spans tracetest.SpanStubs) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range spans {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s.Name)
		}
	}
	return out
}

// TestHeaderCarrier checks Set replaces a header rather than adding a second one.
func TestHeaderCarrier(t *testing.T) {
	hs := []processor.Header{{Key: "traceparent", Value: []byte("old")}, {Key: "x", Value: []byte("1")}}
	c := processor.HeaderCarrier{Headers: &hs}
	c.Set("traceparent", "new")
	c.Set("tracestate", "a=b")
	if len(hs) != 3 || c.Get("traceparent") != "new" || c.Get("tracestate") != "a=b" || c.Get("nope") != "" {
		t.Errorf("headers %v", hs)
	}
	if k := c.Keys(); strings.Join(k, ",") != "traceparent,x,tracestate" {
		t.Errorf("keys %v", k)
	}
}
