package processor_test

import (
	"context"
	"testing"
	"time"
)

// A sole owner's outbox is acknowledged by its commit (Config.CommitAck):
// leads keep their produced stage changes marked as pending in Redis (no
// second write clears them), and neither the owner's next batches nor a
// restarted owner produces them again — the client tells the new owner
// the group's committed offsets. Each backend, no duplicate allowed.
func TestCommitAcknowledgesTheOutbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
		lines, ins := generated(t, 30, 60*24*time.Hour)
		half := len(ins) / 2
		pr := e.start(b, nil)
		e.feed(ins[:half])
		leads := map[string]bool{}
		for _, c := range e.oracleNoAdvance(lines[:half]) {
			leads[c.Lead] = true
		}
		if len(leads) < 5 {
			t.Fatalf("only %d leads changed stage in the first half: the workload does not exercise the outbox", len(leads))
		}
		marked := 0
		for lead := range leads {
			r, err := e.store.Get(context.Background(), lead)
			if err != nil {
				continue // stitched away since: its record is a tombstone or gone
			}
			l, err := e.models.DecodeNames(r.Data, namesFor(t, e.store, r.Data))
			if err != nil {
				t.Fatalf("%s: %v", lead, err)
			}
			if r.CommitAck() && l.Pending() > 0 {
				marked++
			}
		}
		if marked == 0 {
			t.Fatalf("none of %d leads with stage changes holds its produced outbox: a write cleared them", len(leads))
		}
		if err := pr.stop(); err != nil {
			t.Fatal(err)
		}
		e.start(b, nil)
		e.feed(ins[half:])
		at := lastTime(ins)
		e.clock.Set(at)
		want := e.oracle(lines, at)
		if dups := sameChanges(t, e.readTopic(topics.StageChanges, len(want), 15*time.Second), want); dups != 0 {
			t.Errorf("%d stage changes produced again: an outbox the commit acknowledged was taken for pending", dups)
		}
		t.Logf("%d of %d leads held an outbox acknowledged by the commit after the first half", marked, len(leads))
	})
}
