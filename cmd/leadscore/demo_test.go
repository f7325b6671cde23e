package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/eventually"
	"github.com/leadscore/leadscore/internal/syncbuf"
	"github.com/leadscore/leadscore/processor"
)

// TestDemoCommand runs `leadscore demo` as main does: flags, the --duration stop,
// the exit code, and flag errors.
func TestDemoCommand(t *testing.T) {
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"demo", "--duration=2s", "--rate=2000", "--leads=500", "--speedup=2592000", "--refresh=250ms",
		"--seed=7", "--kafka-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--partitions=1"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if d := time.Since(start); d < 2*time.Second || d > 15*time.Second {
		t.Errorf("demo with --duration=2s ran %s", d)
	}
	if !strings.Contains(out.String(), "summary:") || !strings.Contains(out.String(), "seed 7") {
		t.Errorf("output:\n%s", out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--rate=0"}, "--rate 0: must be"},
		{[]string{"demo", "--generate-only"}, "--generate-only needs --brokers"},
		{[]string{"demo", "--brokers=127.0.0.1:1"}, "--brokers is for --generate-only"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(tc.args, &out, &errb); code != 1 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errb.String())
		}
	}
}

// TestDemoStopsCleanlyOnSIGINT: Ctrl-C is how the demo is meant to end: it
// stops gracefully, prints its summary and exits 0. (Under `go run`, the go
// command itself exits 1 after an interrupt whatever its child did.)
func TestDemoStopsCleanlyOnSIGINT(t *testing.T) {
	out, errb := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"demo", "--plain", "--rate=500", "--refresh=200ms", "--kafka-addr=127.0.0.1:0",
			"--http-addr=127.0.0.1:0", "--partitions=1"}, out, errb)
	}()
	eventually.Match(t, out, regexp.MustCompile(`(\[\s*\d+\.\ds\]) sim `), 20*time.Second) // running: the signal handler is in place
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "summary:") {
			t.Errorf("after SIGINT: exit %d, want 0 with a summary\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop after SIGINT")
	}
}

// TestDemoGenerateOnly feeds an outside Kafka and checks that the journeys land
// on the input topics, keyed as their senders key them, and that nothing else
// happens (no processor: no stage change).
func TestDemoGenerateOnly(t *testing.T) {
	topics := processor.DefaultTopics()
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics.Web, topics.Email,
		topics.Feedback, topics.StageChanges))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	brokers := cl.ListenAddrs()
	var out, errb bytes.Buffer
	code := run([]string{"demo", "--generate-only", "--brokers", strings.Join(brokers, ","), "--duration=1500ms",
		"--rate=5000", "--speedup=5184000", "--refresh=500ms"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "summary: produced ") || !strings.Contains(out.String(), " 0 failed") {
		t.Errorf("output:\n%s", out.String())
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ConsumeTopics(topics.Web, topics.Email, topics.Feedback, topics.StageChanges))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	perTopic := map[string]int{}
	for ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			perTopic[r.Topic]++
			var v struct {
				UserID      string `json:"userId"`
				AnonymousID string `json:"anonymousId"`
				Email       string `json:"email"`
			}
			_ = json.Unmarshal(r.Value, &v)
			switch r.Topic {
			case topics.Web:
				if k := string(r.Key); k != v.UserID && (v.UserID != "" || k != v.AnonymousID) {
					t.Errorf("web record keyed %q: userId %q anonymousId %q", k, v.UserID, v.AnonymousID)
				}
			case topics.Email:
				if string(r.Key) != strings.ToLower(v.Email) {
					t.Errorf("email record keyed %q for %q", r.Key, v.Email)
				}
			}
		})
		if perTopic[topics.Web] > 0 && perTopic[topics.Email] > 0 {
			break
		}
	}
	if perTopic[topics.Web] == 0 || perTopic[topics.Email] == 0 || perTopic[topics.StageChanges] != 0 {
		t.Errorf("records per topic: %v", perTopic)
	}
}

func TestDemoFlagDefaults(t *testing.T) {
	t.Setenv("LEADSCORE_DEMO_RATE", "75")
	var cli struct {
		Demo demoCmd `cmd:""`
	}
	p, err := kong.New(&cli, kongVars("test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]string{"demo"}); err != nil {
		t.Fatal(err)
	}
	got := cli.Demo
	if got.Rate != 75 || got.Leads != 2000 || got.Seed != 1 || got.Rules != nil || got.Speedup != 604800 ||
		got.Refresh != time.Second || got.KafkaAddr != "127.0.0.1:9092" || got.RedisAddr != "" ||
		got.HTTP.HTTPAddr != "127.0.0.1:8080" || got.Partitions != 4 || got.GenerateOnly || got.LogLevel != "warn" {
		t.Errorf("defaults = %+v", got)
	}
	cfg, err := got.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != 75 || cfg.Leads != 2000 || cfg.Seed != 1 || cfg.Rules != nil || cfg.Speedup != 604800 ||
		cfg.Refresh != time.Second || cfg.KafkaAddr != "127.0.0.1:9092" || cfg.HTTPAddr != "127.0.0.1:8080" || !cfg.Console ||
		cfg.Partitions != 4 || cfg.GenerateOnly || cfg.LogFormat != "text" || cfg.LogLevel != "warn" || cfg.Version != version ||
		cfg.RulesSummary == nil {
		t.Errorf("config = %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
