package backtest_test

import (
	"bytes"
	"runtime"
	"sync"
	"testing"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/internal/backtest/synth"
	"github.com/leadscore/leadscore/internal/cputime"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// benchLog is a realistic history (journeys: 5 000 people, about 90 000 events of
// every kind, re-sends, bots and machine opens included), as JSONL and decoded.
var benchLog = sync.OnceValues(func() ([]byte, []scoring.Event) {
	g, err := journeys.New(journeys.Config{Seed: 1, Leads: 5000})
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		panic(err)
	}
	var evs []scoring.Event
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		buf.Write(r.Value)
		buf.WriteByte('\n')
		if ev, err := dec.DecodeAny(r.Value); err == nil {
			evs = append(evs, ev)
		}
	}
	return buf.Bytes(), evs
})

func b2b(tb testing.TB) *scoring.Model {
	tb.Helper()
	m, err := rules.Load("../../examples/rules/b2b-saas.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkReplay measures backtesting throughput on one goroutine (run it with
// -cpu 1). It reports events per second of wall-clock time and, because the
// machine may be shared, per second of CPU time (all threads, GC included):
//
//   - replay-runner: the replay runner alone (engine + identity stitching), the
//     floor a backtest cannot go below;
//   - engine: a backtest's Runner.Apply on decoded events — the runner plus the
//     per-lead bookkeeping (stage reach, peak score, outcomes);
//   - decode+engine: from JSONL bytes, decoding included, one goroutine;
//   - decode+engine/workers=2: decoding on two goroutines, applying on one.
func BenchmarkReplay(b *testing.B) {
	raw, evs := benchLog()
	m := b2b(b)
	eng, err := scoring.NewEngine(m)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("replay-runner", func(b *testing.B) {
		measure(b, len(evs), func() {
			r := replay.New(eng)
			for i := range evs {
				r.Apply(&evs[i])
			}
		})
	})
	b.Run("engine", func(b *testing.B) {
		measure(b, len(evs), func() {
			r, err := backtest.NewRunner(backtest.Config{Rules: m})
			if err != nil {
				b.Fatal(err)
			}
			for i := range evs {
				r.Apply(&evs[i])
			}
		})
	})
	for _, w := range []int{1, 2} {
		name := "decode+engine"
		if w > 1 {
			name += "/workers=2"
		}
		b.Run(name, func(b *testing.B) {
			measure(b, len(evs), func() {
				r, err := backtest.NewRunner(backtest.Config{Rules: m})
				if err != nil {
					b.Fatal(err)
				}
				if err := r.ReadLog(bytes.NewReader(raw), backtest.LogOptions{Workers: w}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func measure(b *testing.B, n int, run func()) {
	b.ReportAllocs()
	start := cputime.Now()
	for b.Loop() {
		run()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cputime.Now() - start; cpu > 0 {
		b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// TestMemoryBoundedByLeads replays the same 3 000 leads (1 000 under the race
// detector) with about three times
// more events each, and checks that the heap a run holds grows far less than the
// events: it is bounded by the number of leads.
func TestMemoryBoundedByLeads(t *testing.T) {
	leads := 3000
	if raceEnabled {
		leads = 1000
	}
	heap := func(scale float64) (uint64, int) {
		cfg := synth.Config{Seed: 9, Leads: leads, EventScale: scale}
		outs, err := synth.Outcomes(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := rules.Parse("synth.yaml", synth.Rules(cfg))
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := backtest.NewRunner(backtest.Config{Rules: m, Outcomes: outs})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ReadLog(stream(t, cfg), backtest.LogOptions{}); err != nil {
			t.Fatal(err)
		}
		rep, err := r.Report()
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(r)
		return after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc), rep.Log.Events
	}
	h1, e1 := heap(1)
	h3, e3 := heap(3)
	t.Logf("%d events: %d KiB held (%d B per lead); %d events: %d KiB held (%d B per lead)",
		e1, h1>>10, h1/uint64(leads), e3, h3>>10, h3/uint64(leads))
	if float64(e3) < 2.5*float64(e1) {
		t.Fatalf("the second history has %d events, not much more than %d", e3, e1)
	}
	if float64(h3) > 1.5*float64(h1) {
		t.Errorf("%.1f× the events held %.2f× the memory, want at most 1.5×", float64(e3)/float64(e1), float64(h3)/float64(h1))
	}
}
