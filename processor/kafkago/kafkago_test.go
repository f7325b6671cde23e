package kafkago_test

import (
	"context"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkago"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

// testConfig has short group timeouts so that rebalances finish quickly.
func testConfig(brokers []string, group string, topics []string) kafkago.Config {
	return kafkago.Config{Config: kafkaconfig.Config{
		Brokers:           brokers,
		Group:             group,
		InputTopics:       topics,
		SessionTimeout:    3 * time.Second,
		RebalanceTimeout:  3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		MaxPollRecords:    7, // small batches, so tests see several
	}}
}

func newClient(t *testing.T, cfg kafkago.Config) processor.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := kafkago.New(ctx, cfg)
	if err != nil {
		t.Fatalf("kafkago.New: %v", err)
	}
	return c
}

func TestConformance(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
		return newClient(t, testConfig(brokers, group, topics))
	}, kafkatest.SoleOwner(func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
		cfg := testConfig(brokers, group, topics)
		cfg.SoleOwner = true
		return newClient(t, cfg)
	}))
}

func TestSecurity(t *testing.T) {
	kafkatest.RunSecurity(t, func(t *testing.T, brokers []string, group string, topics []string, sec kafkatest.Security) processor.Client {
		cfg := testConfig(brokers, group, topics)
		cfg.TLS = &kafkaconfig.TLSConfig{CAFile: sec.CAFile, ServerName: sec.ServerName}
		cfg.SASL = &kafkaconfig.SASLConfig{Mechanism: sec.Mechanism, User: sec.User, Password: sec.Password}
		return newClient(t, cfg)
	})
}

func TestLag(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "in", Partitions: 1}})
	kafkatest.Produce(t, c.ListenAddrs(), kafkatest.Records("in", 20))
	cl := newClient(t, testConfig(c.ListenAddrs(), "g-lag", []string{"in"})).(*kafkago.Client)
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
