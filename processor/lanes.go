package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/leadscore/leadscore/scoring"
)

// Lanes are several processors in one process, each with its own Kafka client
// and so its own member of the consumer group (and its own partitions), sharing
// the store and the engine. A processor is a sequence of steps, most of them
// round trips to Redis or Kafka; while one lane waits, another computes, so two
// lanes use a 2-core machine where one leaves it half idle (docs/performance.md
// has the measurements). Lanes keep every guarantee of a single processor: they
// are the group members that several processes would be, and leads whose events
// reach two lanes are fenced by the store's compare-and-set as they are between
// processes.
type Lanes []*Processor

// Run runs every lane until ctx is cancelled and each has shut down (finished
// its batch in flight, committed and left the group). A lane whose Run fails
// (its client closed) cancels the others: the process is then no longer the
// member count it was configured with, and is better restarted whole. Run
// returns the lanes' errors joined, each naming its lane; nil after a clean
// shutdown of all.
func (l Lanes) Run(ctx context.Context) error {
	if len(l) == 0 {
		return errors.New("processor: no lanes")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(l))
	var wg sync.WaitGroup
	for i, p := range l {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil {
				errs[i] = fmt.Errorf("lane %d: %w", i, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Ready returns nil when every lane is ready, or why the first one that is not
// is not.
func (l Lanes) Ready() error {
	for i, p := range l {
		if err := p.Ready(); err != nil {
			if len(l) == 1 {
				return err
			}
			return fmt.Errorf("lane %d: %w", i, err)
		}
	}
	return nil
}

// SetModels swaps the scoring models of every lane (each between its batches).
// Models a lane refuses (Processor.SetModels) are refused by all: the
// check does not depend on the lane.
func (l Lanes) SetModels(m *scoring.Set) error {
	for _, p := range l {
		if err := p.SetModels(m); err != nil {
			return err
		}
	}
	return nil
}

// Models returns the current models (the first lane's: SetModels sets them all).
func (l Lanes) Models() *scoring.Set { return l[0].Models() }

// LaneObservers returns one Observer per lane, each forwarding to o, except
// that readiness is reported for the lanes together: o hears "ready" only
// when every lane is ready, and "not ready" (with the lane's reason) as soon
// as one is not. Without it, a readiness gauge fed by several lanes would show
// whichever lane changed last.
func LaneObservers(o Observer, lanes int) []Observer {
	if o == nil {
		o = nopObserver{}
	}
	g := &laneReadiness{o: o, notReady: make([]string, lanes)}
	out := make([]Observer, lanes)
	for i := range out {
		g.notReady[i] = "starting"
		out[i] = laneObserver{Observer: o, g: g, lane: i}
	}
	return out
}

type laneReadiness struct {
	o        Observer
	mu       sync.Mutex
	notReady []string // per lane: why it is not ready, "" when it is
}

type laneObserver struct {
	Observer
	g    *laneReadiness
	lane int
}

func (l laneObserver) Ready(ready bool, reason string) {
	g := l.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if ready {
		reason = ""
	} else if reason == "" {
		reason = "not ready"
	}
	g.notReady[l.lane] = reason
	for i, r := range g.notReady {
		if r != "" {
			g.o.Ready(false, fmt.Sprintf("lane %d: %s", i, r))
			return
		}
	}
	g.o.Ready(true, "")
}
