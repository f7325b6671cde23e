package processor_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/state"
)

// Input topics recreated in Kafka while Redis keeps the lead state (a cluster
// rebuilt, `docker compose down && up` without a Kafka volume): the new topics'
// offsets start at 0 again, under offsets the lead records already hold. The
// topic ids tell the incarnations apart, so the new events are applied, not
// skipped as replays: the final states equal the oracle's over both halves.
func TestRecreatedTopicsAreNotReplays(t *testing.T) {
	lines, ins := generated(t, 40, 20*24*time.Hour)
	half := len(ins) / 2
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	e.store, _ = newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	epochs := func(wantNew bool) {
		t.Helper()
		ids, err := franzgo.TopicIDs(ctx, e.brokers, topics.Inputs())
		if err != nil {
			t.Fatal(err)
		}
		ep, err := e.store.TopicEpochs(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		e.sources = map[string]string{}
		for topic, x := range ep {
			if x.New != wantNew {
				t.Fatalf("topic %s: epoch %+v, want new=%v", topic, x, wantNew)
			}
			e.sources[topic] = x.Source
		}
	}

	epochs(false)
	b := backends[0]
	pr := e.start(b, nil)
	e.feed(ins[:half])
	if err := pr.stop(); err != nil {
		t.Fatal(err)
	}

	// Kafka rebuilt: the input topics are deleted and created again, and the
	// new cluster knows no group offsets.
	if _, err := e.adm.DeleteTopics(ctx, topics.Inputs()...); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adm.CreateTopics(ctx, 3, 1, nil, topics.Inputs()...); err != nil {
		t.Fatal(err)
	}
	e.prod.PurgeTopicsFromClient(topics.Inputs()...)
	e.group += "-rebuilt"
	epochs(true)
	e.start(b, nil)
	e.feed(ins[half:])

	at := lastTime(ins)
	var buf bytes.Buffer
	_, wantLeads := oracleSets(t, e.oracleLines(lines, at, &buf))
	compareLeads(t, e.models, e.store, wantLeads, at)

	// A restart on the same topics is the same epoch: nothing new.
	epochs(false)
	if got := e.sources[topics.Web]; got != state.EpochSource(topics.Web, 1) {
		t.Fatalf("source of the recreated web topic is %q, want %q", got, state.EpochSource(topics.Web, 1))
	}
}
