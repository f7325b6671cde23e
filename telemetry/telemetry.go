package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is the service.name resource attribute unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const DefaultServiceName = "leadscore"

// Config configures New. The zero value is usable.
type Config struct {
	// ServiceName is the service.name resource attribute (default
	// DefaultServiceName). OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override it.
	ServiceName string
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string
	// Logger receives telemetry's own problems (an exporter that cannot reach
	// its collector). Default slog.Default().
	Logger *slog.Logger
	// Getenv reads the OTEL_* variables that decide whether traces are
	// exported (default os.Getenv). The OTLP exporters themselves read the
	// process environment for the endpoint, headers, timeout and TLS.
	Getenv func(string) string
	// SpanExporter, when set, receives the spans instead of the exporter
	// that the environment describes (tests pass an in-memory exporter).
	SpanExporter sdktrace.SpanExporter
	// Console is where OTEL_TRACES_EXPORTER=console writes spans, one JSON
	// object per line (default os.Stdout, as the OpenTelemetry specification
	// says; a command whose stdout is taken passes its stderr).
	Console io.Writer
}

// Telemetry holds the tracer and meter providers of one process. Build it
// with New and release it with Shutdown. It is safe for concurrent use.
type Telemetry struct {
	log      *slog.Logger
	tp       trace.TracerProvider
	sdkTP    *sdktrace.TracerProvider // nil when no span is exported
	mp       *sdkmetric.MeterProvider
	reg      *prometheus.Registry
	prop     propagation.TextMapPropagator
	metrics  *Metrics
	exporter string // where spans go, for the start-up log; "" when nowhere
}

// New builds the providers:
//
//   - Metrics: an OpenTelemetry meter provider whose only reader is a
//     Prometheus exporter on a private registry (with the Go runtime and
//     process collectors), served by MetricsHandler.
//   - Traces: when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
//     OTEL_EXPORTER_OTLP_ENDPOINT is set (and neither OTEL_SDK_DISABLED=true
//     nor OTEL_TRACES_EXPORTER=none), a batching SDK tracer provider that
//     exports over OTLP with OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL
//     (http/protobuf, the default, or grpc); with
//     OTEL_TRACES_EXPORTER=console, one that writes each span as a line of
//     JSON to Config.Console, no collector needed. Sampling follows
//     OTEL_TRACES_SAMPLER (default: parent-based, always on). Otherwise a
//     no-op tracer provider: no span is recorded or exported, but trace
//     context still flows from input headers to output headers.
//   - Propagation: W3C trace context and baggage.
//
// The exporters connect lazily, so New does not fail when the collector is
// down; exporting errors are logged.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = DefaultServiceName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Console == nil {
		cfg.Console = os.Stdout
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	t := &Telemetry{log: cfg.Logger, reg: prometheus.NewRegistry(),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}

	t.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pe, err := otelprom.New(otelprom.WithRegisterer(t.reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(pe), sdkmetric.WithResource(res), sdkmetric.WithView(kotelView))
	if t.metrics, err = newMetrics(t.mp.Meter(instrumentationName)); err != nil {
		return nil, err
	}

	exp := cfg.SpanExporter
	if exp == nil {
		if exp, t.exporter, err = spanExporterFromEnv(ctx, cfg.Getenv, cfg.Console); err != nil {
			return nil, err
		}
	} else {
		t.exporter = "custom exporter"
	}
	if exp == nil {
		t.tp = noop.NewTracerProvider()
		return t, nil
	}
	t.sdkTP = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t.tp = t.sdkTP
	return t, nil
}

// instrumentationName is the scope of leadscore's own instruments.
const instrumentationName = "github.com/leadscore/leadscore"

// spanExporterFromEnv returns the span exporter that the standard variables
// describe — OTLP, or the console (stdouttrace, writing to console) — or nil
// when they name no endpoint or disable tracing.
func spanExporterFromEnv(ctx context.Context, getenv func(string) string, console io.Writer) (sdktrace.SpanExporter, string, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, "", nil
	}
	switch kind := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); kind {
	case "", "otlp":
	case "none":
		return nil, "", nil
	case "console":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(console))
		if err != nil {
			return nil, "", fmt.Errorf("telemetry: console trace exporter: %w", err)
		}
		return exp, "console", nil
	default:
		return nil, "", fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q is not supported (otlp, console or none)", kind)
	}
	// The exporters read the other OTEL_EXPORTER_OTLP_* variables (headers,
	// timeout, compression, certificates) themselves; the endpoint is passed
	// explicitly so that what decided to export is also where spans go.
	endpoint := firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	base := firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	if endpoint == "" && base == "" {
		return nil, "", nil
	}
	protocol := firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "http/protobuf":
		if endpoint == "" { // the signal path is appended to the base endpoint
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	case "grpc":
		endpoint = firstNonEmpty(endpoint, base)
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	default:
		return nil, "", fmt.Errorf("telemetry: OTLP protocol %q is not supported (http/protobuf or grpc)", protocol)
	}
	if err != nil {
		return nil, "", fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
	}
	return exp, "otlp " + protocol + " " + endpoint, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// TracerProvider returns the tracer provider: the SDK's when spans are
// exported, else a no-op one that still carries incoming trace context.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// Propagator returns the W3C trace-context and baggage propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// Metrics returns leadscore's instruments, which implement processor.Observer.
func (t *Telemetry) Metrics() *Metrics { return t.metrics }

// TracesExporter describes where spans are exported ("otlp http/protobuf
// http://collector:4318"), or returns "" when they are not.
func (t *Telemetry) TracesExporter() string { return t.exporter }

// MetricsHandler serves every metric in the Prometheus text (or OpenMetrics)
// exposition format: leadscore's instruments, the franz-go client's (when
// KafkaHooks are installed), the Go runtime's and the process's.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{t.log}, EnableOpenMetrics: true})
}

// ForceFlush exports the spans still buffered, within ctx.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t.sdkTP == nil {
		return nil
	}
	if err := t.sdkTP.ForceFlush(ctx); err != nil {
		return fmt.Errorf("telemetry: flushing spans: %w", err)
	}
	return nil
}

// Shutdown flushes the spans still buffered and stops the providers, within
// ctx. Telemetry must not be used afterwards.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.sdkTP != nil {
		if err := t.sdkTP.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: shutting down traces: %w", err))
		}
	}
	if err := t.mp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("telemetry: shutting down metrics: %w", err))
	}
	return errors.Join(errs...)
}

// slogPromLogger adapts slog for promhttp's error log.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) {
	l.log.Warn("metrics endpoint", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
