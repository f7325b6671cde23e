package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/leadscore/leadscore/internal/demo"
)

// demoCmd is `leadscore demo`: the whole pipeline in one process, on simulated
// visitor journeys (package internal/demo; docs/demo.md).
type demoCmd struct {
	Rate         float64       `default:"200" env:"LEADSCORE_DEMO_RATE" help:"Events per second, at most."`
	Leads        int           `default:"2000" env:"LEADSCORE_DEMO_LEADS" help:"Simulated people arriving per year of simulated time."`
	Seed         int64         `default:"1" env:"LEADSCORE_DEMO_SEED" help:"Seed of the simulated history: the same seed plays the same journeys."`
	Duration     time.Duration `default:"0s" env:"LEADSCORE_DEMO_DURATION" help:"Stop after this long (0: run until Ctrl-C). A summary is printed either way."`
	Rules        []string      `type:"path" sep:"none" env:"LEADSCORE_RULES" help:"Rules file (YAML) of a model to play; repeat it to play several side by side. Default: ${demo_rules} and ${demo_second_rules} side by side (the first embedded in the binary when not found, the second left out)."`
	Speedup      float64       `default:"604800" env:"LEADSCORE_DEMO_SPEEDUP" help:"Simulated seconds per wall-clock second, at most (604800: a week a second; --rate slows the clock when events are dense)."`
	Refresh      time.Duration `default:"1s" env:"LEADSCORE_DEMO_REFRESH" help:"How often the view is refreshed."`
	Plain        bool          `env:"LEADSCORE_DEMO_PLAIN" help:"Print plain periodic lines instead of redrawing the terminal (automatic when stdout is not a terminal)."`
	KafkaAddr    string        `default:"127.0.0.1:9092" env:"LEADSCORE_DEMO_KAFKA_ADDR" help:"Where the embedded Kafka broker listens, for outside clients (kcat…); another free port is used when it is taken."`
	RedisAddr    string        `env:"LEADSCORE_DEMO_REDIS_ADDR" help:"A real Redis (host:port) instead of the embedded one; each run writes under its own key prefix."`
	Partitions   int32         `default:"4" env:"LEADSCORE_DEMO_PARTITIONS" help:"Partitions of each demo topic."`
	HTTP         httpFlags     `embed:""`
	GenerateOnly bool          `env:"LEADSCORE_DEMO_GENERATE_ONLY" help:"Only produce the journeys to the Kafka of --brokers at --rate (no broker, Redis, processor or view)."`
	Brokers      []string      `env:"LEADSCORE_DEMO_BROKERS" help:"Kafka seed brokers for --generate-only, host:port, comma-separated."`
	LogFormat    string        `default:"text" enum:"json,text" env:"LEADSCORE_LOG_FORMAT" help:"Log format (logs go to stderr): json or text."`
	LogLevel     string        `default:"warn" enum:"debug,info,warn,error" env:"LEADSCORE_LOG_LEVEL" help:"Log level."`
}

// config maps the flags to the demo's configuration, reading the API token
// from --http-token-file when the API is served.
func (c *demoCmd) config() (demo.Config, error) {
	cfg := demo.Config{Rate: c.Rate, Leads: c.Leads, Seed: c.Seed, Duration: c.Duration, Rules: c.Rules,
		Speedup: c.Speedup, Refresh: c.Refresh, Plain: c.Plain, KafkaAddr: c.KafkaAddr, RedisAddr: c.RedisAddr,
		Partitions: c.Partitions, HTTPAddr: c.HTTP.HTTPAddr, Console: c.HTTP.Console, GenerateOnly: c.GenerateOnly,
		Brokers: c.Brokers, LogFormat: c.LogFormat, LogLevel: c.LogLevel, Version: version,
		RulesSummary: rulesSummary}
	if c.HTTP.HTTPAddr != "" && !c.GenerateOnly {
		token, err := secret(c.HTTP.HTTPToken, c.HTTP.HTTPTokenFile)
		if err != nil {
			return cfg, err
		}
		cfg.HTTPToken = token
	}
	return cfg, nil
}

// Run plays the demo until Ctrl-C, SIGTERM or --duration, then prints the summary.
func (c *demoCmd) Run(e *env) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo.Run(ctx, cfg, e.stdout, e.stderr)
}
