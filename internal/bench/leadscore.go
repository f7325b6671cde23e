package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/leadscore/leadscore/internal/wiring"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/state"
)

// leadscoreWorker is the real processor with one of the two Kafka backends and
// the Redis state store, configured as `leadscore run` configures it: one
// processor owning every partition (sole ownership, the default) with
// Config.Lanes apply lanes, or for FranzGoSpread as `leadscore run --lanes 2
// --ownership spread`: two processors, each its own group member, sharing
// the store.
type leadscoreWorker struct {
	p     processor.Lanes
	store *state.Store
	obs   *observer
}

// buckets sizes the store's record buckets for about 32 leads each (docs/state.md).
func buckets(leads int64, shards int) int {
	unit := 4 * shards
	return max(unit, int((leads/32+int64(unit)/2)/int64(unit))*unit)
}

func newLeadscore(ctx context.Context, e *scenarioEnv, backend, group string, t processor.Topics, prefix string) (worker, error) {
	const shards = 64
	obs := newObserver()
	// A sole owner keeps a working set, as `leadscore run` gives it.
	cfg := wiring.Config{
		Store:  state.Options{Addrs: []string{e.redisAddr}, KeyPrefix: prefix, TimerShards: shards, Buckets: buckets(e.people, shards)},
		Client: backend,
		Kafka: franzgo.Config{Config: kafkaconfig.Config{Brokers: e.cluster.brokers, Group: group, InputTopics: t.Inputs(),
			MaxPollRecords: e.cfg.MaxPollRecords, FetchMaxWait: e.cfg.FetchMaxWait, ProducerLinger: e.cfg.ProducerLinger,
			Compression: e.cfg.Compression, Logger: slog.New(slog.DiscardHandler)}},
		Lanes: e.cfg.Lanes,
		Processor: processor.Config{Topics: t, Now: e.clock, TimerPartitions: e.cfg.Partitions, WorkingSet: processor.DefaultWorkingSet,
			CommitAck: true},
		Models: e.models, Observer: obs,
	}
	switch backend {
	case FranzGoUncached:
		cfg.Client, cfg.Processor.WorkingSet = FranzGo, 0
	case FranzGoAckWrite:
		cfg.Client, cfg.Processor.CommitAck = FranzGo, false
	case FranzGoSpread:
		cfg.Client, cfg.Spread, cfg.Lanes = FranzGo, true, 2
	}
	cfg.Logger = e.cfg.Logger.With("scenario", cfg.Client)
	sys, err := wiring.Build(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &leadscoreWorker{p: sys.Lanes, store: sys.Store, obs: obs}, nil
}

func (w *leadscoreWorker) run(ctx context.Context) error {
	defer w.store.Close()
	return w.p.Run(ctx)
}
