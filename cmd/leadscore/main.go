// Command leadscore is the real-time lead-scoring stream processor (run, against
// Kafka and Redis) and its tools: the demo, an embedded broker, checking rules
// files, scoring event logs offline, backtests and calibration, and the bench.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/internal/bench"
	"github.com/leadscore/leadscore/internal/demo"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/state"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// cli is the command tree; each command's fields are its flags (with LEADSCORE_*
// environment variables), validated by kong before Run is called.
type cli struct {
	Rules     rulesCmd         `cmd:"" help:"Check a rules file, or print the rules-file reference."`
	Run       runCmd           `cmd:"" help:"Run the stream processor: Kafka in, Redis state, stage changes out."`
	Score     scoreCmd         `cmd:"" help:"Score a JSONL event log offline (the oracle): final lead states and every stage change, as JSONL."`
	Demo      demoCmd          `cmd:"" help:"Watch simulated visitors move through the funnel, scored live (no services needed)."`
	Backtest  backtestCmd      `cmd:"" help:"Test rules files on past events and known outcomes: funnel, MQLs per week, calibration, precision and recall; compare two files."`
	Calibrate calibrateCmd     `cmd:"" help:"Suggest points from history: lift per rule and a regularised logistic regression, written as a proposed rules file and a diff."`
	Bench     benchCmd         `cmd:"" help:"Measure throughput, latency and memory: a Kafka-only ceiling, a naive implementation, leadscore on both Kafka backends and a goka-based scorer, on the same generated events."`
	Broker    brokerCmd        `cmd:"" help:"Run an in-process Kafka-protocol broker (kfake) for development and tests, optionally persistent, with SASL and TLS."`
	Version   kong.VersionFlag `help:"Print the version and exit."`
}

// kongVars are the values flag help and defaults refer to as ${name}: the
// packages' own defaults, so that a flag says what the package does.
// kongVars fill the flags' defaults from the packages' own: a default is said
// once, where the code that applies it lives.
func kongVars(version string) kong.Vars {
	t := processor.DefaultTopics()
	names := func(kinds []backtest.OutcomeKind) string {
		s := make([]string, len(kinds))
		for i, k := range kinds {
			s[i] = k.String()
		}
		return strings.Join(s, ",")
	}
	return kong.Vars{
		"version":     version,
		"working_set": strconv.Itoa(processor.DefaultWorkingSet),
		"lanes":       strconv.Itoa(processor.DefaultApplyLanes()),

		"topic_web": t.Web, "topic_email": t.Email, "topic_feedback": t.Feedback,
		"topic_stage_changes": t.StageChanges, "topic_dead_letter": t.DeadLetter,
		"topic_account_stage_changes": t.AccountStageChanges,
		"topics":                      strings.Join([]string{t.Web, t.Email, t.Feedback, t.StageChanges, t.DeadLetter, t.AccountStageChanges}, ","),

		"timer_tick":        processor.DefaultTimerTick.String(),
		"merge_wait":        processor.DefaultMergeWait.String(),
		"idle_timeout":      processor.DefaultIdleTimeout.String(),
		"shutdown_timeout":  processor.DefaultShutdownTimeout.String(),
		"max_event_bytes":   strconv.Itoa(events.DefaultMaxBytes),
		"max_event_depth":   strconv.Itoa(events.DefaultMaxDepth),
		"redis_prefix":      state.DefaultKeyPrefix,
		"demo_rules":        demo.DefaultRules,
		"demo_second_rules": demo.DefaultSecondRules,

		"session_timeout":    kafkaconfig.DefaultSessionTimeout.String(),
		"rebalance_timeout":  kafkaconfig.DefaultRebalanceTimeout.String(),
		"heartbeat_interval": kafkaconfig.DefaultHeartbeatInterval.String(),

		"bench_events":           strconv.Itoa(bench.DefaultEvents),
		"bench_leads":            strconv.Itoa(bench.DefaultLeads),
		"bench_partitions":       strconv.Itoa(bench.DefaultPartitions),
		"bench_latency_duration": bench.DefaultLatencyDuration.String(),
		"bench_seed":             strconv.Itoa(bench.DefaultSeed),

		"positive":      names(backtest.DefaultPositive()),
		"calibrate_out": defaultCalibrateOut,
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args and runs the command, returning the process exit code: 0 on
// success, 1 when the command failed, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	var c cli
	// kong calls its Exit hook once --help or --version has printed, and then
	// carries on parsing; gate stands in for the process ending there.
	gate := &exitGate{code: -1}
	parser, err := kong.New(&c,
		kong.Name("leadscore"),
		kong.Description("Real-time lead scoring: Segment and ESP events in, funnel stage changes out."),
		kong.UsageOnError(),
		kong.Writers(gate.writer(stdout), gate.writer(stderr)),
		kongVars(version),
		kong.Exit(gate.exit),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintln(stderr, "leadscore:", err)
		return 1
	}
	ctx, err := parser.Parse(args)
	if gate.exited() {
		return gate.code
	}
	if err != nil {
		parser.Errorf("%s", err)
		if pe, ok := errors.AsType[*kong.ParseError](err); ok {
			_ = pe.Context.PrintUsage(false)
		}
		return 2
	}
	ctx.Bind(&env{stdout: stdout, stderr: stderr})
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(stderr, "leadscore:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

// exitGate records kong's first exit request and silences kong from then on, so
// that what the user sees is what they would if the process had ended at once
// (a second hook, as with --help --version, prints nothing), while tests can
// still call run.
type exitGate struct {
	code int // -1 until kong asks to exit
}

func (g *exitGate) exit(code int) {
	if !g.exited() {
		g.code = code
	}
}

func (g *exitGate) exited() bool { return g.code >= 0 }

func (g *exitGate) writer(w io.Writer) io.Writer { return gatedWriter{g, w} }

type gatedWriter struct {
	g *exitGate
	w io.Writer
}

func (w gatedWriter) Write(p []byte) (int, error) {
	if w.g.exited() {
		return len(p), nil
	}
	return w.w.Write(p)
}

type exitCoder interface{ ExitCode() int }

// env carries the process's streams to commands.
type env struct {
	stdout, stderr io.Writer
}
