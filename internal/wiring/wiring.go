// Package wiring is what the commands that run the pipeline — `leadscore run`,
// `leadscore demo` and the benchmark — set up the same way: the running
// system itself (Build: state store, Kafka clients, processors), and around it
// the logger, telemetry, the processor's instrumentation and input sources,
// and the HTTP API with the web console.
package wiring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/console"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
	"github.com/leadscore/leadscore/telemetry"
)

// NewLogger returns a command's logger: format json or text, at level,
// through the redacting handler (no e-mail address is ever logged).
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	log, err := telemetry.NewLogger(w, format, level)
	if err != nil { // the flags are enums: only a programming error gets here
		log, _ = telemetry.NewLogger(w, "json", "info")
		log.Warn("bad log settings; using json at info", "err", err)
	}
	return log
}

// StartTelemetry builds the metrics and (when OTEL_EXPORTER_OTLP_* or
// OTEL_TRACES_EXPORTER=console says so) trace exporters, and routes
// OpenTelemetry's own errors, and go-redis's log lines, to log. Console spans
// go to console; version is the service version the telemetry reports.
func StartTelemetry(ctx context.Context, log *slog.Logger, console io.Writer, version string) (*telemetry.Telemetry, error) {
	telemetry.LogOTelErrors(log)
	redis.SetLogger(telemetry.PrintfLogger{Log: log, Msg: "redis client"})
	tel, err := telemetry.New(ctx, telemetry.Config{ServiceVersion: version, Logger: log, Console: console})
	if err != nil {
		return nil, err
	}
	return tel, nil
}

// StopTelemetry flushes the spans still buffered (at most 5 s).
func StopTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry shutdown", "err", err)
	}
}

// Instrument traces the processor and feeds the consumer-lag gauge from the
// client, when the client reports lag (both backends do).
func Instrument(p *processor.Processor, client processor.Client, tel *telemetry.Telemetry) {
	p.SetTracing(tel.TracerProvider(), tel.Propagator())
	if ls, ok := client.(telemetry.LagSource); ok {
		tel.Metrics().ObserveLag(ls)
	}
}

// ServeAPI serves the HTTP API on ln until ctx ends; wait returns once the
// server has shut down; ln is closed either way. With cs, the web console is
// served beside it.
func ServeAPI(ctx context.Context, ln net.Listener, cfg api.Config, log *slog.Logger, cs *Console) (wait func() error, err error) {
	a, err := api.New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var h http.Handler = a
	stopConsole := func() {}
	if cs != nil {
		c, stop, err := withConsole(a, cs, log)
		if err != nil {
			ln.Close()
			return nil, err
		}
		h, stopConsole = c, stop
		// Live streams never end by themselves: end them as the shutdown
		// begins, or it would wait ShutdownTimeout for them.
		go func() {
			<-ctx.Done()
			c.Close()
		}()
	}
	done := make(chan error, 1)
	go func() {
		err := api.Serve(ctx, ln, h, log)
		stopConsole()
		done <- err
	}()
	return func() error { return <-done }, nil
}

// InputSources registers the input topics' ids with the store and returns the
// names their offsets are kept under (processor.Config.Sources). A topic
// recreated since the store last saw it — Kafka rebuilt while Redis kept its
// state — gets a new source, so its events are applied rather than skipped as
// replays of the old topic's offsets; this is logged, never silent.
func InputSources(ctx context.Context, store *state.Store, ids map[string]string, log *slog.Logger) (map[string]string, error) {
	epochs, err := store.TopicEpochs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	out := make(map[string]string, len(epochs))
	for t, e := range epochs {
		out[t] = e.Source
		if e.New {
			log.Warn("input topic was recreated since the lead state last saw it: its offsets start a new epoch, and its events are applied (none is taken for a replay of the old topic's offsets)",
				"topic", t, "topic_id", e.ID, "previous_topic_id", e.Previous, "epoch", e.Epoch)
		}
	}
	return out, nil
}

// Console is what the web console needs beside the API.
type Console struct {
	// Conn reaches the cluster whose output topics the console tails.
	Conn []kgo.Opt
	// Topics names the stage-change, dead-letter and account stage-change
	// topics.
	Topics processor.Topics
	// Summary returns the summary of the rules in force.
	Summary func() string
	// Metrics serves /metrics, which the console reads.
	Metrics http.Handler
	// Token is the API's bearer token ("": none).
	Token string
}

// withConsole wraps the API in the web console and starts the tail of the
// output topics; stop ends the tail. The caller ends the live streams with
// h.Close when the server starts shutting down.
func withConsole(a *api.API, cs *Console, log *slog.Logger) (h *console.Console, stop func(), err error) {
	feed := console.NewFeed()
	stages := func() console.Stages {
		return console.Stages{MQL: "mql", SQL: "sql", Order: a.Engine().Model().StageNames()}
	}
	stopTail, err := console.TailKafka(console.TailConfig{Conn: cs.Conn, StageChanges: cs.Topics.StageChanges,
		DeadLetter: cs.Topics.DeadLetter, AccountStageChanges: consoleAccountTopic(cs.Topics, a.Models()),
		Stages: stages, Logger: log}, feed)
	if err != nil {
		return nil, nil, err
	}
	c, err := console.New(console.Config{API: a, Token: cs.Token, Feed: feed, Metrics: cs.Metrics, RulesSummary: cs.Summary, Logger: log})
	if err != nil {
		stopTail()
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	return c, stopTail, nil
}

// consoleAccountTopic is the account stage-change topic the console reads:
// none unless a model in force when the console starts scores accounts, as
// the processor produces to it only then (the topic has a default name, and
// may not exist). A rules reload that adds accounts later shows its account
// changes after a restart.
func consoleAccountTopic(t processor.Topics, models *scoring.Set) string {
	if models == nil || !models.HasAccounts() {
		return ""
	}
	return t.AccountStageChanges
}
