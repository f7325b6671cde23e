package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkago"
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
	store, err := state.New(ctx, state.Options{Addrs: []string{e.redisAddr}, KeyPrefix: prefix, TimerShards: shards,
		Buckets: buckets(e.people, shards)})
	if err != nil {
		return nil, fmt.Errorf("bench: state store: %w", err)
	}
	obs := newObserver()
	w := &leadscoreWorker{store: store, obs: obs}
	var clients []processor.Client
	fail := func(err error) (worker, error) {
		for _, cl := range clients {
			_ = cl.Close(ctx)
		}
		store.Close()
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	// A sole owner keeps a working set, as `leadscore run` gives it.
	members, lanes, ws := 1, e.cfg.Lanes, processor.DefaultWorkingSet
	switch backend {
	case FranzGoUncached:
		backend, ws = FranzGo, 0
	case FranzGoSpread:
		backend, members, lanes, ws = FranzGo, 2, 1, 0
	}
	sole := members == 1
	for range members {
		var cl processor.Client
		switch backend {
		case FranzGo:
			cl, err = franzgo.New(ctx, franzgo.Config{Config: kafkaconfig.Config{Brokers: e.cluster.brokers, Group: group, InputTopics: t.Inputs(),
				MaxPollRecords: e.cfg.MaxPollRecords, FetchMaxWait: e.cfg.FetchMaxWait, ProducerLinger: e.cfg.ProducerLinger,
				Compression: e.cfg.Compression, Logger: quiet, SoleOwner: sole}})
		case KafkaGo:
			cl, err = kafkago.New(ctx, kafkago.Config{Config: kafkaconfig.Config{Brokers: e.cluster.brokers, Group: group, InputTopics: t.Inputs(),
				MaxPollRecords: e.cfg.MaxPollRecords, FetchMaxWait: e.cfg.FetchMaxWait, ProducerLinger: e.cfg.ProducerLinger,
				Compression: e.cfg.Compression, Logger: quiet, SoleOwner: sole}})
		default:
			err = fmt.Errorf("unknown backend %q", backend)
		}
		if err != nil {
			return fail(fmt.Errorf("bench: %s client: %w", backend, err))
		}
		clients = append(clients, cl)
		p, err := processor.New(processor.Config{Topics: t, Now: e.clock, Logger: e.cfg.Logger.With("scenario", backend),
			TimerPartitions: e.cfg.Partitions, Observer: obs, WorkingSet: ws, ApplyLanes: lanes}, cl, store, e.eng)
		if err != nil {
			return fail(err)
		}
		w.p = append(w.p, p)
	}
	return w, nil
}

func (w *leadscoreWorker) run(ctx context.Context) error {
	defer w.store.Close()
	return w.p.Run(ctx)
}
