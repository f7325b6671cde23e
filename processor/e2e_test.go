package processor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/internal/teststore"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkago"
	"github.com/leadscore/leadscore/processor/kafkatest"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

var topics = processor.DefaultTopics()

// backend builds a processor.Client of one kind for a test cluster.
type backend struct {
	name string
	// new makes a member of group; sole: under the sole-owner protocol, as
	// `leadscore run` makes it by default.
	new func(t *testing.T, brokers []string, group string, sole bool) processor.Client
}

// kafkaConfig is a processor's Kafka configuration in these tests: the input
// topics, with group timeouts short enough for quick rebalances.
func kafkaConfig(brokers []string, group string, sole bool) kafkaconfig.Config {
	return kafkaconfig.Config{Brokers: brokers, Group: group, SoleOwner: sole,
		InputTopics: topics.Inputs(), SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond, FetchMaxWait: 50 * time.Millisecond}
}

var backends = []backend{
	{"franz-go", func(t *testing.T, brokers []string, group string, sole bool) processor.Client {
		c, err := franzgo.New(context.Background(), franzgo.Config{Config: kafkaConfig(brokers, group, sole)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
	{"franz-go-exactly-once", func(t *testing.T, brokers []string, group string, sole bool) processor.Client {
		c, err := franzgo.New(context.Background(), franzgo.Config{Config: kafkaConfig(brokers, group, sole),
			ExactlyOnce: true, TransactionalID: fmt.Sprintf("%s-%d", group, txnSeq.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
	{"kafka-go", func(t *testing.T, brokers []string, group string, sole bool) processor.Client {
		c, err := kafkago.New(context.Background(), kafkago.Config{Config: kafkaConfig(brokers, group, sole)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
}

// clock is a controllable processing clock: tests move it with the event times
// they feed, as a live system's clock moves with its traffic.
type clock struct{ ms atomic.Int64 }

func (c *clock) Now() time.Time   { return time.UnixMilli(c.ms.Load()) }
func (c *clock) Set(ms int64)     { c.ms.Store(ms) }
func (c *clock) Advance(ms int64) { c.ms.Add(ms) }

// env is one test's broker, store and helpers.
type env struct {
	t       *testing.T
	cluster *kfake.Cluster
	brokers []string
	prod    *kgo.Client
	adm     *kadm.Client
	store   *state.Store
	eng     *scoring.Engine
	models  *scoring.Set // eng alone, unless a test runs several models
	clock   *clock
	group   string
	sources map[string]string // processor.Config.Sources of processors started from now on
	// spread starts processors as `leadscore run --ownership spread` does
	// (the partitions spread over the members, no working set) rather than
	// as sole owners with a working set, run's default.
	spread bool
	// lanes and writeChunk, when set, are the processors' apply lanes and
	// store write chunk (processor.SetWriteChunk).
	lanes, writeChunk int
	crashed           <-chan struct{}
	restart           func()
	mr                *miniredis.Miniredis
}

func newEnv(t *testing.T, rulesFile string, partitions int) *env {
	t.Helper()
	c := newCluster(t, int32(partitions))
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topics.Web))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	store, mr := newStore(t)
	eng := testrules.Load(t, rulesFile)
	return &env{t: t, cluster: c, brokers: brokers, prod: prod, adm: kadm.NewClient(prod), store: store, mr: mr,
		eng: eng, models: scoring.SingleSet(eng), clock: &clock{}, group: "leadscore-" + strings.ReplaceAll(t.Name(), "/", "-")}
}

// newCluster starts a kfake cluster with the processor's topics, each of
// partitions partitions, closed when the test ends.
func newCluster(t *testing.T, partitions int32) *kfake.Cluster {
	t.Helper()
	var seed []kafkatest.Topic
	for _, name := range []string{topics.Web, topics.Email, topics.Feedback, topics.StageChanges, topics.DeadLetter, topics.AccountStageChanges} {
		seed = append(seed, kafkatest.Topic{Name: name, Partitions: partitions})
	}
	return kafkatest.NewCluster(t, seed)
}

// newStore opens the state store on real Redis when LEADSCORE_REDIS_ADDR is set,
// else on an embedded miniredis (returned, for outage tests: theirs always).
func newStore(t *testing.T) (*state.Store, *miniredis.Miniredis) {
	t.Helper()
	o := state.Options{TimerShards: 4, Buckets: 64}
	if strings.Contains(t.Name(), "Outage") {
		return teststore.Mini(t, o)
	}
	return teststore.Open(t, o)
}

// proc runs a processor until stopped; stop waits for Run to return.
type proc struct {
	p      *processor.Processor
	client processor.Client
	cancel context.CancelFunc
	done   chan error
}

func (e *env) start(b backend, wrap func(processor.Client) processor.Client) *proc {
	e.t.Helper()
	cl := b.new(e.t, e.brokers, e.group, !e.spread)
	if wrap != nil {
		cl = wrap(cl)
	}
	ws := processor.DefaultWorkingSet
	if e.spread {
		ws = 0
	}
	p, err := processor.New(processor.Config{Topics: topics, TimerTick: 20 * time.Millisecond, Now: e.clock.Now, Logger: quiet, WorkingSet: ws,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond, OutboxRetry: time.Second, Sources: e.sources,
		ApplyLanes: e.lanes, CommitAck: !e.spread}, cl, e.store, e.models)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.writeChunk > 0 {
		processor.SetWriteChunk(p, e.writeChunk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr := &proc{p: p, client: cl, cancel: cancel, done: make(chan error, 1)}
	go func() { pr.done <- p.Run(ctx) }()
	e.t.Cleanup(func() { pr.stop() })
	return pr
}

func (pr *proc) stop() error {
	pr.cancel()
	select {
	case err := <-pr.done:
		pr.done <- err
		return err
	case <-time.After(30 * time.Second):
		return errors.New("processor did not stop")
	}
}

// input is one record to feed, with where it goes.
type input struct {
	topic string
	key   []byte
	value []byte
	time  int64
}

// routeLines turns raw payload lines (mixed shapes) into inputs, keyed as the
// senders key them (Segment: userId else anonymousId; SendGrid: e-mail; feedback:
// lead id).
func routeLines(t *testing.T, lines [][]byte) []input {
	dec, _ := events.NewDecoder(events.Options{})
	var out []input
	for _, l := range lines {
		ev, err := dec.DecodeAny(l)
		in := input{value: l, topic: topics.Web}
		if err == nil {
			in.time = ev.Time
			switch ev.Source {
			case scoring.SourceEmail:
				in.topic, in.key = topics.Email, []byte(ev.Identity.Email)
			case scoring.SourceFeedback:
				in.topic, in.key = topics.Feedback, []byte(ev.Identity.LeadID)
			default:
				k := ev.Identity.UserID
				if k == "" {
					k = ev.Identity.AnonymousID
				}
				in.key = []byte(k)
			}
		}
		out = append(out, in)
	}
	return out
}

func readLines(t *testing.T, files ...string) [][]byte {
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				out = append(out, l)
			}
		}
	}
	return out
}

// feed produces inputs one at a time, moving the clock to each event's time, and
// waits until the group has committed past each before the next: the processing
// order is then exactly the log order, which is what the oracle assumes.
func (e *env) feed(ins []input) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, in := range ins {
		if in.time > e.clock.ms.Load() {
			e.clock.Set(in.time)
		}
		r := &kgo.Record{Topic: in.topic, Key: in.key, Value: in.value}
		if err := e.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			e.t.Fatal(err)
		}
		e.waitCommitted(ctx, r.Topic, r.Partition, r.Offset+1)
	}
}

// onCrash, when set, is called by waitCommitted when a crash was signalled on
// crashed: it must stop the dead processor and start a new one.
func (e *env) crashLoop(crashed <-chan struct{}, restart func()) {
	e.crashed, e.restart = crashed, restart
}

func (e *env) waitCommitted(ctx context.Context, topic string, partition int32, want int64) {
	e.t.Helper()
	for {
		offs, err := e.adm.FetchOffsets(ctx, e.group)
		if err == nil {
			if o, ok := offs.Lookup(topic, partition); ok && o.At >= want {
				return
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("timed out waiting for %s/%d to be committed to %d", topic, partition, want)
		case <-e.crashed:
			e.restart()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// change is the comparable part of a stage change.
type change struct {
	ID, Lead, From, To, EventTime, Cause, Rule string
}

func (c change) String() string {
	return fmt.Sprintf("%s %s→%s at %s (%s %s) %s", c.Lead, c.From, c.To, c.EventTime, c.Cause, c.Rule, c.ID)
}

func parseChange(t *testing.T, b []byte) change {
	var x struct {
		ID        string `json:"id"`
		LeadID    string `json:"lead_id"`
		From      string `json:"from"`
		To        string `json:"to"`
		EventTime string `json:"event_time"`
		Cause     struct{ Kind, Rule string }
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return change{x.ID, x.LeadID, x.From, x.To, x.EventTime, x.Cause.Kind, x.Cause.Rule}
}

// oracle runs the same lines through leadscore's offline scorer.
func (e *env) oracle(lines [][]byte, at int64) []change {
	e.t.Helper()
	return e.oracleChanges(lines, replay.LogOptions{At: at})
}

// oracleNoAdvance is the oracle's stage changes with every lead left at its
// last event (leadscore score --no-advance).
func (e *env) oracleNoAdvance(lines [][]byte) []change {
	e.t.Helper()
	return e.oracleChanges(lines, replay.LogOptions{NoAdvance: true})
}

// oracleChanges runs the oracle with opts and returns its stage changes.
func (e *env) oracleChanges(lines [][]byte, opts replay.LogOptions) []change {
	e.t.Helper()
	var out bytes.Buffer
	if _, err := replay.ScoreLogSet(e.models, bytes.NewReader(bytes.Join(lines, []byte("\n"))), &out, opts); err != nil {
		e.t.Fatal(err)
	}
	var cs []change
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"type":"stage_change"`)) {
			cs = append(cs, parseChange(e.t, sc.Bytes()))
		}
	}
	return cs
}

// readTopic reads every record of a topic written so far.
func (e *env) readTopic(topic string, atLeast int, within time.Duration) [][]byte {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out [][]byte
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
		if len(out) >= atLeast && fs.NumRecords() == 0 {
			break
		}
	}
	return out
}

// sameChanges compares live stage changes with the oracle's: the same ids, each
// at least once; duplicates only as exact re-emissions of the same id.
func sameChanges(t *testing.T, live [][]byte, want []change) (dups int) {
	t.Helper()
	got := map[string]change{}
	for _, v := range live {
		c := parseChange(t, v)
		if prev, ok := got[c.ID]; ok {
			dups++
			if prev != c {
				t.Errorf("id %s re-emitted with different content: %v vs %v", c.ID, prev, c)
			}
		}
		got[c.ID] = c
	}
	wantIDs := map[string]change{}
	for _, c := range want {
		wantIDs[c.ID] = c
	}
	var missing, extra []string
	for id, c := range wantIDs {
		if _, ok := got[id]; !ok {
			missing = append(missing, c.String())
		}
	}
	for id, c := range got {
		if _, ok := wantIDs[id]; !ok {
			extra = append(extra, c.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("live stage changes differ from the oracle (%d live, %d oracle, %d duplicates):\nmissing: %s\nextra: %s",
			len(got), len(wantIDs), dups, strings.Join(missing, "\n  "), strings.Join(extra, "\n  "))
	}
	t.Logf("%d stage changes equal the oracle's (%d duplicate re-emissions)", len(wantIDs), dups)
	return dups
}

func lastTime(ins []input) int64 {
	var m int64
	for _, in := range ins {
		m = max(m, in.time)
	}
	return m
}

func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// storyThroughKafka feeds the JSONL files through a processor on backend b with
// the rules file, and checks that the stage-change topic holds exactly the
// oracle's changes, at least min of them. It returns the environment, for
// checks of the state after.
func storyThroughKafka(t *testing.T, b backend, rulesFile string, min int, files ...string) *env {
	t.Helper()
	e := newEnv(t, rulesFile, 3)
	lines := readLines(t, files...)
	ins := routeLines(t, lines)
	e.start(b, nil)
	e.feed(ins)
	at := lastTime(ins)
	e.clock.Set(at)
	want := e.oracle(lines, at)
	if len(want) < min {
		t.Fatalf("oracle gave only %d changes", len(want))
	}
	sameChanges(t, e.readTopic(topics.StageChanges, len(want), 10*time.Second), want)
	return e
}

// The acceptance stories of the scoring issue, as real Segment / SendGrid /
// feedback JSON through Kafka and Redis, give exactly the oracle's stage changes.
func TestStoriesThroughKafka(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := storyThroughKafka(t, b, "../replay/testdata/stories.yaml", 9,
			"../replay/testdata/story1-engaged.jsonl", "../replay/testdata/story2-lapsed.jsonl")

		// The visitor stitched into Claire's lead is a tombstone whose state was
		// emptied once her lead listed it (the outbox acknowledgement after the
		// commit), and whose offsets stay, so a redelivered visitor event is
		// still recognised.
		var tomb state.Record
		for deadline := time.Now().Add(10 * time.Second); ; {
			var err error
			if tomb, err = e.store.Get(context.Background(), "anon:a-claire"); err != nil {
				t.Fatal(err)
			}
			if len(tomb.Data) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if tomb.MergedInto != "user:crm-004211" || len(tomb.Data) != 0 || len(tomb.Offsets()) == 0 {
			t.Errorf("visitor tombstone: merged into %q, %d bytes of state, offsets %v; want merged into user:crm-004211, no state, its offsets",
				tomb.MergedInto, len(tomb.Data), tomb.Offsets())
		}
		lead, err := e.store.Get(context.Background(), "user:crm-004211")
		if err != nil || !slices.Contains(lead.Absorbed, "anon:a-claire") || len(lead.Data) == 0 {
			t.Errorf("Claire's lead: absorbed %v, %d bytes of state, err %v", lead.Absorbed, len(lead.Data), err)
		}
	})
}

var txnSeq atomic.Int64

var quiet = func() *slog.Logger {
	if os.Getenv("LEADSCORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

type bytesBuffer = bytes.Buffer

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

// oracleLines returns the oracle's output lines.
func (e *env) oracleLines(lines [][]byte, at int64, out *bytes.Buffer) [][]byte {
	e.t.Helper()
	if _, err := replay.ScoreLogSet(e.models, bytes.NewReader(bytes.Join(lines, []byte("\n"))), out, replay.LogOptions{At: at}); err != nil {
		e.t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
}

// namesFor is the store's name dictionary, caught up with the ids data
// names: lead records name their rules by id (state.NameDict).
func namesFor(t testing.TB, store *state.Store, data []byte) *state.NameDict {
	t.Helper()
	d, err := store.NamesUpTo(context.Background(), scoring.MaxNameID(data))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
