package processor_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/longtest"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/rules"
)

// oracleSets splits the oracle's output into stage changes by id and final
// lead lines by lead id.
func oracleSets(t *testing.T, lines [][]byte) (changes, leads map[string]map[string]any) {
	t.Helper()
	changes, leads = map[string]map[string]any{}, map[string]map[string]any{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		switch m["type"] {
		case "stage_change":
			changes[m["id"].(string)] = m
		case "lead":
			model, _ := m["model"].(string)
			leads[leadKey(m["lead_id"].(string), model)] = m
		}
	}
	return changes, leads
}

// A history load dated months before today, delivered in waves with pauses in
// between (as a backfill or a catch-up arrives): timers run on the event-time
// watermark, so the stage changes equal the oracle's at the log's end — no
// regression fired by the wall clock between waves and undone by the next one —
// and once the input has been idle for IdleTimeout the wall clock takes over and
// the changes due by now fire, exactly the oracle's brought to now.
func TestBackfillFiresTimersOnEventTime(t *testing.T) {
	lines, ins := generated(t, 300, 90*24*time.Hour)
	recs := logRecords(ins)
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	end := lastTime(ins)
	now := end + (150 * 24 * time.Hour).Milliseconds() // today: five months after the history

	var buf bytes.Buffer
	atEnd, _ := oracleSets(t, e.oracleLines(lines, end, &buf))
	buf.Reset()
	atNow, leadsNow := oracleSets(t, e.oracleLines(lines, now, &buf))
	decayed := 0
	for id := range atNow {
		if _, ok := atEnd[id]; !ok {
			decayed++
		}
	}
	if decayed < 20 {
		t.Fatalf("workload too small: only %d changes fall due between the log's end and now", decayed)
	}

	// Three waves with empty polls between them (the processor sweeps its
	// timers meanwhile), each wave in batches of 100.
	var batches [][]processor.Record
	third := len(recs) / 3
	for i, wave := range [][]processor.Record{recs[:third], recs[third : 2*third], recs[2*third:]} {
		if i > 0 {
			for range 20 {
				batches = append(batches, nil)
			}
		}
		batches = append(batches, split(wave, func(int) int { return 100 })...)
	}

	store, _ := newStore(t)
	start := time.Now()
	wall := func() time.Time { return time.UnixMilli(now).Add(time.Since(start)) }
	cl := newScripted(batches, &clock{})
	stop := drainScripted(t, e, store, cl, processor.Config{Now: wall, IdleTimeout: 3 * time.Second})
	defer stop()
	time.Sleep(200 * time.Millisecond) // a few more timer ticks, well within IdleTimeout
	if idle := time.Since(start); idle > 3*time.Second {
		t.Logf("the run took %v: the check at the log's end may see wall-clock changes", idle)
	}
	cl.mu.Lock()
	produced := slices.Clone(cl.produced)
	cl.mu.Unlock()
	compareChanges(t, atEnd, produced)

	// Idle: the wall clock takes over and what is due by now fires.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl.mu.Lock()
		produced = slices.Clone(cl.produced)
		cl.mu.Unlock()
		if len(produced) >= len(atNow) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cl.mu.Lock()
	produced = slices.Clone(cl.produced)
	cl.mu.Unlock()
	compareChanges(t, atNow, produced)
	compareLeads(t, e.models, store, leadsNow, now)
}

// The order in which the partitions of a batch were fetched does not matter:
// the processor applies each lead's events in the canonical order, so a
// visitor's pages polled after the identify that stitches them give the
// oracle's result (their cap counted once, in event time, before the merge).
func TestFetchOrderWithinABatchDoesNotMatter(t *testing.T) {
	lines, ins := generated(t, 200, 60*24*time.Hour)
	recs := logRecords(ins)
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	at := lastTime(ins)
	var buf bytes.Buffer
	wantChanges, wantLeads := oracleSets(t, e.oracleLines(lines, at, &buf))

	// Batches of 400 records whose partitions are delivered in a random
	// order (each partition's records keep their offset order, as Kafka
	// guarantees), the way a client concatenates fetches.
	rng := rand.New(rand.NewPCG(3, 4))
	var batches [][]processor.Record
	for _, b := range split(recs, func(int) int { return 400 }) {
		byTP := map[string][]processor.Record{}
		var tps []string
		for _, r := range b {
			k := r.Topic + "/" + string(rune('0'+r.Partition))
			if _, ok := byTP[k]; !ok {
				tps = append(tps, k)
			}
			byTP[k] = append(byTP[k], r)
		}
		rng.Shuffle(len(tps), func(i, j int) { tps[i], tps[j] = tps[j], tps[i] })
		var out []processor.Record
		for _, k := range tps {
			out = append(out, byTP[k]...)
		}
		batches = append(batches, out)
	}
	store, _ := newStore(t)
	compareChanges(t, wantChanges, runBatches(t, e, store, batches))
	compareLeads(t, e.models, store, wantLeads, at)
}

// fetchLike cuts a backlog into batches the way a Kafka client fetches it:
// each batch takes the next n records of every partition, so one batch covers
// months of a sparse partition and days of a dense one.
func fetchLike(recs []processor.Record, n int) [][]processor.Record {
	byTP := map[processor.TopicPartition][]processor.Record{}
	var tps []processor.TopicPartition
	for _, r := range recs {
		tp := processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if _, ok := byTP[tp]; !ok {
			tps = append(tps, tp)
		}
		byTP[tp] = append(byTP[tp], r)
	}
	var out [][]processor.Record
	for {
		var b []processor.Record
		for _, tp := range tps {
			k := min(n, len(byTP[tp]))
			b = append(b, byTP[tp][:k]...)
			byTP[tp] = byTP[tp][k:]
		}
		if len(b) == 0 {
			return out
		}
		out = append(out, b)
	}
}

// A backlog fetched partition by partition: the event-time merge applies each
// batch only as far as every partition that still lags is known, and keeps the
// rest for the next poll, so the result is the oracle's. Applied whole (as
// before the merge), the same batches give other handoffs.
func TestBacklogIsMergedAcrossPartitions(t *testing.T) {
	lines, ins := generated(t, 300, 60*24*time.Hour)
	recs := logRecords(ins)
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	at := lastTime(ins)
	var buf bytes.Buffer
	wantChanges, wantLeads := oracleSets(t, e.oracleLines(lines, at, &buf))

	for _, merged := range []bool{true, false} {
		store, _ := newStore(t)
		clk := &clock{}
		cl := newScripted(fetchLike(recs, 40), clk)
		cl.reportLag = merged
		produced := runScripted(t, e, store, cl, clk)
		if merged {
			compareChanges(t, wantChanges, produced)
			compareLeads(t, e.models, store, wantLeads, at)
			continue
		}
		// Without lag the merge has nothing to wait for: the test is only
		// meaningful if that gives a different result.
		got := map[string]bool{}
		for _, r := range produced {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err == nil {
				got[m["id"].(string)] = true
			}
		}
		diff := 0
		for id := range wantChanges {
			if !got[id] {
				diff++
			}
		}
		if diff == 0 {
			t.Fatal("batches applied whole give the oracle's changes too: the workload does not exercise the merge")
		}
		t.Logf("applied whole, %d of the oracle's %d changes are missing", diff, len(wantChanges))
	}
}

// A backlog already in Kafka — web events keyed as Segment keys them (userId,
// else anonymousId), e-mail events by address, feedback by lead, on 3
// partitions per topic — consumed by one processor with each Kafka client: the
// stage-change ids and the final lead states equal the oracle's.
func TestBacklogThroughKafkaEqualsTheOracle(t *testing.T) {
	lines, ins := generated(t, 300, 60*24*time.Hour)
	for _, v := range []struct {
		name              string
		lanes, writeChunk int
	}{
		{"default", 0, 0},
		{"1-lane", 1, 0},
		// Many lanes and chunks of a few leads: shares and chunks apply and
		// write side by side, stitched leads in one share.
		{"4-lanes-chunks-of-5", 4, 5},
	} {
		t.Run(v.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				if b.name != "franz-go" || v.name != "default" {
					longtest.Skip(t)
				}
				e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
				e.lanes, e.writeChunk = v.lanes, v.writeChunk
				backlogEqualsTheOracle(t, e, b, lines, ins)
			})
		})
	}
}

// Two models side by side — b2b-saas and b2c-shop, stages of the same
// names, one consumption of the input — through Kafka: both models'
// stage-change ids, and every lead's state under each, equal the oracle's
// running the same two models; each change names its model in its payload.
func TestSeveralModelsThroughKafkaEqualTheOracle(t *testing.T) {
	lines, ins := generated(t, 300, 60*24*time.Hour)
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
		set, err := rules.LoadSet("../examples/rules/b2b-saas.yaml", "../examples/rules/b2c-shop.yaml")
		if err != nil {
			t.Fatal(err)
		}
		e.models = set
		live := backlogEqualsTheOracle(t, e, b, lines, ins)
		perModel := map[string]int{}
		for _, v := range live {
			var m struct{ Model string }
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatal(err)
			}
			perModel[m.Model]++
		}
		if len(perModel) != 2 || perModel["b2b-saas"] == 0 || perModel["b2c-shop"] == 0 {
			t.Fatalf("stage changes per model: %v", perModel)
		}
	})
}

// backlogEqualsTheOracle produces the backlog ins to Kafka, consumes it with
// one processor of backend b and checks the stage-change ids and the final
// lead states against the oracle's on lines. It returns the stage changes.
func backlogEqualsTheOracle(t *testing.T, e *env, b backend, lines [][]byte, ins []input) [][]byte {
	t.Helper()
	at := lastTime(ins)
	e.store, _ = newStore(t)
	e.clock.Set(ins[0].time) // the processing clock stands at the history's start: no timer falls due
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var krs []*kgo.Record
	for _, in := range ins {
		krs = append(krs, &kgo.Record{Topic: in.topic, Key: in.key, Value: in.value})
	}
	if err := e.prod.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ends := map[processor.TopicPartition]int64{}
	for _, r := range krs {
		ends[processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	}
	e.start(b, nil)
	for tp, end := range ends {
		e.waitCommitted(ctx, tp.Topic, tp.Partition, end)
	}
	want := e.oracleNoAdvance(lines)
	live := e.readTopic(topics.StageChanges, len(want), 10*time.Second)
	sameChanges(t, live, want)
	var buf bytes.Buffer
	_, wantLeads := oracleSets(t, e.oracleLines(lines, at, &buf))
	compareLeads(t, e.models, e.store, wantLeads, at)
	return live
}

// lateObserver counts what a live-ordering test checks: late events and
// records consumed by outcome.
type lateObserver struct {
	mu       sync.Mutex
	late     int
	consumed map[string]int
}

func (o *lateObserver) Consumed(_, outcome string, n int) {
	o.mu.Lock()
	o.consumed[outcome] += n
	o.mu.Unlock()
}
func (o *lateObserver) Late(string) {
	o.mu.Lock()
	o.late++
	o.mu.Unlock()
}
func (o *lateObserver) DeadLetter(string)                        {}
func (o *lateObserver) Transition(string, string, string)        {}
func (o *lateObserver) AccountTransition(string, string, string) {}
func (o *lateObserver) Batch(int, time.Duration)                 {}
func (o *lateObserver) Latency(time.Duration)                    {}
func (o *lateObserver) Timers(int, int)                          {}
func (o *lateObserver) StoreRoundTrip(string, time.Duration)     {}
func (o *lateObserver) Ready(bool, string)                       {}

// Live traffic where e-mail events reach Kafka up to 2 s after their event
// time (webhooks lag the tracking pipeline): with a 3 s reorder wait, every
// lead's events are applied in event-time order and the result is exactly the
// oracle's; with the default (no wait), the e-mail events that come after later
// web events of their lead are applied late — each once, counted — and some
// handoffs differ (docs/processing.md, "Late events").
func TestLiveReorderWait(t *testing.T) {
	lines, ins := generated(t, 150, 60*24*time.Hour)
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	end := lastTime(ins)
	var buf bytes.Buffer
	wantChanges, wantLeads := oracleSets(t, e.oracleLines(lines, end, &buf))

	emails := 0
	for _, in := range ins {
		if in.topic == topics.Email {
			emails++
		}
	}
	if emails < 50 {
		t.Fatalf("only %d e-mail events: nothing to reorder", emails)
	}
	// arrive lays the log out as it reaches Kafka: e-mail events up to lag
	// after their event time, each partition's offsets in arrival order (as a
	// broker assigns them), polled in 10 s windows of arrival; a last record
	// an hour later moves the clock on, so that a held tail goes out.
	arrive := func(lag time.Duration) [][]processor.Record {
		rng := rand.New(rand.NewPCG(5, 6))
		arr := slices.Clone(ins)
		for i := range arr {
			if arr[i].topic == topics.Email {
				arr[i].time += rng.Int64N(lag.Milliseconds() + 1)
			}
		}
		slices.SortStableFunc(arr, func(a, b input) int { return cmp.Compare(a.time, b.time) })
		recs := logRecords(arr) // Timestamp: the arrival time, which the scripted clock follows
		var batches [][]processor.Record
		for i := 0; i < len(recs); {
			j := i + 1
			for j < len(recs) && recs[j].Timestamp.Sub(recs[i].Timestamp) < 10*time.Second {
				j++
			}
			batches = append(batches, recs[i:j])
			i = j
		}
		return append(batches, []processor.Record{{Topic: topics.Web, Partition: 0, Offset: 1 << 40, Value: []byte("{"),
			Timestamp: recs[len(recs)-1].Timestamp.Add(time.Hour)}})
	}

	cases := []struct {
		lag, wait time.Duration
	}{
		{2 * time.Second, 3 * time.Second}, // the documented setting: exactly the oracle's
		{5 * time.Minute, 0},               // no wait: late events, each applied once and counted
		{5 * time.Minute, 6 * time.Minute}, // the same log with a wait longer than its lag: the oracle's again
	}
	for i, c := range cases {
		wait := c.wait
		t.Run(fmt.Sprintf("lag-%v-wait-%v", c.lag, c.wait), func(t *testing.T) {
			if i > 0 {
				longtest.Skip(t)
			}
			batches := arrive(c.lag)
			store, _ := newStore(t)
			clk := &clock{}
			cl := newScripted(slices.Clone(batches), clk)
			obs := &lateObserver{consumed: map[string]int{}}
			// A short tick: the processor pauses up to a tick while it holds
			// events, in real time, which the scripted clock does not follow.
			stop := drainScripted(t, e, store, cl, processor.Config{TimerTick: time.Millisecond, Now: clk.Now,
				ReorderWait: wait, IdleTimeout: 1000 * time.Hour, Observer: obs})
			time.Sleep(100 * time.Millisecond) // the last timer sweeps
			stop()
			cl.mu.Lock()
			var changes []processor.Record
			for _, r := range cl.produced {
				if r.Topic == topics.StageChanges {
					changes = append(changes, r)
				}
			}
			cl.mu.Unlock()
			obs.mu.Lock()
			late, consumed := obs.late, maps.Clone(obs.consumed)
			obs.mu.Unlock()
			applied := 0
			for outcome, n := range consumed {
				if outcome != "replayed" {
					applied += n
				}
			}
			applied -= consumed["dead_letter"] // the last record, which only moves the clock
			if applied != len(ins) || consumed["replayed"] != 0 {
				t.Errorf("consumed %v: want each of the %d events once", consumed, len(ins))
			}
			if wait > 0 {
				if late != 0 {
					t.Errorf("%d late events with a %v reorder wait", late, wait)
				}
				compareChanges(t, wantChanges, changes)
				compareLeads(t, e.models, store, wantLeads, end)
				return
			}
			if late == 0 {
				t.Fatal("no late event without a reorder wait: the workload does not exercise it")
			}
			t.Logf("without a reorder wait: %d of %d events late, %d stage changes (the oracle has %d)", late, len(ins), len(changes), len(wantChanges))
		})
	}
}
