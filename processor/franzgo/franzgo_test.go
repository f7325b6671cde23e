package franzgo_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/syncbuf"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

var txnSeq atomic.Int64

// testConfig is a member with the suite's short group timeouts.
func testConfig(brokers []string, group string, topics []string) franzgo.Config {
	return franzgo.Config{Config: kafkatest.GroupConfig(brokers, group, topics)}
}

func newClient(t *testing.T, cfg franzgo.Config) *franzgo.Client {
	return kafkatest.Start(t, franzgo.New, cfg)
}

func TestConformance(t *testing.T) {
	kafkatest.Run(t,
		func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
			return newClient(t, testConfig(brokers, group, topics))
		},
		kafkatest.ExactlyOnce(func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
			cfg := testConfig(brokers, group, topics)
			cfg.ExactlyOnce = true
			cfg.TransactionalID = fmt.Sprintf("leadscore-test-%d", txnSeq.Add(1))
			return newClient(t, cfg)
		}),
		kafkatest.SoleOwner(func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
			cfg := testConfig(brokers, group, topics)
			cfg.SoleOwner = true
			return newClient(t, cfg)
		}),
		kafkatest.ReportsLag(),
	)
}

func TestSecurity(t *testing.T) {
	kafkatest.RunSecurity(t, func(t *testing.T, brokers []string, group string, topics []string, sec kafkatest.Security) processor.Client {
		cfg := testConfig(brokers, group, topics)
		sec.Apply(&cfg.Config)
		return newClient(t, cfg)
	})
}

// A batch whose transaction stayed open past three quarters of the transaction
// timeout (a produce or Redis write that waited out a broker restart) is not
// committed, even if the broker would still take it: the broker may be aborting
// it on its own, and a commit racing that abort must never pass for a success.
// The batch is dropped (ErrNotOwner) and polled again.
func TestStaleTransactionIsNotCommitted(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 1}, {Name: "out", Partitions: 1}})
	kafkatest.Produce(t, c.ListenAddrs(), kafkatest.Records("in", 5))
	cfg := testConfig(c.ListenAddrs(), "g-stale-txn", []string{"in"})
	cfg.ExactlyOnce = true
	cfg.TransactionalID = fmt.Sprintf("leadscore-test-%d", txnSeq.Add(1))
	cfg.TransactionTimeout = 2 * time.Second
	cl := newClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer cl.Close(ctx)
	first, err := cl.Poll(ctx)
	if err != nil || len(first) == 0 {
		t.Fatalf("poll: %d records, %v", len(first), err)
	}
	if err := cl.Produce(ctx, []processor.Record{{Topic: "out", Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatalf("produce in time: %v", err)
	}
	time.Sleep(1600 * time.Millisecond) // past 3/4 of the 2 s transaction timeout
	if err := cl.Commit(ctx); !errors.Is(err, processor.ErrNotOwner) {
		t.Fatalf("commit of a stale transaction = %v, want ErrNotOwner", err)
	}
	again, err := cl.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) == 0 || again[0].Offset != first[0].Offset {
		t.Fatalf("after the dropped batch, poll returned offsets from %v, want the batch again from %d", offsets(again), first[0].Offset)
	}
	if err := cl.Commit(ctx); err != nil {
		t.Fatalf("commit of the redelivered batch in time: %v", err)
	}
}

// The member's partition assignments are logged at info level (which member
// owns what is the first question when a group stalls), and franz-go's own
// debug log (requests, joins) reaches a logger enabled at debug level only.
func TestClientLogging(t *testing.T) {
	for _, tc := range []struct {
		level        slog.Level
		want, absent string
	}{
		{slog.LevelInfo, `msg="franz-go: partitions assigned" partitions=in:0,1`, "level=DEBUG"},
		{slog.LevelDebug, `level=DEBUG msg="franz-go: `, ""},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 2}})
			kafkatest.Produce(t, c.ListenAddrs(), kafkatest.Records("in", 4))
			var buf syncbuf.Buffer
			cfg := testConfig(c.ListenAddrs(), "g-log", []string{"in"})
			cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			cl := newClient(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			defer cl.Close(ctx)
			if _, err := cl.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			if err := cl.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if !strings.Contains(got, tc.want) {
				t.Fatalf("log has no %q:\n%.3000s", tc.want, got)
			}
			if tc.absent != "" && strings.Contains(got, tc.absent) {
				t.Fatalf("log has %q:\n%.3000s", tc.absent, got)
			}
		})
	}
}

func offsets(recs []processor.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return out
}

// After an assignment every owned partition has a lag, including one that no
// fetch has delivered from (here: an empty one), so that the processor's
// event-time merge knows from the first batch which partitions to wait for.
func TestLagOfUndeliveredPartitions(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 3}})
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "in", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i)})
	}
	kafkatest.Produce(t, c.ListenAddrs(), recs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cl := newClient(t, testConfig(c.ListenAddrs(), "g-lag-undelivered", []string{"in"}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer cl.Close(ctx)
	if _, err := cl.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	lag := cl.Lag()
	empty := processor.TopicPartition{Topic: "in", Partition: 2}
	if n, ok := lag[empty]; !ok || n != 0 {
		t.Fatalf("lag of the empty partition: %d, known %v (lags %v); want known and 0", n, ok, lag)
	}
}
