package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/output"
)

// The live feed's account stage changes: read from the account stage-change
// topic beside the leads', streamed as their own event type, and kept out of
// the funnel's lead figures.

func accountChange(id, account, from, to string, at int64) output.AccountStageChange {
	return output.AccountStageChange{ID: id, Type: "account_stage_change", AccountID: account, From: from, To: to, Direction: "up",
		EventTime: output.FormatTime(at), ModelVersion: "abm-1", Members: []output.MemberScore{}, Roles: []string{}}
}

// sseEvents reads the live feed at url and returns a function giving the
// next event of the stream (its type and data), failing after a second.
func sseEvents(t *testing.T, url string) (next func() (event, data string)) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return func() (event, data string) {
		t.Helper()
		timeout := time.After(time.Second)
		for {
			select {
			case l, ok := <-lines:
				switch {
				case !ok:
					t.Fatal("the stream ended")
				case strings.HasPrefix(l, "event: "):
					event = strings.TrimPrefix(l, "event: ")
				case strings.HasPrefix(l, "data: "):
					data = strings.TrimPrefix(l, "data: ")
				case l == "" && event != "":
					return event, data
				}
			case <-timeout:
				t.Fatal("no event within a second")
			}
		}
	}
}

// TestLiveAccountChanges: an account stage change reaches the live stream as
// an account event (backlog and live), with its account id as produced ("/"
// included); a re-emitted duplicate is sent once; and none is counted among
// the funnel's lead stage changes.
func TestLiveAccountChanges(t *testing.T) {
	r := newABMRig(t)
	stages := r.c.stages()
	r.feed.StageChange(change("l1", "user:a", "visitor", "lead", t0, "m1", output.Identities{}), 1, stages)
	r.feed.AccountStageChange(accountChange("ac_1", "acme/emea", "target", "engaged", t0), 2)
	r.feed.AccountStageChange(accountChange("ac_1", "acme/emea", "target", "engaged", t0), 3) // re-emitted duplicate

	f := r.feed.Funnel(time.UnixMilli(t0+day), 30*24*time.Hour, stages)
	if f.Changes != 1 || f.Duplicates != 0 || f.AccountChanges != 1 {
		t.Errorf("funnel: %d lead changes, %d duplicates, %d account changes; want 1, 0, 1", f.Changes, f.Duplicates, f.AccountChanges)
	}
	for _, m := range f.Models {
		if n := total(m.Stages); n != 1 {
			t.Errorf("model %s: %d leads in the funnel's stages, want 1 (user:a; no account)", m.Model, n)
		}
		for _, fl := range m.Flows {
			if fl.To == "engaged" {
				t.Errorf("model %s: an account flow among the lead flows: %+v", m.Model, fl)
			}
		}
	}

	srv := httptest.NewServer(r.c)
	defer srv.Close()
	defer r.c.Close() // ends the stream, or srv.Close would wait for it
	next := sseEvents(t, srv.URL+"/console/api/stream")
	var lead Change
	var acct AccountChange
	if ev, data := next(); ev != "backlog" || json.Unmarshal([]byte(data), &lead) != nil || lead.LeadID != "user:a" {
		t.Errorf("first backlog event %s %s, want the lead change", ev, data)
	}
	if ev, data := next(); ev != eventAccountBacklog || json.Unmarshal([]byte(data), &acct) != nil || acct.AccountID != "acme/emea" || acct.ProducedMs != 2 {
		t.Errorf("second backlog event %s %s, want the account change of acme/emea produced at 2", ev, data)
	}
	if ev, _ := next(); ev != "ready" {
		t.Errorf("after the backlog: %s, want ready (the duplicate is not sent)", ev)
	}
	r.feed.AccountStageChange(accountChange("ac_2", "acme/emea", "engaged", "mqa", t0+day), 42)
	ev, data := next()
	acct = AccountChange{}
	if err := json.Unmarshal([]byte(data), &acct); ev != eventAccountChange || err != nil {
		t.Fatalf("live event %s %s (%v), want %s", ev, data, err, eventAccountChange)
	}
	if acct.ID != "ac_2" || acct.Type != "account_stage_change" || acct.AccountID != "acme/emea" || acct.To != "mqa" || acct.ProducedMs != 42 {
		t.Errorf("account change %+v", acct)
	}
	if strings.Contains(data, `"lead_id"`) {
		t.Errorf("the account change carries a lead id: %s", data)
	}
	// A lead change is still a plain "change".
	r.feed.StageChange(change("l2", "user:b", "visitor", "lead", t0, "m1", output.Identities{}), 43, stages)
	if ev, data := next(); ev != "change" || !strings.Contains(data, `"lead_id":"user:b"`) {
		t.Errorf("lead change sent as %s %s", ev, data)
	}
}

// TestTailKafkaAccountTopic: the console's reader takes the account stage
// changes from the account topic when it is named, and reads nothing of it
// when it is not (no model scores accounts).
func TestTailKafkaAccountTopic(t *testing.T) {
	const leads, dead, accounts = "leads.stage-changes", "leads.dead-letter", "accounts.stage-changes"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, leads, dead, accounts))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	conn := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lead, _ := json.Marshal(change("l1", "user:a", "visitor", "lead", t0, "m1", output.Identities{}))
	acct, _ := json.Marshal(accountChange("ac_1", "acme/emea", "target", "engaged", t0))
	produced := time.UnixMilli(t0 + 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: leads, Value: lead, Timestamp: produced},
		&kgo.Record{Topic: accounts, Key: []byte("acme/emea"), Value: acct, Timestamp: produced},
		&kgo.Record{Topic: accounts, Value: []byte("not json"), Timestamp: produced}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stages := func() Stages { return Stages{Order: []string{"visitor", "lead"}} }

	for _, tc := range []struct {
		name, topic  string
		wantAccounts int64
	}{
		{"account topic named", accounts, 1},
		{"no account topic", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := NewFeed()
			stop, err := TailKafka(TailConfig{Conn: conn, StageChanges: leads, DeadLetter: dead, AccountStageChanges: tc.topic, Stages: stages}, feed)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			var f Funnel
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				f = feed.Funnel(time.UnixMilli(t0+day), 30*24*time.Hour, stages())
				if f.Changes == 1 && f.AccountChanges == tc.wantAccounts {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 10 s: %d lead changes, %d account changes; want 1 and %d", f.Changes, f.AccountChanges, tc.wantAccounts)
				}
			}
			// The fetches go on a while: an account change read late (or
			// twice) would show now.
			time.Sleep(500 * time.Millisecond)
			// Everything the topics hold is read: the funnel's counts are
			// complete, and say so (caughtUpAfter at most after the last
			// record).
			for deadline := time.Now().Add(3 * caughtUpAfter); ; time.Sleep(20 * time.Millisecond) {
				if up, _ := feed.Status(); up {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the tail read everything but does not say it caught up")
				}
			}
			if f = feed.Funnel(time.UnixMilli(t0+day), 30*24*time.Hour, stages()); f.Changes != 1 || f.AccountChanges != tc.wantAccounts {
				t.Errorf("%d lead changes, %d account changes; want 1 and %d", f.Changes, f.AccountChanges, tc.wantAccounts)
			}
			backlog, _, cancel := feed.Subscribe()
			defer cancel()
			var got []string
			for _, l := range backlog {
				switch {
				case l.Lead != nil:
					got = append(got, "lead "+l.Lead.LeadID)
				case l.Account != nil:
					got = append(got, "account "+l.Account.AccountID)
					if l.Account.ProducedMs != produced.UnixMilli() {
						t.Errorf("account change produced at %d, want the record's timestamp %d", l.Account.ProducedMs, produced.UnixMilli())
					}
				}
			}
			if want := 1 + int(tc.wantAccounts); len(got) != want {
				t.Errorf("live feed %v, want %d entries", got, want)
			}
			if tc.wantAccounts == 1 && !strings.Contains(strings.Join(got, ","), "account acme/emea") {
				t.Errorf("live feed %v: no account change of acme/emea", got)
			}
		})
	}
}

// TestLiveAccountsInAssets: the live page listens for the account events,
// links an account change to its page and has the kind filter.
func TestLiveAccountsInAssets(t *testing.T) {
	r := newRig(t, "")
	w := r.do(http.MethodGet, "/console/assets/app.js", "", nil, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET app.js: %d", w.Code)
	}
	for _, s := range []string{`"` + eventAccountChange + `"`, `"` + eventAccountBacklog + `"`, `{id: "filter-kind"`,
		`{value: "lead"`, `{value: "account"`, `li.dataset.kind === kindSel.value`, `"data-kind": "account"`, `accountLink(c.account_id)`,
		`session.account_stages`} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("app.js: no %s", s)
		}
	}
}
