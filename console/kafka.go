package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/output"
)

// TailConfig says where the output topics are.
type TailConfig struct {
	// Conn are the client options that reach the cluster (seed brokers, TLS,
	// SASL: franzgo.Config.ConnOpts).
	Conn []kgo.Opt
	// StageChanges and DeadLetter are the output topics.
	StageChanges, DeadLetter string
	// AccountStageChanges is the account stage-change topic, whose changes
	// the live feed shows beside the leads'; "" (no model scores accounts):
	// not read.
	AccountStageChanges string
	// Stages returns the funnel order of the model in force (it follows rules
	// reloads).
	Stages func() Stages
	Logger *slog.Logger
}

// caughtUpAfter is how long a poll of the output topics waits for records
// before the console takes the topics' history as read.
const caughtUpAfter = time.Second

// TailKafka reads the stage-change, dead-letter and (when named) account
// stage-change topics from their start into feed, then follows them
// (read_committed, so that a transaction's stage changes appear once it
// commits), until stop is called. It is not a member of any consumer group:
// every console reads everything, and commits nothing. A record that does
// not decode is logged and skipped.
func TailKafka(cfg TailConfig, feed *Feed) (stop func(), err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	topics := []string{cfg.StageChanges, cfg.DeadLetter}
	if cfg.AccountStageChanges != "" {
		topics = append(topics, cfg.AccountStageChanges)
	}
	opts := append([]kgo.Opt{kgo.ClientID("leadscore-console"), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted())}, cfg.Conn...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("console: kafka client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			// The history is read (the counts complete) once a fetch ends
			// every partition it brings at the partition's high watermark,
			// or a poll waits caughtUpAfter for nothing: PollFetches waits
			// until records come, and while the topics keep receiving
			// changes that never happens.
			pctx, pcancel := context.WithTimeout(ctx, caughtUpAfter)
			fs := cl.PollFetches(pctx)
			idle := pctx.Err() != nil
			pcancel()
			var ferr error
			fs.EachError(func(t string, p int32, err error) {
				if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
					ferr = fmt.Errorf("%s/%d: %w", t, p, err)
					cfg.Logger.Warn("console: reading an output topic", "topic", t, "partition", p, "err", err)
				}
			})
			if ctx.Err() != nil {
				return
			}
			atHead := fs.NumRecords() > 0
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 < p.HighWatermark {
					atHead = false
				}
			})
			feed.TailStatus((atHead || idle && fs.NumRecords() == 0) && ferr == nil, ferr)
			if fs.Empty() {
				continue
			}
			stages := cfg.Stages()
			fs.EachRecord(func(r *kgo.Record) {
				switch r.Topic {
				case cfg.StageChanges:
					var sc output.StageChange
					if err := json.Unmarshal(r.Value, &sc); err != nil || sc.LeadID == "" {
						cfg.Logger.Warn("console: undecodable stage change", "partition", r.Partition, "offset", r.Offset, "err", err)
						return
					}
					feed.StageChange(sc, r.Timestamp.UnixMilli(), stages)
				case cfg.AccountStageChanges:
					var sc output.AccountStageChange
					if err := json.Unmarshal(r.Value, &sc); err != nil || sc.AccountID == "" {
						cfg.Logger.Warn("console: undecodable account stage change", "partition", r.Partition, "offset", r.Offset, "err", err)
						return
					}
					feed.AccountStageChange(sc, r.Timestamp.UnixMilli())
				case cfg.DeadLetter:
					var dl output.DeadLetter
					if err := json.Unmarshal(r.Value, &dl); err != nil {
						cfg.Logger.Warn("console: undecodable dead letter", "partition", r.Partition, "offset", r.Offset, "err", err)
						return
					}
					feed.DeadLetterRecord(dl)
				}
			})
		}
	}()
	return func() {
		cancel()
		<-done
		cl.Close()
	}, nil
}
