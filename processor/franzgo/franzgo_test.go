package franzgo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

var txnSeq atomic.Int64

// testConfig has short group timeouts so that rebalances finish quickly.
func testConfig(brokers []string, group string, topics []string) franzgo.Config {
	return franzgo.Config{
		Brokers:           brokers,
		Group:             group,
		InputTopics:       topics,
		SessionTimeout:    3 * time.Second,
		RebalanceTimeout:  3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		MaxPollRecords:    7, // small batches, so tests see several
	}
}

func newClient(t *testing.T, cfg franzgo.Config) processor.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := franzgo.New(ctx, cfg)
	if err != nil {
		t.Fatalf("franzgo.New: %v", err)
	}
	return c
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
	)
}

func TestSecurity(t *testing.T) {
	kafkatest.RunSecurity(t, func(t *testing.T, brokers []string, group string, topics []string, sec kafkatest.Security) processor.Client {
		cfg := testConfig(brokers, group, topics)
		cfg.TLS = &franzgo.TLSConfig{CAFile: sec.CAFile, ServerName: sec.ServerName}
		cfg.SASL = &franzgo.SASLConfig{Mechanism: sec.Mechanism, User: sec.User, Password: sec.Password}
		return newClient(t, cfg)
	})
}

func TestLag(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 1}})
	kafkatest.Produce(t, c.ListenAddrs(), kafkatest.Records("in", 20))
	cl := newClient(t, testConfig(c.ListenAddrs(), "g-lag", []string{"in"})).(*franzgo.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer cl.Close(ctx)
	recs, err := cl.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := processor.TopicPartition{Topic: "in", Partition: 0}
	if got, want := cl.Lag()[tp], int64(20-len(recs)); got != want {
		t.Fatalf("Lag after polling %d of 20 records = %d, want %d", len(recs), got, want)
	}
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

// The member's partition assignments are logged at info level: which member
// owns what is the first question when a group stalls.
func TestAssignmentsAreLogged(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 2}})
	kafkatest.Produce(t, c.ListenAddrs(), kafkatest.Records("in", 4))
	var buf syncBuffer
	cfg := testConfig(c.ListenAddrs(), "g-log", []string{"in"})
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
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
	if got := buf.String(); !strings.Contains(got, `msg="franz-go: partitions assigned" partitions=in:0,1`) {
		t.Fatalf("log has no assignment of in/0 and in/1:\n%s", got)
	}
	if got := buf.String(); strings.Contains(got, "level=DEBUG") {
		t.Fatalf("franz-go's debug log reached an info-level logger:\n%s", got)
	}
}

// A logger enabled at debug level gets franz-go's own debug log (requests,
// group joins), for when a group misbehaves.
func TestDebugLoggerGetsFranzGoDebug(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 1}})
	kafkatest.Produce(t, c.ListenAddrs(), kafkatest.Records("in", 1))
	var buf syncBuffer
	cfg := testConfig(c.ListenAddrs(), "g-debug", []string{"in"})
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl := newClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer cl.Close(ctx)
	if _, err := cl.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `level=DEBUG msg="franz-go: `) {
		t.Fatalf("no franz-go debug line in a debug-level log:\n%.2000s", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func offsets(recs []processor.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return out
}
