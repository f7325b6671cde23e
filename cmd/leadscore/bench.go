package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/leadscore/leadscore/internal/bench"
	"github.com/leadscore/leadscore/internal/redisserver"
)

// benchRedisArgs are the redis-server settings of --start-redis: no
// persistence, and the hash sizes the state store is sized for
// (hash-max-listpack-value 4096, hash-max-listpack-entries 512: docs/state.md).
var benchRedisArgs = []string{"--save", "", "--appendonly", "no",
	"--hash-max-listpack-value", "4096", "--hash-max-listpack-entries", "512", "--protected-mode", "no", "--loglevel", "warning"}

// benchCmd is `leadscore bench`: the benchmark harness (package bench).
type benchCmd struct {
	Brokers        []string      `env:"LEADSCORE_BROKERS" help:"Outside Kafka brokers (host:port); default: an in-process kfake broker."`
	RedisAddr      string        `env:"LEADSCORE_REDIS_ADDR" help:"A real Redis (host:port), used under its own key prefixes, cleaned up afterwards."`
	StartRedis     bool          `help:"Start redis-server from PATH on a free port for the run (no persistence) instead of --redis-addr."`
	AllowMiniredis bool          `help:"Without a Redis, run the Redis scenarios on an embedded miniredis: a quick look only, the figures mean nothing."`
	Workload       string        `enum:"journeys,uniform" default:"journeys" help:"Events: journeys (simulated people: sessions, e-mails, feedback, identity stitching) or uniform (one track event after the other, each for a random lead of --leads)."`
	Events         int           `default:"${bench_events}" help:"Events of the throughput phase (the full run for the docs: 1000000)."`
	Leads          int           `default:"${bench_leads}" help:"Journeys: people arriving per year of simulated history (the full run: 100000); uniform: the number of leads."`
	LatencyEvents  int           `help:"Most events fed in each latency phase (default: events/2)."`
	LatencyFor     time.Duration `name:"latency-duration" default:"${bench_latency_duration}" help:"How long each scenario is fed at half its measured rate to measure latency (0: skip)."`
	LatencyRate    float64       `help:"Offer every latency phase this many events/s instead of half each scenario's measured rate (to compare knobs or builds at the same load)."`
	OfferLinger    time.Duration `help:"Linger of the producer that offers the latency phases' events (0: each sent at once; the latency measured includes it)."`
	Partitions     int           `default:"${bench_partitions}" help:"Partitions per topic."`
	Seed           int64         `default:"${bench_seed}" help:"Seed of the generated history."`
	Scenarios      []string      `default:"ceiling,naive,franz-go,kafka-go,goka" help:"Scenarios to run, in this order: ceiling, naive, franz-go-spread (franz-go as run --lanes 2 --ownership spread: the design before event time, arrival order), franz-go-uncached (franz-go without the working set: every batch reads Redis), franz-go-ackwrite (franz-go clearing each outbox with a second write, as before the commit acknowledged it), franz-go, kafka-go, goka."`
	GokaDir        string        `help:"Source of the goka scenario's module (default: internal/bench/goka found from the working directory up); it is built with the go command, or skipped with a warning without one."`
	GokaBinary     string        `type:"existingfile" help:"A build of the goka scenario's module to run instead of building it."`
	Rules          string        `type:"existingfile" help:"Rules file (YAML); default: the journeys' b2b-saas rules embedded in the binary."`
	Models         int           `default:"1" help:"Models the leadscore scenarios run side by side (as run --rules given N times): the rules N times, named m1..mN, model k's rule points scaled by 1+(k-1)/10. naive and goka run m1 alone."`
	Lanes          int           `default:"${lanes}" help:"Lanes of the leadscore scenarios, as leadscore run --lanes with sole ownership (the owner's apply lanes; franz-go-spread runs two members of one lane each); the ceiling runs as many copy loops, naive one."`
	MaxPollRecords int           `help:"Most records per poll (0: the backends' default, 5000)."`
	FetchMaxWait   time.Duration `help:"How long the broker may hold a fetch (0: the backends' default, 500ms)."`
	Linger         time.Duration `help:"Producer linger of the processor and ceiling (0: none)."`
	Compression    string        `enum:",none,gzip,snappy,lz4,zstd" default:"" help:"Compression of produced batches (none, gzip, snappy, lz4, zstd)."`
	Soak           time.Duration `help:"After the scenarios, run franz-go at half its measured rate for this long, on endless events of the --workload, and report RSS at start and end (e.g. 5m)."`
	SoakSample     time.Duration `default:"10s" help:"How often the soak samples RSS."`
	JSON           bool          `name:"json" help:"Write the result as JSON instead of a table."`
	CPUProfile     string        `name:"cpuprofile" help:"Write a CPU profile of the whole run to this file."`
	MemProfile     string        `name:"memprofile" help:"Write a heap profile to this file at the end of the run (with --soak: at the end of the soak, before it lets go of its memory)."`
	Quiet          bool          `help:"No progress on stderr."`
}

func (c *benchCmd) Run(e *env) error {
	if c.LatencyFor == 0 {
		c.LatencyFor = -1 // bench.Config: negative skips the latency phase
	}
	cfg := bench.Config{Brokers: c.Brokers, RedisAddr: c.RedisAddr, AllowMiniredis: c.AllowMiniredis, Workload: c.Workload, Events: c.Events,
		Leads: c.Leads, LatencyEvents: c.LatencyEvents, LatencyDuration: c.LatencyFor, LatencyRate: c.LatencyRate, OfferLinger: c.OfferLinger, Seed: c.Seed, Partitions: c.Partitions,
		Scenarios: c.Scenarios, Lanes: c.Lanes, Models: c.Models, MaxPollRecords: c.MaxPollRecords, FetchMaxWait: c.FetchMaxWait, ProducerLinger: c.Linger,
		Compression: c.Compression, Soak: c.Soak, SoakSample: c.SoakSample, GokaDir: c.GokaDir, GokaBinary: c.GokaBinary}
	if c.Rules != "" {
		b, err := os.ReadFile(c.Rules)
		if err != nil {
			return err
		}
		cfg.Rules = b
	}
	if !c.Quiet {
		cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.StartRedis {
		if c.RedisAddr != "" {
			return errors.New("--start-redis and --redis-addr exclude each other")
		}
		srv, err := redisserver.Start(ctx, redisserver.Options{Args: benchRedisArgs})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer srv.Stop()
		cfg.RedisAddr = srv.Addr()
	}
	if cfg.RedisAddr == "" && c.AllowMiniredis {
		fmt.Fprintln(e.stderr, "leadscore bench: WARNING: no Redis given, using an embedded miniredis: the Redis scenarios' figures mean nothing")
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	writeHeap := func() error {
		f, err := os.Create(c.MemProfile)
		if err != nil {
			return err
		}
		runtime.GC()
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		return nil
	}
	var heapErr error
	if c.MemProfile != "" && c.Soak > 0 {
		cfg.AtSoakEnd = func() { heapErr = writeHeap() } // while the soak still holds its memory
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if c.MemProfile != "" && c.Soak <= 0 {
		heapErr = writeHeap()
	}
	if heapErr != nil {
		return heapErr
	}
	if c.JSON {
		return res.WriteJSON(e.stdout)
	}
	return res.WriteTable(e.stdout)
}
