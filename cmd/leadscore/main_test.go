package main

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/state"
)

func TestCLI(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // fragments that must appear
		stderr   []string
		noStdout bool
	}{
		{"rules check ok", []string{"rules", "check", "../../examples/rules/b2b-saas.yaml"}, 0,
			[]string{"OK — model b2b-saas-2026.11", "stages (12):", "mql", "exit below 30 → lead", "rules (20):", "demo_request"}, nil, false},
		{"rules check reads the account", []string{"rules", "check", "../../examples/rules/b2b-abm.yaml"}, 0,
			[]string{"sql           identified & on #hand_raiser OR from mql & account mqa"}, nil, false},
		{"rules check errors", []string{"rules", "check", "../../rules/testdata/bad/threshold-below-exit.yaml"}, 1,
			[]string{"../../rules/testdata/bad/threshold-below-exit.yaml:10:16: stage \"mql\": entry score threshold 20 is below its exit threshold 25"}, []string{"1 error(s)"}, false},
		{"rules check missing file", []string{"rules", "check", "nope.yaml"}, 1, nil, []string{"no such file"}, true},
		{"bad flag prints usage", []string{"score", "--bogus"}, 2, []string{"Usage: leadscore score"}, []string{"unknown flag --bogus"}, false},
		{"no command prints usage", []string{}, 2, []string{"Usage: leadscore <command>"}, nil, false},
		{"reference", []string{"rules", "reference"}, 0, []string{"| `stages[].exit.below` |"}, nil, false},
		{"score", []string{"score", "--rules", "../../replay/testdata/stories.yaml", "--events", "../../replay/testdata/story1-engaged.jsonl"}, 0,
			[]string{`"from":"mql","to":"sql"`, `"type":"lead","lead_id":"user:crm-004211"`}, []string{"scored 7 events (1 duplicates, 0 ignored, 0 bad) for 1 leads; 4 stage changes"}, false},
		{"score bad --at", []string{"score", "--rules", "../../replay/testdata/stories.yaml", "--at", "tomorrow", "--events", "../../replay/testdata/story1-engaged.jsonl"}, 1,
			nil, []string{"--at: parsing time"}, true},
		// The log's last event is on 2026-03-09; a state labelled 2026-03-08 would
		// hold an event from after its own instant.
		{"score --at before the last event", []string{"score", "--rules", "../../replay/testdata/stories.yaml", "--at", "2026-03-08T00:00:00Z", "--events", "../../replay/testdata/story1-engaged.jsonl"}, 1,
			nil, []string{"--at 2026-03-08T00:00:00.000Z is before the log's last event (2026-03-09T16:00:00.000Z)"}, false},
		{"score --at after the last event", []string{"score", "--rules", "../../replay/testdata/stories.yaml", "--at", "2026-04-01T00:00:00Z", "--events", "../../replay/testdata/story1-engaged.jsonl"}, 0,
			[]string{`"at":"2026-04-01T00:00:00.000Z"`}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(c.args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			for _, f := range c.stdout {
				if !strings.Contains(out.String(), f) {
					t.Errorf("stdout lacks %q:\n%s", f, out.String())
				}
			}
			for _, f := range c.stderr {
				if !strings.Contains(errb.String(), f) {
					t.Errorf("stderr lacks %q:\n%s", f, errb.String())
				}
			}
			if c.noStdout && out.Len() != 0 {
				t.Errorf("unexpected stdout: %s", out.String())
			}
		})
	}
}

// The textbook funnel's stories: `leadscore score` on each shipped journey prints
// exactly the shipped output (regenerate with LEADSCORE_UPDATE_STORY=1 after
// checking the change, and update examples/textbook/README.md to match).
func TestTextbookStory(t *testing.T) {
	cases := []struct {
		journey, golden string
		at              []string
		summary         string
	}{
		{"journey.jsonl", "score.jsonl", []string{"--at", "2026-07-01T00:00:00Z"},
			"scored 17 events (0 duplicates, 2 ignored, 0 bad) for 1 leads; 6 stage changes"},
		{"more-leads.jsonl", "more-leads.score.jsonl", nil,
			"scored 10 events (0 duplicates, 0 ignored, 0 bad) for 3 leads; 7 stage changes"},
	}
	for _, c := range cases {
		t.Run(c.journey, func(t *testing.T) {
			args := append([]string{"score", "--rules", "../../examples/rules/textbook-funnel.yaml",
				"--events", "../../examples/textbook/" + c.journey}, c.at...)
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden := "../../examples/textbook/" + c.golden
			if os.Getenv("LEADSCORE_UPDATE_STORY") == "1" {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("score output differs from %s:\n%s", golden, out.String())
			}
			if !strings.Contains(errb.String(), c.summary) {
				t.Errorf("summary: %s", errb.String())
			}
		})
	}
}

// TestBinaryDoesNotLinkTesting: no package the binary imports pulls in the
// testing package (it adds its flags and size to the production binary);
// test helpers belong in packages only tests import.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: the go command is not on the PATH; check by hand with: go list -deps ./cmd/leadscore | grep '^testing$'")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if slices.Contains(strings.Fields(imports), "testing") {
			t.Errorf("%s imports testing, so the leadscore binary links it", pkg)
		}
	}
}

// Flag defaults are the packages' own defaults (kongVars), so a default
// changed in a package is the flag's default too.
func TestFlagDefaultsComeFromPackages(t *testing.T) {
	var c cli
	parser, err := kong.New(&c, kongVars("test"), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"run", "--rules", "../../examples/rules/b2b-saas.yaml"}); err != nil {
		t.Fatal(err)
	}
	r, k := c.Run, c.Run.Kafka
	topics := processor.DefaultTopics()
	for _, tc := range []struct {
		flag      string
		got, want any
	}{
		{"--topic-web", k.TopicWeb, topics.Web},
		{"--topic-email", k.TopicEmail, topics.Email},
		{"--topic-feedback", k.TopicFeedback, topics.Feedback},
		{"--topic-stage-changes", k.TopicStages, topics.StageChanges},
		{"--topic-dead-letter", k.TopicDLQ, topics.DeadLetter},
		{"--topic-account-stage-changes", k.TopicAccounts, topics.AccountStageChanges},
		{"--session-timeout", k.SessionTimeout, kafkaconfig.DefaultSessionTimeout},
		{"--rebalance-timeout", k.RebalanceTimeout, kafkaconfig.DefaultRebalanceTimeout},
		{"--heartbeat-interval", k.HeartbeatInterval, kafkaconfig.DefaultHeartbeatInterval},
		{"--redis-prefix", r.Redis.RedisPrefix, state.DefaultKeyPrefix},
		{"--lanes", r.Lanes, processor.DefaultApplyLanes()},
		{"--working-set", r.WorkingSet, processor.DefaultWorkingSet},
		{"--timer-tick", r.TimerTick, processor.DefaultTimerTick},
		{"--merge-wait", r.MergeWait, processor.DefaultMergeWait},
		{"--idle-timeout", r.IdleTimeout, processor.DefaultIdleTimeout},
		{"--shutdown-timeout", r.ShutdownTimeout, processor.DefaultShutdownTimeout},
		{"--max-event-bytes", r.MaxEventBytes, events.DefaultMaxBytes},
		{"--max-event-depth", r.MaxEventDepth, events.DefaultMaxDepth},
	} {
		if tc.got != tc.want {
			t.Errorf("%s defaults to %v, want the package's %v", tc.flag, tc.got, tc.want)
		}
	}
}
