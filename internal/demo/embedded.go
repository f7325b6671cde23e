package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/console"
	"github.com/leadscore/leadscore/internal/wiring"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
	"github.com/leadscore/leadscore/telemetry"
)

// group is the processor's consumer group in the demo.
const group = "leadscore-demo"

// Memory bounds of the demo topics (kfake keeps every record in memory):
// small segments, a few MiB per partition, trimmed every few seconds.
var topicConfigs = map[string]*string{
	"segment.bytes":   kadm.StringPtr("1048576"),
	"retention.bytes": kadm.StringPtr("8388608"),
}

// cleanerBackoff is how often the embedded broker applies retention.
const cleanerBackoff = "5000"

// The demo's Redis key layout (state.Options): about 20 leads per bucket after
// an hour of play.
const (
	timerShards = 8
	buckets     = 512
)

// listenFallback listens on addr, or on a free port of the same host when addr
// is taken. note says what happened, for the header.
func listenFallback(addr string) (ln net.Listener, note string, err error) {
	ln, err = net.Listen("tcp", addr)
	if err == nil {
		return ln, "", nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, "", err
	}
	host, _, serr := net.SplitHostPort(addr)
	if serr != nil {
		return nil, "", err
	}
	ln, err2 := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, "", fmt.Errorf("%w (and no free port: %v)", err, err2)
	}
	return ln, addr + " was taken", nil
}

// rig is the demo's running pipeline.
type rig struct {
	log       *slog.Logger
	cluster   *kfake.Cluster
	kafkaAddr string
	kafkaNote string
	mr        *miniredis.Miniredis
	redisDesc string
	sys       *wiring.System
	proc      *processor.Processor
	procDone  chan error
	stopProc  context.CancelFunc
	httpAddr  string
	httpNote  string
	// consoleURL is where the web console is served ("" when off).
	consoleURL string
	stopHTTP   context.CancelFunc
	waitHTTP   func() error
}

// startRig brings the pipeline up: broker, Redis, topics, store, processor, API.
// On error, what was started is stopped.
func startRig(ctx context.Context, c *Config, models *scoring.Set, files []string, clock *simClock, counts *counters,
	tel *telemetry.Telemetry, log *slog.Logger) (r *rig, err error) {
	r = &rig{log: log}
	defer func() {
		if err != nil {
			r.close()
			r = nil
		}
	}()
	ln, note, err := listenFallback(c.KafkaAddr)
	if err != nil {
		return r, fmt.Errorf("kafka: %w", err)
	}
	r.kafkaAddr, r.kafkaNote = ln.Addr().String(), note
	r.cluster, err = kfake.NewCluster(kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": cleanerBackoff}))
	if err != nil {
		ln.Close()
		return r, fmt.Errorf("kafka: starting the embedded broker: %w", err)
	}

	redisAddr, prefix := c.RedisAddr, "ls"
	if redisAddr == "" {
		r.mr = miniredis.NewMiniRedis()
		if err := r.mr.Start(); err != nil {
			return r, fmt.Errorf("redis: starting the embedded server: %w", err)
		}
		redisAddr = r.mr.Addr()
		r.redisDesc = "embedded (miniredis " + redisAddr + ")"
	} else {
		// A fresh prefix per run: offsets stored with the leads of an earlier
		// run would make this run's events look like replays.
		prefix = "lsdemo-" + time.Now().UTC().Format("20060102T150405")
		r.redisDesc = redisAddr + ", keys " + prefix + ":*"
	}

	brokers := []string{r.kafkaAddr}
	var specs []franzgo.TopicSpec
	for _, t := range append(topics.Inputs(), topics.Outputs(true)...) {
		specs = append(specs, franzgo.TopicSpec{Name: t, Partitions: c.Partitions, Replication: 1, Configs: topicConfigs})
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := franzgo.EnsureTopics(tctx, brokers, specs); err != nil {
		return r, err
	}
	// A small key layout (not `leadscore run`'s defaults, sized for millions of
	// leads): the demo has thousands, and miniredis runs Lua slowly, so fewer
	// timer shards make each sweep cheap. One franz-go client, the sole owner
	// of every partition, as `leadscore run` opens it. The topics were just
	// created on a new broker: their partitions are c.Partitions.
	r.sys, err = wiring.Build(ctx, wiring.Config{
		Store: state.Options{Addrs: []string{redisAddr}, KeyPrefix: prefix, TimerShards: timerShards, Buckets: buckets},
		// The demo's broker is new each run; its Redis may not be (--redis-addr).
		Prepare: func(context.Context, *state.Store) (wiring.Inputs, error) {
			ids, err := franzgo.TopicIDs(tctx, brokers, topics.Inputs())
			return wiring.Inputs{TopicIDs: ids}, err
		},
		Kafka: franzgo.Config{Config: kafkaconfig.Config{Brokers: brokers, Group: group, InputTopics: topics.Inputs()},
			Opts: []kgo.Opt{kgo.WithHooks(tel.KafkaHooks("leadscore", group)...)}},
		Processor: processor.Config{Topics: topics, TimerPartitions: int(c.Partitions),
			WorkingSet: processor.DefaultWorkingSet, // one processor: the one writer of every lead
			CommitAck:  true,
			// The timer tick is simulated time too: about four sweeps a wall-clock second.
			TimerTick: time.Duration(c.Speedup * float64(250*time.Millisecond)), Now: clock.Now,
			// Timers run on event time while journeys flow; a pause of two
			// wall-clock seconds hands them to the (simulated) wall clock.
			IdleTimeout: time.Duration(c.Speedup * float64(2*time.Second)),
			Version:     c.Version},
		Models: models, Observer: observer{metrics: tel.Metrics(), counts: counts, clock: clock}, Telemetry: tel, Logger: log,
	})
	if err != nil {
		return r, err
	}
	r.proc = r.sys.Lanes[0]

	if c.HTTPAddr != "" {
		hl, note, err := listenFallback(c.HTTPAddr)
		if err != nil {
			return r, fmt.Errorf("http: %w", err)
		}
		r.httpAddr, r.httpNote = hl.Addr().String(), note
		var hctx context.Context
		hctx, r.stopHTTP = context.WithCancel(context.WithoutCancel(ctx))
		var cs *wiring.Console
		if c.Console {
			var summary func() string
			if c.RulesSummary != nil {
				summary = c.RulesSummary(files, r.proc.Models)
			}
			cs = &wiring.Console{Conn: []kgo.Opt{kgo.SeedBrokers(r.kafkaAddr)}, Topics: topics,
				Summary: summary, Metrics: tel.MetricsHandler(), Token: c.HTTPToken}
			r.consoleURL = "http://" + r.httpAddr + console.Prefix
		}
		r.waitHTTP, err = wiring.ServeAPI(hctx, hl, api.Config{Store: r.sys.Store, Models: r.proc.Models, Ready: r.proc.Ready,
			Now: clock.Now, Token: c.HTTPToken, Metrics: tel.MetricsHandler(), Logger: log}, log, cs)
		if err != nil {
			return r, err
		}
	}
	var pctx context.Context
	pctx, r.stopProc = context.WithCancel(context.WithoutCancel(ctx))
	r.procDone = make(chan error, 1)
	go func(p *processor.Processor) { r.procDone <- p.Run(pctx) }(r.proc)
	return r, nil
}

// stopProcessor stops the processor gracefully (the batch in flight is
// finished and committed) and waits for it.
func (r *rig) stopProcessor() {
	if r.stopProc == nil {
		return
	}
	r.stopProc()
	r.stopProc = nil
	if err := <-r.procDone; err != nil {
		r.log.Error("processor", "err", err)
	}
}

// close stops everything that runs, in reverse order.
func (r *rig) close() {
	r.stopProcessor()
	if r.stopHTTP != nil {
		r.stopHTTP()
		if err := r.waitHTTP(); err != nil {
			r.log.Error("http server", "err", err)
		}
	}
	if r.sys != nil {
		// The processor closed its client as it stopped: this closes the store
		// (and the client of a processor that never ran).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = r.sys.Close(ctx)
		cancel()
	}
	if r.cluster != nil {
		r.cluster.Close()
	}
	if r.mr != nil {
		r.mr.Close()
	}
}
