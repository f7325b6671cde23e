package demo

import (
	"math"
	"sync/atomic"
	"time"
)

// simClock is the demo's simulated time: it starts at the wall-clock time of the
// start and runs at up to --speedup; the generator moves it (holding it back when
// --rate holds records back), and the processor and the API read it.
type simClock struct {
	ms   atomic.Int64  // simulated now, Unix ms
	rate atomic.Uint64 // float64 bits: simulated ms per wall ms over the last tick
}

func newSimClock(start time.Time, speedup float64) *simClock {
	c := &simClock{}
	c.ms.Store(start.UnixMilli())
	c.rate.Store(math.Float64bits(speedup))
	return c
}

// Now returns the simulated time.
func (c *simClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

// toWall converts a simulated duration into wall-clock time at the clock's
// recent pace (an estimate: the pace varies when --rate holds the clock back).
func (c *simClock) toWall(d time.Duration) time.Duration {
	r := math.Float64frombits(c.rate.Load())
	if !(r > 0) {
		return d
	}
	return time.Duration(float64(d) / r)
}
