package franzgo_test

import (
	"context"
	"fmt"
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
