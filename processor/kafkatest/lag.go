package kafkatest

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
)

// lagReporter is what the processor's event clock reads from a client that
// knows its lag (both backends do; it is not part of processor.Client).
type lagReporter interface {
	Lag() map[processor.TopicPartition]int64
}

// ReportsLag declares that the backend's clients report their lag per owned
// partition (a Lag method, read by the processor's event clock). Without it the
// lag subtest is skipped.
func ReportsLag() Option {
	return func(s *suite) { s.lag = true }
}

// After a poll, a partition's lag is the records the poll left on the broker.
func (s *suite) testLag(t *testing.T) {
	if !s.lag {
		t.Skip("backend does not declare lag (kafkatest.ReportsLag)")
	}
	c := NewCluster(t, []Topic{{"in", 1}})
	Produce(t, c.ListenAddrs(), Records("in", 20))
	cl := s.client(t, s.newClient, c, "g-lag", "in")
	lr, ok := cl.(lagReporter)
	if !ok {
		t.Fatalf("%T has no Lag method, though the backend declares kafkatest.ReportsLag", cl)
	}
	recs, err := cl.Poll(testCtx(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tp := processor.TopicPartition{Topic: "in", Partition: 0}
	if got, want := lr.Lag()[tp], int64(20-len(recs)); got != want {
		t.Fatalf("Lag after polling %d of 20 records = %d, want %d", len(recs), got, want)
	}
}
