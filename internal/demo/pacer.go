package demo

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/internal/journeys"
)

// pacerTick is how often the generator wakes up to release due records.
const pacerTick = 20 * time.Millisecond

// lastYear stops an endless demo before its simulated clock leaves the decoder's
// window of plausible event times (year 2100), after hours of play.
const lastYear = 2095

// pacer releases the generator's records as the simulated clock reaches their
// time, at most rate per second.
type pacer struct {
	gen     *journeys.Generator
	clock   *simClock
	speedup float64
	rate    float64
	// emit publishes one record; it returns an error only when ctx ended.
	emit func(ctx context.Context, rec *journeys.Record) error

	people atomic.Int64 // people who have arrived
	note   atomic.Value // string: why the pacer stopped on its own
}

// run plays until ctx ends or the simulated clock reaches lastYear. When the
// rate limit holds records back, the clock waits for them.
func (p *pacer) run(ctx context.Context) {
	next, _ := p.gen.Next() // endless: never runs out
	clock := float64(p.clock.ms.Load())
	quota := 1.0
	burst := math.Max(1, p.rate/4)
	last := time.Now()
	tick := time.NewTicker(pacerTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			dt := now.Sub(last).Seconds()
			last = now
			before := clock
			clock += dt * p.speedup * 1000
			quota = math.Min(quota+dt*p.rate, burst)
			for quota >= 1 && float64(next.Time.UnixMilli()) <= clock {
				if next.Time.Year() >= lastYear {
					p.note.Store(fmt.Sprintf("the simulated clock reached %d; restart the demo to play again", lastYear))
					return
				}
				if err := p.emit(ctx, &next); err != nil {
					return
				}
				quota--
				next, _ = p.gen.Next()
				p.people.Store(p.gen.Stats().Leads)
			}
			if t := float64(next.Time.UnixMilli()); t < clock {
				clock = t // rate-limited: hold the simulated clock at the backlog
			}
			clock = math.Max(clock, before)
			if dt > 0 { // the pace, smoothed over about a second
				r := math.Float64frombits(p.clock.rate.Load())
				r += (math.Max((clock-before)/(dt*1000), 1) - r) * math.Min(dt, 1)
				p.clock.rate.Store(math.Float64bits(r))
			}
			p.clock.ms.Store(int64(clock))
		}
	}
}
