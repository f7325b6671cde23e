package processor_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/longtest"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// scripted is a processor.Client that hands out prepared batches, one per Poll,
// and records what is produced: the processor's cycle without a broker, so a
// test chooses exactly which records are polled together and which come again.
type scripted struct {
	mu       sync.Mutex
	batches  [][]processor.Record
	produced []processor.Record
	clock    *clock
	drained  chan struct{} // closed once every batch is committed
	open     bool
	current  []processor.Record // the open batch
	kept     []processor.Record // records of it the processor kept (Keep)
	// reportLag makes Lag report, per partition, the records not yet
	// delivered, as a Kafka client learns from the high watermark.
	reportLag bool
}

func newScripted(batches [][]processor.Record, c *clock) *scripted {
	return &scripted{batches: batches, clock: c, drained: make(chan struct{})}
}

func (s *scripted) Poll(ctx context.Context) ([]processor.Record, error) {
	s.mu.Lock()
	if len(s.batches) > 0 {
		b := s.batches[0]
		s.batches = s.batches[1:]
		s.open, s.current, s.kept = true, b, nil
		for _, r := range b {
			if ms := r.Timestamp.UnixMilli(); ms > s.clock.ms.Load() {
				s.clock.Set(ms)
			}
		}
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Millisecond):
		return nil, nil // lets the processor sweep its timers
	}
}

func (s *scripted) Produce(_ context.Context, recs []processor.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.produced = append(s.produced, recs...)
	return nil
}

// Keep puts the kept records back in front of what is polled next, as a
// client's rewind would.
func (s *scripted) Keep(from map[processor.TopicPartition]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.current {
		if k, ok := from[processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}]; ok && r.Offset >= k {
			s.kept = append(s.kept, r)
		}
	}
}

func (s *scripted) Lag() map[processor.TopicPartition]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.reportLag {
		return nil
	}
	lag := map[processor.TopicPartition]int64{}
	for _, b := range append([][]processor.Record{s.kept}, s.batches...) {
		for _, r := range b {
			lag[processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}]++
		}
	}
	return lag
}

func (s *scripted) Commit(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) > 0 {
		next := slices.Clone(s.kept)
		if len(s.batches) > 0 {
			next = append(next, s.batches[0]...)
			s.batches[0] = next
		} else {
			s.batches = append(s.batches, next)
		}
		s.kept = nil
	}
	if s.open && len(s.batches) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	s.open = false
	return nil
}

func (s *scripted) Abort(context.Context) error { return nil }
func (s *scripted) Assigned() []processor.TopicPartition {
	var out []processor.TopicPartition
	for _, t := range topics.Inputs() {
		for p := int32(0); p < 3; p++ {
			out = append(out, processor.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}
func (s *scripted) Ready(context.Context) error { return nil }
func (s *scripted) Close(context.Context) error { return nil }

// logRecords places inputs on 3 partitions per topic by key, as a producer
// would, numbering offsets per partition.
func logRecords(ins []input) []processor.Record {
	next := map[string]int64{}
	out := make([]processor.Record, 0, len(ins))
	for _, in := range ins {
		h := fnv.New32a()
		h.Write(in.key)
		p := int32(h.Sum32() % 3)
		tp := fmt.Sprintf("%s/%d", in.topic, p)
		out = append(out, processor.Record{Topic: in.topic, Partition: p, Offset: next[tp], Key: in.key, Value: in.value,
			Timestamp: time.UnixMilli(in.time)})
		next[tp]++
	}
	return out
}

// The same log gives the same lead states and the same stage changes however
// its records are polled: one at a time, in batches of any size (a visitor's
// events and the identify that stitches the visitor into a known lead in one
// batch), and with earlier batches delivered again after later ones were
// committed (a rebalance, a zombie, a crash before the commit), which must add
// nothing — not even through a stitch that moved the events' lead.
func TestBatchingDoesNotChangeTheResult(t *testing.T) {
	lines, ins := generated(t, 300, 60*24*time.Hour)
	recs := logRecords(ins)
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	at := lastTime(ins)
	var oracleOut bytes.Buffer
	want := e.oracleLines(lines, at, &oracleOut)
	wantChanges, wantLeads := oracleSets(t, want)
	stitches := 0
	for _, r := range recs {
		if bytes.Contains(r.Value, []byte(`"type":"identify"`)) || bytes.Contains(r.Value, []byte(`"type":"alias"`)) {
			stitches++
		}
	}
	if len(wantChanges) < 50 || stitches < 20 {
		t.Fatalf("workload too small to mean anything: %d stage changes, %d identifies", len(wantChanges), stitches)
	}

	cases := []struct {
		name    string
		batches func() [][]processor.Record
	}{
		{"one-by-one", func() [][]processor.Record { return split(recs, func(int) int { return 1 }) }},
		{"batches-of-50", func() [][]processor.Record { return split(recs, func(int) int { return 50 }) }},
		{"batches-of-500", func() [][]processor.Record { return split(recs, func(int) int { return 500 }) }},
		{"random-sizes", func() [][]processor.Record {
			rng := rand.New(rand.NewPCG(1, 2))
			return split(recs, func(int) int { return 1 + rng.IntN(300) })
		}},
		{"redelivered-after-commit", func() [][]processor.Record {
			// Every 4th batch comes again three batches later: by then its
			// visitors may have been stitched into leads by an identify.
			bs := split(recs, func(int) int { return 40 })
			var out [][]processor.Record
			for i, b := range bs {
				out = append(out, b)
				if i >= 3 && i%4 == 0 {
					out = append(out, bs[i-3])
				}
			}
			return out
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "one-by-one" { // the longest case
				longtest.Skip(t)
			}
			store, _ := newStore(t)
			compareChanges(t, wantChanges, runBatches(t, e, store, c.batches()))
			compareLeads(t, e.models, store, wantLeads, at)
		})
	}
	// A stitch is two writes: the absorbed lead's tombstone, then the absorbing
	// lead. Losing the second (Redis gone, a crash) and processing the batch
	// again must still merge the absorbed lead, once.
	t.Run("stitch-interrupted", func(t *testing.T) {
		longtest.Skip(t) // one record per batch, as one-by-one
		store, _ := newStore(t)
		fs := &failSecondHalf{Store: store, failed: map[string]bool{}}
		compareChanges(t, wantChanges, runBatches(t, e, fs, split(recs, func(int) int { return 1 })))
		if fs.n < 5 {
			t.Fatalf("only %d stitches were interrupted", fs.n)
		}
		compareLeads(t, e.models, store, wantLeads, at)
	})
}

// failSecondHalf fails, once per lead, the write of a lead that absorbs
// another, after the tombstone of the absorbed lead was written.
type failSecondHalf struct {
	*state.Store
	mu     sync.Mutex
	failed map[string]bool
	n      int
}

func (f *failSecondHalf) Write(ctx context.Context, ups []state.Update) ([]state.Result, error) {
	f.mu.Lock()
	for _, u := range ups {
		if len(u.Absorbed) > 0 && !f.failed[u.Base.LeadID] {
			f.failed[u.Base.LeadID] = true
			f.n++
			f.mu.Unlock()
			return nil, fmt.Errorf("injected: %w", state.ErrUnavailable)
		}
	}
	f.mu.Unlock()
	return f.Store.Write(ctx, ups)
}

// runBatches runs a processor over the batches until all are committed and
// returns what it produced.
func runBatches(t *testing.T, e *env, store processor.Store, batches [][]processor.Record) []processor.Record {
	t.Helper()
	clk := &clock{}
	return runScripted(t, e, store, newScripted(batches, clk), clk)
}

// runScripted runs a processor on a scripted client until all its batches
// are committed and returns what it produced.
func runScripted(t *testing.T, e *env, store processor.Store, cl *scripted, clk *clock) []processor.Record {
	t.Helper()
	drainScripted(t, e, store, cl, processor.Config{Now: clk.Now})()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.produced
}

// drainScripted starts a processor on a scripted client and returns once every
// batch is committed, the processor still running; stop ends it. cfg's zero
// fields take the tests' settings (10 ms ticks, short backoff, no outbox
// retry within a test).
func drainScripted(t *testing.T, e *env, store processor.Store, cl *scripted, cfg processor.Config) (stop func()) {
	t.Helper()
	cfg.Topics, cfg.Logger = topics, quiet
	cfg.TimerTick = cmp.Or(cfg.TimerTick, 10*time.Millisecond)
	cfg.BackoffMin, cfg.BackoffMax, cfg.OutboxRetry = 10*time.Millisecond, 100*time.Millisecond, time.Hour
	p, err := processor.New(cfg, cl, store, e.models)
	if err != nil {
		t.Fatal(err)
	}
	// Traced, as leadscore run always is (a no-op provider when no traces
	// are exported): the tracing wrappers once hid the client's lag from the
	// event-time merge, which then applied every batch whole.
	p.SetTracing(tracenoop.NewTracerProvider(), propagation.TraceContext{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Fatalf("run: %v", err)
		}
	}
	select {
	case <-cl.drained:
	case err := <-done:
		cancel()
		t.Fatalf("processor stopped: %v", err)
	case <-time.After(2 * time.Minute):
		stop()
		t.Fatal("batches not all committed within 2 minutes")
	}
	return stop
}

// split cuts recs into consecutive batches of the sizes size(i) gives.
func split(recs []processor.Record, size func(i int) int) [][]processor.Record {
	var out [][]processor.Record
	for i, rest := 0, recs; len(rest) > 0; i++ {
		n := min(size(i), len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out
}

func compareChanges(t *testing.T, want map[string]map[string]any, produced []processor.Record) {
	t.Helper()
	got := map[string]map[string]any{}
	dups := 0
	for _, r := range produced {
		if r.Topic != topics.StageChanges {
			t.Errorf("unexpected output on %s: %s", r.Topic, r.Value)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		id := m["id"].(string)
		if _, ok := got[id]; ok {
			dups++
		}
		got[id] = m
	}
	var diffs []string
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s %v %v→%v", w["lead_id"], w["event_time"], w["from"], w["to"]))
			continue
		}
		for k, v := range w {
			if k != "processed_at" && !reflect.DeepEqual(v, g[k]) {
				diffs = append(diffs, fmt.Sprintf("%s %s: oracle %v, live %v", w["lead_id"], k, v, g[k]))
			}
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s %v %v→%v", g["lead_id"], g["event_time"], g["from"], g["to"]))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("%d stage-change differences from the oracle's %d (%d produced, %d duplicates), e.g.:\n  %s",
			len(diffs), len(want), len(produced), dups, strings.Join(diffs[:min(8, len(diffs))], "\n  "))
	}
	if dups > 0 {
		t.Errorf("%d duplicate stage changes without any crash", dups)
	}
}

func compareLeads(t *testing.T, set *scoring.Set, store *state.Store, want map[string]map[string]any, at int64) {
	t.Helper()
	ids := make([]string, 0, len(want))
	for k := range want {
		ids = appendUniqueID(ids, leadOfKey(k))
	}
	sort.Strings(ids)
	recs, err := store.Load(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	var diffs []string
	for _, id := range ids {
		r := recs[id]
		if !r.Exists() || r.MergedInto != "" {
			diffs = append(diffs, fmt.Sprintf("%s: no live record (merged into %q)", id, r.MergedInto))
			continue
		}
		l, err := set.DecodeNames(r.Data, namesFor(t, store, r.Data))
		if err != nil {
			t.Fatal(err)
		}
		for i, eng := range set.Engines() {
			st := &l.States[i]
			eng.Advance(st, at)
			ll := replay.NewLeadLine(eng, id, output.IdentitiesFromKeys(r.Identities), st, at)
			diffs = append(diffs, diffLine(&ll, want[leadKey(id, eng.Model().Name)])...)
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("%d lead-state differences over %d leads, e.g.:\n  %s", len(diffs), len(ids), strings.Join(diffs[:min(8, len(diffs))], "\n  "))
	}
}

// leadKey keys the oracle's lead lines: the lead id, and for a named
// model's line NUL and the model (no lead id holds a NUL).
func leadKey(lead, model string) string {
	if model == "" {
		return lead
	}
	return lead + "\x00" + model
}

func leadOfKey(k string) string {
	lead, _, _ := strings.Cut(k, "\x00")
	return lead
}

func appendUniqueID(ids []string, id string) []string {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// diffLine lists where the live lead line ll differs from the oracle's.
func diffLine(ll *replay.LeadLine, want map[string]any) []string {
	b, _ := json.Marshal(ll)
	var g map[string]any
	_ = json.Unmarshal(b, &g)
	var diffs []string
	for k, v := range want {
		if !reflect.DeepEqual(v, g[k]) {
			diffs = append(diffs, fmt.Sprintf("%s %s %s: oracle %v, live %v", ll.LeadID, ll.Model, k, v, g[k]))
		}
	}
	return diffs
}
