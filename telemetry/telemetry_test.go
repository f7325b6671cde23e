package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/telemetry"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fakeLag map[processor.TopicPartition]int64

func (f fakeLag) Lag() map[processor.TopicPartition]int64 { return f }

// scrape returns the Prometheus exposition of tel.
func scrape(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestMetricsExposition records through every Observer method and checks the
// Prometheus names, labels and values that docs/observability.md promises.
func TestMetricsExposition(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Config{Logger: quiet, ServiceVersion: "1.2.3",
		Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var obs processor.Observer = tel.Metrics()
	obs.Consumed("tracking.web", "applied", 3)
	obs.Consumed("tracking.web", "applied", 2)
	obs.Consumed("tracking.email", "ignored", 1)
	obs.DeadLetter("invalid_json")
	obs.Transition("", "mql", "sql")
	obs.Transition("b2c-shop", "mql", "sql")
	obs.AccountTransition("", "engaged", "mqa")
	obs.Batch(42, 3*time.Millisecond)
	obs.Latency(1500 * time.Millisecond)
	obs.Timers(4, 1)
	obs.StoreRoundTrip("load", 700*time.Microsecond)
	obs.Ready(true, "")
	tel.Metrics().ObserveLag(fakeLag{{Topic: "tracking.web", Partition: 3}: 17})

	body := scrape(t, tel)
	for _, want := range []string{
		`leadscore_events_consumed_total{outcome="applied",topic="tracking.web"} 5`,
		`leadscore_events_consumed_total{outcome="ignored",topic="tracking.email"} 1`,
		`leadscore_dead_letters_total{reason="invalid_json"} 1`,
		`leadscore_stage_transitions_total{from="mql",to="sql"} 1`,
		`leadscore_stage_transitions_total{from="mql",model="b2c-shop",to="sql"} 1`,
		`leadscore_account_stage_transitions_total{from="engaged",to="mqa"} 1`,
		`leadscore_batch_records_count 1`,
		`leadscore_batch_records_sum 42`,
		`leadscore_batch_duration_seconds_bucket{le="0.005"} 1`,
		`leadscore_stage_change_latency_seconds_sum 1.5`,
		`leadscore_redis_round_trip_seconds_count{op="load"} 1`,
		`leadscore_timers_due_total 4`,
		`leadscore_timers_fired_total 1`,
		`leadscore_ready 1`,
		`leadscore_consumer_lag{partition="3",topic="tracking.web"} 17`,
		`target_info{`,
		`service_version="1.2.3"`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", body)
	}
	if tel.TracesExporter() != "" {
		t.Errorf("spans exported to %q without an endpoint", tel.TracesExporter())
	}
	if _, ok := tel.TracerProvider().Tracer("x").Start(context.Background(), "s"); ok.SpanContext().IsValid() {
		t.Error("a span was recorded without an exporter")
	}
}

// TestTracesFromEnv checks which OTEL_* settings turn the OTLP exporter on.
func TestTracesFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string // TracesExporter prefix; "" = none
		wantErr string
	}{
		{"nothing set", nil, "", ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp http/protobuf http://127.0.0.1:4318", ""},
		{"traces endpoint wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces"},
			"otlp http/protobuf http://b:4318/v1/traces", ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp grpc ", ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, "", ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, "", ""},
		{"bad protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", "not supported"},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "console", ""},
		{"console needs no endpoint, wins over one", map[string]string{"OTEL_TRACES_EXPORTER": "Console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "console", ""},
		{"console, sdk disabled", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, "", ""},
		{"bad exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "", "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			env := func(k string) string { return tt.env[k] }
			tel, err := telemetry.New(ctx, telemetry.Config{Logger: quiet, Getenv: env, Console: io.Discard})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tel.Shutdown(ctx)
			got := tel.TracesExporter()
			if tt.want == "" && got != "" || tt.want != "" && !strings.HasPrefix(got, tt.want) {
				t.Errorf("TracesExporter() = %q, want %q", got, tt.want)
			}
			// Never ended: nothing is sent to the (absent) collector.
			_, sp := tel.TracerProvider().Tracer("x").Start(ctx, "s")
			if sp.SpanContext().IsValid() != (tt.want != "") {
				t.Errorf("span recorded = %v with exporter %q", sp.SpanContext().IsValid(), got)
			}
		})
	}
}

// TestConsoleExport: with OTEL_TRACES_EXPORTER=console, spans are written to
// Config.Console as JSON lines, with their trace id and attributes, once
// flushed.
func TestConsoleExport(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"OTEL_TRACES_EXPORTER": "console"}
	tel, err := telemetry.New(context.Background(), telemetry.Config{Logger: quiet, Console: &out, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	_, sp := tel.TracerProvider().Tracer("test").Start(context.Background(), "hello", trace.WithAttributes(attribute.Int("records", 3)))
	sp.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var span struct {
		Name        string
		SpanContext struct{ TraceID string }
		Attributes  []struct{ Key string }
	}
	line, _, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	if err := json.Unmarshal(line, &span); err != nil {
		t.Fatalf("console output is not a JSON span per line: %v\n%s", err, out.String())
	}
	if span.Name != "hello" || span.SpanContext.TraceID != sp.SpanContext().TraceID().String() || len(span.Attributes) != 1 || span.Attributes[0].Key != "records" {
		t.Errorf("console span %+v, from %s", span, line)
	}
}

// TestOTLPExport sends a span to a fake OTLP/HTTP collector named by
// OTEL_EXPORTER_OTLP_ENDPOINT.
func TestOTLPExport(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type")
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}
	tel, err := telemetry.New(ctx, telemetry.Config{Logger: quiet, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	_, sp := tel.TracerProvider().Tracer("test").Start(ctx, "hello")
	sp.End()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-got:
		if req != "POST /v1/traces application/x-protobuf" {
			t.Errorf("collector got %q", req)
		}
	default:
		t.Fatal("no span reached the collector")
	}
}

type mapCarrier map[string]string

func (m mapCarrier) Get(k string) string { return m[k] }
func (m mapCarrier) Set(k, v string)     { m[k] = v }
func (m mapCarrier) Keys() []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestKeepExisting(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	p := telemetry.KeepExisting(propagation.TraceContext{})
	empty := mapCarrier{}
	p.Inject(ctx, empty)
	if empty["traceparent"] == "" {
		t.Error("nothing injected into an empty carrier")
	}
	kept := mapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	p.Inject(ctx, kept)
	if kept["traceparent"] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("existing traceparent replaced: %s", kept["traceparent"])
	}
}
