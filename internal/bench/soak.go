package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/journeys"
)

// Soak is a long run of the franz-go scenario at a fixed rate on an endless
// history, to see whether the process's memory stays flat.
type Soak struct {
	Rate     float64 `json:"rate"`
	Duration string  `json:"duration"`
	Events   int64   `json:"events"`
	// RSS samples (bytes), every SoakSample from the start; StartRSS is the
	// first sample, EndRSS the last, MaxRSS the largest.
	RSS      []int64 `json:"rss_bytes"`
	StartRSS int64   `json:"start_rss_bytes"`
	EndRSS   int64   `json:"end_rss_bytes"`
	MaxRSS   int64   `json:"max_rss_bytes"`
	// HeapStart and HeapEnd are the Go heap in use (bytes) after a GC at the
	// first and last samples.
	HeapStart uint64 `json:"heap_start_bytes"`
	HeapEnd   uint64 `json:"heap_end_bytes"`
	// Kept says the processor had committed every event within 10 s of the last.
	Kept bool `json:"kept_up"`
}

// soakRetention bounds each topic partition of the soak (kfake keeps records in
// memory, so without retention the broker, not the processor, would grow).
const soakRetention = 4 << 20

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func runSoak(ctx context.Context, env *scenarioEnv, rate float64) (_ *Soak, err error) {
	cl, cfg := env.cluster, env.cfg
	t := scenarioTopics(env.runID, "soak")
	group := "bench-" + env.runID + "-soak"
	prefix := "bench" + env.runID + "s"
	if err := cl.createTopics(ctx, t, cfg.Partitions, soakRetention); err != nil {
		return nil, err
	}
	live, err := cl.newLive()
	if err != nil {
		return nil, err
	}
	defer live.Close()
	defer func() {
		cctx := context.WithoutCancel(ctx)
		cl.deleteTopics(cctx, t)
		if derr := deletePrefix(cctx, env.rdb, prefix); derr != nil && err == nil {
			err = derr
		}
	}()
	var g interface {
		Next() (journeys.Record, bool)
	}
	if cfg.Workload == Uniform {
		g = newUniform(cfg.Seed+1, cfg.Leads)
	} else if g, err = journeys.New(journeys.Config{Seed: cfg.Seed + 1, Leads: cfg.Leads, Endless: true}); err != nil {
		return nil, fmt.Errorf("bench: journeys: %w", err)
	}
	w, err := newWorker(ctx, env, FranzGo, group, t, prefix)
	if err != nil {
		return nil, err
	}
	run := start(ctx, w)
	defer func() {
		if serr := run.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	s := &Soak{Rate: rate, Duration: cfg.Soak.String()}
	sample := func() {
		r := rss()
		s.RSS = append(s.RSS, r)
		s.MaxRSS = max(s.MaxRSS, r)
		cfg.Logger.Info("soak", "events", s.Events, "rss_mb", r>>20)
	}
	s.HeapStart = heapInUse()
	sample()
	p0 := time.Now()
	next := p0.Add(cfg.SoakSample)
	for time.Since(p0) < cfg.Soak {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		due := int64(rate*time.Since(p0).Seconds()) + 1
		for ; s.Events < due; s.Events++ {
			r, _ := g.Next()
			live.Produce(ctx, &kgo.Record{Topic: topicOf(t, r.Topic), Key: r.Key, Value: r.Value}, nil)
		}
		select {
		case <-run.done:
			return nil, run.why(fmt.Errorf("bench: soak: the processor stopped"))
		default:
		}
		if time.Now().After(next) {
			sample()
			next = next.Add(cfg.SoakSample)
		}
		time.Sleep(time.Until(p0.Add(time.Duration(float64(s.Events) / rate * float64(time.Second)))))
	}
	if err := live.Flush(ctx); err != nil {
		return nil, fmt.Errorf("bench: soak: %w", err)
	}
	ends, err := cl.ends(ctx, t.Inputs()...)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s.Kept = cl.waitCommitted(wctx, group, ends, run.done) == nil
	cancel()
	sample()
	s.HeapEnd = heapInUse()
	if cfg.AtSoakEnd != nil {
		cfg.AtSoakEnd()
	}
	s.StartRSS, s.EndRSS = s.RSS[0], s.RSS[len(s.RSS)-1]
	return s, nil
}
