package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/cputime"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// worker is one scenario's consumer: it runs until its context is cancelled.
type worker interface {
	run(ctx context.Context) error
}

// scenarioEnv is what every scenario shares.
type scenarioEnv struct {
	cfg       *Config
	cluster   *cluster
	rdb       redis.UniversalClient
	redisAddr string
	eng       *scoring.Engine // the first model, which the naive design runs
	models    *scoring.Set    // what the leadscore scenarios run (nil: eng alone)
	clock     func() time.Time
	people    int64
	runID     string
	gokaBin   string // the goka scenario's executable
	rulesFile string // the rules in a file, for the goka process
}

// ScenarioResult is one scenario's measurements.
type ScenarioResult struct {
	Name string `json:"name"`
	// Models is how many models the scenario ran side by side: Config.Models
	// for the leadscore scenarios, 1 for the others (they run the first).
	Models int `json:"models"`
	// Events consumed in the throughput phase, in Seconds (from start to the last
	// commit), and their rate.
	Events       int     `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	// VsCeiling and VsNaive are EventsPerSec divided by those scenarios' (0 when
	// that scenario did not run).
	VsCeiling float64 `json:"vs_ceiling,omitempty"`
	VsNaive   float64 `json:"vs_naive,omitempty"`
	VsGoka    float64 `json:"vs_goka,omitempty"`
	// Outputs is how many records the scenario wrote to its stage-change topic in
	// the throughput phase (the ceiling: copies of every input); DeadLetters to its
	// dead-letter topic.
	Outputs     int64 `json:"outputs"`
	DeadLetters int64 `json:"dead_letters"`
	// Latency is measured at half of EventsPerSec (nil without a latency phase).
	Latency *Latency `json:"latency,omitempty"`
	// CPUPerMillion is this process's CPU seconds (broker, clients, processor,
	// harness) per million events in the throughput phase; RedisCPUPerMillion the
	// Redis server's.
	CPUPerMillion      float64 `json:"cpu_s_per_million"`
	RedisCPUPerMillion float64 `json:"redis_cpu_s_per_million"`
	// PeakRSS is the process's peak resident set during the scenario, bytes (it
	// includes the in-process broker's copy of the data and the harness's);
	// for a scenario run as a process of its own (goka), plus that process's.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// ProcessCPUPerMillion and ProcessPeakRSS are the part of CPUPerMillion
	// and PeakRSS due to a scenario run as a process of its own (goka).
	ProcessCPUPerMillion float64 `json:"process_cpu_s_per_million,omitempty"`
	ProcessPeakRSS       int64   `json:"process_peak_rss_bytes,omitempty"`
	// RedisBytesPerLead is Redis used_memory growth over the throughput phase
	// divided by the people of the history (each is one lead once stitched).
	RedisBytesPerLead float64 `json:"redis_bytes_per_lead"`
	// RedisCommandsPerEvent is Redis total_commands_processed growth per event.
	RedisCommandsPerEvent float64 `json:"redis_commands_per_event"`

	// Breakdown is where a leadscore scenario's throughput phase spent its time;
	// LatencyBreakdown the same for its latency phase, whose batches are small:
	// what an event waits for after its poll.
	Breakdown        *Breakdown `json:"breakdown,omitempty"`
	LatencyBreakdown *Breakdown `json:"latency_breakdown,omitempty"`

	ids map[string]change // by stage-change id, for Agreement
}

// change is one stage change as Agreement compares it.
type change struct {
	model string // its model's name ("" when the run has one model)
	desc  string // "lead from→to at time (cause)", to show a difference
}

// Agreement compares the stage changes of the naive design and leadscore on the
// same input, by deterministic id.
type Agreement struct {
	Scenario string `json:"scenario"`
	// Against is what the scenario is compared with: "naive", or "oracle"
	// (leadscore score on the same backlog, every lead left at its last
	// event: the bench's clock stands at the history's start, so no
	// time-driven change falls due live either).
	Against string `json:"against"`
	// Models is how many models' stage changes were compared: those both
	// sides ran (the first Models of the set).
	Models    int `json:"models"`
	Same      int `json:"same"`
	OnlyNaive int `json:"only_naive"` // only in what it is compared with
	OnlyThis  int `json:"only_this"`

	examples []string // the differences, described
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemoryMB   int64  `json:"memory_mb"`
	OS         string `json:"os"`
	Go         string `json:"go"`
	Redis      string `json:"redis"`
	Kafka      string `json:"kafka"`
}

// Setup describes the data and knobs of the run.
type Setup struct {
	Workload      string  `json:"workload"`
	Events        int     `json:"events"`
	LatencyEvents int     `json:"latency_events"`
	LatencyRate   float64 `json:"latency_rate,omitempty"` // fixed offered rate (0: half of each scenario's)
	People        int64   `json:"people"`
	AvgEventBytes float64 `json:"avg_event_bytes"`
	Partitions    int     `json:"partitions"`
	Lanes         int     `json:"lanes"`
	// Models is Config.Models: the models the leadscore scenarios run side
	// by side (the naive and goka scenarios run the first one).
	Models         int    `json:"models"`
	Seed           int64  `json:"seed"`
	MaxPollRecords int    `json:"max_poll_records,omitempty"`
	FetchMaxWait   string `json:"fetch_max_wait,omitempty"`
	ProducerLinger string `json:"producer_linger,omitempty"`
	OfferLinger    string `json:"offer_linger,omitempty"`
	Compression    string `json:"compression,omitempty"`
}

// Result is one run's measurements.
type Result struct {
	Started   time.Time        `json:"started"`
	Machine   Machine          `json:"machine"`
	Setup     Setup            `json:"setup"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Agreement []Agreement      `json:"agreement,omitempty"`
	Soak      *Soak            `json:"soak,omitempty"`
	Warnings  []string         `json:"warnings,omitempty"`
}

// Scenario returns the named scenario's result, or nil.
func (r *Result) Scenario(name string) *ScenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// Run runs the configured scenarios one after the other and returns their
// measurements. It starts a kfake broker unless Config.Brokers is set, and an
// embedded miniredis only if Config.AllowMiniredis and no Redis is given (with a
// warning in the Result). Cancelling ctx aborts the run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	res := &Result{Started: time.Now().UTC(), Machine: machine()}
	ms, err := loadModels(cfg.Rules, cfg.Models)
	if err != nil {
		return nil, err
	}
	latencyEvents := cfg.LatencyEvents
	if cfg.LatencyDuration < 0 {
		latencyEvents = 0
	}
	log.Info("generating the history", "workload", cfg.Workload, "events", cfg.Events, "latency_events", latencyEvents, "leads", cfg.Leads)
	data, err := generate(cfg.Workload, cfg.Seed, cfg.Leads, cfg.Events, latencyEvents)
	if err != nil {
		return nil, err
	}
	res.Setup = Setup{Workload: cfg.Workload, Events: cfg.Events, LatencyEvents: latencyEvents, LatencyRate: cfg.LatencyRate, People: data.people,
		AvgEventBytes: float64(data.bytes) / float64(cfg.Events), Partitions: cfg.Partitions, Lanes: cfg.Lanes, Models: cfg.Models, Seed: cfg.Seed,
		MaxPollRecords: cfg.MaxPollRecords, Compression: cfg.Compression}
	if cfg.FetchMaxWait > 0 {
		res.Setup.FetchMaxWait = cfg.FetchMaxWait.String()
	}
	if cfg.ProducerLinger > 0 {
		res.Setup.ProducerLinger = cfg.ProducerLinger.String()
	}
	if cfg.OfferLinger > 0 {
		res.Setup.OfferLinger = cfg.OfferLinger.String()
	}

	cl, err := openCluster(cfg.Brokers, cfg.OfferLinger)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	res.Machine.Kafka = "outside brokers " + fmt.Sprint(cfg.Brokers)
	if cl.fake != nil {
		res.Machine.Kafka = "kfake, in process"
	}
	addr := cfg.RedisAddr
	if addr == "" && (cfg.wants(Naive) || cfg.wants(FranzGo) || cfg.wants(FranzGoUncached) || cfg.wants(FranzGoAckWrite) || cfg.wants(FranzGoSpread) || cfg.wants(KafkaGo)) {
		mr, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("bench: miniredis: %w", err)
		}
		defer mr.Close()
		addr = mr.Addr()
		res.Warnings = append(res.Warnings, "Redis scenarios ran on an embedded miniredis: not a meaningful benchmark (pass a real Redis)")
	}
	var rdb redis.UniversalClient
	if addr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("bench: redis at %s: %w", addr, err)
		}
		if st := readRedisStats(ctx, rdb); st.version != "" {
			res.Machine.Redis = "redis " + st.version + " at " + addr
			for _, a := range state.Advice(ctx, rdb) {
				res.Warnings = append(res.Warnings, "Redis memory and speed figures are for a server set up otherwise than docs/state.md advises: "+a)
			}
		} else {
			res.Machine.Redis = "miniredis at " + addr
		}
	} else {
		res.Machine.Redis = "none"
	}
	var gokaBin, rulesFile string
	if cfg.wants(Goka) {
		var warn string
		var cleanup func()
		gokaBin, rulesFile, cleanup, warn = prepareGoka(ctx, &cfg, ms.first)
		defer cleanup()
		if warn != "" {
			log.Warn(warn)
			res.Warnings = append(res.Warnings, warn)
		}
	}
	// The processing clock stands at the history's start and moves with the wall
	// clock: timer sweeps run every tick as in production, but no time-driven
	// change falls due (the naive design has none to compare with).
	t0 := time.Now()
	env := &scenarioEnv{cfg: &cfg, cluster: cl, rdb: rdb, redisAddr: addr, eng: ms.set.Engines()[0], models: ms.set, people: data.people,
		clock: func() time.Time { return data.start.Add(time.Since(t0)) },
		runID: strconv.FormatInt(time.Now().UnixNano()%1e9, 36), gokaBin: gokaBin, rulesFile: rulesFile}

	for _, name := range Scenarios() {
		if !cfg.wants(name) || name == Goka && gokaBin == "" {
			continue
		}
		log.Info("scenario", "name", name)
		sr, err := runScenario(ctx, env, name, data)
		if err != nil {
			return res, fmt.Errorf("bench: %s: %w", name, err)
		}
		res.Scenarios = append(res.Scenarios, *sr)
		log.Info("scenario done", "name", name, "events_per_sec", int(sr.EventsPerSec), "outputs", sr.Outputs)
	}
	ceil, nv, gk := res.Scenario(Ceiling), res.Scenario(Naive), res.Scenario(Goka)
	var oracle map[string]change
	for i := range res.Scenarios {
		s := &res.Scenarios[i]
		if ceil != nil && ceil.EventsPerSec > 0 {
			s.VsCeiling = s.EventsPerSec / ceil.EventsPerSec
		}
		if nv != nil && nv.EventsPerSec > 0 {
			s.VsNaive = s.EventsPerSec / nv.EventsPerSec
		}
		if gk != nil && gk.EventsPerSec > 0 {
			s.VsGoka = s.EventsPerSec / gk.EventsPerSec
		}
		if s.Name == Naive || s.Name == Ceiling {
			continue
		}
		names := ms.set.Names()
		if nv != nil {
			res.Agreement = append(res.Agreement, agreement(s.Name, s.ids, Naive, nv.ids, names[:min(s.Models, nv.Models)]))
		}
		if oracle == nil {
			if oracle, err = oracleIDs(ms.set, data); err != nil {
				return res, err
			}
		}
		res.Agreement = append(res.Agreement, agreement(s.Name, s.ids, "oracle", oracle, names[:s.Models]))
	}
	if cfg.Soak > 0 {
		fg := res.Scenario(FranzGo)
		if fg == nil {
			return res, errors.New("bench: --soak needs the franz-go scenario (its measured rate sets the soak's)")
		}
		log.Info("soak", "duration", cfg.Soak, "rate", int(fg.EventsPerSec/2))
		soak, err := runSoak(ctx, env, fg.EventsPerSec/2)
		if err != nil {
			return res, err
		}
		res.Soak = soak
	}
	return res, nil
}

// prepareGoka builds the goka scenario's executable (or takes
// Config.GokaBinary) and writes the rules src (the first model's) to a file
// for it. It returns ""
// for the executable, and a warning, when there is none: the scenario is then
// skipped. cleanup removes what it made.
func prepareGoka(ctx context.Context, cfg *Config, src []byte) (bin, rulesFile string, cleanup func(), warning string) {
	cleanup = func() {}
	dir, err := os.MkdirTemp("", "leadscore-bench-goka-")
	if err != nil {
		return "", "", cleanup, "goka scenario skipped: " + err.Error()
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	rulesFile = filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, src, 0o600); err != nil {
		return "", "", cleanup, "goka scenario skipped: " + err.Error()
	}
	if cfg.GokaBinary != "" {
		return cfg.GokaBinary, rulesFile, cleanup, ""
	}
	gokaSrc, err := FindGokaSource(cfg.GokaDir)
	if err == nil {
		cfg.Logger.Info("building the goka scenario", "source", gokaSrc)
		b0 := time.Now()
		bin = filepath.Join(dir, "leadscore-goka")
		if err = BuildGoka(ctx, gokaSrc, bin); err == nil {
			cfg.Logger.Info("goka scenario built", "took", time.Since(b0).Round(time.Millisecond))
			return bin, rulesFile, cleanup, ""
		}
	}
	return "", "", cleanup, "goka scenario skipped: " + err.Error()
}

// agreement compares the stage changes of scenario name with those of
// other, of the given models only: a scenario running one model is compared
// on that model's changes alone, not counted as missing the others'.
func agreement(name string, ids map[string]change, other string, otherIDs map[string]change, models []string) Agreement {
	a := Agreement{Scenario: name, Against: other, Models: len(models)}
	for id, c := range ids {
		if !slices.Contains(models, c.model) {
			continue
		}
		if _, ok := otherIDs[id]; ok {
			a.Same++
		} else {
			a.OnlyThis++
			a.examples = append(a.examples, "only in "+name+": "+c.desc)
		}
	}
	for id, c := range otherIDs {
		if !slices.Contains(models, c.model) {
			continue
		}
		if _, ok := ids[id]; !ok {
			a.OnlyNaive++
			a.examples = append(a.examples, "only in "+other+": "+c.desc)
		}
	}
	slices.Sort(a.examples)
	return a
}

// changeOf reads a stage-change record for Agreement; false when it is not one.
func changeOf(value []byte) (string, change, bool) {
	var x struct {
		Type, ID, From, To string
		Model              string
		LeadID             string `json:"lead_id"`
		EventTime          string `json:"event_time"`
		Cause              struct{ Kind, Rule string }
	}
	if json.Unmarshal(value, &x) != nil || x.Type != "stage_change" {
		return "", change{}, false
	}
	desc := fmt.Sprintf("%s %s→%s at %s (%s %s)", x.LeadID, x.From, x.To, x.EventTime, x.Cause.Kind, x.Cause.Rule)
	if x.Model != "" {
		desc += " of model " + x.Model
	}
	return x.ID, change{model: x.Model, desc: desc}, true
}

// oracleIDs runs the offline oracle on the backlog, every lead left at its
// last event, and returns its stage changes by id.
func oracleIDs(set *scoring.Set, data *dataset) (map[string]change, error) {
	var in bytes.Buffer
	for _, r := range data.backlog() {
		in.Write(r.Value)
		in.WriteByte('\n')
	}
	ids := map[string]change{}
	var out bytes.Buffer
	if _, err := replay.ScoreLogSet(set, &in, &out, replay.LogOptions{NoAdvance: true}); err != nil {
		return nil, fmt.Errorf("bench: oracle: %w", err)
	}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("bench: oracle output: %w", err)
		}
		if id, c, ok := changeOf(raw); ok {
			ids[id] = c
		}
	}
	return ids, nil
}

func scenarioTopics(runID, name string) processor.Topics {
	p := "bench-" + runID + "-" + name + "."
	return processor.Topics{Web: p + "web", Email: p + "email", Feedback: p + "feedback",
		StageChanges: p + "stage-changes", DeadLetter: p + "dead-letter", AccountStageChanges: p + "account-stage-changes"}
}

func newWorker(ctx context.Context, env *scenarioEnv, name, group string, t processor.Topics, prefix string) (worker, error) {
	switch name {
	case Ceiling:
		return newCeiling(env, group, t)
	case Naive:
		return newNaive(env, group, t, prefix)
	case Goka:
		return newGoka(env, group, t)
	default:
		return newLeadscore(ctx, env, name, group, t, prefix)
	}
}

// started is a running worker.
type started struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run returned, err set
	err    error
}

func start(ctx context.Context, w worker) *started {
	wctx, cancel := context.WithCancel(ctx)
	s := &started{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = w.run(wctx)
	}()
	return s
}

// why adds the worker's own error to err when the worker has ended.
func (s *started) why(err error) error {
	select {
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("%w: %w", err, s.err)
		}
	default:
	}
	return err
}

func (s *started) stop() error {
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(60 * time.Second):
		return errors.New("the scenario did not stop within 60 s")
	}
}

func runScenario(ctx context.Context, env *scenarioEnv, name string, data *dataset) (_ *ScenarioResult, err error) {
	cl, cfg := env.cluster, env.cfg
	t := scenarioTopics(env.runID, name)
	group := "bench-" + env.runID + "-" + name
	prefix := "bench" + env.runID + name[:1]
	if err := cl.createTopics(ctx, t, cfg.Partitions, 0); err != nil {
		return nil, err
	}
	defer func() {
		cctx := context.WithoutCancel(ctx)
		cl.deleteTopics(cctx, t)
		if name == Goka {
			_, _ = cl.adm.DeleteTopics(cctx, gokaTable(group))
		}
		if env.rdb != nil && name != Ceiling && name != Goka {
			if derr := deletePrefix(cctx, env.rdb, prefix); derr != nil && err == nil {
				err = derr
			}
		}
	}()
	p0 := time.Now()
	if err := cl.produceAll(ctx, t, data.backlog()); err != nil {
		return nil, err
	}
	cfg.Logger.Info("backlog produced", "events", data.n, "took", time.Since(p0).Round(time.Millisecond))
	ends, err := cl.ends(ctx, t.Inputs()...)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	resetPeakRSS()
	w, err := newWorker(ctx, env, name, group, t, prefix)
	if err != nil {
		return nil, err
	}
	ext, _ := w.(external)
	processCPU := func() time.Duration {
		if ext == nil {
			return 0
		}
		return ext.cpu()
	}
	cpu := func() time.Duration { return cputime.Now() + processCPU() }
	var r0, r1 redisStats
	if env.rdb != nil {
		r0 = readRedisStats(ctx, env.rdb)
	}
	c0 := cpu()
	s0 := time.Now()
	run := start(ctx, w)
	stopped := false
	defer func() {
		if !stopped {
			_ = run.stop()
		}
	}()
	if err := cl.waitCommitted(ctx, group, ends, run.done); err != nil {
		return nil, run.why(err)
	}
	took := time.Since(s0)
	p1 := processCPU()
	c1 := cputime.Now() + p1
	if env.rdb != nil {
		r1 = readRedisStats(ctx, env.rdb)
	}
	n := data.n
	sr := &ScenarioResult{Name: name, Models: 1, Events: n, Seconds: took.Seconds(), EventsPerSec: float64(n) / took.Seconds(),
		CPUPerMillion: (c1 - c0).Seconds() * 1e6 / float64(n)}
	if ext != nil {
		sr.ProcessCPUPerMillion = p1.Seconds() * 1e6 / float64(n) // the process started after c0
	}
	if r0.ok && r1.ok && name != Ceiling && name != Goka {
		sr.RedisCPUPerMillion = (r1.cpu - r0.cpu) * 1e6 / float64(n)
		sr.RedisCommandsPerEvent = float64(r1.commands-r0.commands) / float64(n)
		sr.RedisBytesPerLead = float64(r1.memory-r0.memory) / float64(max(env.people, 1))
	}
	if lw, ok := w.(*leadscoreWorker); ok {
		sr.Models = env.models.Len()
		lw.obs.await(ctx, n, 2*time.Second)
		b := lw.obs.take()
		sr.Breakdown = &b
	}
	if sr.Outputs, err = cl.countRecords(ctx, t.StageChanges); err != nil {
		return nil, err
	}
	if sr.DeadLetters, err = cl.countRecords(ctx, t.DeadLetter); err != nil {
		return nil, err
	}
	if name != Ceiling { // the throughput phase's stage changes, for Agreement
		sr.ids = map[string]change{}
		if err := cl.readAll(ctx, t.StageChanges, func(r *kgo.Record) {
			if id, c, ok := changeOf(r.Value); ok {
				sr.ids[id] = c
			}
		}); err != nil {
			return nil, err
		}
	}
	if cfg.LatencyDuration > 0 && len(data.latency()) > 0 {
		rate := sr.EventsPerSec / 2
		if cfg.LatencyRate > 0 {
			rate = cfg.LatencyRate
		}
		lat, err := runLatency(ctx, env, t, group, data, rate, run.done, cpu)
		if err != nil {
			return nil, run.why(err)
		}
		sr.Latency = lat
		if lw, ok := w.(*leadscoreWorker); ok {
			b := lw.obs.take()
			sr.LatencyBreakdown = &b
		}
	}
	sr.PeakRSS = peakRSS()
	if ext != nil {
		sr.ProcessPeakRSS = ext.peakRSS()
		sr.PeakRSS += sr.ProcessPeakRSS
	}
	stopped = true
	if err := run.stop(); err != nil {
		return nil, err
	}
	return sr, nil
}

// runLatency feeds the latency records at rate events/s for at most
// Config.LatencyDuration and times each output from its event's produce.
// cpu is the CPU time used so far by the harness and the scenario's own
// process.
func runLatency(ctx context.Context, env *scenarioEnv, t processor.Topics, group string, data *dataset, rate float64, failed <-chan struct{},
	cpu func() time.Duration) (*Latency, error) {
	cl := env.cluster
	recs := data.latency()
	n := min(len(recs), max(1, int(rate*env.cfg.LatencyDuration.Seconds())))
	lat := &Latency{OfferedRate: rate, Events: n}
	sent := make([]atomic.Int64, n)
	outEnds, err := cl.ends(ctx, t.StageChanges)
	if err != nil {
		return nil, err
	}
	from := map[string]map[int32]kgo.Offset{t.StageChanges: {}}
	outEnds.Each(func(o kadm.ListedOffset) { from[t.StageChanges][o.Partition] = kgo.NewOffset().At(o.Offset) })
	live, err := cl.newLive()
	if err != nil {
		return nil, err
	}
	defer live.Close()
	reader, err := kgo.NewClient(kgo.SeedBrokers(cl.brokers...), kgo.ConsumePartitions(from), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("bench: output reader: %w", err)
	}
	rctx, stopReader := context.WithCancel(ctx)
	var samples []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer reader.Close()
		for rctx.Err() == nil {
			fs := reader.PollFetches(rctx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				i := outputSeq(r, data) - data.n
				if i < 0 || i >= n {
					return
				}
				if s := sent[i].Load(); s > 0 {
					samples = append(samples, now.Sub(time.Unix(0, s)))
				}
			})
		}
	}()
	c0 := cpu()
	p0 := time.Now()
	for i := 0; i < n; {
		due := min(n, int(rate*time.Since(p0).Seconds())+1)
		for ; i < due; i++ {
			r := &recs[i]
			rec := &kgo.Record{Topic: topicOf(t, r.Topic), Key: r.Key, Value: r.Value,
				Headers: []kgo.RecordHeader{{Key: seqHeader, Value: strconv.AppendInt(nil, int64(data.n+i), 10)}}}
			sent[i].Store(time.Now().UnixNano())
			live.Produce(ctx, rec, nil)
		}
		if i < n {
			time.Sleep(time.Until(p0.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
	}
	if err := live.Flush(ctx); err != nil {
		stopReader()
		wg.Wait()
		return nil, fmt.Errorf("bench: producing the latency phase: %w", err)
	}
	ends, err := cl.ends(ctx, t.Inputs()...)
	if err != nil {
		stopReader()
		wg.Wait()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	lat.Kept = cl.waitCommitted(wctx, group, ends, failed) == nil
	cancel()
	if !lat.Kept {
		wctx, cancel := context.WithTimeout(ctx, 2*env.cfg.LatencyDuration+30*time.Second)
		err = cl.waitCommitted(wctx, group, ends, failed)
		cancel()
		if err != nil {
			stopReader()
			wg.Wait()
			return nil, err
		}
	}
	lat.CPUPerMillion = (cpu() - c0).Seconds() * 1e6 / float64(n)
	time.Sleep(300 * time.Millisecond) // outputs are produced before the commit; let the reader see the last
	stopReader()
	wg.Wait()
	summarise(lat, samples)
	return lat, nil
}

// outputSeq finds the dataset index of the event an output record stems from:
// the ceiling's copies carry the input's header; stage changes name their
// trigger event. -1 when unknown.
func outputSeq(r *kgo.Record, data *dataset) int {
	for _, h := range r.Headers {
		if h.Key == seqHeader {
			i, err := strconv.Atoi(string(h.Value))
			if err == nil {
				return i
			}
		}
	}
	const k = `"trigger_event_id":"`
	j := bytes.Index(r.Value, []byte(k))
	if j < 0 {
		return -1
	}
	rest := r.Value[j+len(k):]
	e := bytes.IndexByte(rest, '"')
	if e < 0 {
		return -1
	}
	if i, ok := data.seqOf[string(rest[:e])]; ok {
		return int(i)
	}
	return -1
}
