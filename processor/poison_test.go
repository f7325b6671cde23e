package processor_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/processor"
)

// poisonCase is one entry of testdata/poison/cases.yaml (described there; the same
// manifest drives events/poison_test.go).
type poisonCase struct {
	Name   string // <topic>/<reason>--<what>
	Topic  string // the Kafka topic
	Reason string // the expected reason code
}

// loadPoisonRecords reads the corpus as records to produce, in manifest order.
func loadPoisonRecords(t *testing.T) ([]poisonCase, []*kgo.Record) {
	t.Helper()
	const dir = "../testdata/poison"
	b, err := os.ReadFile(filepath.Join(dir, "cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Cases []struct {
			Name, Topic, Reason, What string
			Key                       *string
			Headers                   []struct{ Key, Value string }
			Generate                  []struct {
				Text   string
				Repeat int
			}
			Tombstone bool
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("cases.yaml: %v", err)
	}
	topicOf := map[string]string{"web": topics.Web, "email": topics.Email, "feedback": topics.Feedback}
	var cases []poisonCase
	var recs []*kgo.Record
	for _, c := range m.Cases {
		r := &kgo.Record{Topic: topicOf[c.Topic]}
		if r.Topic == "" {
			t.Fatalf("case %s: unknown topic %q", c.Name, c.Topic)
		}
		switch {
		case c.Tombstone: // null value
		case c.Generate != nil:
			var buf bytes.Buffer
			for _, p := range c.Generate {
				buf.WriteString(strings.Repeat(p.Text, max(p.Repeat, 1)))
			}
			r.Value = buf.Bytes()
		default:
			if r.Value, err = os.ReadFile(filepath.Join(dir, c.Name+".json")); err != nil {
				t.Fatalf("case %s: %v", c.Name, err)
			}
		}
		if c.Key != nil {
			r.Key = []byte(*c.Key)
		}
		for _, h := range c.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		cases = append(cases, poisonCase{Name: c.Name, Topic: r.Topic, Reason: c.Reason})
		recs = append(recs, r)
	}
	return cases, recs
}

// countingObserver counts dead letters by reason and consumed records by topic
// and outcome, and keeps the size of the largest batch; the other observations
// are ignored.
type countingObserver struct {
	mu          sync.Mutex
	deadLetters map[string]int
	consumed    map[string]int // "topic outcome" → n
	maxBatch    int            // records in the largest batch
}

func newCountingObserver() *countingObserver {
	return &countingObserver{deadLetters: map[string]int{}, consumed: map[string]int{}}
}

func (o *countingObserver) Consumed(topic, outcome string, n int) {
	o.mu.Lock()
	o.consumed[topic+" "+outcome] += n
	o.mu.Unlock()
}

func (o *countingObserver) Late(string) {}

func (o *countingObserver) DeadLetter(reason string) {
	o.mu.Lock()
	o.deadLetters[reason]++
	o.mu.Unlock()
}

func (o *countingObserver) Transition(string, string, string)        {}
func (o *countingObserver) AccountTransition(string, string, string) {}
func (o *countingObserver) Batch(n int, _ time.Duration) {
	o.mu.Lock()
	o.maxBatch = max(o.maxBatch, n)
	o.mu.Unlock()
}
func (o *countingObserver) Latency(time.Duration)                {}
func (o *countingObserver) Timers(int, int)                      {}
func (o *countingObserver) StoreRoundTrip(string, time.Duration) {}
func (o *countingObserver) Ready(bool, string)                   {}

// The poison corpus of testdata/poison, produced interleaved with the acceptance
// stories: every poison record lands on the dead-letter topic exactly once, with
// its expected reason, original bytes, key, headers and position; the processor
// keeps going (it commits every input partition to its end) and the stories still
// give exactly the oracle's stage changes; the observer's dead-letter counts per
// reason and per topic match the manifest.
func TestPoisonCorpusGoesToDeadLetters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cases, recs := loadPoisonRecords(t) // fresh records: producing one ties it to its context
		e := newEnv(t, "../replay/testdata/stories.yaml", 3)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		prod := bigRecords(ctx, t, e)
		obs := newCountingObserver()
		pr := startObserved(t, e, b, obs)

		// Good events one at a time (so the processing order is the oracle's), with
		// a slice of the corpus before each and the rest after the last.
		lines := readLines(t, "../replay/testdata/story1-engaged.jsonl", "../replay/testdata/story2-lapsed.jsonl")
		good := routeLines(t, lines)
		per := len(recs)/(len(good)+1) + 1
		next := 0
		producePoison := func(n int) {
			end := min(next+n, len(recs))
			for _, r := range recs[next:end] {
				if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("producing %s: %v", cases[next].Name, err)
				}
				next++
			}
		}
		for _, in := range good {
			producePoison(per)
			e.feed([]input{in})
		}
		producePoison(len(recs))

		// The processor kept going: every input partition is committed to its end.
		waitAllCommitted(ctx, t, e)

		// segmentio/kafka-go (v0.4.51, message_reader.go readNewBytes) reads a
		// zero-length header value as nil: that backend cannot tell an empty
		// header value from a null one, so its dead letters say null.
		emptyIsNull := b.name == "kafka-go"
		checkDeadLetters(t, cases, recs, readRecords(t, e, topics.DeadLetter, len(recs), 10*time.Second), emptyIsNull)

		at := lastTime(good)
		e.clock.Set(at)
		want := e.oracle(lines, at)
		if len(want) < 9 {
			t.Fatalf("oracle gave only %d changes", len(want))
		}
		sameChanges(t, e.readTopic(topics.StageChanges, len(want), 10*time.Second), want)

		if err := pr.stop(); err != nil {
			t.Fatalf("processor: %v", err)
		}
		checkPoisonCounts(t, cases, good, obs)
	})
}

// bigRecords lets the input topics take records up to 4 MiB and returns a
// producer that can send them: the corpus has payloads over Kafka's default
// 1 MiB, which a sender whose cluster allows them can publish.
func bigRecords(ctx context.Context, t *testing.T, e *env) *kgo.Client {
	t.Helper()
	big := kadm.StringPtr(fmt.Sprint(4 << 20))
	rs, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: big}}, topics.Inputs()...)
	if err != nil {
		t.Fatalf("raising max.message.bytes: %v", err)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("raising max.message.bytes of %s: %v", r.Name, r.Err)
		}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return prod
}

// waitAllCommitted waits until the group has committed every input partition to
// its end offset.
func waitAllCommitted(ctx context.Context, t *testing.T, e *env) {
	t.Helper()
	ends, err := e.adm.ListEndOffsets(ctx, topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			e.waitCommitted(ctx, o.Topic, o.Partition, o.Offset)
		}
	})
}

// startObserved starts a processor like env.start, with an observer.
func startObserved(t *testing.T, e *env, b backend, obs processor.Observer) *proc {
	t.Helper()
	cl := b.new(t, e.brokers, e.group, false)
	p, err := processor.New(processor.Config{Topics: topics, TimerTick: 20 * time.Millisecond, Now: e.clock.Now, Logger: quiet,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond, OutboxRetry: time.Second, Observer: obs}, cl, e.store, e.models)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr := &proc{p: p, client: cl, cancel: cancel, done: make(chan error, 1)}
	go func() { pr.done <- p.Run(ctx) }()
	t.Cleanup(func() { _ = pr.stop() })
	return pr
}

// readRecords reads the committed records of a topic: at least atLeast of them,
// then until a poll brings nothing more (so extra records show), or until within.
func readRecords(t *testing.T, e *env, topic string, atLeast int, within time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) >= atLeast && fs.NumRecords() == 0 {
			break
		}
	}
	return out
}

// checkDeadLetters checks that each poison record is on the dead-letter topic
// exactly once, with its reason and everything needed to replay it.
// With emptyIsNull, an empty original header value may come back null.
func checkDeadLetters(t *testing.T, cases []poisonCase, recs []*kgo.Record, dl []*kgo.Record, emptyIsNull bool) {
	t.Helper()
	type pos struct {
		topic     string
		partition int32
		offset    int64
	}
	byPos := map[pos]int{}
	for i, r := range recs {
		byPos[pos{r.Topic, r.Partition, r.Offset}] = i
	}
	seen := make([]int, len(recs))
	for _, m := range dl {
		var d output.DeadLetter
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Errorf("dead letter at offset %d is not JSON: %v", m.Offset, err)
			continue
		}
		i, ok := byPos[pos{d.Source.Topic, d.Source.Partition, d.Source.Offset}]
		if !ok {
			t.Errorf("dead letter for %+v, which is not a poison record (reason %s: %s)", d.Source, d.Reason, d.Message)
			continue
		}
		seen[i]++
		c, r := cases[i], recs[i]
		errorf := func(f string, a ...any) { t.Errorf("%s: %s", c.Name, fmt.Sprintf(f, a...)) }
		if d.Reason != c.Reason {
			errorf("reason %q (%s), want %q", d.Reason, d.Message, c.Reason)
		}
		if d.Message == "" || d.Processor == "" || d.At == "" {
			errorf("incomplete dead letter: message %q, processor %q, at %q", d.Message, d.Processor, d.At)
		}
		payload, err := base64.StdEncoding.DecodeString(d.PayloadBase64)
		want := r.Value
		if len(want) > output.MaxDeadLetterPayload {
			want = want[:output.MaxDeadLetterPayload]
		}
		if err != nil || !bytes.Equal(payload, want) || d.PayloadSize != len(r.Value) ||
			d.PayloadTruncated != (len(r.Value) > output.MaxDeadLetterPayload) {
			errorf("payload differs from the original: %d bytes (size %d, truncated %v, err %v), want %d of %d",
				len(payload), d.PayloadSize, d.PayloadTruncated, err, len(want), len(r.Value))
		}
		wantKey := ""
		if r.Key != nil {
			wantKey = base64.StdEncoding.EncodeToString(r.Key)
		}
		if d.KeyBase64 != wantKey || !bytes.Equal(m.Key, r.Key) {
			errorf("key %q (record key %q), want %q", d.KeyBase64, m.Key, r.Key)
		}
		if got, want := deadLetterHeaders(d.Headers), originalHeaders(r.Headers, emptyIsNull); got != want {
			errorf("headers %s, want %s", got, want)
		}
		// The dead-letter record itself carries the original headers, then its own.
		n := len(r.Headers)
		switch {
		case len(m.Headers) < n:
			errorf("dead-letter record headers %s lack the original %s", recordHeaders(m.Headers), recordHeaders(r.Headers))
		case originalHeaders(m.Headers[:n], emptyIsNull) != originalHeaders(r.Headers, emptyIsNull):
			errorf("dead-letter record headers %s do not start with the original %s", recordHeaders(m.Headers), recordHeaders(r.Headers))
		case !hasHeader(m.Headers[n:], "leadscore-dlq-reason", c.Reason):
			errorf("dead-letter record headers %s lack leadscore-dlq-reason: %s", recordHeaders(m.Headers), c.Reason)
		}
	}
	missing := 0
	for i, n := range seen {
		switch {
		case n == 0:
			missing++
			t.Errorf("%s (%s/%d@%d): not on the dead-letter topic", cases[i].Name, recs[i].Topic, recs[i].Partition, recs[i].Offset)
		case n > 1:
			t.Errorf("%s: on the dead-letter topic %d times", cases[i].Name, n)
		}
	}
	t.Logf("%d dead letters for %d poison records (%d missing)", len(dl), len(recs), missing)
}

func recordHeaders(hs []kgo.RecordHeader) string {
	var sb strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&sb, "[%s=%q]", h.Key, h.Value)
	}
	return sb.String()
}

// originalHeaders renders headers as deadLetterHeaders does, empty values as null
// with emptyIsNull.
func originalHeaders(hs []kgo.RecordHeader, emptyIsNull bool) string {
	var sb strings.Builder
	for _, h := range hs {
		v := fmt.Sprintf("%q", h.Value)
		if emptyIsNull && len(h.Value) == 0 {
			v = `"<null>"`
		}
		fmt.Fprintf(&sb, "[%s=%s]", h.Key, v)
	}
	return sb.String()
}

func deadLetterHeaders(hs []output.HeaderBase64) string {
	var sb strings.Builder
	for _, h := range hs {
		v := "<null>"
		if h.ValueBase64 != nil {
			b, _ := base64.StdEncoding.DecodeString(*h.ValueBase64)
			v = string(b)
		}
		fmt.Fprintf(&sb, "[%s=%q]", h.Key, v)
	}
	return sb.String()
}

func hasHeader(hs []kgo.RecordHeader, key, value string) bool {
	for _, h := range hs {
		if h.Key == key && string(h.Value) == value {
			return true
		}
	}
	return false
}

// checkPoisonCounts compares the observer's counts with the manifest: dead
// letters per reason and per topic, and every good event consumed with another
// outcome.
func checkPoisonCounts(t *testing.T, cases []poisonCase, good []input, obs *countingObserver) {
	t.Helper()
	wantReasons := map[string]int{}
	wantDead := map[string]int{}
	wantOther := map[string]int{}
	for _, c := range cases {
		wantReasons[c.Reason]++
		wantDead[c.Topic]++
	}
	for _, in := range good {
		wantOther[in.topic]++
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if fmt.Sprint(obs.deadLetters) != fmt.Sprint(wantReasons) {
		t.Errorf("dead letters by reason %v, want %v", obs.deadLetters, wantReasons)
	}
	other := map[string]int{}
	for k, n := range obs.consumed {
		topic, outcome, _ := strings.Cut(k, " ")
		if outcome == "dead_letter" {
			if n != wantDead[topic] {
				t.Errorf("%s: %d consumed as dead letters, want %d", topic, n, wantDead[topic])
			}
			continue
		}
		other[topic] += n
	}
	if fmt.Sprint(other) != fmt.Sprint(wantOther) {
		t.Errorf("good events consumed by topic %v, want %v", other, wantOther)
	}
}

// countingObserver also remembers the largest batch.
func (o *countingObserver) largest() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxBatch
}

// The corpus five times over, mixed with generated journeys and produced before the
// processor starts, so that it comes in batches of thousands of records (large
// batches are decoded on several goroutines): still every poison record is dead-
// lettered exactly once with its reason, and no good event is.
func TestPoisonBurstInLargeBatches(t *testing.T) {
	for _, b := range backends {
		if b.name != "franz-go" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, "../examples/rules/b2b-saas.yaml", 3)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			prod := bigRecords(ctx, t, e)

			_, good := generated(t, 60, 60*24*time.Hour)
			var cases []poisonCase
			var recs []*kgo.Record
			for round := range 5 {
				cs, rs := loadPoisonRecords(t)
				for i, r := range rs {
					if round > 0 && len(r.Value) > 64<<10 {
						continue // the megabyte payloads once are enough
					}
					cases, recs = append(cases, cs[i]), append(recs, r)
				}
			}
			// Good and poison records alternate, in proportion.
			var all []*kgo.Record
			for i, j := 0, 0; i < len(good) || j < len(recs); {
				if j >= len(recs) || i < len(good) && i*len(recs) <= j*len(good) {
					all = append(all, &kgo.Record{Topic: good[i].topic, Key: good[i].key, Value: good[i].value})
					i++
				} else {
					all = append(all, recs[j])
					j++
				}
			}
			if err := prod.ProduceSync(ctx, all...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			e.clock.Set(lastTime(good))

			obs := newCountingObserver()
			pr := startObserved(t, e, b, obs)
			waitAllCommitted(ctx, t, e)
			checkDeadLetters(t, cases, recs, readRecords(t, e, topics.DeadLetter, len(recs), 20*time.Second), false)
			if err := pr.stop(); err != nil {
				t.Fatalf("processor: %v", err)
			}
			checkPoisonCounts(t, cases, good, obs)
			if n := obs.largest(); n < len(all)/2 {
				t.Errorf("the largest batch had %d of %d records: the burst did not make large batches", n, len(all))
			}
			t.Logf("%d good and %d poison records, largest batch %d", len(good), len(recs), obs.largest())
		})
	}
}
