package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/internal/wiring"
	"github.com/leadscore/leadscore/telemetry"
)

// generateOnly produces the journeys to --brokers at --rate until ctx ends,
// printing a line per refresh and a summary; it does nothing else.
func generateOnly(ctx context.Context, c *Config, out, logOut io.Writer) (*produced, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f, err := c.startFeed(ctx, logOut)
	if err != nil {
		return nil, err
	}
	defer f.stop()
	log, gen, clock := f.log, f.gen, f.clock
	prod, err := newProducer(c.Brokers, f.tel, log)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	sent := &produced{}
	p := &pacer{gen: gen, clock: clock, speedup: c.Speedup, rate: c.Rate, emit: sent.emitter(prod)}
	fmt.Fprintf(out, "leadscore demo --generate-only: seed %d, %d leads a year, at most %g events/s, %s of simulated time per second, to %s (%s, %s, %s)\n",
		c.Seed, c.Leads, c.Rate, simSpan(int64(c.Speedup*1000)), strings.Join(c.Brokers, ","),
		topics.Web, topics.Email, topics.Feedback)
	began := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	tick := time.NewTicker(c.Refresh)
	defer tick.Stop()
	line := func() {
		fmt.Fprintf(out, "[%6.1fs] sim %s  produced %d — web %d · email %d · feedback %d · failed %d\n",
			time.Since(began).Seconds(), clock.Now().UTC().Format("2006-01-02 15:04"), sent.total(),
			sent.web.Load(), sent.email.Load(), sent.feedback.Load(), sent.failed.Load())
	}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			line()
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		log.Warn("generator: flushing", "err", err)
	}
	line()
	if n, ok := p.note.Load().(string); ok {
		fmt.Fprintf(out, "stopped: %s\n", n)
	}
	secs := math.Max(time.Since(began).Seconds(), 1e-9)
	fmt.Fprintf(out, "summary: produced %d records (%.0f/s) in %s; %d failed%s\n", sent.total(), float64(sent.total())/secs,
		time.Since(began).Round(100*time.Millisecond), sent.failed.Load(), lastErrText(sent))
	return sent, nil
}

func lastErrText(p *produced) string {
	if err, ok := p.lastErr.Load().(error); ok {
		return " (last: " + err.Error() + ")"
	}
	return ""
}

// feed is what the demo and --generate-only both start from: the logger and
// telemetry, and endless journeys from now on, on the simulated clock.
type feed struct {
	log   *slog.Logger
	tel   *telemetry.Telemetry
	gen   *journeys.Generator
	clock *simClock
	start time.Time
}

// startFeed starts the feed; stop ends its telemetry.
func (c *Config) startFeed(ctx context.Context, logOut io.Writer) (*feed, error) {
	log := wiring.NewLogger(logOut, c.LogFormat, c.LogLevel)
	tel, err := wiring.StartTelemetry(ctx, log, logOut, c.Version) // stdout is the view
	if err != nil {
		return nil, err
	}
	start := time.Now().UTC().Truncate(time.Millisecond)
	gen, err := journeys.New(journeys.Config{Seed: c.Seed, Leads: c.Leads, Endless: true, Start: start})
	if err != nil {
		wiring.StopTelemetry(tel, log)
		return nil, err
	}
	return &feed{log: log, tel: tel, gen: gen, clock: newSimClock(start, c.Speedup), start: start}, nil
}

func (f *feed) stop() { wiring.StopTelemetry(f.tel, f.log) }
