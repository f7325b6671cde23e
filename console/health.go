package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Names of the metrics the health view reads (as /metrics exposes them).
const (
	promConsumed    = "leadscore_events_consumed_total"
	promDeadLetters = "leadscore_dead_letters_total"
	promLag         = "leadscore_consumer_lag"
	promReady       = "leadscore_ready"
	promTransitions = "leadscore_stage_transitions_total"
)

// Metrics is the part of /metrics the health view shows, read from the same
// handler that serves /metrics, so the numbers are the same.
type Metrics struct {
	// Available is false when the process serves no metrics.
	Available bool `json:"available"`
	// Consumed is the input records consumed since the process started, by
	// outcome; EventsPerSecond their rate since the previous reading at
	// least a second ago (nil on the first).
	Consumed        map[string]float64 `json:"consumed"`
	EventsPerSecond *float64           `json:"events_per_second"`
	// Lag is the consumer lag, in records, summed and per partition.
	Lag           float64        `json:"lag"`
	LagPartitions []PartitionLag `json:"lag_partitions"`
	// DeadLetters counts the dead letters this process sent, by reason.
	DeadLetters map[string]float64 `json:"dead_letters"`
	Transitions float64            `json:"transitions"`
	Ready       *bool              `json:"ready"`
}

// PartitionLag is the lag of one owned input partition.
type PartitionLag struct {
	Topic     string  `json:"topic"`
	Partition string  `json:"partition"`
	Lag       float64 `json:"lag"`
}

// rater remembers the last reading of the consumed counter.
type rater struct {
	mu    sync.Mutex
	at    time.Time
	total float64
	rate  *float64
}

func (r *rater) observe(now time.Time, total float64) *float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && now.Sub(r.at) >= time.Second && total >= r.total {
		v := (total - r.total) / now.Sub(r.at).Seconds()
		r.rate = &v
	}
	if r.at.IsZero() || now.Sub(r.at) >= time.Second {
		r.at, r.total = now, total
	}
	return r.rate
}

// readMetrics scrapes h (the /metrics handler) in process.
func readMetrics(h http.Handler, r *rater) (Metrics, error) {
	out := Metrics{Consumed: map[string]float64{}, DeadLetters: map[string]float64{}, LagPartitions: []PartitionLag{}}
	if h == nil {
		return out, nil
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return out, fmt.Errorf("console: /metrics answered %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		return out, fmt.Errorf("console: parsing /metrics: %w", err)
	}
	out.Available = true
	var total float64
	for _, m := range metricsOf(fams, promConsumed) {
		v := m.GetCounter().GetValue()
		out.Consumed[label(m, "outcome")] += v
		total += v
	}
	out.EventsPerSecond = r.observe(time.Now(), total)
	for _, m := range metricsOf(fams, promDeadLetters) {
		out.DeadLetters[label(m, "reason")] += m.GetCounter().GetValue()
	}
	for _, m := range metricsOf(fams, promLag) {
		v := m.GetGauge().GetValue()
		out.Lag += v
		out.LagPartitions = append(out.LagPartitions, PartitionLag{Topic: label(m, "topic"), Partition: label(m, "partition"), Lag: v})
	}
	sort.Slice(out.LagPartitions, func(i, j int) bool {
		a, b := out.LagPartitions[i], out.LagPartitions[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	for _, m := range metricsOf(fams, promTransitions) {
		out.Transitions += m.GetCounter().GetValue()
	}
	if ms := metricsOf(fams, promReady); len(ms) > 0 {
		ready := true
		for _, m := range ms {
			ready = ready && m.GetGauge().GetValue() == 1
		}
		out.Ready = &ready
	}
	return out, nil
}

func metricsOf(fams map[string]*dto.MetricFamily, name string) []*dto.Metric {
	if f, ok := fams[name]; ok {
		return f.GetMetric()
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
