package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/console"
	"github.com/leadscore/leadscore/journeys"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
	"github.com/leadscore/leadscore/telemetry"
)

// demoRulesDefault is --rules' default. When it is not found from the working
// directory, the demo uses the copy embedded in the binary.
const demoRulesDefault = "examples/rules/b2b-saas.yaml"

// demoCmd is `leadscore demo`: the whole pipeline in one process, on simulated
// visitor journeys.
//
// It starts an in-process Kafka broker (kfake) on --kafka-addr, an embedded Redis
// (miniredis; --redis-addr uses a real one), the journey generator producing to
// the input topics, the real processor (franz-go client) and the HTTP API, and
// draws the funnel live from the stage-change topic. Time is simulated: the
// generator plays journeys from the wall-clock time of the start at --speedup,
// and the processor's clock follows the generator's (see docs/demo.md).
type demoCmd struct {
	Rate         float64       `default:"200" env:"LEADSCORE_DEMO_RATE" help:"Events per second, at most."`
	Leads        int           `default:"2000" env:"LEADSCORE_DEMO_LEADS" help:"Simulated people arriving per year of simulated time."`
	Seed         int64         `default:"1" env:"LEADSCORE_DEMO_SEED" help:"Seed of the simulated history: the same seed plays the same journeys."`
	Duration     time.Duration `default:"0s" env:"LEADSCORE_DEMO_DURATION" help:"Stop after this long (0: run until Ctrl-C). A summary is printed either way."`
	Rules        string        `default:"examples/rules/b2b-saas.yaml" env:"LEADSCORE_RULES" help:"Rules file (YAML). When the default is not found, the copy embedded in the binary is used."`
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

// Run plays the demo until Ctrl-C, SIGTERM or --duration, then prints the summary.
func (c *demoCmd) Run(e *env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Duration)
		defer cancel()
	}
	if c.GenerateOnly {
		_, err := c.generateOnly(ctx, e.stdout, e.stderr)
		return err
	}
	_, err := c.run(ctx, e.stdout, e.stderr, !c.Plain && isTerminal(e.stdout))
	return err
}

// isTerminal reports whether w is a terminal that understands ANSI escapes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *demoCmd) validate() error {
	var errs []error
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("--rate %g: must be a positive number of events per second", c.Rate))
	}
	if !(c.Speedup > 0) || math.IsInf(c.Speedup, 0) {
		errs = append(errs, fmt.Errorf("--speedup %g: must be a positive number", c.Speedup))
	}
	if c.Leads <= 0 {
		errs = append(errs, fmt.Errorf("--leads %d: must be positive", c.Leads))
	}
	if c.Refresh <= 0 {
		errs = append(errs, fmt.Errorf("--refresh %s: must be positive", c.Refresh))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must not be negative", c.Duration))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("--partitions %d: must be positive", c.Partitions))
	}
	if c.GenerateOnly && len(c.Brokers) == 0 {
		errs = append(errs, errors.New("--generate-only needs --brokers"))
	}
	if !c.GenerateOnly && len(c.Brokers) > 0 {
		errs = append(errs, errors.New("--brokers is for --generate-only; the demo runs its own broker on --kafka-addr"))
	}
	return errors.Join(errs...)
}

// loadRules loads --rules, falling back to the embedded copy of the default file
// when the default path does not exist from here. It returns where the rules came
// from, for the header.
func (c *demoCmd) loadRules() (*scoring.Model, string, error) {
	m, err := rules.Load(c.Rules)
	if err == nil {
		return m, c.Rules, nil
	}
	if c.Rules != demoRulesDefault || !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	m, err = rules.Parse(journeys.B2BRulesFile, journeys.B2BRules())
	return m, "embedded " + journeys.B2BRulesFile, err
}

// demoTopics maps the generator's streams to the processor's input topics.
var demoTopics = processor.DefaultTopics()

func inputTopic(genTopic string) string {
	switch genTopic {
	case journeys.TopicEmail:
		return demoTopics.Email
	case journeys.TopicFeedback:
		return demoTopics.Feedback
	default:
		return demoTopics.Web
	}
}

// demoGroup is the processor's consumer group in the demo.
const demoGroup = "leadscore-demo"

// Memory bounds of the demo topics (kfake keeps every record in memory):
// small segments, a few MiB per partition, trimmed every few seconds.
var demoTopicConfigs = map[string]*string{
	"segment.bytes":   kadm.StringPtr("1048576"),
	"retention.bytes": kadm.StringPtr("8388608"),
}

// demoCleanerBackoff is how often the embedded broker applies retention.
const demoCleanerBackoff = "5000"

// The demo's Redis key layout (state.Options): about 20 leads per bucket after
// an hour of play.
const (
	demoTimerShards = 8
	demoBuckets     = 512
)

// ---------------------------------------------------------------------------
// Simulated clock

// simClock is the demo's simulated time: it starts at the wall-clock time of the
// start and runs at up to --speedup; the generator moves it (holding it back when
// --rate holds records back), and the processor and the API read it.
type simClock struct {
	ms   atomic.Int64  // simulated now, Unix ms
	rate atomic.Uint64 // float64 bits: simulated ms per wall ms over the last tick
}

func newSimClock(start time.Time, speedup float64) *simClock {
	c := &simClock{}
	c.ms.Store(start.UnixMilli())
	c.rate.Store(math.Float64bits(speedup))
	return c
}

// Now returns the simulated time.
func (c *simClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

// toWall converts a simulated duration into wall-clock time at the clock's
// recent pace (an estimate: the pace varies when --rate holds the clock back).
func (c *simClock) toWall(d time.Duration) time.Duration {
	r := math.Float64frombits(c.rate.Load())
	if !(r > 0) {
		return d
	}
	return time.Duration(float64(d) / r)
}

// demoTick is how often the generator wakes up to release due records.
const demoTick = 20 * time.Millisecond

// lastYear stops an endless demo before its simulated clock leaves the decoder's
// window of plausible event times (year 2100), after hours of play.
const lastYear = 2095

// pacer releases the generator's records as the simulated clock reaches their
// time, at most rate per second.
type pacer struct {
	gen     *journeys.Generator
	clock   *simClock
	speedup float64
	rate    float64
	// emit publishes one record; it returns an error only when ctx ended.
	emit func(ctx context.Context, rec *journeys.Record) error

	people atomic.Int64 // people who have arrived
	note   atomic.Value // string: why the pacer stopped on its own
}

// run plays until ctx ends or the simulated clock reaches lastYear. When the
// rate limit holds records back, the clock waits for them.
func (p *pacer) run(ctx context.Context) {
	next, _ := p.gen.Next() // endless: never runs out
	clock := float64(p.clock.ms.Load())
	quota := 1.0
	burst := math.Max(1, p.rate/4)
	last := time.Now()
	tick := time.NewTicker(demoTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			dt := now.Sub(last).Seconds()
			last = now
			before := clock
			clock += dt * p.speedup * 1000
			quota = math.Min(quota+dt*p.rate, burst)
			for quota >= 1 && float64(next.Time.UnixMilli()) <= clock {
				if next.Time.Year() >= lastYear {
					p.note.Store(fmt.Sprintf("the simulated clock reached %d; restart the demo to play again", lastYear))
					return
				}
				if err := p.emit(ctx, &next); err != nil {
					return
				}
				quota--
				next, _ = p.gen.Next()
				p.people.Store(p.gen.Stats().Leads)
			}
			if t := float64(next.Time.UnixMilli()); t < clock {
				clock = t // rate-limited: hold the simulated clock at the backlog
			}
			clock = math.Max(clock, before)
			if dt > 0 { // the pace, smoothed over about a second
				r := math.Float64frombits(p.clock.rate.Load())
				r += (math.Max((clock-before)/(dt*1000), 1) - r) * math.Min(dt, 1)
				p.clock.rate.Store(math.Float64bits(r))
			}
			p.clock.ms.Store(int64(clock))
		}
	}
}

// ---------------------------------------------------------------------------
// Counting what the processor does

// demoCounts is the processor.Observer of the view: consumed records by outcome
// and topic, dead letters and fired timers.
type demoCounts struct {
	mu        sync.Mutex
	byOutcome map[string]int64
	byTopic   map[string]int64
	total     atomic.Int64
	dead      atomic.Int64
	fired     atomic.Int64
}

func newDemoCounts() *demoCounts {
	return &demoCounts{byOutcome: map[string]int64{}, byTopic: map[string]int64{}}
}

func (d *demoCounts) Consumed(topic, outcome string, n int) {
	d.mu.Lock()
	d.byOutcome[outcome] += int64(n)
	d.byTopic[topic] += int64(n)
	d.mu.Unlock()
	d.total.Add(int64(n))
}
func (d *demoCounts) DeadLetter(string)                    { d.dead.Add(1) }
func (d *demoCounts) Late(string)                          {}
func (d *demoCounts) Transition(string, string)            {}
func (d *demoCounts) Batch(int, time.Duration)             {}
func (d *demoCounts) Latency(time.Duration)                {}
func (d *demoCounts) Timers(_, fired int)                  { d.fired.Add(int64(fired)) }
func (d *demoCounts) StoreRoundTrip(string, time.Duration) {}
func (d *demoCounts) Ready(bool, string)                   {}

func (d *demoCounts) outcome(o string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byOutcome[o]
}

func (d *demoCounts) topic(t string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byTopic[t]
}

// demoObserver sends the processor's observations to the metrics and to the
// view. Batch durations and latencies are measured on the simulated clock;
// they are converted to wall-clock time for the metrics.
type demoObserver struct {
	metrics processor.Observer
	counts  *demoCounts
	clock   *simClock
}

func (o demoObserver) Consumed(topic, outcome string, n int) {
	o.metrics.Consumed(topic, outcome, n)
	o.counts.Consumed(topic, outcome, n)
}
func (o demoObserver) Late(topic string) { o.metrics.Late(topic) }

func (o demoObserver) DeadLetter(reason string) {
	o.metrics.DeadLetter(reason)
	o.counts.DeadLetter(reason)
}
func (o demoObserver) Transition(from, to string) { o.metrics.Transition(from, to) }
func (o demoObserver) Batch(records int, took time.Duration) {
	o.metrics.Batch(records, o.clock.toWall(took))
}
func (o demoObserver) Latency(d time.Duration) { o.metrics.Latency(o.clock.toWall(d)) }
func (o demoObserver) Timers(due, fired int) {
	o.metrics.Timers(due, fired)
	o.counts.Timers(due, fired)
}
func (o demoObserver) StoreRoundTrip(op string, d time.Duration) { o.metrics.StoreRoundTrip(op, d) }
func (o demoObserver) Ready(ready bool, reason string)           { o.metrics.Ready(ready, reason) }

// ---------------------------------------------------------------------------
// The embedded pipeline

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
	store     *state.Store
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

// start brings the pipeline up: broker, Redis, topics, store, processor, API.
// On error, what was started is stopped.
func (c *demoCmd) start(ctx context.Context, eng *scoring.Engine, clock *simClock, counts *demoCounts,
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
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": demoCleanerBackoff}))
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
	for _, t := range append(demoTopics.Inputs(), demoTopics.StageChanges, demoTopics.DeadLetter) {
		specs = append(specs, franzgo.TopicSpec{Name: t, Partitions: c.Partitions, Replication: 1, Configs: demoTopicConfigs})
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := franzgo.EnsureTopics(tctx, brokers, specs); err != nil {
		return r, err
	}
	// A small key layout (not openStore's defaults, sized for millions of
	// leads): the demo has thousands, and miniredis runs Lua slowly, so fewer
	// timer shards make each sweep cheap.
	if r.store, err = state.New(ctx, state.Options{Addrs: []string{redisAddr}, KeyPrefix: prefix,
		TimerShards: demoTimerShards, Buckets: demoBuckets}); err != nil {
		return r, fmt.Errorf("redis: %w", err)
	}
	clients, kinfo, err := openKafka(ctx, kafkaFlags{Brokers: brokers, KafkaClient: "franz-go", Group: demoGroup},
		demoTopics, 1, log, tel.KafkaHooks("leadscore", demoGroup)...)
	if err != nil {
		return r, err
	}
	client := clients[0]
	// The demo's broker is new each run; its Redis may not be (--redis-addr).
	sources, err := inputSources(ctx, r.store, kinfo.topicIDs, log)
	if err != nil {
		client.Close(ctx)
		return r, err
	}
	r.proc, err = processor.New(processor.Config{Topics: demoTopics, TimerPartitions: kinfo.partitions, Sources: sources,
		WorkingSet: processor.DefaultWorkingSet, // one processor: the one writer of every lead
		// The timer tick is simulated time too: about four sweeps a wall-clock second.
		TimerTick: time.Duration(c.Speedup * float64(250*time.Millisecond)), Now: clock.Now,
		// Timers run on event time while journeys flow; a pause of two
		// wall-clock seconds hands them to the (simulated) wall clock.
		IdleTimeout: time.Duration(c.Speedup * float64(2*time.Second)),
		Version:     version, Logger: log, Observer: demoObserver{metrics: tel.Metrics(), counts: counts, clock: clock}},
		client, r.store, eng)
	if err != nil {
		client.Close(ctx)
		return r, err
	}
	instrument(r.proc, client, tel)

	if c.HTTP.HTTPAddr != "" {
		token, err := secret(c.HTTP.HTTPToken, c.HTTP.HTTPTokenFile)
		if err != nil {
			return r, err
		}
		hl, note, err := listenFallback(c.HTTP.HTTPAddr)
		if err != nil {
			return r, fmt.Errorf("http: %w", err)
		}
		r.httpAddr, r.httpNote = hl.Addr().String(), note
		var hctx context.Context
		hctx, r.stopHTTP = context.WithCancel(context.WithoutCancel(ctx))
		var cs *consoleSetup
		if c.HTTP.Console {
			cs = &consoleSetup{conn: []kgo.Opt{kgo.SeedBrokers(r.kafkaAddr)}, topics: demoTopics,
				summary: rulesSummary(c.Rules, r.proc.Engine), metrics: tel.MetricsHandler(), token: token}
			r.consoleURL = "http://" + r.httpAddr + console.Prefix
		}
		r.waitHTTP, err = serveAPI(hctx, hl, api.Config{Store: r.store, Engine: r.proc.Engine, Ready: r.proc.Ready,
			Now: clock.Now, Token: token, Metrics: tel.MetricsHandler(), Logger: log}, log, cs)
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
	if r.store != nil {
		r.store.Close()
	}
	if r.cluster != nil {
		r.cluster.Close()
	}
	if r.mr != nil {
		r.mr.Close()
	}
}

// generatorBuffer is the most records the generator's client buffers.
const generatorBuffer = 10000

// newProducer returns a producer for the generator: the senders' keys, Kafka's
// partitioner, and the kotel hooks, so that every input record starts a trace
// when traces are exported.
func newProducer(brokers []string, tel *telemetry.Telemetry, log *slog.Logger) (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("leadscore-generator"), kgo.MaxBufferedRecords(generatorBuffer),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.WithLogger(franzgo.NewLogger(log)), kgo.WithHooks(tel.KafkaHooks("leadscore-generator", "")...))
	if err != nil {
		return nil, fmt.Errorf("kafka: generator client: %w", err)
	}
	return cl, nil
}

// produced counts the generator's records per input topic and failures.
type produced struct {
	web, email, feedback, failed atomic.Int64
	lastErr                      atomic.Value // error
}

func (p *produced) total() int64 { return p.web.Load() + p.email.Load() + p.feedback.Load() }

// emitter returns a pacer's emit function producing to cl asynchronously. It
// waits (or gives up when ctx ends) while the client's buffer is full, so that
// Produce itself never blocks and a record, once handed over, is delivered or
// counted as failed — never dropped by the stop.
func (p *produced) emitter(cl *kgo.Client) func(context.Context, *journeys.Record) error {
	return func(ctx context.Context, rec *journeys.Record) error {
		for cl.BufferedProduceRecords() >= generatorBuffer-1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch rec.Topic {
		case journeys.TopicEmail:
			p.email.Add(1)
		case journeys.TopicFeedback:
			p.feedback.Add(1)
		default:
			p.web.Add(1)
		}
		// Not ctx: the record must outlive the stop, to be flushed.
		kr := &kgo.Record{Topic: inputTopic(rec.Topic), Key: rec.Key, Value: rec.Value}
		cl.Produce(context.WithoutCancel(ctx), kr, func(_ *kgo.Record, err error) {
			if err != nil {
				p.failed.Add(1)
				p.lastErr.Store(err)
			}
		})
		return nil
	}
}

// ---------------------------------------------------------------------------
// The demo

// demoStats is what the demo counted.
type demoStats struct {
	Produced   int64            // records the generator produced
	ByTopic    map[string]int64 // records consumed by the processor per input topic
	Consumed   int64            // records the processor consumed
	Duplicates int64            // upstream re-sends the engine recognised
	Ignored    int64            // bots, machine opens, feedback that does not apply
	DeadLetter int64            // records sent to the dead-letter topic
	Into       map[string]int64 // stage changes by destination stage
	Moves      map[string]int64 // stage changes by "from → to"
	Stages     map[string]int   // leads per stage (visitors estimated) at the end
	People     int64            // simulated people who have arrived
	SimFrom    int64            // simulated time at the start, ms
	SimTo      int64            // simulated time reached, ms
	Wall       time.Duration    // wall-clock time played
	KafkaAddr  string           // where the embedded broker listened
	HTTPAddr   string           // where the API listened ("" when off)
}

// handoff is a stage change worth showing: into sql or sal, or a regression.
type handoff struct {
	at       int64
	lead     string
	from, to string
	cause    string
	score    float64
	fit      float64
	grade    string
	down     bool
}

// How many handoffs (into sql or sal) and regressions the view keeps.
const (
	upsShown   = 6
	downsShown = 4
)

type demo struct {
	demoStats
	eng    *scoring.Engine
	source string
	cfg    *demoCmd
	rig    *rig
	counts *demoCounts
	sent   *produced
	pace   *pacer
	clock  *simClock
	// Stage of every lead that ever changed stage, and the id of its last
	// change (a re-emitted duplicate is counted once).
	stage  map[string]string
	lastID map[string]string
	ups    []handoff // latest handoffs into sql or sal, newest last
	downs  []handoff // latest regressions, newest last
	// Handoffs and regressions since the last plain line.
	freshUps, freshDowns int
	began                time.Time
	note                 string // why the demo stopped on its own, if it did
}

// run plays the demo until ctx is done and returns its statistics. With tty it
// redraws a live view with ANSI escapes; otherwise it prints a plain line per
// refresh. Logs go to logOut.
func (c *demoCmd) run(ctx context.Context, out, logOut io.Writer, tty bool) (*demoStats, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	m, source, err := c.loadRules()
	if err != nil {
		return nil, err
	}
	eng, err := scoring.NewEngine(m)
	if err != nil {
		return nil, err
	}
	log := newLogger(logOut, c.LogFormat, c.LogLevel)
	tel, err := startTelemetry(ctx, log, logOut) // stdout is the view
	if err != nil {
		return nil, err
	}
	defer stopTelemetry(tel, log)
	start := time.Now().UTC().Truncate(time.Millisecond)
	gen, err := journeys.New(journeys.Config{Seed: c.Seed, Leads: c.Leads, Endless: true, Start: start})
	if err != nil {
		return nil, err
	}
	clock := newSimClock(start, c.Speedup)
	counts := newDemoCounts()
	r, err := c.start(ctx, eng, clock, counts, tel, log)
	if err != nil {
		return nil, err
	}
	defer r.close()

	d := &demo{
		demoStats: demoStats{ByTopic: map[string]int64{}, Into: map[string]int64{}, Moves: map[string]int64{},
			Stages: map[string]int{}, SimFrom: start.UnixMilli(), KafkaAddr: r.kafkaAddr, HTTPAddr: r.httpAddr},
		eng: eng, source: source, cfg: c, rig: r, counts: counts, sent: &produced{}, clock: clock,
		stage: map[string]string{}, lastID: map[string]string{}, began: time.Now(),
	}
	changes, stopView, err := watchStageChanges(ctx, r.kafkaAddr, log)
	if err != nil {
		return nil, err
	}
	defer stopView()
	prod, err := newProducer([]string{r.kafkaAddr}, tel, log)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	d.pace = &pacer{gen: gen, clock: clock, speedup: c.Speedup, rate: c.Rate, emit: d.sent.emitter(prod)}
	gctx, stopGen := context.WithCancel(ctx)
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		d.pace.run(gctx)
	}()

	v := &demoView{out: out, tty: tty, d: d}
	v.start()
	d.loop(ctx, genDone, changes, v)

	// Shutdown is a sequence: stop generating, let the processor finish what
	// was produced (graceful stop), collect the last stage changes, then stop.
	stopGen()
	<-genDone
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := prod.Flush(fctx); err != nil {
		log.Warn("generator: flushing", "err", err)
	}
	cancel()
	d.catchUp(5 * time.Second)
	r.stopProcessor()
	d.drain(changes, time.Second)
	d.settle(time.Now())
	v.draw()
	v.stop()
	d.summary(out)
	return &d.demoStats, nil
}

// loop applies stage changes as they come and redraws every refresh, until
// ctx ends or the generator stops on its own.
func (d *demo) loop(ctx context.Context, genDone <-chan struct{}, changes <-chan output.StageChange, v *demoView) {
	tick := time.NewTicker(d.cfg.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-genDone:
			if n, ok := d.pace.note.Load().(string); ok {
				d.note = n
			}
			return
		case sc := <-changes:
			d.apply(&sc)
		case now := <-tick.C:
			d.settle(now)
			v.draw()
		}
	}
}

// catchUp waits, at most max, until the processor has consumed every record the
// generator produced.
func (d *demo) catchUp(max time.Duration) {
	deadline := time.Now().Add(max)
	for d.counts.total.Load() < d.sent.total() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// drain applies the stage changes that arrive within quiet of each other.
func (d *demo) drain(changes <-chan output.StageChange, quiet time.Duration) {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case sc := <-changes:
			d.apply(&sc)
			t.Reset(quiet)
		case <-t.C:
			return
		}
	}
}

// watchStageChanges consumes the stage-change topic from its start (as an
// outside consumer would) and sends every change on the returned channel.
func watchStageChanges(ctx context.Context, kafkaAddr string, log *slog.Logger) (<-chan output.StageChange, func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ClientID("leadscore-demo-view"),
		kgo.ConsumeTopics(demoTopics.StageChanges), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.WithLogger(franzgo.NewLogger(log)))
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: view consumer: %w", err)
	}
	ch := make(chan output.StageChange, 256)
	vctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for vctx.Err() == nil {
			fs := cl.PollFetches(vctx)
			fs.EachRecord(func(r *kgo.Record) {
				var sc output.StageChange
				if err := json.Unmarshal(r.Value, &sc); err != nil {
					log.Warn("view: undecodable stage change", "offset", r.Offset, "err", err)
					return
				}
				select {
				case ch <- sc:
				case <-vctx.Done():
				}
			})
		}
	}()
	return ch, func() {
		cancel()
		<-done
		cl.Close()
	}, nil
}

// apply counts one stage change read from the topic.
func (d *demo) apply(sc *output.StageChange) {
	if d.lastID[sc.LeadID] == sc.ID {
		return // re-emitted (outbox after a retry): already counted
	}
	d.lastID[sc.LeadID] = sc.ID
	d.Into[sc.To]++
	d.Moves[sc.From+" → "+sc.To]++
	d.stage[sc.LeadID] = sc.To
	// A lead that absorbed others (identity stitching) replaces them.
	for _, k := range identityKeys(sc.Identities) {
		if k != sc.LeadID {
			if _, ok := d.stage[k]; ok {
				delete(d.stage, k)
				delete(d.lastID, k)
			}
		}
	}
	down := sc.Direction == "down"
	if sc.To != "sql" && sc.To != "sal" && !down {
		return
	}
	at, _ := time.Parse(time.RFC3339Nano, sc.EventTime)
	h := handoff{at: at.UnixMilli(), lead: sc.LeadID, from: sc.From, to: sc.To, cause: causeText(sc.Cause),
		score: sc.Score, fit: sc.Fit, grade: sc.Grade, down: down}
	if down {
		d.downs = keepLast(d.downs, h, downsShown)
		d.freshDowns++
	} else {
		d.ups = keepLast(d.ups, h, upsShown)
		d.freshUps++
	}
}

func identityKeys(ids output.Identities) []string {
	var ks []string
	if ids.UserID != "" {
		ks = append(ks, scoring.PrefixUser+ids.UserID)
	}
	for _, e := range ids.Emails {
		ks = append(ks, scoring.PrefixEmail+e)
	}
	for _, a := range ids.AnonymousIDs {
		ks = append(ks, scoring.PrefixAnon+a)
	}
	return ks
}

// settle refreshes the counts for a draw at wall-clock time now.
func (d *demo) settle(now time.Time) {
	d.Wall = now.Sub(d.began)
	d.SimTo = d.clock.ms.Load()
	d.Produced = d.sent.total()
	d.Consumed = d.counts.total.Load()
	d.Duplicates = d.counts.outcome("duplicate")
	d.Ignored = d.counts.outcome("ignored")
	d.DeadLetter = d.counts.dead.Load()
	for _, t := range demoTopics.Inputs() {
		d.ByTopic[t] = d.counts.topic(t)
	}
	d.People = d.pace.people.Load()
	clear(d.Stages)
	moved := 0
	for _, s := range d.stage {
		d.Stages[s]++
		moved++
	}
	// Leads that never changed stage are still in the first stage: every
	// simulated person is one lead once identities are stitched (an estimate:
	// some identities are never tied together).
	first := d.eng.Model().Stages[0].Name
	d.Stages[first] += max(int(d.People)-moved, 0)
}

// keepLast appends h to list, keeping the last n.
func keepLast(list []handoff, h handoff, n int) []handoff {
	if len(list) == n {
		copy(list, list[1:])
		list = list[:n-1]
	}
	return append(list, h)
}

// latest returns the last n of list with the last m of other, newest first (by
// event time).
func latest(list []handoff, n int, other []handoff, m int) []handoff {
	out := append([]handoff(nil), list[max(len(list)-n, 0):]...)
	out = append(out, other[max(len(other)-m, 0):]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].at > out[j].at })
	return out
}

// causeText renders a stage change's cause compactly: "trigger demo_request",
// "feedback rejected (no_budget)", "decay", "inactivity inactive_90d".
func causeText(c output.Cause) string {
	s := c.Kind
	switch {
	case c.Kind == "feedback":
		s += " " + c.Feedback
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
	case c.Kind == "merge":
		s += " of " + c.Rule
	case c.Rule != "":
		s += " " + c.Rule
	}
	return s
}

// summary prints the final counts.
func (d *demo) summary(out io.Writer) {
	var b strings.Builder
	secs := math.Max(d.Wall.Seconds(), 1e-9)
	fmt.Fprintf(&b, "\nsummary: %s of wall-clock time; simulated %s → %s (%s)\n", d.Wall.Round(100*time.Millisecond),
		simDay(d.SimFrom), simDay(d.SimTo), simSpan(d.SimTo-d.SimFrom))
	if d.note != "" {
		fmt.Fprintf(&b, "stopped: %s\n", d.note)
	}
	fmt.Fprintf(&b, "events: %d produced, %d consumed (%.0f/s) — web %d, email %d, feedback %d; duplicates %d; ignored %d; dead letters %d\n",
		d.Produced, d.Consumed, float64(d.Consumed)/secs, d.ByTopic[demoTopics.Web], d.ByTopic[demoTopics.Email],
		d.ByTopic[demoTopics.Feedback], d.Duplicates, d.Ignored, d.DeadLetter)
	if n := d.sent.failed.Load(); n > 0 {
		fmt.Fprintf(&b, "produce failures: %d (last: %v)\n", n, d.sent.lastErr.Load())
	}
	total := 0
	for _, n := range d.Stages {
		total += n
	}
	fmt.Fprintf(&b, "leads by stage (%d people):", d.People)
	for _, s := range d.eng.Model().Stages {
		fmt.Fprintf(&b, " %s %d", s.Name, d.Stages[s.Name])
	}
	var moves int64
	keys := make([]string, 0, len(d.Moves))
	for k, n := range d.Moves {
		keys = append(keys, k)
		moves += n
	}
	sort.Slice(keys, func(i, j int) bool {
		if d.Moves[keys[i]] != d.Moves[keys[j]] {
			return d.Moves[keys[i]] > d.Moves[keys[j]]
		}
		return keys[i] < keys[j]
	})
	fmt.Fprintf(&b, "\nstage changes (%d, from the %s topic):\n", moves, demoTopics.StageChanges)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-28s %7d\n", k, d.Moves[k])
	}
	io.WriteString(out, b.String())
}

func simDay(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02") }

func simSpan(ms int64) string {
	days := float64(ms) / float64(24*time.Hour/time.Millisecond)
	if days < 2 {
		return fmt.Sprintf("%.1f h", days*24)
	}
	return fmt.Sprintf("%.0f days", days)
}

// ---------------------------------------------------------------------------
// The view

// demoView draws the demo: a redrawn screen on a terminal, plain lines elsewhere.
type demoView struct {
	out       io.Writer
	tty       bool
	d         *demo
	lastDraw  time.Time
	lastCount int64
	// size returns the terminal's columns and rows (0: unknown, no
	// clipping); default termSize(out).
	size func() (cols, rows int)
	// tried is set once the plain view has printed a lead id to try.
	tried bool
}

// where lists the addresses outside clients can use.
func (v *demoView) where() []string {
	d := v.d
	r := d.rig
	kafka := "kafka " + r.kafkaAddr
	if r.kafkaNote != "" {
		kafka += " (" + r.kafkaNote + ")"
	}
	kafka += fmt.Sprintf(" — in: %s, %s, %s; out: %s, %s", demoTopics.Web, demoTopics.Email, demoTopics.Feedback,
		demoTopics.StageChanges, demoTopics.DeadLetter)
	var lines []string
	if r.consoleURL != "" {
		lines = append(lines, "console "+r.consoleURL)
	}
	lines = append(lines, kafka, "redis "+r.redisDesc)
	if r.httpAddr != "" {
		h := "api http://" + r.httpAddr + "/v1/leads?stage=sql · /metrics · /readyz"
		if id := d.tryID(); id != "" {
			h = "api http://" + r.httpAddr + "/v1/leads/" + id + " · /v1/leads?stage=sql · /metrics · /readyz"
		}
		if r.httpNote != "" {
			h += " (" + r.httpNote + ")"
		}
		lines = append(lines, h)
	}
	return lines
}

func (v *demoView) start() {
	d := v.d
	v.lastDraw = time.Now()
	if v.tty {
		io.WriteString(v.out, "\x1b[?25l\x1b[H\x1b[2J") // hide the cursor, clear the screen
		return
	}
	if d.rig.consoleURL != "" { // first thing: where to look
		fmt.Fprintf(v.out, "leadscore demo: open the console at %s\n", d.rig.consoleURL)
	}
	fmt.Fprintf(v.out, "leadscore demo: model %s from %s; seed %d, %d leads a year, at most %g events/s, %s of simulated time per second\n",
		d.eng.Model().Version, d.source, d.cfg.Seed, d.cfg.Leads, d.cfg.Rate, simSpan(int64(d.cfg.Speedup*1000)))
	for _, l := range v.where() {
		fmt.Fprintf(v.out, "  %s\n", l)
	}
}

func (v *demoView) stop() {
	if v.tty {
		io.WriteString(v.out, "\x1b[?25h") // show the cursor again
	}
}

// rate returns the events consumed per second since the previous draw.
func (v *demoView) rate() float64 {
	now := time.Now()
	dt := now.Sub(v.lastDraw).Seconds()
	n := v.d.Consumed - v.lastCount
	v.lastDraw, v.lastCount = now, v.d.Consumed
	if dt <= 0 {
		return 0
	}
	return float64(n) / dt
}

func (v *demoView) draw() {
	if v.tty {
		v.screen()
	} else {
		v.line()
	}
}

// line prints one plain status line, then the handoffs since the previous one (at
// most three).
func (v *demoView) line() {
	d := v.d
	var b strings.Builder
	if id := d.tryID(); id != "" && !v.tried && d.rig != nil && d.rig.httpAddr != "" {
		v.tried = true
		fmt.Fprintf(&b, "  try: curl -s http://%s/v1/leads/%s\n", d.rig.httpAddr, id)
	}
	fmt.Fprintf(&b, "[%6.1fs] sim %s  events %d (%.0f/s)  dup %d  ignored %d |", d.Wall.Seconds(),
		time.UnixMilli(d.SimTo).UTC().Format("2006-01-02 15:04"), d.Consumed, v.rate(), d.Duplicates, d.Ignored)
	for _, s := range d.eng.Model().Stages {
		fmt.Fprintf(&b, " %s %d", s.Name, d.Stages[s.Name])
	}
	b.WriteString("\n")
	for _, h := range latest(d.ups, min(d.freshUps, 2), d.downs, min(d.freshDowns, 1)) {
		b.WriteString("    " + h.String() + "\n")
	}
	d.freshUps, d.freshDowns = 0, 0
	io.WriteString(v.out, b.String())
}

// screen redraws the terminal: header, funnel bars, totals and latest handoffs.
func (v *demoView) screen() {
	d := v.d
	const (
		clearEOL = "\x1b[K"
		bold     = "\x1b[1m"
		dim      = "\x1b[2m"
		reset    = "\x1b[0m"
	)
	var lines []string
	ln := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	ln("%sleadscore demo%s — model %s (%s) — seed %d", bold, reset, d.eng.Model().Version, d.source, d.cfg.Seed)
	ln("%ssimulated %s · %s per second · wall %s · Ctrl-C to stop%s", dim,
		time.UnixMilli(d.SimTo).UTC().Format("Mon 2006-01-02 15:04"), simSpan(int64(d.cfg.Speedup*1000)),
		d.Wall.Round(time.Second), reset)
	for _, l := range v.where() {
		ln("%s%s%s", dim, l, reset)
	}
	ln("")
	ln("%sevents%s %d  (%.0f/s)   web %d · email %d · feedback %d   (produced %d)", bold, reset, d.Consumed, v.rate(),
		d.ByTopic[demoTopics.Web], d.ByTopic[demoTopics.Email], d.ByTopic[demoTopics.Feedback], d.Produced)
	ln("duplicates %d · ignored (bots, machine opens, …) %d · dead letters %d", d.Duplicates, d.Ignored, d.DeadLetter)
	ln("")
	ln("%sfunnel%s %s(leads per stage)%s", bold, reset, dim, reset)
	peak := 1
	for _, n := range d.Stages {
		peak = max(peak, n)
	}
	for _, s := range d.eng.Model().Stages {
		n := d.Stages[s.Name]
		ln("  %-13s %6d %s", s.Name, n, bar(n, peak, 48))
	}
	ln("")
	ln("%slatest handoffs%s %s(→ sql, → sal, regressions ↓)%s", bold, reset, dim, reset)
	shown := latest(d.ups, upsShown, d.downs, downsShown)
	for _, h := range shown {
		ln("  %s", h.String())
	}
	for i := len(shown); i < upsShown+downsShown; i++ {
		ln("")
	}
	// The frame must fit the terminal: a line wider than it wraps, a frame
	// taller than it scrolls, and either way the next frame, drawn from the
	// top, leaves parts of the previous one (its header twice, under tmux).
	// Lines are clipped to the width and the frame to the height less one
	// (the last line's newline must not scroll).
	size := v.size
	if size == nil {
		size = func() (int, int) { return termSize(v.out) }
	}
	cols, rows := size()
	if rows > 1 && len(lines) > rows-1 {
		lines = lines[:rows-1]
	}
	var b strings.Builder
	b.WriteString("\x1b[H")
	for _, l := range lines {
		b.WriteString(clip(l, cols) + reset + clearEOL + "\n")
	}
	b.WriteString("\x1b[J")
	io.WriteString(v.out, b.String())
}

// clip cuts s to at most cols visible columns (cols ≤ 0: no limit), ANSI
// escape sequences taking none. Every rune of the view is one column wide.
func clip(s string, cols int) string {
	if cols <= 0 {
		return s
	}
	n, esc := 0, false
	for i, r := range s {
		switch {
		case esc:
			esc = !(r >= '@' && r <= '~' && r != '[')
		case r == '\x1b':
			esc = true
		default:
			if n == cols {
				return s[:i]
			}
			n++
		}
	}
	return s
}

// tryID returns a lead id the API can answer for (the lead of the latest
// handoff, else any lead seen), or "" before there is one.
func (d *demo) tryID() string {
	if len(d.ups) > 0 {
		return d.ups[len(d.ups)-1].lead
	}
	best := ""
	for id := range d.stage {
		if strings.HasPrefix(id, scoring.PrefixUser) && (best == "" || id < best) {
			best = id
		}
	}
	return best
}

func (h handoff) String() string {
	arrow := "→"
	if h.down {
		arrow = "↓"
	}
	grade := ""
	if h.grade != "" {
		grade = " " + h.grade
	}
	lead := h.lead
	if len(lead) > 18 { // anonymous ids are long
		lead = lead[:17] + "…"
	}
	return fmt.Sprintf("%s  %-18s %-11s %s %-11s %-32s score %6.1f  fit %3.0f%s",
		time.UnixMilli(h.at).UTC().Format("2006-01-02 15:04"), lead, h.from, arrow, h.to, h.cause, h.score, h.fit, grade)
}

// bar draws n to scale, peak filling width cells, with eighth-cell precision; any
// n > 0 shows at least a sliver.
func bar(n, peak, width int) string {
	if n <= 0 || peak <= 0 {
		return ""
	}
	eighths := int(math.Round(float64(n) / float64(peak) * float64(width*8)))
	eighths = max(eighths, 1)
	var b strings.Builder
	b.WriteString(strings.Repeat("█", eighths/8))
	if r := eighths % 8; r > 0 {
		b.WriteString([]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}[r])
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// --generate-only

// generateOnly produces the journeys to --brokers at --rate until ctx ends,
// printing a line per refresh and a summary; it does nothing else.
func (c *demoCmd) generateOnly(ctx context.Context, out, logOut io.Writer) (*produced, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	log := newLogger(logOut, c.LogFormat, c.LogLevel)
	tel, err := startTelemetry(ctx, log, logOut) // stdout is the view
	if err != nil {
		return nil, err
	}
	defer stopTelemetry(tel, log)
	start := time.Now().UTC().Truncate(time.Millisecond)
	gen, err := journeys.New(journeys.Config{Seed: c.Seed, Leads: c.Leads, Endless: true, Start: start})
	if err != nil {
		return nil, err
	}
	prod, err := newProducer(c.Brokers, tel, log)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	sent := &produced{}
	clock := newSimClock(start, c.Speedup)
	p := &pacer{gen: gen, clock: clock, speedup: c.Speedup, rate: c.Rate, emit: sent.emitter(prod)}
	fmt.Fprintf(out, "leadscore demo --generate-only: seed %d, %d leads a year, at most %g events/s, %s of simulated time per second, to %s (%s, %s, %s)\n",
		c.Seed, c.Leads, c.Rate, simSpan(int64(c.Speedup*1000)), strings.Join(c.Brokers, ","),
		demoTopics.Web, demoTopics.Email, demoTopics.Feedback)
	began := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	tick := time.NewTicker(c.Refresh)
	defer tick.Stop()
	line := func() {
		fmt.Fprintf(out, "[%6.1fs] sim %s  produced %d — web %d · email %d · feedback %d · failed %d\n",
			time.Since(began).Seconds(), clock.Now().UTC().Format("2006-01-02 15:04"), sent.total(),
			sent.web.Load(), sent.email.Load(), sent.feedback.Load(), sent.failed.Load())
	}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			line()
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		log.Warn("generator: flushing", "err", err)
	}
	line()
	if n, ok := p.note.Load().(string); ok {
		fmt.Fprintf(out, "stopped: %s\n", n)
	}
	secs := math.Max(time.Since(began).Seconds(), 1e-9)
	fmt.Fprintf(out, "summary: produced %d records (%.0f/s) in %s; %d failed%s\n", sent.total(), float64(sent.total())/secs,
		time.Since(began).Round(100*time.Millisecond), sent.failed.Load(), lastErrText(sent))
	return sent, nil
}

func lastErrText(p *produced) string {
	if err, ok := p.lastErr.Load().(error); ok {
		return " (last: " + err.Error() + ")"
	}
	return ""
}
