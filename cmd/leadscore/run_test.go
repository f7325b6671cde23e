package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// leadscore run against an in-process Kafka-protocol broker and Redis: it creates
// the topics, turns the story's events into stage changes, and on SIGTERM finishes,
// commits and exits 0.
func TestRunProcessesAndShutsDownOnSIGTERM(t *testing.T) {
	for _, client := range []string{"franz-go", "kafka-go"} {
		t.Run(client, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mr := miniredis.RunT(t)
			brokers := strings.Join(c.ListenAddrs(), ",")
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run([]string{"run", "--rules", "../../replay/testdata/stories.yaml", "--brokers", brokers,
					"--kafka-client", client, "--redis-addrs", mr.Addr(), "--create-topics", "--partitions", "2",
					"--timer-tick", "50ms", "--log-format", "text"}, &out, &errb)
			}()
			prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			lines, _ := os.ReadFile("../../replay/testdata/story1-engaged.jsonl")
			// Wait for the topics, then produce the story in order (one partition key).
			for {
				if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "tracking.web", Key: []byte("x"), Value: []byte(`{"type":"track","messageId":"warm","userId":"warmup","event":"Ping","timestamp":"2026-01-01T00:00:00Z"}`)}).FirstErr(); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("topics never appeared; stderr:\n%s", errb.String())
				case code := <-done:
					t.Fatalf("run exited %d early; stderr:\n%s", code, errb.String())
				case <-time.After(100 * time.Millisecond):
				}
			}
			for _, l := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
				topic := "tracking.web"
				switch {
				case bytes.Contains(l, []byte(`"sg_event_id"`)):
					topic = "tracking.email"
				case bytes.Contains(l, []byte(`"feedback_id"`)):
					topic = "crm.feedback"
				}
				if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("claire"), Value: l}).FirstErr(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond) // keep the log order across topics
			}
			cons, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("leads.stage-changes"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			defer cons.Close()
			var got []string
			for len(got) < 4 && ctx.Err() == nil {
				cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			}
			if len(got) != 4 || !strings.Contains(got[2], `"from":"mql","to":"sql"`) || !strings.Contains(got[3], `"reason":"no_budget"`) {
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
			if !strings.Contains(errb.String(), "processor stopped") {
				t.Errorf("no clean-shutdown log:\n%s", errb.String())
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
