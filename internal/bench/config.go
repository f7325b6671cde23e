package bench

import (
	"errors"
	"fmt"
	"github.com/leadscore/leadscore/processor"
	"io"
	"log/slog"
	"math"
	"slices"
	"time"
)

// Scenario names, in the order they run.
const (
	Ceiling = "ceiling"
	Naive   = "naive"
	FranzGo = "franz-go"
	KafkaGo = "kafka-go"
	// FranzGoUncached is franz-go without the processor's working set
	// (processor.Config.WorkingSet 0): every batch reads its leads from
	// Redis, as before the working set. Not run by default; ask for it to
	// see what the working set buys in the same run.
	FranzGoUncached = "franz-go-uncached"
	// FranzGoSpread is franz-go as `leadscore run --lanes 2 --ownership
	// spread` runs it: two group members sharing the partitions, each
	// applying its batches in arrival order, no working set. It is the
	// design before event time, so its agreement with the oracle is below
	// 100 %; not run by default, it is the same-run reference for what the
	// exact design costs or gains.
	FranzGoSpread = "franz-go-spread"
	// FranzGoAckWrite is franz-go with each lead's outbox acknowledged by a
	// second write after the commit (processor.Config.CommitAck off), as
	// before the commit acknowledged it. Not run by default: the same-run
	// reference for what the commit acknowledgement buys.
	FranzGoAckWrite = "franz-go-ackwrite"
	// Goka is a lead scorer built on github.com/lovoo/goka with leadscore's
	// scoring engine, run as a process of its own (internal/bench/goka).
	Goka = "goka"
)

// Scenarios lists every scenario, in run order.
func Scenarios() []string {
	return []string{Ceiling, Naive, FranzGoSpread, FranzGoUncached, FranzGoAckWrite, FranzGo, KafkaGo, Goka}
}

// defaultScenarios are those run when none are named.
func defaultScenarios() []string { return []string{Ceiling, Naive, FranzGo, KafkaGo, Goka} }

// Workloads: what the generated events look like.
const (
	// Journeys are the journeys package's simulated people: sessions of page
	// views and tracks, e-mails, sales feedback, identity stitching.
	Journeys = "journeys"
	// Uniform is one identified `track` event after the other, each for a lead
	// drawn uniformly at random from Config.Leads: no sessions, no locality.
	Uniform = "uniform"
)

// Workloads lists the workloads.
func Workloads() []string { return []string{Journeys, Uniform} }

// Defaults applied to zero fields of Config: about a minute on a 2-core machine.
const (
	DefaultEvents          = 200_000
	DefaultLeads           = 20_000
	DefaultPartitions      = 6
	DefaultLatencyDuration = 5 * time.Second
	DefaultSeed            = 1
)

// MaxModels is the most models Config.Models may ask for: enough to see how
// the cost grows, few enough that a run stays short.
const MaxModels = 16

// Config describes one benchmark run. Zero fields take defaults; Run validates it.
type Config struct {
	// Brokers are outside Kafka brokers; empty starts an in-process kfake broker.
	Brokers []string
	// RedisAddr is the Redis server (host:port) the naive and leadscore scenarios
	// use. Required unless AllowMiniredis.
	RedisAddr string
	// AllowMiniredis runs the Redis scenarios on an embedded miniredis when
	// RedisAddr is empty: only for a quick look or tests, never for figures
	// (miniredis runs Lua scripts at ~5 k calls/s).
	AllowMiniredis bool

	// Workload is Journeys (default) or Uniform.
	Workload string
	// Events is the number of events of the throughput phase. Leads is, for
	// the journeys, the number of simulated people arriving per year of
	// history they are spread over; for the uniform workload, the number of
	// leads events are drawn from.
	Events, Leads int
	// LatencyEvents is the most events generated for each latency phase
	// (default Events/2).
	LatencyEvents int
	// LatencyDuration is how long each scenario is fed at half its measured
	// rate to measure latency (0: default; negative: no latency phase).
	LatencyDuration time.Duration
	// LatencyRate, when positive, is the offered rate of every latency phase,
	// events/s, instead of half each scenario's measured rate: knobs and
	// builds compare at the same load, whatever the throughput phase measured
	// on a noisy machine.
	LatencyRate float64
	// OfferLinger is the linger of the producer that offers the latency
	// phases' and the soak's events (default 0: each event is sent at once).
	// That producer shares this machine's CPU with the processor, which real
	// senders do not; a linger makes its requests fewer and cheaper, and the
	// latency measured, which starts before the produce call, includes it.
	OfferLinger time.Duration
	// Seed makes the history (journeys).
	Seed int64
	// Partitions per topic (default 6).
	Partitions int
	// Scenarios to run, in the order of Scenarios() (default: all but
	// FranzGoSpread, FranzGoUncached and FranzGoAckWrite).
	Scenarios []string
	// Rules is the rules file (YAML); default the journeys' own b2b-saas rules.
	Rules []byte
	// Models is how many models the leadscore scenarios (and the soak) run
	// side by side, as `leadscore run --rules a.yaml --rules b.yaml` does:
	// Rules N times, named m1..mN, model k's rule points scaled by
	// 1+(k-1)/10 (default 1: Rules as they are, unnamed). The naive and goka
	// scenarios run m1 alone; agreement compares the models both sides ran.
	Models int

	// Lanes is the leadscore scenarios' `leadscore run --lanes` (sole
	// ownership: the owner's apply lanes; FranzGoSpread always runs two
	// members of one lane each); the ceiling runs as many copy loops; the
	// naive design has one. Default processor.DefaultApplyLanes(), as run.
	Lanes int

	// Knobs of the Kafka clients (zero: the backends' defaults).
	MaxPollRecords int
	FetchMaxWait   time.Duration
	ProducerLinger time.Duration
	Compression    string

	// Soak, when positive, adds a run of the franz-go scenario at half its
	// measured rate for this long on an endless history, sampling the process
	// RSS (Result.Soak).
	Soak time.Duration
	// SoakSample is how often the soak samples RSS (default 10 s).
	SoakSample time.Duration
	// AtSoakEnd, when set, is called at the end of the soak while the processor
	// and broker still hold their memory (the CLI writes --memprofile there).
	AtSoakEnd func()

	// GokaDir is the source of the goka scenario's module (internal/bench/goka); by
	// default it is looked for from the working directory up and next to this
	// package's source. GokaBinary, when set, is a build of it to run instead
	// of building one (which needs the go command).
	GokaDir, GokaBinary string

	// Logger receives progress (Info) and warnings. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Workload == "" {
		c.Workload = Journeys
	}
	if c.Events == 0 {
		c.Events = DefaultEvents
	}
	if c.Leads == 0 {
		c.Leads = DefaultLeads
	}
	if c.LatencyEvents == 0 {
		c.LatencyEvents = c.Events / 2
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = DefaultLatencyDuration
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Lanes == 0 {
		c.Lanes = processor.DefaultApplyLanes()
	}
	if c.Models == 0 {
		c.Models = 1
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = defaultScenarios()
	}
	if c.SoakSample <= 0 {
		c.SoakSample = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Validate checks a configuration after defaults are applied.
func (c *Config) Validate() error {
	var errs []error
	if c.Events < 1 {
		errs = append(errs, fmt.Errorf("events must be positive, got %d", c.Events))
	}
	if c.Leads < 1 {
		errs = append(errs, fmt.Errorf("leads must be positive, got %d", c.Leads))
	}
	if !slices.Contains(Workloads(), c.Workload) {
		errs = append(errs, fmt.Errorf("unknown workload %q (want one of %v)", c.Workload, Workloads()))
	}
	if c.LatencyEvents < 0 {
		errs = append(errs, fmt.Errorf("latency events must not be negative, got %d", c.LatencyEvents))
	}
	if c.LatencyRate < 0 || math.IsNaN(c.LatencyRate) || math.IsInf(c.LatencyRate, 0) {
		errs = append(errs, fmt.Errorf("latency rate must be a positive number of events/s or 0 (half the measured rate), got %v", c.LatencyRate))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions must be within 1..1024, got %d", c.Partitions))
	}
	if c.Lanes < 1 || c.Lanes > 64 {
		errs = append(errs, fmt.Errorf("lanes must be within 1..64, got %d", c.Lanes))
	}
	if c.Models < 1 || c.Models > MaxModels {
		errs = append(errs, fmt.Errorf("models must be within 1..%d, got %d", MaxModels, c.Models))
	}
	seen := map[string]bool{}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios(), s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (want one of %v)", s, Scenarios()))
		} else if seen[s] {
			errs = append(errs, fmt.Errorf("scenario %q given twice", s))
		}
		seen[s] = true
	}
	if c.RedisAddr == "" && !c.AllowMiniredis && (seen[Naive] || seen[FranzGo] || seen[FranzGoUncached] || seen[FranzGoAckWrite] || seen[FranzGoSpread] || seen[KafkaGo] || c.Soak > 0) {
		errs = append(errs, errors.New("no Redis given: pass a real Redis address (miniredis is not a meaningful benchmark)"))
	}
	if c.MaxPollRecords < 0 || c.FetchMaxWait < 0 || c.ProducerLinger < 0 || c.OfferLinger < 0 {
		errs = append(errs, errors.New("max poll records, fetch max wait and lingers must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// wants reports whether scenario s is selected.
func (c *Config) wants(s string) bool { return slices.Contains(c.Scenarios, s) }
