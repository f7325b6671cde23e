package telemetry_test

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/telemetry"
)

// kafkaExposition runs a franz-go client with KafkaHooks against an
// in-process broker (one record produced and consumed), records through every
// leadscore instrument, and returns the Prometheus exposition.
func kafkaExposition(t *testing.T) string {
	t.Helper()
	tel, err := telemetry.New(context.Background(), telemetry.Config{Logger: quiet, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"),
		kgo.WithHooks(tel.KafkaHooks("test", "")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if fs := cl.PollRecords(ctx, 1); fs.NumRecords() != 1 || fs.Err0() != nil {
		t.Fatalf("consumed %d records: %v", fs.NumRecords(), fs.Err0())
	}
	var obs processor.Observer = tel.Metrics()
	obs.Consumed("tracking.web", "applied", 1)
	obs.DeadLetter("invalid_json")
	obs.Transition("b2b-saas", "mql", "sql")
	obs.Batch(1, time.Millisecond)
	obs.Latency(time.Second)
	obs.Timers(1, 1)
	obs.StoreRoundTrip("load", time.Millisecond)
	obs.Ready(true, "")
	tel.Metrics().ObserveLag(fakeLag{{Topic: "tracking.web", Partition: 0}: 1})
	// franz-go calls the produce hooks kotel records in (OnProduceBatchWritten)
	// on its own goroutine, which may run after ProduceSync has returned:
	// scrape until they have, for a few seconds at most.
	body := scrape(t, tel)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(body, "messaging_kafka_produce_records_total{") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		body = scrape(t, tel)
	}
	return body
}

// TestKafkaMetricNames: the franz-go client's series follow Prometheus
// conventions — counters end in _total once, byte counters in _bytes_total,
// no "_count_total" or lower-case "by" unit from kotel's instrument names.
func TestKafkaMetricNames(t *testing.T) {
	body := kafkaExposition(t)
	for _, want := range []string{
		"messaging_kafka_connects_total{", "messaging_kafka_write_bytes_total{", "messaging_kafka_read_bytes_total{",
		"messaging_kafka_produce_bytes_total{", "messaging_kafka_produce_records_total{",
		"messaging_kafka_fetch_bytes_total{", "messaging_kafka_fetch_records_total{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	bad := regexp.MustCompile(`(?m)^messaging_kafka_\w*(_count_total|_by_total|_by\b|_bytes_bytes)\w*`)
	if m := bad.FindAllString(body, -1); len(m) > 0 {
		t.Errorf("unconventional series names: %v", m)
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", body)
	}
}

// TestPromtoolCheckMetrics lints the whole exposition with Prometheus's own
// promtool, where it is installed (Debian: apt-get install prometheus).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("skipping: promtool is not on the PATH (Debian: apt-get install prometheus); it lints the /metrics exposition")
	}
	body := kafkaExposition(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
