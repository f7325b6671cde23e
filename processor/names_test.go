package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Lead records name their rules, stages and model version by id of the
// store's name dictionary, not by name; a second process, whose copy of
// the dictionary was loaded before the first wrote any name, continues
// the leads the first wrote and ends with the oracle's stage changes and
// states.
func TestRecordsNameRulesByID(t *testing.T) {
	e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
	// Two stores on one prefix, as two processes: both opened before any
	// name is in the dictionary.
	o := state.Options{TimerShards: 4, Buckets: 64, KeyPrefix: fmt.Sprintf("lsnames%d", time.Now().UnixNano())}
	if addr := os.Getenv("LEADSCORE_REDIS_ADDR"); addr != "" {
		o.Addrs = []string{addr}
	} else {
		o.Addrs = []string{miniredis.RunT(t).Addr()}
	}
	open := func() *state.Store {
		s, err := state.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first, second := open(), open()
	b := backends[0]
	lines, ins := generated(t, 30, 60*24*time.Hour)
	half := len(ins) / 2
	e.store = first
	pr := e.start(b, nil)
	e.feed(ins[:half])
	if err := pr.stop(); err != nil {
		t.Fatal(err)
	}
	if second.Names().Len() != 0 {
		t.Fatal("the second process knows names before it reads any")
	}
	e.store = second
	e.start(b, nil)
	// The second process's first batch decodes a lead the first wrote (a
	// re-sent event, a duplicate) before it writes any: its copy of the
	// dictionary must have caught up by then, or the lead would be taken
	// for corrupt and started over (TestKnowNamesCatchesUp checks the
	// catching up itself: here a refresh of the stage dictionary may do it).
	e.feed(append([]input{ins[half-1]}, ins[half:]...))
	at := lastTime(ins)
	e.clock.Set(at)
	want := e.oracle(lines, at)
	sameChanges(t, e.readTopic(topics.StageChanges, len(want), 15*time.Second), want)
	e.sameStates(lines, at)

	// Every live record names its rules by id: none holds a rule or stage
	// name, and none decodes without the dictionary.
	var names [][]byte
	for _, r := range e.eng.Model().Rules {
		names = append(names, []byte(r.Name))
	}
	for _, s := range e.eng.Model().StageNames() {
		names = append(names, []byte(s))
	}
	var ids []string
	for _, line := range e.oracleLines(lines, at, &bytes.Buffer{}) {
		var x struct {
			Type   string `json:"type"`
			LeadID string `json:"lead_id"`
		}
		if json.Unmarshal(line, &x) == nil && x.Type == "lead" {
			ids = append(ids, x.LeadID)
		}
	}
	recs, err := second.Load(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for id, r := range recs {
		if len(r.Data) == 0 {
			continue
		}
		n++
		for _, name := range names {
			if len(name) > 4 && bytes.Contains(r.Data, name) {
				t.Errorf("lead %s: the record holds the name %q", id, name)
			}
		}
		if _, err := e.models.Decode(r.Data); !errors.Is(err, scoring.ErrUnknownName) {
			t.Errorf("lead %s: decoded without the name dictionary (err %v)", id, err)
		}
	}
	if n == 0 {
		t.Fatal("no record to check")
	}
	t.Logf("%d records name their rules by id; the dictionary holds %d names", n, second.Names().Len())
}
