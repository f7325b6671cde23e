package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Accounts through Kafka: journeys whose people belong to companies (Segment
// group calls, context.groupId, company e-mail domains), scored with the ABM
// example rules and produced as a backlog: the account stage changes on the
// account topic and every account's final state equal the oracle's, as the
// leads' do.
func TestAccountsThroughKafkaEqualTheOracle(t *testing.T) {
	lines, ins := generated(t, 300, 60*24*time.Hour)
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, "../examples/rules/b2b-abm.yaml", 3)
		live := backlogEqualsTheOracle(t, e, b, lines, ins)
		// The example's SQL entry reads the account (an MQL whose account
		// is an MQA): the live handoffs that came of it are the oracle's too.
		handoffs := 0
		for _, v := range live {
			if bytes.Contains(v, []byte(`"cause":{"kind":"account"`)) {
				handoffs++
			}
		}
		if handoffs < 3 {
			t.Fatalf("only %d stage changes caused by an account: the workload does not exercise account_stage", handoffs)
		}
		t.Logf("%d lead stage changes caused by the account", handoffs)
		var out bytes.Buffer
		if _, err := replay.ScoreLogSet(e.models, bytes.NewReader(bytes.Join(lines, []byte("\n"))), &out, replay.LogOptions{NoAdvance: true}); err != nil {
			t.Fatal(err)
		}
		wantChanges, wantAccounts := map[string]string{}, map[string]map[string]any{}
		for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatal(err)
			}
			switch m["type"] {
			case "account_stage_change":
				wantChanges[m["id"].(string)] = string(l)
			case "account":
				wantAccounts[m["account_id"].(string)] = m
			}
		}
		if len(wantChanges) < 20 || len(wantAccounts) < 20 {
			t.Fatalf("the workload is too small to mean anything: %d account changes, %d accounts", len(wantChanges), len(wantAccounts))
		}
		liveAccounts := e.readTopic(topics.AccountStageChanges, len(wantChanges), 10*time.Second)
		got := map[string]string{}
		for _, v := range liveAccounts {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatal(err)
			}
			id := m["id"].(string)
			delete(m, "processed_at")
			b, _ := json.Marshal(m)
			got[id] = string(b)
		}
		var missing, extra, differ []string
		for id, w := range wantChanges {
			g, ok := got[id]
			if !ok {
				missing = append(missing, w)
				continue
			}
			var wm map[string]any
			_ = json.Unmarshal([]byte(w), &wm)
			delete(wm, "processed_at")
			wb, _ := json.Marshal(wm)
			if string(wb) != g {
				differ = append(differ, g+"\n  oracle: "+string(wb))
			}
		}
		for id, g := range got {
			if _, ok := wantChanges[id]; !ok {
				extra = append(extra, g)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		if len(missing)+len(extra)+len(differ) > 0 {
			t.Fatalf("account stage changes differ from the oracle's (%d live, %d oracle):\nmissing %d: %s\nextra %d: %s\ndiffer %d: %s",
				len(got), len(wantChanges), len(missing), strings.Join(first(missing, 3), "\n  "),
				len(extra), strings.Join(first(extra, 3), "\n  "), len(differ), strings.Join(first(differ, 3), "\n  "))
		}
		compareAccounts(t, e.models, e.store, wantAccounts)
		t.Logf("%d account stage changes and %d accounts equal the oracle's", len(wantChanges), len(wantAccounts))
	})
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// compareAccounts compares the stored accounts of the set's first model
// with the oracle's final account lines (each as of its own last update).
func compareAccounts(t *testing.T, set *scoring.Set, store *state.Store, want map[string]map[string]any) {
	t.Helper()
	eng := set.Engines()[0]
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, state.AccountRecordID(eng.Model().Name, id))
	}
	recs, err := store.Load(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	var diffs []string
	for id, w := range want {
		r := recs[state.AccountRecordID(eng.Model().Name, id)]
		if !r.Exists() {
			diffs = append(diffs, id+": no record")
			continue
		}
		var a scoring.Account
		if err := a.UnmarshalBinary(r.Data); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		al := replay.NewAccountLine(eng, id, &a, a.At)
		b, _ := json.Marshal(al)
		var g map[string]any
		_ = json.Unmarshal(b, &g)
		for k, v := range w {
			if !reflect.DeepEqual(v, g[k]) {
				diffs = append(diffs, id+" "+k+": oracle "+jsonText(v)+", live "+jsonText(g[k]))
			}
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%d differences in the accounts' final states:\n%s", len(diffs), strings.Join(first(diffs, 10), "\n"))
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
