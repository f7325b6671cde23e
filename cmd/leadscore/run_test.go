package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/longtest"
)

// leadscore run against an in-process Kafka-protocol broker and Redis: it creates
// the topics, turns the story's events into stage changes, and on SIGTERM finishes,
// commits and exits 0.
func TestRunProcessesAndShutsDownOnSIGTERM(t *testing.T) {
	for _, tc := range []struct {
		client, lanes string
		eos           bool
	}{{"franz-go", "1", false}, {"kafka-go", "1", false}, {"franz-go", "2", false}, {"franz-go", "2", true}} {
		client := tc.client
		name := client + "/lanes=" + tc.lanes
		if tc.eos {
			name += "/exactly-once"
		}
		t.Run(name, func(t *testing.T) {
			// kafka-go and two exactly-once lanes by default; one franz-go lane
			// is TestRunServesAPI's.
			if !tc.eos && client == "franz-go" {
				longtest.Skip(t)
			}
			if tc.eos && raceEnabled {
				// Under the race detector, a spread exactly-once lane stalled once
				// after its first rebalance (never polled its new partition again;
				// CI, 7 Dec 2026), as a spread pair did once in TestLanesShareTheWork:
				// not diagnosed yet (stop 29's closing note). It runs without -race.
				t.Skip("spread exactly-once lanes under the race detector: a known, undiagnosed stall")
			}
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mr := miniredis.RunT(t)
			brokers := strings.Join(c.ListenAddrs(), ",")
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			args := []string{"run", "--rules", "../../replay/testdata/stories.yaml", "--brokers", brokers,
				"--kafka-client", client, "--lanes", tc.lanes, "--redis-addrs", mr.Addr(), "--create-topics", "--partitions", "2",
				"--timer-tick", "50ms", "--log-format", "text", "--http-addr", "127.0.0.1:0"}
			if tc.lanes != "1" {
				args = append(args, "--ownership", "spread") // sole ownership runs one lane
			}
			if tc.eos {
				// Each lane needs a transactional id of its own (lane 1: <id>-lane1).
				args = append(args, "--exactly-once", "--transactional-id", "run-test")
			}
			go func() { done <- run(args, &out, &errb) }()
			prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// The story happens now: the processor's clock is the wall clock, and
			// historical events would meet their own decay timers first.
			now := time.Now().UTC()
			ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
			lines := []byte(strings.Join([]string{
				`{"type":"track","messageId":"r1","anonymousId":"a-claire","event":"Newsletter Signed Up","timestamp":"` + ts(-4*time.Minute) + `"}`,
				`{"type":"identify","messageId":"r2","anonymousId":"a-claire","userId":"crm-004211","traits":{"email":"claire@acme.example"},"timestamp":"` + ts(-3*time.Minute) + `"}`,
				`{"type":"track","messageId":"r3","userId":"crm-004211","event":"Demo Requested","timestamp":"` + ts(-2*time.Minute) + `"}`,
				`{"feedback_id":"fb-1","lead_id":"user:crm-004211","kind":"rejected","reason":"no_budget","by":"rep@example.com","at":"` + ts(-time.Minute) + `"}`,
			}, "\n"))
			for _, l := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
				topic := "tracking.web"
				switch {
				case bytes.Contains(l, []byte(`"sg_event_id"`)):
					topic = "tracking.email"
				case bytes.Contains(l, []byte(`"feedback_id"`)):
					topic = "crm.feedback"
				}
				r := &kgo.Record{Topic: topic, Key: []byte("claire"), Value: l}
				if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
				// Keep the log order across topics: wait until it is committed.
				adm := kadm.NewClient(prod)
				for {
					offs, err := adm.FetchOffsets(ctx, "leadscore")
					if o, ok := offs.Lookup(r.Topic, r.Partition); err == nil && ok && o.At > r.Offset {
						break
					}
					if ctx.Err() != nil {
						t.Fatalf("record %s/%d@%d never committed; stderr:\n%s", r.Topic, r.Partition, r.Offset, errb.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			cons, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("leads.stage-changes"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			defer cons.Close()
			var got []string
			for len(got) < 3 && ctx.Err() == nil {
				cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			}
			if len(got) != 3 || !strings.Contains(got[0], `"from":"visitor","to":"lead"`) ||
				!strings.Contains(got[1], `"from":"lead","to":"sql"`) || !strings.Contains(got[2], `"reason":"no_budget"`) {
				t.Fatalf("stage changes: %v\nstderr:\n%s", got, errb.String())
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, errb.String())
				}
			case <-time.After(40 * time.Second):
				t.Fatal("run did not stop after SIGTERM")
			}
			if n := strings.Count(errb.String(), "processor stopped"); strconv.Itoa(n) != tc.lanes {
				t.Errorf("%d clean-shutdown logs, want one per lane (%s):\n%s", n, tc.lanes, errb.String())
			}
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"run", "--rules", "../../replay/testdata/stories.yaml", "--kafka-client", "kafka-go", "--exactly-once",
		"--brokers", "127.0.0.1:1", "--redis-addrs", "127.0.0.1:1"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "--exactly-once needs --kafka-client=franz-go") {
		t.Fatalf("exit %d, stderr %q: want the exactly-once/kafka-go conflict refused", code, errb.String())
	}
}

func TestRunRefusesBadEventLimits(t *testing.T) {
	for _, c := range []struct {
		flag, value, want string
	}{
		{"--max-event-bytes", "-1", "MaxBytes -1 is outside"},
		{"--max-event-bytes", "2147483647", "MaxBytes 2147483647 is outside"},
		{"--max-event-depth", "-3", "MaxDepth -3 is outside"},
		{"--lanes", "0", "--lanes must be between 1 and 64, not 0"},
		{"--lanes", "65", "--lanes must be between 1 and 64, not 65"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"run", "--rules", "../../replay/testdata/stories.yaml", c.flag + "=" + c.value,
			"--brokers", "127.0.0.1:1", "--redis-addrs", "127.0.0.1:1"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%s %s: exit %d, stderr %q: want %q before anything is contacted", c.flag, c.value, code, errb.String(), c.want)
		}
	}
}
