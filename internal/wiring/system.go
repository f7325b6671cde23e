package wiring

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkago"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
	"github.com/leadscore/leadscore/telemetry"
)

// The Kafka backends Config.Client names.
const (
	// FranzGo is the franz-go backend (processor/franzgo): exactly-once capable.
	FranzGo = "franz-go"
	// KafkaGo is the kafka-go backend (processor/kafkago): at-least-once only.
	KafkaGo = "kafka-go"
)

// Config is the running system — state store, Kafka clients, processors —
// that `leadscore run`, `leadscore demo` and the benchmark build.
type Config struct {
	// Store configures the Redis state store.
	Store state.Options
	// ExplainStore turns a failure to open the store into the error Build
	// returns. Default: prefixed "redis: ".
	ExplainStore func(error) error

	// Prepare, when set, runs once the store is open and before any Kafka
	// client is: it checks or creates the topics and says what the
	// processors need to know of them. Its error is returned as it is.
	Prepare func(ctx context.Context, store *state.Store) (Inputs, error)

	// Client is the Kafka backend: FranzGo ("" too) or KafkaGo.
	Client string
	// Kafka configures every client: the settings both backends share
	// (kafkaconfig.Config, whose Logger defaults to Logger and whose
	// SoleOwner Build sets from Spread) and franz-go's own (exactly-once, the
	// transactional id — member i > 0 gets "<id>-lane<i>" — and Opts), which
	// kafka-go ignores.
	Kafka franzgo.Config
	// ExplainKafka turns a failure to open a client into the error Build
	// returns. Default: prefixed "kafka: <client> client: ".
	ExplainKafka func(error) error

	// Spread spreads the input partitions over the members (each its own
	// Kafka client and processor); otherwise one member owns every partition
	// (sole ownership) and the group's other members stand by.
	Spread bool
	// Lanes is, with sole ownership, the apply lanes of the one processor (0:
	// Processor.ApplyLanes), and with Spread the number of members, each
	// with one apply lane (0: one member).
	Lanes int

	// Processor is the template of every member's processor.Config. Build
	// sets TimerPartitions (when Prepare knows them), Sources (when Prepare
	// names topic ids), ApplyLanes (see Lanes), Logger and Observer; and
	// WorkingSet to 0 and CommitAck off with Spread: only a sole owner is
	// the one writer of its leads and the one consumer of their partitions.
	Processor processor.Config
	// Models are the scoring models every processor starts with.
	Models *scoring.Set
	// Observer hears every member, readiness reported for all together
	// (processor.LaneObservers).
	Observer processor.Observer
	// Telemetry, when set, traces every processor and feeds the lag gauge
	// from its client (Instrument).
	Telemetry *telemetry.Telemetry
	// Logger is the processors' logger, and the clients' when Kafka.Logger
	// is nil; with several members each member's lines carry its "lane".
	// nil: discarded.
	Logger *slog.Logger
}

// Inputs is what Config.Prepare learns of the input topics.
type Inputs struct {
	// Partitions is the partition count of the first input topic (timer
	// shard ownership); 0 keeps Processor.TimerPartitions.
	Partitions int
	// TopicIDs maps each input topic to the id Kafka gave it at creation;
	// when set, the processors' Sources come from it (InputSources).
	TopicIDs map[string]string
}

// System is the running system Build assembles.
type System struct {
	// Store is the state store the processors share.
	Store *state.Store
	// Clients are the Kafka clients, one per member, in member order.
	Clients []processor.Client
	// Lanes are the processors, one per member, in member order.
	Lanes processor.Lanes
}

// Members is how many group members (Kafka clients and processors) cfg runs.
func (cfg *Config) Members() int {
	if cfg.Spread {
		return max(cfg.Lanes, 1)
	}
	return 1
}

// Build opens the store, runs Prepare, opens one Kafka client per member and
// builds its processor. On error, what was opened is closed: the clients,
// then the store.
func Build(ctx context.Context, cfg Config) (sys *System, err error) {
	if cfg.Lanes < 0 {
		return nil, fmt.Errorf("wiring: lanes must not be negative, got %d", cfg.Lanes)
	}
	client := cfg.Client
	if client == "" {
		client = FranzGo
	}
	if client != FranzGo && client != KafkaGo {
		return nil, fmt.Errorf("wiring: unknown kafka client %q", cfg.Client)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := state.New(ctx, cfg.Store)
	if err != nil {
		if cfg.ExplainStore != nil {
			return nil, cfg.ExplainStore(err)
		}
		return nil, fmt.Errorf("redis: %w", err)
	}
	sys = &System{Store: store}
	defer func() {
		if err != nil {
			_ = sys.Close(ctx)
			sys = nil
		}
	}()
	var in Inputs
	if cfg.Prepare != nil {
		if in, err = cfg.Prepare(ctx, store); err != nil {
			return sys, err
		}
	}
	members := cfg.Members()
	for i := range members {
		cl, err := openClient(ctx, &cfg, client, i, members, log)
		if err != nil {
			if cfg.ExplainKafka != nil {
				return sys, cfg.ExplainKafka(err)
			}
			return sys, fmt.Errorf("kafka: %s client: %w", client, err)
		}
		sys.Clients = append(sys.Clients, cl)
	}
	pc := cfg.Processor
	if in.Partitions > 0 {
		pc.TimerPartitions = in.Partitions
	}
	if in.TopicIDs != nil {
		if pc.Sources, err = InputSources(ctx, store, in.TopicIDs, log); err != nil {
			return sys, err
		}
	}
	if cfg.Spread {
		pc.WorkingSet, pc.ApplyLanes, pc.CommitAck = 0, 1, false
	} else if cfg.Lanes > 0 {
		pc.ApplyLanes = cfg.Lanes
	}
	observers := processor.LaneObservers(cfg.Observer, members)
	for i, cl := range sys.Clients {
		mc := pc
		mc.Logger, mc.Observer = LaneLogger(log, i, members), observers[i]
		p, err := processor.New(mc, cl, store, cfg.Models)
		if err != nil {
			return sys, err
		}
		if cfg.Telemetry != nil {
			Instrument(p, cl, cfg.Telemetry)
		}
		sys.Lanes = append(sys.Lanes, p)
	}
	return sys, nil
}

// openClient opens member i's Kafka client of the given backend: both take
// the shared settings (kafkaconfig.Config); exactly-once, the transactional
// id and the franz-go options are franz-go's alone.
func openClient(ctx context.Context, cfg *Config, client string, i, members int, log *slog.Logger) (processor.Client, error) {
	fc := cfg.Kafka
	fc.SoleOwner = !cfg.Spread
	fc.Logger = LaneLogger(cmp.Or(fc.Logger, log), i, members)
	fc.TransactionalID = LaneTransactionalID(fc.TransactionalID, i)
	if client == KafkaGo {
		return kafkago.New(ctx, kafkago.Config{Config: fc.Config})
	}
	return franzgo.New(ctx, fc)
}

// Close closes the clients (those a processor has run are closed already:
// closing them again does nothing) and then the store.
func (s *System) Close(ctx context.Context) error {
	var errs []error
	for i, cl := range s.Clients {
		if err := cl.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kafka client %d: %w", i, err))
		}
	}
	if err := s.Store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	return errors.Join(errs...)
}

// LaneLogger tags a lane's log lines with its number when there are several.
func LaneLogger(log *slog.Logger, lane, lanes int) *slog.Logger {
	if lanes == 1 {
		return log
	}
	return log.With("lane", lane)
}

// LaneTransactionalID is the transactional id of a lane: one per lane (lanes
// sharing one would fence each other), stable across restarts as long as the
// lane count is; lane 0 keeps the instance's id. "" stays "" (not
// exactly-once).
func LaneTransactionalID(id string, lane int) string {
	if id == "" || lane == 0 {
		return id
	}
	return fmt.Sprintf("%s-lane%d", id, lane)
}
