package processor_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
)

// Two lanes in one process, both members of the group from the start, give
// exactly the oracle's stage changes and lead states, report ready together and
// shut down together.
func TestLanesShareTheWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		keepByDefault(t, b, "franz-go")
		e := newEnv(t, "../examples/rules/b2b-saas.yaml", 4)
		lines, ins := generated(t, 40, 60*24*time.Hour)
		var lanes processor.Lanes
		var clients []processor.Client
		for range 2 {
			cl := b.new(t, e.brokers, e.group, false)
			p, err := processor.New(processor.Config{Topics: topics, TimerTick: 20 * time.Millisecond, Now: e.clock.Now, Logger: quiet,
				BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond, OutboxRetry: time.Second}, cl, e.store, e.models)
			if err != nil {
				t.Fatal(err)
			}
			lanes = append(lanes, p)
			clients = append(clients, cl)
		}
		if err := lanes.Ready(); err == nil || !strings.Contains(err.Error(), "lane 0") {
			t.Fatalf("Ready before Run = %v, want lane 0 not ready", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- lanes.Run(ctx) }()
		defer func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run after cancel = %v, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("lanes did not stop")
			}
		}()
		e.feed(ins)
		at := lastTime(ins)
		e.clock.Set(at)
		want := e.oracle(lines, at)
		sameChanges(t, e.readTopic(topics.StageChanges, len(want), 15*time.Second), want)
		e.sameStates(lines, at)
		if err := lanes.Ready(); err != nil {
			t.Errorf("Ready after the work = %v", err)
		}
		shared := 0
		for _, cl := range clients {
			if len(cl.Assigned()) > 0 {
				shared++
			}
		}
		if shared != 2 {
			t.Errorf("%d of 2 lanes own partitions, want both", shared)
		}
		if lanes.Models() != e.models {
			t.Error("Models are not the lanes' models")
		}
	})
}

func TestNoLanes(t *testing.T) {
	if err := (processor.Lanes{}).Run(context.Background()); err == nil {
		t.Fatal("Run of no lanes succeeded")
	}
}

// readyLog records what an Observer hears about readiness, and counts
// consumed records (the rest is not called).
type readyLog struct {
	processor.Observer
	got      []string
	consumed int
}

func (r *readyLog) Consumed(_, _ string, n int) { r.consumed += n }

func (r *readyLog) Ready(ready bool, reason string) {
	if ready {
		r.got = append(r.got, "ready")
	} else {
		r.got = append(r.got, "not ready: "+reason)
	}
}

func TestLaneObserversReportReadinessTogether(t *testing.T) {
	log := &readyLog{}
	obs := processor.LaneObservers(log, 2)
	obs[0].Ready(true, "")
	obs[1].Ready(false, "redis: connection refused")
	obs[1].Ready(true, "")
	obs[0].Ready(false, "kafka: no brokers")
	obs[0].Ready(true, "")
	want := []string{
		"not ready: lane 1: starting",
		"not ready: lane 1: redis: connection refused",
		"ready",
		"not ready: lane 0: kafka: no brokers",
		"ready",
	}
	if !slices.Equal(log.got, want) {
		t.Fatalf("readiness heard:\n%q\nwant\n%q", log.got, want)
	}
	obs[1].Consumed("tracking.web", "applied", 3)
	if log.consumed != 3 {
		t.Errorf("Consumed not forwarded: %d", log.consumed)
	}
}
