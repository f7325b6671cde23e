package telemetry

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// errNoKeys makes kotel leave record keys out of span attributes: leadscore's
// keys are user ids and e-mail addresses.
var errNoKeys = errors.New("telemetry: record keys are not recorded")

// KafkaHooks returns the franz-go hooks (plugin/kotel) that trace and meter a
// kgo client: a "<topic> receive" span per fetched record (a child of the
// producer's context from its headers), a "<topic> publish" span per
// produced record, and the client's connection, byte and record counters
// (messaging_kafka_* series, renamed by kotelView). Install them with kgo.WithHooks, e.g. through
// franzgo.Config.Opts.
//
// Records that already carry a traceparent header keep it: the processor
// injects the context of the input record that caused each output (see
// processor.SetTracing), and kotel must not replace it with the context of
// the produce call, which covers a whole batch. Record keys are not recorded
// as span attributes (they are user ids and e-mail addresses).
func (t *Telemetry) KafkaHooks(clientID, group string) []kgo.Hook {
	opts := []kotel.TracerOpt{
		kotel.TracerProvider(t.tp),
		kotel.TracerPropagator(KeepExisting(t.prop)),
		kotel.KeyFormatter(func(*kgo.Record) (string, error) { return "", errNoKeys }),
	}
	if clientID != "" {
		opts = append(opts, kotel.ClientID(clientID))
	}
	if group != "" {
		opts = append(opts, kotel.ConsumerGroup(group))
	}
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(opts...)),
		kotel.WithMeter(kotel.NewMeter(kotel.MeterProvider(t.mp))))
	return k.Hooks()
}

// KeepExisting wraps a propagator so that Inject leaves a carrier alone when it
// already holds a W3C traceparent. Extract and Fields are unchanged.
func KeepExisting(p propagation.TextMapPropagator) propagation.TextMapPropagator {
	return keepExisting{p}
}

type keepExisting struct{ propagation.TextMapPropagator }

func (k keepExisting) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	if c.Get("traceparent") != "" {
		return
	}
	k.TextMapPropagator.Inject(ctx, c)
}

// kotelScope is the instrumentation scope of plugin/kotel's instruments.
const kotelScope = "github.com/twmb/franz-go/plugin/kotel"

// kotelView renames plugin/kotel's counters to Prometheus conventions: kotel
// names them "messaging.kafka.fetch_bytes.count" with the unit "by", which the
// exporter turned into messaging_kafka_fetch_bytes_count_by_total (and
// connects into messaging_kafka_connects_count_total). The ".count" goes, byte
// counters take the UCUM unit "By" and keep their "_bytes" word once:
// messaging_kafka_fetch_bytes_total, messaging_kafka_connects_total. Other
// instruments pass unchanged.
func kotelView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Scope.Name != kotelScope {
		return sdkmetric.Stream{}, false
	}
	s := sdkmetric.Stream{Name: strings.TrimSuffix(i.Name, ".count"), Description: i.Description, Unit: i.Unit}
	if strings.EqualFold(i.Unit, "by") {
		s.Unit = "By"
		s.Name = strings.TrimSuffix(s.Name, "_bytes") // the exporter appends _bytes for By
	}
	return s, s.Name != i.Name || s.Unit != i.Unit
}
