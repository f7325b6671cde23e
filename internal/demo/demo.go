// Package demo is `leadscore demo`: the whole pipeline in one process, on
// simulated visitor journeys, drawn live in the terminal.
//
// Run starts an in-process Kafka broker (kfake), an embedded Redis (miniredis;
// or a real one), the journey generator producing to the input topics, the
// real processor (franz-go client) and the HTTP API with the web console, and
// draws the funnel from the stage-change topic. Time is simulated: the
// generator plays journeys from the wall-clock time of the start at up to
// Config.Speedup, and the processor's clock follows the generator's (see
// docs/demo.md). With Config.GenerateOnly it only produces the journeys to an
// outside Kafka.
//
// The package's files each do one job: clock.go the simulated clock, pacer.go
// the pacing of the generator, producer.go producing its records, observers.go
// counting what the processor does, embedded.go the embedded broker, Redis,
// processor and API, funnel.go the funnel model read back from the
// stage-change topic, view.go the terminal view, summary.go the final summary,
// generate.go --generate-only, and demo.go the configuration and the run.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	examplerules "github.com/leadscore/leadscore/examples/rules"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// DefaultRules is the rules file the demo plays by default: the B2B model
// with accounts (the journeys' people work for companies). When it is not
// found from the working directory, the copy embedded in the binary is
// played (examplerules).
const DefaultRules = "examples/rules/b2b-abm.yaml"

// DefaultSecondRules is the model the demo plays beside DefaultRules when no
// rules are given, to show several models side by side: the textbook funnel
// scores the same journeys with the marketing articles' numbers (from the
// embedded copy when not found from the working directory).
const DefaultSecondRules = "examples/rules/textbook-funnel.yaml"

// Config is what the demo plays and where. Its errors name the `leadscore
// demo` flags that set each field.
type Config struct {
	// Rate is the most events produced per second.
	Rate float64
	// Leads is the number of simulated people arriving per year of simulated
	// time.
	Leads int
	// Seed makes the simulated history: the same seed plays the same journeys.
	Seed int64
	// Duration stops the demo after this long (0: only when ctx ends). The
	// summary is printed either way.
	Duration time.Duration
	// Rules are the rules files (YAML) of the models the demo plays side by
	// side; none: DefaultRules and DefaultSecondRules. DefaultRules not found
	// is replaced by the copy embedded in the binary.
	Rules []string
	// Speedup is the most simulated seconds per wall-clock second (Rate slows
	// the clock when events are dense).
	Speedup float64
	// Refresh is how often the view is refreshed.
	Refresh time.Duration
	// Plain prints plain periodic lines instead of redrawing the terminal; they
	// are printed anyway when the output is not a terminal.
	Plain bool
	// KafkaAddr is where the embedded Kafka broker listens, for outside
	// clients; another free port is used when it is taken.
	KafkaAddr string
	// RedisAddr is a real Redis (host:port) to use instead of the embedded
	// one; each run writes under its own key prefix.
	RedisAddr string
	// Partitions is the number of partitions of each demo topic.
	Partitions int32
	// HTTPAddr is where the HTTP API listens ("": no API); another free port is
	// used when it is taken.
	HTTPAddr string
	// HTTPToken is the bearer token the API requires on /v1 ("": none).
	HTTPToken string
	// Console serves the web console beside the API.
	Console bool
	// GenerateOnly only produces the journeys to the Kafka of Brokers at Rate:
	// no broker, Redis, processor or view.
	GenerateOnly bool
	// Brokers are the Kafka seed brokers of GenerateOnly, host:port.
	Brokers []string
	// LogFormat (json or text) and LogLevel (debug, info, warn or error)
	// configure the logs.
	LogFormat, LogLevel string
	// Version is the build's version, reported by the processor and the
	// telemetry.
	Version string
	// RulesSummary summarises the models of the rules files for the web
	// console, as `leadscore rules check` does (nil: no summary).
	RulesSummary func(files []string, models func() *scoring.Set) func() string
}

// Run plays the demo until ctx ends or Config.Duration has passed, drawing it
// on out (redrawn when out is a terminal and Config.Plain is not set, plain
// lines otherwise), then prints the summary. Logs go to logOut.
func Run(ctx context.Context, cfg Config, out, logOut io.Writer) error {
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	if cfg.GenerateOnly {
		_, err := generateOnly(ctx, &cfg, out, logOut)
		return err
	}
	_, err := play(ctx, &cfg, out, logOut, !cfg.Plain && isTerminal(out))
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

// Validate reports every setting out of range at once.
func (c *Config) Validate() error {
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

// loadRules loads the models of --rules (none: DefaultRules and
// DefaultSecondRules). A default file that does not exist from here — the
// binary run outside the repository — is read from the copy embedded in the
// binary (examplerules.Files); a path the user chose is never replaced, but
// for DefaultRules itself. It returns the files and where the rules came
// from, for the header.
func (c *Config) loadRules() (*scoring.Set, []string, string, error) {
	files := c.Rules
	if len(files) == 0 {
		files = []string{DefaultRules, DefaultSecondRules}
	}
	embedded := map[string]bool{}
	for _, f := range files {
		if f != DefaultRules && (len(c.Rules) > 0 || f != DefaultSecondRules) {
			continue
		}
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			embedded[f] = true
		}
	}
	if len(embedded) == 0 {
		set, err := rules.LoadSet(files...)
		return set, files, strings.Join(files, ", "), err
	}
	engines := make([]*scoring.Engine, 0, len(files))
	for _, f := range files {
		var data []byte
		var err error
		if embedded[f] {
			data, err = examplerules.Files.ReadFile(filepath.Base(f))
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("rules: %w", err)
		}
		m, err := rules.Parse(f, data)
		if err != nil {
			return nil, nil, "", err
		}
		if m.Name == "" && len(files) > 1 {
			m.Name = strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		}
		eng, err := scoring.NewEngine(m)
		if err != nil {
			return nil, nil, "", err
		}
		engines = append(engines, eng)
	}
	set, err := scoring.NewSet(engines...)
	return set, files, "embedded " + strings.Join(files, ", "), err
}

// topics are the demo's topics: the processor's defaults.
var topics = processor.DefaultTopics()

// session is one run of the demo: its pipeline, generator, counts and view
// state.
type session struct {
	stats
	set    *scoring.Set
	eng    *scoring.Engine // the first model's, whose funnel the view draws in full
	source string
	cfg    *Config
	rig    *rig
	counts *counters
	sent   *produced
	pace   *pacer
	clock  *simClock
	// Per model, the stage of every lead that ever changed stage; and the id
	// of each lead's last change per model (a re-emitted duplicate is
	// counted once).
	stage  map[string]map[string]string
	lastID map[string]string
	// accountStage is the stage of every account that ever changed stage;
	// accountUps the latest account moves up, newest last.
	accountStage map[string]string
	accountUps   []accountHandoff
	ups          []handoff // latest handoffs into sql or sal, newest last
	downs        []handoff // latest regressions, newest last
	// Handoffs and regressions since the last plain line.
	freshUps, freshDowns int
	began                time.Time
	note                 string // why the demo stopped on its own, if it did
}

// play plays the demo until ctx is done and returns its statistics. With tty it
// redraws a live view with ANSI escapes; otherwise it prints a plain line per
// refresh. Logs go to logOut.
func play(ctx context.Context, c *Config, out, logOut io.Writer, tty bool) (*stats, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	set, files, source, err := c.loadRules()
	if err != nil {
		return nil, err
	}
	f, err := c.startFeed(ctx, logOut)
	if err != nil {
		return nil, err
	}
	defer f.stop()
	log, tel, gen, clock, start := f.log, f.tel, f.gen, f.clock, f.start
	counts := newCounters()
	r, err := startRig(ctx, c, set, files, clock, counts, tel, log)
	if err != nil {
		return nil, err
	}
	defer r.close()

	d := &session{
		stats: stats{ByTopic: map[string]int64{}, Into: map[string]int64{}, Moves: map[string]int64{},
			Stages: map[string]int{}, ByModel: map[string]map[string]int{}, Accounts: map[string]int{}, SimFrom: start.UnixMilli(), KafkaAddr: r.kafkaAddr, HTTPAddr: r.httpAddr},
		set: set, eng: set.Engines()[0], source: source, cfg: c, rig: r, counts: counts, sent: &produced{}, clock: clock,
		stage: map[string]map[string]string{}, lastID: map[string]string{}, accountStage: map[string]string{}, began: time.Now(),
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

	v := &view{out: out, tty: tty, d: d}
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
	return &d.stats, nil
}

// loop applies stage changes as they come and redraws every refresh, until
// ctx ends or the generator stops on its own.
func (d *session) loop(ctx context.Context, genDone <-chan struct{}, changes <-chan change, v *view) {
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
		case c := <-changes:
			d.applyChange(&c)
		case now := <-tick.C:
			d.settle(now)
			v.draw()
		}
	}
}

// catchUp waits, at most max, until the processor has consumed every record the
// generator produced.
func (d *session) catchUp(max time.Duration) {
	deadline := time.Now().Add(max)
	for d.counts.total.Load() < d.sent.total() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// drain applies the stage changes that arrive within quiet of each other.
func (d *session) drain(changes <-chan change, quiet time.Duration) {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case c := <-changes:
			d.applyChange(&c)
			t.Reset(quiet)
		case <-t.C:
			return
		}
	}
}
