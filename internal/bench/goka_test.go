package bench

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/events"
)

func TestUniformWorkload(t *testing.T) {
	const leads, n, latency = 50, 2000, 300
	d, err := generate(Uniform, 3, leads, n, latency)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.recs) != n+latency || len(d.backlog()) != n || len(d.latency()) != latency {
		t.Fatalf("%d records (%d backlog), want %d (%d)", len(d.recs), len(d.backlog()), n+latency, n)
	}
	if d.people < leads*9/10 || d.people > leads {
		t.Errorf("%d distinct leads in %d events over %d leads", d.people, n, leads)
	}
	if len(d.seqOf) != latency {
		t.Errorf("%d latency events indexed, want %d", len(d.seqOf), latency)
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	perLead := map[string]int{}
	var last int64
	var bytes int64
	for i, r := range d.recs {
		ev, err := dec.Decode(sourceOf(r.Topic), r.Value)
		if err != nil {
			t.Fatalf("record %d does not decode: %v\n%s", i, err, r.Value)
		}
		if ev.Kind != "track" || ev.Identity.UserID != string(r.Key) || ev.Identity.AnonymousID != "" {
			t.Fatalf("record %d: kind %q, user %q, anonymous %q, key %q: want an identified track keyed by its user", i,
				ev.Kind, ev.Identity.UserID, ev.Identity.AnonymousID, r.Key)
		}
		if ids[ev.ID] {
			t.Fatalf("record %d: message id %s used twice", i, ev.ID)
		}
		ids[ev.ID] = true
		if ev.Time <= last || ev.Time != r.Time.UnixMilli() {
			t.Fatalf("record %d: event time %d after %d (record time %v)", i, ev.Time, last, r.Time)
		}
		last = ev.Time
		perLead[string(r.Key)]++
		if i < n {
			bytes += int64(len(r.Value))
		}
	}
	if d.bytes != bytes {
		t.Errorf("backlog bytes %d, want %d", d.bytes, bytes)
	}
	// Uniform: with 46 events per lead on average, no lead gets more than
	// twice that or fewer than a third.
	if len(perLead) != leads {
		t.Errorf("%d leads drawn, want all %d", len(perLead), leads)
	}
	for l, c := range perLead {
		if mean := (n + latency) / leads; c > 2*mean || c < mean/3 {
			t.Errorf("lead %s has %d events, mean %d: not uniform", l, c, mean)
		}
	}
	// The seed decides the history.
	again, err := generate(Uniform, 3, leads, n, latency)
	if err != nil {
		t.Fatal(err)
	}
	other, err := generate(Uniform, 4, leads, n, latency)
	if err != nil {
		t.Fatal(err)
	}
	same, differs := true, false
	for i := range d.recs {
		same = same && string(again.recs[i].Value) == string(d.recs[i].Value)
		differs = differs || string(other.recs[i].Key) != string(d.recs[i].Key)
	}
	if !same || !differs {
		t.Errorf("same seed, same history: %v; another seed, other leads: %v", same, differs)
	}
}

// The uniform workload makes stage changes under the default rules, or the
// bench would measure no output.
func TestUniformWorkloadScores(t *testing.T) {
	d, err := generate(Uniform, 1, 20, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadModels(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := oracleIDs(ms.set, d)
	if err != nil {
		t.Fatal(err)
	}
	to := map[string]int{}
	changed := map[string]bool{}
	for _, c := range ids {
		desc := c.desc
		lead, _, _ := strings.Cut(desc, " ")
		changed[lead] = true
		for _, stage := range []string{"→lead ", "→sql "} {
			if strings.Contains(desc, stage) {
				to[stage]++
			}
		}
	}
	if len(changed) != 20 || to["→lead "] == 0 || to["→sql "] == 0 {
		t.Errorf("%d leads changed stage, by target %v: want every one of 20 to leave visitor, to lead and to sql (of %d)", len(changed), to, len(ids))
	}
}

// buildGoka builds the goka scenario's module into a temporary directory, or
// skips the test when that is impossible here: no go command, or its
// dependencies neither in the module cache nor downloadable.
func buildGoka(t *testing.T) string {
	t.Helper()
	src, err := FindGokaSource("")
	if err != nil {
		t.Skipf("goka scenario: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "leadscore-goka")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := BuildGoka(ctx, src, bin); err != nil {
		if errors.Is(err, ErrNoGoka) {
			t.Skipf("goka scenario cannot be built here: %v", err)
		}
		for _, offline := range []string{"dial tcp", "no such host", "lookup disabled", "403 Forbidden", "proxy.golang.org", "GOFLAGS=-mod=mod"} {
			if strings.Contains(err.Error(), offline) {
				t.Skipf("goka scenario's dependencies are not available here: %v", err)
			}
		}
		t.Fatal(err)
	}
	t.Logf("goka scenario built in %v", time.Since(t0).Round(time.Millisecond))
	return bin
}

// TestGokaScenario builds the goka module (it is not part of this module's
// ./...) and runs its scenario on a small uniform backlog, where every key is
// one lead and goka must make exactly the oracle's stage changes.
// LEADSCORE_BENCH_GOKA_FULL=1 adds a journeys run with a latency phase.
func TestGokaScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the goka module and runs it against an in-process broker")
	}
	bin := buildGoka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	res, err := Run(ctx, Config{Scenarios: []string{Goka}, Workload: Uniform, Events: 600, Leads: 30, Partitions: 2,
		LatencyDuration: -1, GokaBinary: bin, Logger: testLogger(&log)})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	g := res.Scenario(Goka)
	if g == nil {
		t.Fatalf("no goka row: %+v", res)
	}
	if g.EventsPerSec <= 0 || g.CPUPerMillion <= 0 || g.ProcessCPUPerMillion <= 0 || g.ProcessPeakRSS <= 0 || g.PeakRSS <= g.ProcessPeakRSS || g.VsGoka != 1 {
		t.Errorf("goka row lacks measurements: %+v", *g)
	}
	if g.DeadLetters != 0 || g.Outputs < 30 {
		t.Errorf("%d stage changes, %d dead letters: want one lead stage change at least per lead and no dead letter", g.Outputs, g.DeadLetters)
	}
	var oracle *Agreement
	for i := range res.Agreement {
		if res.Agreement[i].Scenario == Goka && res.Agreement[i].Against == "oracle" {
			oracle = &res.Agreement[i]
		}
	}
	if oracle == nil {
		t.Fatalf("no agreement of goka with the oracle: %+v", res.Agreement)
	}
	if oracle.Same != int(g.Outputs) || oracle.OnlyThis != 0 || oracle.OnlyNaive != 0 {
		t.Errorf("goka vs oracle: %d the same, %d only in goka, %d only in the oracle, of %d outputs; want the same stage changes; first differences: %q",
			oracle.Same, oracle.OnlyThis, oracle.OnlyNaive, g.Outputs, oracle.examples[:min(len(oracle.examples), 3)])
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "× goka") || !strings.Contains(table.String(), "| goka ") || !strings.Contains(table.String(), "data: uniform") ||
		!strings.Contains(table.String(), "goka, its own process: ") {
		t.Errorf("table lacks the goka row or column:\n%s", table.String())
	}

	if os.Getenv("LEADSCORE_BENCH_GOKA_FULL") == "" {
		return
	}
	res, err = Run(ctx, Config{Scenarios: []string{Ceiling, Goka}, Events: 3000, Leads: 300, Partitions: 3,
		LatencyDuration: 2 * time.Second, GokaBinary: bin, Logger: testLogger(&log)})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	g = res.Scenario(Goka)
	if g == nil || g.Latency == nil || g.Latency.Samples == 0 || g.Outputs == 0 || g.VsCeiling <= 0 {
		t.Fatalf("journeys goka run: %+v", res)
	}
	t.Logf("journeys: goka %.0f events/s, %.2f × ceiling, p99 %.1f ms", g.EventsPerSec, g.VsCeiling, g.Latency.P99)
}

// Without its source, the goka scenario is skipped with a warning, and the
// other scenarios run.
func TestGokaSkippedWithoutSource(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an in-process broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Scenarios: []string{Ceiling, Goka}, Events: 200, Leads: 20, Partitions: 1,
		LatencyDuration: -1, GokaDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scenario(Goka) != nil || res.Scenario(Ceiling) == nil {
		t.Errorf("scenarios run: %+v", res.Scenarios)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "goka scenario skipped") || !strings.Contains(res.Warnings[0], "no go.mod") {
		t.Errorf("warnings %q, want one saying the goka scenario was skipped and why", res.Warnings)
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Burn some CPU, then this process's own /proc/<pid>/stat must show it.
	deadline := time.Now().Add(30 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	if c := procCPU(os.Getpid()); c < 10*time.Millisecond {
		t.Errorf("procCPU of this process: %v, want at least 10ms", c)
	}
	if c := procCPU(-1); c != 0 {
		t.Errorf("procCPU of no process: %v, want 0", c)
	}
}

// testLogger logs a run's progress into b, for the failure message.
func testLogger(b *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// The soak follows the workload: with the uniform one it offers uniform
// events, endlessly, and the processor keeps up with a small rate.
func TestSoakUniform(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Kafka and Redis scenarios end to end")
	}
	addr := os.Getenv("LEADSCORE_REDIS_ADDR")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	res, err := Run(ctx, Config{RedisAddr: addr, AllowMiniredis: addr == "", Scenarios: []string{FranzGo}, Workload: Uniform,
		Events: 400, Leads: 40, Partitions: 1, Lanes: 1, LatencyDuration: -1, Soak: 1500 * time.Millisecond, SoakSample: 500 * time.Millisecond,
		Logger: testLogger(&log)})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	s := res.Soak
	if s == nil || s.Events == 0 || !s.Kept || len(s.RSS) < 3 {
		t.Fatalf("soak %+v: want events offered, kept up with, and RSS sampled", s)
	}
	// The uniform generator never runs dry and numbers its events on.
	g := newUniform(2, 40)
	for i := range 5 {
		r, ok := g.Next()
		if !ok || !bytes.Contains(r.Value, []byte(`"messageId":"uniform-2-`+strconv.Itoa(i)+`"`)) {
			t.Fatalf("uniform event %d: %s", i, r.Value)
		}
	}
}
