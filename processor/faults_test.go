package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
)

// crashing wraps a Client and "kills" the processor at one point of its cycle: the
// underlying client is closed without committing, as a SIGKILL would leave it.
type crashing struct {
	processor.Client
	mode    string // "produce": state written, nothing produced; "commit": produced, not committed
	after   int    // crash at the after-th cycle
	cycles  int
	armed   bool
	dead    bool
	crashed chan struct{}
}

var errKilled = errors.New("killed")

func (c *crashing) kill() error {
	if !c.dead {
		c.dead = true
		_ = c.Client.Abort(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = c.Client.Close(ctx) // leaves the group: its uncommitted records go to the next member
		cancel()
		close(c.crashed)
	}
	return errKilled
}

func (c *crashing) Poll(ctx context.Context) ([]processor.Record, error) {
	if c.dead {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	recs, err := c.Client.Poll(ctx)
	if len(recs) > 0 {
		c.cycles++
	}
	return recs, err
}

// Crashes are aimed at batches that carry stage changes: those are the ones a
// crash could lose or duplicate.
func (c *crashing) Produce(ctx context.Context, recs []processor.Record) error {
	changes := false
	for _, r := range recs {
		changes = changes || r.Topic == topics.StageChanges
	}
	if c.dead || changes && c.cycles >= c.after && c.mode == "produce" {
		return c.kill()
	}
	c.armed = changes && c.cycles >= c.after
	return c.Client.Produce(ctx, recs)
}

func (c *crashing) Commit(ctx context.Context) error {
	if c.dead || c.armed && c.mode == "commit" {
		return c.kill()
	}
	return c.Client.Commit(ctx)
}

func (c *crashing) Abort(ctx context.Context) error {
	if c.dead {
		return nil
	}
	return c.Client.Abort(ctx)
}

func (c *crashing) Close(ctx context.Context) error {
	if c.dead {
		return nil
	}
	return c.Client.Close(ctx)
}

// generated returns a small synthetic history as raw lines, with the inputs to feed.
func generated(t *testing.T, leads int, span time.Duration) ([][]byte, []input) {
	g, err := journeys.New(journeys.Config{Seed: 7, Leads: leads, Span: span})
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	var ins []input
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		topic := map[string]string{journeys.TopicWeb: topics.Web, journeys.TopicEmail: topics.Email, journeys.TopicFeedback: topics.Feedback}[r.Topic]
		lines = append(lines, r.Value)
		ins = append(ins, input{topic: topic, key: r.Key, value: r.Value, time: r.Time.UnixMilli()})
	}
	return lines, ins
}

// Killing the processor between its state write and its produce, or between its
// produce and its commit, loses no stage change and counts no event twice: the
// final stage changes are the oracle's (re-emissions keep their ids) and every
// lead's final state equals the oracle's.
func TestCrashesLoseNothingAndCountNothingTwice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		keepByDefault(t, b, "franz-go-exactly-once")
		crashRun(t, b, "../examples/rules/b2b-saas.yaml")
	})
}

// The same crashes with accounts (the ABM example rules): account updates
// are neither lost nor counted twice — the account stage changes (account
// topic) and every account's state equal the oracle's, with the exits due
// by the log's end fired.
func TestCrashesLoseNoAccountUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		keepByDefault(t, b, "franz-go")
		e, lines, at := crashRun(t, b, "../examples/rules/b2b-abm.yaml")
		var out bytes.Buffer
		if _, err := replay.ScoreLogSet(e.models, bytes.NewReader(bytes.Join(lines, []byte("\n"))), &out, replay.LogOptions{At: at}); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, l := range bytes.Split(out.Bytes(), []byte("\n")) {
			var m struct{ Type, ID string }
			if json.Unmarshal(l, &m) == nil && m.Type == "account_stage_change" {
				want[m.ID] = true
			}
		}
		if len(want) < 10 {
			t.Fatalf("only %d account stage changes: the workload does not exercise accounts", len(want))
		}
		got, dups := map[string]bool{}, 0
		for _, v := range e.readTopic(topics.AccountStageChanges, len(want), 15*time.Second) {
			var m struct{ ID string }
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatal(err)
			}
			if got[m.ID] {
				dups++
			}
			got[m.ID] = true
		}
		if strings.HasSuffix(b.name, "exactly-once") && dups != 0 {
			t.Errorf("exactly-once mode: %d account stage changes visible twice", dups)
		}
		var missing, extra int
		for id := range want {
			if !got[id] {
				missing++
			}
		}
		for id := range got {
			if !want[id] {
				extra++
			}
		}
		if missing+extra > 0 {
			t.Fatalf("account stage changes: %d of the oracle's %d missing, %d extra", missing, len(want), extra)
		}
		t.Logf("%d account stage changes equal the oracle's (%d re-emitted)", len(want), dups)
	})
}

// crashRun feeds generated journeys to processors that crash between their
// state write and their produce, or between their produce and their commit,
// six times, then checks the leads' stage changes and states against the
// oracle's at the log's end.
func crashRun(t *testing.T, b backend, rulesFile string) (*env, [][]byte, int64) {
	t.Helper()
	{
		e := newEnv(t, rulesFile, 3)
		lines, ins := generated(t, 60, 90*24*time.Hour)
		modes := []string{"produce", "commit"}
		crashes := 0
		var cur *proc
		var startNext func()
		startNext = func() {
			if cur != nil {
				_ = cur.stop()
			}
			if crashes >= 6 {
				cur = e.start(b, nil)
				e.crashLoop(nil, nil)
				return
			}
			c := &crashing{mode: modes[crashes%2], after: 5 + crashes*7, crashed: make(chan struct{})}
			crashes++
			cur = e.start(b, func(cl processor.Client) processor.Client { c.Client = cl; return c })
			e.crashLoop(c.crashed, startNext)
		}
		startNext()
		e.feed(ins)
		at := lastTime(ins)
		e.clock.Set(at)
		if crashes < 3 {
			t.Fatalf("only %d crashes happened", crashes)
		}
		want := e.oracle(lines, at)
		dups := sameChanges(t, e.readTopic(topics.StageChanges, len(want), 15*time.Second), want)
		e.sameStates(lines, at)
		// At least once: the batches killed between produce and commit are produced
		// again (same ids). Exactly once: their transactions were aborted, so a
		// read_committed consumer sees every stage change exactly once.
		if exactly := strings.HasSuffix(b.name, "exactly-once"); exactly && dups != 0 {
			t.Errorf("exactly-once mode: %d duplicates visible to a read_committed consumer", dups)
		} else if !exactly && dups == 0 {
			t.Error("no stage change was re-emitted: the crashes after produce did not exercise the outbox")
		}
		t.Logf("%d inputs, %d crashes", len(ins), crashes)
		return e, lines, at
	}
}

// sameStates compares every lead's stored state with the oracle's final state.
func (e *env) sameStates(lines [][]byte, at int64) {
	e.t.Helper()
	var out bytesBuffer
	want := map[string]struct {
		Stage string
		Score float64
	}{}
	for _, l := range e.oracleLines(lines, at, &out) {
		var x struct {
			Type   string  `json:"type"`
			LeadID string  `json:"lead_id"`
			Stage  string  `json:"stage"`
			Score  float64 `json:"score"`
		}
		_ = json.Unmarshal(l, &x)
		if x.Type == "lead" {
			want[x.LeadID] = struct {
				Stage string
				Score float64
			}{x.Stage, x.Score}
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	recs, err := e.store.Load(context.Background(), ids)
	if err != nil {
		e.t.Fatal(err)
	}
	for id, w := range want {
		r := recs[id]
		l, err := scoring.SingleSet(e.eng).DecodeNames(r.Data, namesFor(e.t, e.store, r.Data))
		if err != nil {
			e.t.Fatalf("lead %s: %v (record %+v)", id, err, r)
		}
		st := l.States[0]
		e.eng.Advance(&st, at)
		if st.Stage != w.Stage || math.Abs(e.eng.Score(&st, at)-w.Score) > 1e-6*math.Max(1, math.Abs(w.Score)) {
			e.t.Errorf("lead %s: live stage %s score %v, oracle %s %v", id, st.Stage, e.eng.Score(&st, at), w.Stage, w.Score)
		}
	}
	e.t.Logf("%d lead states equal the oracle's", len(want))
}

// Malformed events go to the dead-letter topic with their reason, original bytes
// and position; the partition keeps flowing.
func TestMalformedEventsGoToDeadLetters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, "../replay/testdata/stories.yaml", 1)
		e.start(b, nil)
		good := `{"type":"track","messageId":"g%d","userId":"u1","event":"Email Replied","timestamp":"2026-03-05T14:00:0%dZ"}`
		ins := []input{
			{topic: topics.Web, value: []byte(sprintf(good, 1, 1))},
			{topic: topics.Web, value: []byte(`{not json`)},
			{topic: topics.Web, value: []byte(`{"type":"track","event":"X","timestamp":"2026-03-05T14:00:00Z"}`)},
			{topic: topics.Web, value: []byte(sprintf(good, 2, 2))},
			{topic: topics.Email, value: []byte(`{"event":"open","email":"a@b.example","timestamp":"yesterday"}`)},
			{topic: topics.Web, value: []byte(``)},
			{topic: topics.Web, value: []byte(sprintf(good, 3, 3))},
		}
		e.feed(ins)
		dl := e.readTopic(topics.DeadLetter, 4, 10*time.Second)
		wantReasons := []string{"invalid_json", "missing_identity", "wrong_type", "empty_payload"}
		var got []string
		for _, v := range dl {
			var m map[string]any
			_ = json.Unmarshal(v, &m)
			got = append(got, m["reason"].(string))
		}
		if len(got) != len(wantReasons) {
			t.Fatalf("dead letters %v, want %v", got, wantReasons)
		}
		for i := range got {
			if got[i] != wantReasons[i] && !(i == 2 && got[i] == "bad_timestamp") {
				t.Errorf("dead letter %d reason %q, want %q", i, got[i], wantReasons[i])
			}
		}
		// The good events after the bad ones were scored: 3 replies = 60 → mql.
		sc := e.readTopic(topics.StageChanges, 2, 5*time.Second)
		if len(sc) < 2 {
			t.Fatalf("good events after poison ones were not processed: %d stage changes", len(sc))
		}
	})
}

// A lead left alone regresses on time: the timer fires the decay regression
// within a tick of its exact due instant.
func TestDecayRegressionFiresOnTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		keepByDefault(t, b, "franz-go")
		e := newEnv(t, "../scoring/testdata/decay.yaml", 2)
		e.start(b, nil)
		t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixMilli()
		ev := `{"type":"track","messageId":"big","userId":"u9","event":"Big Action","timestamp":"2026-03-02T09:00:00Z"}`
		e.feed([]input{{topic: topics.Web, key: []byte("u9"), value: []byte(ev), time: t0}})
		due := t0 + int64(30*24*3600*1000*math.Log2(80.0/25)) + 1
		e.clock.Set(due - 2000)
		if got := e.readTopic(topics.StageChanges, 2, 500*time.Millisecond); len(got) != 1 {
			t.Fatalf("before the due instant: %d stage changes, want only visitor→mql", len(got))
		}
		e.clock.Set(due + 1500)
		got := e.readTopic(topics.StageChanges, 2, 5*time.Second)
		if len(got) != 2 {
			t.Fatalf("after the due instant: %d stage changes, want 2", len(got))
		}
		c := parseChange(t, got[1])
		if c.From != "mql" || c.To != "lead" || c.Cause != "decay" {
			t.Fatalf("regression = %v", c)
		}
		at, _ := time.Parse(time.RFC3339Nano, c.EventTime)
		if d := at.UnixMilli() - due; d < -1 || d > 1 {
			t.Fatalf("regression at %v, want the exact instant %v", at, time.UnixMilli(due).UTC())
		}
	})
}

// Two processors in one group, the second joining mid-stream: partitions move,
// and the result is still exactly the oracle's.
func TestTwoProcessorsShareTheWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		keepByDefault(t, b, "kafka-go")
		e := newEnv(t, "../examples/rules/b2b-saas.yaml", 4)
		e.spread = true
		lines, ins := generated(t, 40, 60*24*time.Hour)
		e.start(b, nil)
		half := len(ins) / 2
		e.feed(ins[:half])
		second := e.start(b, nil)
		e.feed(ins[half:])
		if len(second.client.Assigned()) == 0 {
			t.Log("note: the second member got no partition")
		}
		at := lastTime(ins)
		e.clock.Set(at)
		want := e.oracle(lines, at)
		sameChanges(t, e.readTopic(topics.StageChanges, len(want), 15*time.Second), want)
		e.sameStates(lines, at)
	})
}

var _ = kgo.Record{}

// Redis unavailable mid-stream: the processor stops committing, reports not ready,
// retries with backoff, and resumes when Redis is back — losing nothing.
func TestRedisOutageIsWaitedOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, "../replay/testdata/stories.yaml", 2)
		lines := readLines(t, "../replay/testdata/story1-engaged.jsonl")
		ins := routeLines(t, lines)
		pr := e.start(b, nil)
		e.feed(ins[:3])
		e.mr.Close()
		e.clock.Set(ins[3].time)
		r := &kgo.Record{Topic: ins[3].topic, Key: ins[3].key, Value: ins[3].value}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := e.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for pr.p.Ready() == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if pr.p.Ready() == nil {
			t.Fatal("processor still ready with Redis down")
		}
		time.Sleep(300 * time.Millisecond) // a few failed retries
		if err := e.mr.Restart(); err != nil {
			t.Fatal(err)
		}
		e.waitCommitted(ctx, r.Topic, r.Partition, r.Offset+1)
		// Readiness is reported once the batch's cycle returns, a moment
		// after its commit is visible.
		deadline = time.Now().Add(5 * time.Second)
		for pr.p.Ready() != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := pr.p.Ready(); err != nil {
			t.Fatalf("not ready after Redis came back: %v", err)
		}
		e.feed(ins[4:])
		at := lastTime(ins)
		e.clock.Set(at)
		want := e.oracle(lines, at)
		sameChanges(t, e.readTopic(topics.StageChanges, len(want), 10*time.Second), want)
	})
}
