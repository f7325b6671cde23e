// Package kafkatest is the conformance suite for processor.Client backends: the
// same behaviour tests run against every Kafka backend (franz-go, kafka-go), each
// subtest on a fresh in-process kfake cluster (a real Kafka-protocol broker).
//
// A backend's test calls Run with a constructor, declaring optional features
// (like watermill's pubsub tests):
//
//	func TestConformance(t *testing.T) {
//		kafkatest.Run(t, newClient, kafkatest.ExactlyOnce(newTransactionalClient))
//	}
//
// The constructor must use short group timeouts (a session timeout of a few
// seconds, a heartbeat interval of ~100 ms) so rebalances finish quickly; kfake
// clusters of this suite accept session timeouts down to 500 ms.
//
// The rest is what both backends' own tests would otherwise each spell out:
// GroupConfig (those short timeouts), Start (a client from a backend's New) and
// RunValidate (the config problems of the settings the backends share).
//
// RunSecurity checks TLS plus SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) against a
// kfake cluster with a throwaway certificate authority.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// NewClientFunc builds a started client of the backend under test: a member of
// group consuming topics from brokers. It should fail the test itself when
// construction fails; the suite closes the client when the subtest ends (Close
// must therefore tolerate being called twice).
type NewClientFunc func(t *testing.T, brokers []string, group string, topics []string) processor.Client

// Option declares a feature of the backend under test.
type Option func(*suite)

// ExactlyOnce declares that the backend supports exactly-once processing, and
// how to build a client in that mode (each call must use its own transactional
// id). Without it the exactly-once subtests are skipped.
func ExactlyOnce(newClient NewClientFunc) Option {
	return func(s *suite) { s.newEOS = newClient }
}

// SoleOwner declares that the backend implements processor.SoleOwnerProtocol,
// and how to build a client that uses it.
func SoleOwner(newClient NewClientFunc) Option {
	return func(s *suite) { s.newSole = newClient }
}

type suite struct {
	newClient NewClientFunc
	newEOS    NewClientFunc
	newSole   NewClientFunc
	lag       bool
}

// Run runs the conformance suite against the backend built by newClient.
func Run(t *testing.T, newClient NewClientFunc, opts ...Option) {
	s := &suite{newClient: newClient}
	for _, o := range opts {
		o(s)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PollDeliversAllInOrder", s.testPollDeliversAllInOrder},
		{"ProduceIsReadable", s.testProduceIsReadable},
		{"CommitThenResume", s.testCommitThenResume},
		{"CloseWithoutCommitRedelivers", s.testCloseWithoutCommitRedelivers},
		{"AbortRedelivers", s.testAbortRedelivers},
		{"KeepRedeliversTheRest", s.testKeepRedeliversTheRest},
		{"CommitAfterLostGenerationIsNotOwner", s.testCommitNotOwner},
		{"GroupSplitsAndRebalances", s.testGroupSplitsAndRebalances},
		{"RebalanceWaitsForCommit", s.testRebalanceWaitsForCommit},
		{"SoleOwnerStandsByAndTakesOver", s.testSoleOwner},
		{"PollHonoursContextAndClose", s.testPollHonoursContextAndClose},
		{"LagAfterPoll", s.testLag},
		{"ExactlyOnce/AbortedBatchInvisible", s.testEOSAbortedInvisible},
		{"ExactlyOnce/LostGenerationAborts", s.testEOSNotOwner},
		{"ExactlyOnce/ProduceOutsideBatch", s.testEOSProduceOutsideBatch},
		{"ExactlyOnce/KeepRedeliversTheRest", s.testEOSKeepRedeliversTheRest},
		{"ExactlyOnce/GroupSplitsAndRebalances", s.testEOSGroupSplitsAndRebalances},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			tc.fn(t)
			t.Logf("%s took %v", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// ---- cluster and plain franz-go helpers (the independent side of each test) ----

// Topic is a topic seeded into a test cluster.
type Topic struct {
	Name       string
	Partitions int32
}

// NewCluster starts a single-broker kfake cluster with the topics (plus opts)
// and closes it when the test ends. Group session timeouts down to 500 ms are
// accepted.
func NewCluster(t testing.TB, topics []Topic, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	all := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500 * time.Millisecond)}
	for _, tp := range topics {
		all = append(all, kfake.SeedTopics(tp.Partitions, tp.Name))
	}
	all = append(all, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Produce writes recs with a plain franz-go producer (default partitioner: murmur2
// of the key) and returns them with their partition and offset filled in.
func Produce(t testing.TB, brokers []string, recs []*kgo.Record, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return recs
}

// Consume reads topic from the start with a plain franz-go consumer (no group)
// until it has want records or quiet passes without a new one, and returns what
// it read. readCommitted selects the isolation level.
func Consume(t testing.TB, brokers []string, topic string, readCommitted bool, want int, quiet time.Duration, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if readCommitted {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		wait := quiet
		if len(out) < want {
			wait = time.Until(deadline)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		n := len(out)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				t.Fatalf("consume %s: %v", topic, fe.Err)
			}
		}
		if len(out) == n && len(out) >= want {
			return out // quiet after having enough
		}
	}
	return out
}

// ---- helpers on the client under test ----

type key struct {
	tp     processor.TopicPartition
	offset int64
}

func keyOf(r processor.Record) key {
	return key{processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.Offset}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) client(t *testing.T, nc NewClientFunc, c *kfake.Cluster, group string, topics ...string) processor.Client {
	t.Helper()
	cl := nc(t, c.ListenAddrs(), group, topics)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cl.Close(ctx)
	})
	return cl
}

// pollUntil polls (committing each batch when commit is set) until n distinct
// records were delivered; it returns them in delivery order.
func pollUntil(t *testing.T, ctx context.Context, c processor.Client, n int, commit bool) []processor.Record {
	t.Helper()
	var out []processor.Record
	seen := map[key]bool{}
	for len(seen) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d of %d records: %v", len(seen), n, err)
		}
		for _, r := range recs {
			seen[keyOf(r)] = true
		}
		out = append(out, recs...)
		if commit {
			if err := c.Commit(ctx); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
	}
	return out
}

// expectQuiet asserts that Poll delivers nothing for d.
func expectQuiet(t *testing.T, c processor.Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	recs, err := c.Poll(ctx)
	if len(recs) > 0 {
		t.Fatalf("expected no more records, got %d, first %s", len(recs), describe(recs[0]))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll on a quiet topic: want context.DeadlineExceeded, got %v", err)
	}
}

func describe(r processor.Record) string {
	return fmt.Sprintf("%s/%d@%d key=%q value=%q", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
}

// Records builds n keyed test records with headers for topic.
func Records(topic string, n int) []*kgo.Record { return inputs(n, topic) }

// inputs builds n keyed records with headers and a millisecond timestamp for the
// given topics (round robin).
func inputs(n int, topics ...string) []*kgo.Record {
	base := time.Now().Truncate(time.Millisecond).Add(-time.Hour)
	out := make([]*kgo.Record, n)
	for i := range out {
		topic := topics[i%len(topics)]
		out[i] = &kgo.Record{
			Topic:     topic,
			Key:       fmt.Appendf(nil, "lead-%d", i%7),
			Value:     fmt.Appendf(nil, "%s#%d", topic, i),
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Headers: []kgo.RecordHeader{
				{Key: "source", Value: []byte("test")},
				{Key: "seq", Value: fmt.Appendf(nil, "%d", i)},
			},
		}
	}
	return out
}

func values(recs []processor.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	slices.Sort(out)
	return out
}

func kvalues(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	slices.Sort(out)
	return out
}

// partitionsOf lists every partition of the given topics.
func partitionsOf(topics ...Topic) []processor.TopicPartition {
	var out []processor.TopicPartition
	for _, tp := range topics {
		for p := range tp.Partitions {
			out = append(out, processor.TopicPartition{Topic: tp.Name, Partition: p})
		}
	}
	return out
}

// splitOK reports whether the members' assignments are disjoint, each non-empty,
// and together cover all.
func splitOK(all []processor.TopicPartition, members ...processor.Client) (bool, string) {
	owner := map[processor.TopicPartition]int{}
	var desc []string
	for i, m := range members {
		a := m.Assigned()
		desc = append(desc, fmt.Sprint(a))
		if len(a) == 0 {
			return false, strings.Join(desc, " | ")
		}
		for _, tp := range a {
			if _, dup := owner[tp]; dup {
				return false, strings.Join(desc, " | ")
			}
			owner[tp] = i
		}
	}
	return len(owner) == len(all), strings.Join(desc, " | ")
}

// syncRecords is a mutex-guarded record log shared by member goroutines.
type syncRecords struct {
	mu   sync.Mutex
	recs map[key]int // how many times committed
	n    int
}

func (s *syncRecords) add(recs []processor.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[key]int{}
	}
	for _, r := range recs {
		s.recs[keyOf(r)]++
		s.n++
	}
}

func (s *syncRecords) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}
