// Package telemetry wires leadscore's observability: OpenTelemetry traces
// (exported over OTLP when the standard OTEL_* variables name an endpoint),
// OpenTelemetry metrics exposed in the Prometheus text format, the metrics
// implementation of processor.Observer (with consumer lag per partition), the
// franz-go tracing and metering hooks (plugin/kotel), and structured logs
// (log/slog) that never carry an e-mail address.
//
// One Telemetry value is built at start by New and shut down at exit:
//
//	tel, err := telemetry.New(ctx, telemetry.Config{ServiceVersion: version, Logger: log})
//	defer tel.Shutdown(context.Background())
//	p, _ := processor.New(processor.Config{Observer: tel.Metrics(), …}, client, store, eng)
//	p.SetTracing(tel.TracerProvider(), tel.Propagator())
//	http.Handle("GET /metrics", tel.MetricsHandler())
//
// Nothing here is global: New does not install the OpenTelemetry global
// providers, so several instances (tests) can coexist. Metric names and the
// environment variables read are listed in docs/observability.md.
package telemetry
