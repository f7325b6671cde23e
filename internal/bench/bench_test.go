package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/processor"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // fragment of the error; "" for valid
	}{
		{"defaults with a Redis", Config{RedisAddr: "127.0.0.1:6379"}, ""},
		{"no Redis", Config{}, "no Redis given"},
		{"no Redis but miniredis allowed", Config{AllowMiniredis: true}, ""},
		{"ceiling needs no Redis", Config{Scenarios: []string{Ceiling}}, ""},
		{"soak needs Redis", Config{Scenarios: []string{Ceiling}, Soak: time.Minute}, "no Redis given"},
		{"unknown scenario", Config{RedisAddr: "x:1", Scenarios: []string{"flink"}}, `unknown scenario "flink"`},
		{"uniform workload", Config{RedisAddr: "x:1", Workload: Uniform}, ""},
		{"unknown workload", Config{RedisAddr: "x:1", Workload: "zipf"}, `unknown workload "zipf"`},
		{"goka needs no Redis", Config{Scenarios: []string{Goka}}, ""},
		{"scenario twice", Config{RedisAddr: "x:1", Scenarios: []string{Naive, Naive}}, `scenario "naive" given twice`},
		{"negative events", Config{RedisAddr: "x:1", Events: -1}, "events must be positive"},
		{"too many partitions", Config{RedisAddr: "x:1", Partitions: 5000}, "partitions must be within"},
		{"negative linger", Config{RedisAddr: "x:1", ProducerLinger: -time.Millisecond}, "must not be negative"},
		{"fixed latency rate", Config{RedisAddr: "x:1", LatencyRate: 20000}, ""},
		{"negative offer linger", Config{RedisAddr: "x:1", OfferLinger: -time.Millisecond}, "must not be negative"},
		{"negative latency rate", Config{RedisAddr: "x:1", LatencyRate: -1}, "latency rate must be"},
		{"infinite latency rate", Config{RedisAddr: "x:1", LatencyRate: math.Inf(1)}, "latency rate must be"},
		{"four models", Config{RedisAddr: "x:1", Models: 4}, ""},
		{"negative models", Config{RedisAddr: "x:1", Models: -1}, "models must be within 1..16"},
		{"too many models", Config{RedisAddr: "x:1", Models: MaxModels + 1}, "models must be within 1..16"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.setDefaults()
			err := c.cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name string
		ds   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of 1..100", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p99.9 of 1..100 is the max", ms(hundred...), 0.999, 100 * time.Millisecond},
		{"p0 is the min", ms(3, 4, 5), 0, 3 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.ds, c.q); got != c.want {
				t.Fatalf("percentile(%v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	cases := []struct {
		leads  int64
		shards int
		want   int
	}{
		{0, 64, 256},
		{1000, 64, 256},
		{100_000, 64, 3072},
		{1_000_000, 64, 31232},
	}
	for _, c := range cases {
		got := buckets(c.leads, c.shards)
		if got != c.want || got%(4*c.shards) != 0 {
			t.Errorf("buckets(%d, %d) = %d, want %d (a multiple of %d)", c.leads, c.shards, got, c.want, 4*c.shards)
		}
	}
}

// TestRunTiny runs every scenario on a tiny history (kfake in process; the Redis
// of LEADSCORE_REDIS_ADDR, else miniredis) and checks the result's invariants,
// and that the naive design and leadscore give the same stage changes.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Kafka and Redis scenarios end to end")
	}
	addr := os.Getenv("LEADSCORE_REDIS_ADDR")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const events = 3000
	inProcess := []string{Ceiling, Naive, FranzGoUncached, FranzGo, KafkaGo} // goka: TestGokaScenario
	res, err := Run(ctx, Config{RedisAddr: addr, AllowMiniredis: addr == "", Events: events, Leads: 300, Partitions: 1, Lanes: 1,
		LatencyEvents: 1500, LatencyDuration: time.Second, Scenarios: inProcess})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != len(inProcess) {
		t.Fatalf("%d scenarios, want %d", len(res.Scenarios), len(inProcess))
	}
	for i, name := range inProcess {
		s := res.Scenarios[i]
		if s.Name != name {
			t.Fatalf("scenario %d is %q, want %q", i, s.Name, name)
		}
		if s.Events != events || s.EventsPerSec <= 0 || s.Seconds <= 0 || s.CPUPerMillion <= 0 || s.PeakRSS <= 0 {
			t.Errorf("%s: implausible %+v", name, s)
		}
		if want := s.EventsPerSec / res.Scenario(Ceiling).EventsPerSec; !near(s.VsCeiling, want) {
			t.Errorf("%s: × ceiling %v, want %v", name, s.VsCeiling, want)
		}
		if want := s.EventsPerSec / res.Scenario(Naive).EventsPerSec; !near(s.VsNaive, want) {
			t.Errorf("%s: × naive %v, want %v", name, s.VsNaive, want)
		}
		l := s.Latency
		switch {
		case l == nil:
			t.Errorf("%s: no latency phase", name)
		case l.Samples == 0:
			t.Errorf("%s: no latency sample", name)
		case !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max):
			t.Errorf("%s: latency percentiles out of order: %+v", name, l)
		case !near(l.OfferedRate, s.EventsPerSec/2):
			t.Errorf("%s: offered %v events/s, want half of %v", name, l.OfferedRate, s.EventsPerSec)
		case l.CPUPerMillion <= 0:
			t.Errorf("%s: no CPU time counted in the latency phase", name)
		}
		if name == Ceiling {
			if s.Outputs != events || s.RedisCommandsPerEvent != 0 {
				t.Errorf("ceiling: %d outputs (want %d, one copy each), %v Redis commands per event (want 0)", s.Outputs, events, s.RedisCommandsPerEvent)
			}
			continue
		}
		if s.Outputs == 0 || s.Outputs >= events {
			t.Errorf("%s: %d stage changes for %d events", name, s.Outputs, events)
		}
		if s.RedisCommandsPerEvent <= 0 && addr != "" { // miniredis does not count
			t.Errorf("%s: no Redis command counted", name)
		}
		if name == Naive {
			continue
		}
		// Each phase has its breakdown. A batch is counted once committed, so the
		// throughput phase's last one may land in the latency phase's: only the
		// sum is exact (at least every event once).
		bt, bl := s.Breakdown, s.LatencyBreakdown
		switch {
		case bt == nil || bl == nil || l == nil:
			t.Errorf("%s: breakdowns %v / %v, want both phases", name, bt, bl)
		case bt.Batches == 0 || bl.Batches == 0 || bt.Records+bl.Records < events+l.Events || bl.Store["write"].Count == 0:
			t.Errorf("%s: throughput phase %+v, latency phase %+v: want batches in both, writes, ≥ %d records in all", name, bt, bl, events+l.Events)
		}
	}
	if res.Scenario(Ceiling).VsCeiling != 1 || res.Scenario(Naive).VsNaive != 1 {
		t.Errorf("a scenario's ratio to itself is not 1")
	}
	if len(res.Agreement) != 6 {
		t.Fatalf("agreement %+v, want franz-go (with and without working set) and kafka-go vs naive and vs the oracle", res.Agreement)
	}
	for _, a := range res.Agreement {
		if a.Against == "oracle" {
			t.Logf("%s vs the oracle: %d the same, %d only live, %d only in the oracle", a.Scenario, a.Same, a.OnlyThis, a.OnlyNaive)
			if a.Same == 0 || a.OnlyThis+a.OnlyNaive != 0 {
				t.Errorf("%s differs from the oracle: %d the same, %d only live, %d only in the oracle; e.g. %v",
					a.Scenario, a.Same, a.OnlyThis, a.OnlyNaive, a.examples[:min(6, len(a.examples))])
			}
			continue
		}
		// On a backlog, each design applies a person's events in the order its
		// fetches deliver records of different topics, which varies from run to
		// run: only the volumes compare (TestNaiveAgreesInOrder compares exactly).
		naive, this := a.Same+a.OnlyNaive, a.Same+a.OnlyThis
		if a.Same == 0 || 2*this < naive || this > 2*naive {
			t.Errorf("%s and naive disagree on stage changes: %d the same, %d only naive, %d only %[1]s", a.Scenario, a.Same, a.OnlyNaive, a.OnlyThis)
		}
	}
	if (addr == "") != (len(res.Warnings) == 1) {
		t.Errorf("warnings %q with Redis address %q", res.Warnings, addr)
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range append(inProcess, "| scenario ", "× ceiling", "p99 ms", "Redis B/lead", "franz-go vs naive", "kafka-go latency phase at ") {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != len(inProcess) || back.Scenarios[2].EventsPerSec != res.Scenarios[2].EventsPerSec {
		t.Errorf("JSON does not round-trip: %s", js.String())
	}
}

// TestFixedLatencyRate offers the latency phase at the given rate, not at half
// the measured one, and says so in the setup line.
func TestFixedLatencyRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Kafka scenario end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Events: 2000, Leads: 200, Partitions: 1, Scenarios: []string{Ceiling},
		LatencyEvents: 500, LatencyDuration: 500 * time.Millisecond, LatencyRate: 777, OfferLinger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Scenarios[0].Latency
	if l == nil || l.OfferedRate != 777 || l.Events != 388 || l.Samples == 0 {
		t.Fatalf("latency phase %+v, want 388 events offered at 777/s (for 0.5 s), timed", l)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "latency phases at 777 events/s, offered with 1ms linger") {
		t.Errorf("the setup line does not give the fixed rate:\n%s", table.String())
	}
}

func near(a, b float64) bool { return a == b || (a-b)/b < 1e-9 && (b-a)/b < 1e-9 }

// TestNaiveAgreesInOrder feeds the same small history, one record at a time, to
// the naive design and to leadscore (franz-go), waiting until both have committed
// each record before the next: processing order is then the history's, and both
// must produce exactly the same stage changes.
func TestNaiveAgreesInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Kafka and Redis scenarios end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := os.Getenv("LEADSCORE_REDIS_ADDR")
	if addr == "" {
		addr = miniredis.RunT(t).Addr()
	}
	data, err := generate(Journeys, 7, 40, 300, 0)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := openCluster(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.close) // cleanups run last-in first-out: after the workers stop
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ms, err := loadModels(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Partitions: 1, FetchMaxWait: 20 * time.Millisecond}
	cfg.setDefaults()
	t0 := time.Now()
	env := &scenarioEnv{cfg: &cfg, cluster: cl, rdb: rdb, redisAddr: addr, eng: ms.set.Engines()[0], models: ms.set, people: data.people,
		clock: func() time.Time { return data.start.Add(time.Since(t0)) }, runID: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	type side struct {
		name, group string
		topics      processor.Topics
		run         *started
		ids         map[string]string
	}
	var sides []*side
	for _, name := range []string{Naive, FranzGo} {
		s := &side{name: name, group: "agree-" + env.runID + "-" + name, topics: scenarioTopics(env.runID, name)}
		if err := cl.createTopics(ctx, s.topics, 1, 0); err != nil {
			t.Fatal(err)
		}
		prefix := "agree" + env.runID + name[:1]
		w, err := newWorker(ctx, env, name, s.group, s.topics, prefix)
		if err != nil {
			t.Fatal(err)
		}
		s.run = start(ctx, w)
		t.Cleanup(func() {
			if err := s.run.stop(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			_ = deletePrefix(context.Background(), rdb, prefix)
		})
		sides = append(sides, s)
	}
	live, err := cl.newLive()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	for _, r := range data.backlog() {
		for _, s := range sides {
			rec := &kgo.Record{Topic: topicOf(s.topics, r.Topic), Key: r.Key, Value: r.Value}
			if err := live.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
			ends := kadm.ListedOffsets{rec.Topic: {0: {Topic: rec.Topic, Partition: 0, Offset: rec.Offset + 1}}}
			if err := cl.waitCommitted(ctx, s.group, ends, s.run.done); err != nil {
				t.Fatalf("%s: %v", s.name, s.run.why(err))
			}
		}
	}
	for _, s := range sides {
		s.ids = map[string]string{}
		if err := cl.readAll(ctx, s.topics.StageChanges, func(r *kgo.Record) {
			var x struct {
				ID     string `json:"id"`
				LeadID string `json:"lead_id"`
				From   string `json:"from"`
				To     string `json:"to"`
			}
			if err := json.Unmarshal(r.Value, &x); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
			s.ids[x.ID] = x.LeadID + " " + x.From + "→" + x.To
		}); err != nil {
			t.Fatal(err)
		}
	}
	naive, fg := sides[0].ids, sides[1].ids
	if len(naive) < 10 {
		t.Fatalf("only %d stage changes: the history is too small to compare", len(naive))
	}
	for id, d := range naive {
		if _, ok := fg[id]; !ok {
			t.Errorf("only in naive: %s (%s)", d, id)
		}
	}
	for id, d := range fg {
		if _, ok := naive[id]; !ok {
			t.Errorf("only in franz-go: %s (%s)", d, id)
		}
	}
	t.Logf("%d stage changes, the same in both", len(naive))
}

// TestRunTwoModels runs the leadscore scenario with two models side by side
// (and naive, which runs the first alone): both models' stage changes must
// come out, differ from each other, and equal the oracle running the same two
// models; naive is compared on the first model's changes only.
func TestRunTwoModels(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Kafka and Redis scenarios end to end")
	}
	addr := os.Getenv("LEADSCORE_REDIS_ADDR")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{RedisAddr: addr, AllowMiniredis: addr == "", Events: 3000, Leads: 300, Partitions: 1, Lanes: 1,
		LatencyDuration: -1, Models: 2, Scenarios: []string{Naive, FranzGo}})
	if err != nil {
		t.Fatal(err)
	}
	fg, nv := res.Scenario(FranzGo), res.Scenario(Naive)
	if res.Setup.Models != 2 || fg == nil || fg.Models != 2 || nv == nil || nv.Models != 1 {
		t.Fatalf("setup models %d, franz-go %+v, naive %+v: want 2, 2 and 1", res.Setup.Models, fg, nv)
	}
	byModel := func(ids map[string]change) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, c := range ids {
			if m[c.model] == nil {
				m[c.model] = map[string]bool{}
			}
			// Without the model's name, so the two models' decisions compare.
			m[c.model][strings.TrimSuffix(c.desc, " of model "+c.model)] = true
		}
		return m
	}
	got := byModel(fg.ids)
	if len(got) != 2 || len(got["m1"]) == 0 || len(got["m2"]) == 0 {
		t.Fatalf("franz-go's stage changes by model: %d of m1, %d of m2, %d models in all; want both", len(got["m1"]), len(got["m2"]), len(got))
	}
	if maps.Equal(got["m1"], got["m2"]) {
		t.Errorf("m1 and m2 made the same %d decisions: the models are meant to differ", len(got["m1"]))
	}
	if n := byModel(nv.ids); len(n) != 1 || len(n["m1"]) == 0 {
		t.Errorf("naive's stage changes are of models %v, want m1 alone", slices.Collect(maps.Keys(n)))
	}
	want := []struct {
		scenario, against string
		models            int
	}{{FranzGo, Naive, 1}, {FranzGo, "oracle", 2}} // naive is not compared with the oracle
	if len(res.Agreement) != len(want) {
		t.Fatalf("%d agreements, want %d comparisons", len(res.Agreement), len(want))
	}
	for _, w := range want {
		i := slices.IndexFunc(res.Agreement, func(a Agreement) bool { return a.Scenario == w.scenario && a.Against == w.against })
		if i < 0 {
			t.Errorf("no agreement of %s vs %s", w.scenario, w.against)
			continue
		}
		a := res.Agreement[i]
		if a.Models != w.models || a.Same == 0 {
			t.Errorf("%s vs %s: %d model(s) compared, %d the same; want %d model(s), some the same", w.scenario, w.against, a.Models, a.Same, w.models)
		}
		if w.against == "oracle" && w.scenario == FranzGo && a.OnlyThis+a.OnlyNaive != 0 {
			t.Errorf("franz-go differs from the two-model oracle: %d the same, %d only live, %d only in the oracle; e.g. %v",
				a.Same, a.OnlyThis, a.OnlyNaive, a.examples[:min(6, len(a.examples))])
		}
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| scenario | models ", "2 models side by side", "franz-go vs oracle", "of 2 model(s) (100.0 % agreement)"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}
