package processor

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
)

// BenchmarkTraceBatch measures the tracing hooks of a 5000-record batch with a
// no-op tracer provider (no exporter): the cost of passing the producers'
// context through, for batches where every record, one in ten or none carries
// a traceparent.
func BenchmarkTraceBatch(b *testing.B) {
	for _, every := range []int{1, 10, 0} {
		b.Run(fmt.Sprintf("traceparent-every-%d", every), func(b *testing.B) { benchTraceBatch(b, every) })
	}
}

func benchTraceBatch(b *testing.B, every int) {
	p := &Processor{}
	p.tracing = &tracing{tracer: noop.NewTracerProvider().Tracer(tracerName), prop: propagation.TraceContext{}}
	recs := make([]Record, 5000)
	for i := range recs {
		recs[i].Topic = "tracking.web"
		if every > 0 && i%every == 0 {
			recs[i].Headers = []Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_, bt := p.traceBatch(context.Background(), recs)
		for i := range recs {
			bt.record(&recs[i])
		}
		bt.end(nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
