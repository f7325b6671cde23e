package processor_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/journeys"
)

// TestThroughput measures the end-to-end rate (kfake broker in process, the state
// store on LEADSCORE_REDIS_ADDR or miniredis, the franz-go backend): N generated
// events are produced first, then the processor consumes them all. It runs only
// when LEADSCORE_THROUGHPUT=N is set (e.g. 1000000), since it is a measurement,
// not a check.
func TestThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LEADSCORE_THROUGHPUT"))
	if n <= 0 {
		t.Skip("LEADSCORE_THROUGHPUT not set: set it to a number of events to measure end-to-end throughput")
	}
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 6)
	g, err := journeys.New(journeys.Config{Seed: 3, Leads: max(1, n/10), Span: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prod, _ := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ProducerLinger(5*time.Millisecond))
	defer prod.Close()
	var last int64
	count := 0
	t0 := time.Now()
	for count < n {
		r, ok := g.Next()
		if !ok {
			break
		}
		topic := map[string]string{journeys.TopicWeb: topics.Web, journeys.TopicEmail: topics.Email, journeys.TopicFeedback: topics.Feedback}[r.Topic]
		prod.Produce(ctx, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
		last = max(last, r.Time.UnixMilli())
		count++
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d events for %d leads in %v", count, g.Stats().Leads, time.Since(t0).Round(time.Millisecond))
	e.clock.Set(last)
	start := time.Now()
	e.start(backends[0], nil)
	// Wait until the group has committed every input partition to its end.
	ends, err := e.adm.ListEndOffsets(ctx, topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		offs, err := e.adm.FetchOffsets(ctx, e.group)
		done := err == nil
		ends.Each(func(o kadm.ListedOffset) {
			if c, ok := offs.Lookup(o.Topic, o.Partition); !ok || c.At < o.Offset {
				done = false
			}
		})
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("processed %d events in %v: %.0f events/s end to end (kfake + store + processor in one process)",
		count, took.Round(time.Millisecond), float64(count)/took.Seconds())
}
