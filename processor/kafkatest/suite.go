package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/eventually"
	"github.com/leadscore/leadscore/processor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Records produced to the input topics are all polled, in offset order per
// partition, with keys, values, headers and timestamps preserved.
func (s *suite) testPollDeliversAllInOrder(t *testing.T) {
	topics := []Topic{{"web", 3}, {"email", 2}}
	c := NewCluster(t, topics)
	in := Produce(t, c.ListenAddrs(), inputs(60, "web", "email"))
	cl := s.client(t, s.newClient, c, "g-order", "web", "email")
	ctx := testCtx(t, 30*time.Second)

	got := pollUntil(t, ctx, cl, len(in), true)
	if len(got) != len(in) {
		t.Fatalf("delivered %d records for %d produced (duplicates without any failure)", len(got), len(in))
	}
	want := map[key]*kgo.Record{}
	for _, r := range in {
		want[key{processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.Offset}] = r
	}
	next := map[processor.TopicPartition]int64{}
	for _, r := range got {
		w, ok := want[keyOf(r)]
		if !ok {
			t.Fatalf("unexpected record %s", describe(r))
		}
		tp := processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if r.Offset != next[tp] {
			t.Fatalf("%s/%d: got offset %d, want %d (offset order per partition)", r.Topic, r.Partition, r.Offset, next[tp])
		}
		next[tp] = r.Offset + 1
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) {
			t.Fatalf("record %s: want key=%q value=%q", describe(r), w.Key, w.Value)
		}
		if !r.Timestamp.Equal(w.Timestamp) {
			t.Fatalf("record %s: timestamp %v, want %v", describe(r), r.Timestamp, w.Timestamp)
		}
		if len(r.Headers) != len(w.Headers) {
			t.Fatalf("record %s: %d headers, want %d", describe(r), len(r.Headers), len(w.Headers))
		}
		for i, h := range r.Headers {
			if h.Key != w.Headers[i].Key || !bytes.Equal(h.Value, w.Headers[i].Value) {
				t.Fatalf("record %s: header %d = %s:%q, want %s:%q", describe(r), i, h.Key, h.Value, w.Headers[i].Key, w.Headers[i].Value)
			}
		}
	}
	expectQuiet(t, cl, 500*time.Millisecond)
}

// Produce writes records that an independent franz-go consumer reads, with
// headers, and a key lands on the same partition as with franz-go's default
// partitioner.
func (s *suite) testProduceIsReadable(t *testing.T) {
	c := NewCluster(t, []Topic{{"in", 1}, {"out", 5}, {"ref", 5}})
	cl := s.client(t, s.newClient, c, "g-produce", "in")
	ctx := testCtx(t, 30*time.Second)

	const n = 40
	recs := make([]processor.Record, n)
	ref := make([]*kgo.Record, n)
	for i := range recs {
		k := fmt.Appendf(nil, "lead-%d", i%13)
		recs[i] = processor.Record{
			Topic: "out", Key: k, Value: fmt.Appendf(nil, "v%02d", i),
			Headers: []processor.Header{{Key: "event-id", Value: fmt.Appendf(nil, "id-%d", i)}, {Key: "empty", Value: []byte{}}},
		}
		ref[i] = &kgo.Record{Topic: "ref", Key: k}
	}
	if err := cl.Produce(ctx, recs); err != nil {
		t.Fatalf("produce: %v", err)
	}
	refPart := map[string]int32{}
	for _, r := range Produce(t, c.ListenAddrs(), ref) {
		refPart[string(r.Key)] = r.Partition
	}
	got := Consume(t, c.ListenAddrs(), "out", true, n, 300*time.Millisecond)
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	lastIdx := map[int32]int{}
	for _, r := range got {
		var i int
		if _, err := fmt.Sscanf(string(r.Value), "v%02d", &i); err != nil {
			t.Fatalf("unexpected value %q", r.Value)
		}
		if want := refPart[string(r.Key)]; r.Partition != want {
			t.Errorf("key %q on partition %d, franz-go's partitioner puts it on %d", r.Key, r.Partition, want)
		}
		if prev, ok := lastIdx[r.Partition]; ok && i <= prev {
			t.Errorf("partition %d: record %d after %d (order of one Produce call not kept)", r.Partition, i, prev)
		}
		lastIdx[r.Partition] = i
		if len(r.Headers) != 2 || r.Headers[0].Key != "event-id" || string(r.Headers[0].Value) != fmt.Sprintf("id-%d", i) ||
			r.Headers[1].Key != "empty" || len(r.Headers[1].Value) != 0 {
			t.Errorf("record %d: headers %+v", i, r.Headers)
		}
		if !bytes.Equal(r.Key, recs[i].Key) {
			t.Errorf("record %d: key %q, want %q", i, r.Key, recs[i].Key)
		}
	}
}

// Commit, Close, then a new member of the same group resumes exactly after the
// committed offsets: nothing lost, nothing delivered again.
func (s *suite) testCommitThenResume(t *testing.T) {
	c := NewCluster(t, []Topic{{"in", 3}})
	ctx := testCtx(t, 40*time.Second)
	first := Produce(t, c.ListenAddrs(), inputs(30, "in"))

	a := s.client(t, s.newClient, c, "g-resume", "in")
	pollUntil(t, ctx, a, len(first), true)
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := a.Assigned(); len(got) != 0 {
		t.Errorf("Assigned after Close = %v, want none", got)
	}

	second := Produce(t, c.ListenAddrs(), inputs(20, "in"))
	b := s.client(t, s.newClient, c, "g-resume", "in")
	got := pollUntil(t, ctx, b, len(second), true)
	if !slices.Equal(values(got), kvalues(second)) {
		t.Fatalf("new member got %v\nwant exactly the records after the commit: %v", values(got), kvalues(second))
	}
	expectQuiet(t, b, 700*time.Millisecond)
}

// A member that polls and is closed without Commit: its records are delivered
// again to the next member (at-least-once), and records committed before are not.
func (s *suite) testCloseWithoutCommitRedelivers(t *testing.T) {
	c := NewCluster(t, []Topic{{"in", 3}})
	ctx := testCtx(t, 40*time.Second)
	first := Produce(t, c.ListenAddrs(), inputs(15, "in"))

	a := s.client(t, s.newClient, c, "g-redeliver", "in")
	pollUntil(t, ctx, a, len(first), true)
	second := Produce(t, c.ListenAddrs(), inputs(15, "in"))
	uncommitted, err := a.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if err := a.Close(ctx); err != nil { // no Commit
		t.Fatalf("close: %v", err)
	}

	b := s.client(t, s.newClient, c, "g-redeliver", "in")
	got := pollUntil(t, ctx, b, len(second), true)
	if !slices.Equal(values(got), kvalues(second)) {
		t.Fatalf("next member got %v\nwant %v", values(got), kvalues(second))
	}
	redelivered := map[string]bool{}
	for _, v := range values(got) {
		redelivered[v] = true
	}
	for _, r := range uncommitted {
		if !redelivered[string(r.Value)] {
			t.Fatalf("uncommitted record %s was not delivered again", describe(r))
		}
	}
	expectQuiet(t, b, 700*time.Millisecond)
}

// Abort gives the batch up; its records come again, from the same offsets.
func (s *suite) testAbortRedelivers(t *testing.T) {
	c := NewCluster(t, []Topic{{"in", 2}})
	ctx := testCtx(t, 30*time.Second)
	in := Produce(t, c.ListenAddrs(), inputs(20, "in"))
	cl := s.client(t, s.newClient, c, "g-abort", "in")

	aborted, err := cl.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if err := cl.Abort(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if err := cl.Commit(ctx); err != nil { // no open batch: a no-op
		t.Fatalf("commit without a batch: %v", err)
	}
	got := pollUntil(t, ctx, cl, len(in), true)
	if !slices.Equal(values(got), kvalues(in)) {
		t.Fatalf("after abort got %v\nwant each record once: %v", values(got), kvalues(in))
	}
	firstAfter := map[processor.TopicPartition]int64{}
	for _, r := range got {
		tp := processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if _, ok := firstAfter[tp]; !ok {
			firstAfter[tp] = r.Offset
		}
	}
	for _, r := range aborted {
		tp := processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if firstAfter[tp] > r.Offset {
			t.Fatalf("aborted record %s not delivered again (partition resumed at %d)", describe(r), firstAfter[tp])
		}
	}
	expectQuiet(t, cl, 500*time.Millisecond)
}

// failNextCommit makes the broker answer the next commit of group (OffsetCommit,
// or TxnOffsetCommit for transactions) with ILLEGAL_GENERATION, as it does for a
// member that was evicted or lost its generation.
func failNextCommit(c interface {
	ControlKey(int16, func(kmsg.Request) (kmsg.Response, error, bool))
}, group string) {
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.OffsetCommitRequest)
		if r.Group != group {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.IllegalGeneration.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.TxnOffsetCommitRequest)
		if r.Group != group {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.IllegalGeneration.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// A commit the broker refuses because the member's generation is gone reports
// processor.ErrNotOwner, and the batch is delivered again.
func (s *suite) testCommitNotOwner(t *testing.T) {
	c := NewCluster(t, []Topic{{"in", 2}})
	ctx := testCtx(t, 30*time.Second)
	in := Produce(t, c.ListenAddrs(), inputs(20, "in"))
	cl := s.client(t, s.newClient, c, "g-lost", "in")

	batch, err := cl.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	failNextCommit(c, "g-lost")
	if err := cl.Commit(ctx); !errors.Is(err, processor.ErrNotOwner) {
		t.Fatalf("commit refused with ILLEGAL_GENERATION: want processor.ErrNotOwner, got %v", err)
	}
	got := pollUntil(t, ctx, cl, len(in), true)
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	for _, r := range batch {
		if !seen[string(r.Value)] {
			t.Fatalf("record %s of the refused batch was not delivered again", describe(r))
		}
	}
	if len(seen) != len(in) {
		t.Fatalf("delivered %d distinct records, want %d", len(seen), len(in))
	}
	expectQuiet(t, cl, 500*time.Millisecond)
}

// member runs the processor's cycle on one client in a goroutine and records what
// it committed.
type member struct {
	name   string
	c      processor.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	notOwner  int
	pollErrs  []error
	committed []processor.Record
}

// startMember runs the cycle Poll → process → Commit on c until stopped; process
// (optional) is the processing step, typically a Produce of outputs.
func startMember(name string, c processor.Client, all *syncRecords, process func(context.Context, []processor.Record) error) *member {
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, c: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			recs, err := c.Poll(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, processor.ErrClosed) {
					return
				}
				m.mu.Lock()
				m.pollErrs = append(m.pollErrs, err)
				m.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			time.Sleep(5 * time.Millisecond) // "processing"
			if process != nil {
				if err := process(cctx, recs); err != nil {
					_ = c.Abort(cctx)
					ccancel()
					m.mu.Lock()
					m.pollErrs = append(m.pollErrs, fmt.Errorf("process: %w", err))
					m.mu.Unlock()
					continue
				}
			}
			err = c.Commit(cctx)
			ccancel()
			m.mu.Lock()
			switch {
			case err == nil:
				m.committed = append(m.committed, recs...)
				all.add(recs)
			case errors.Is(err, processor.ErrNotOwner):
				m.notOwner++
			default:
				m.pollErrs = append(m.pollErrs, err)
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *member) stop(t *testing.T) {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Errorf("member %s: Poll did not return after its context was cancelled", m.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.c.Close(ctx); err != nil {
		t.Errorf("member %s: close: %v", m.name, err)
	}
}

// Two members split the partitions; a third joining mid-stream triggers a
// rebalance with no record lost or committed twice.
func (s *suite) testGroupSplitsAndRebalances(t *testing.T) {
	s.groupSplitsAndRebalances(t, s.newClient, false)
}

// The same with transactions: every member produces one output per input in the
// batch's transaction, and a read_committed consumer sees each output once.
func (s *suite) testEOSGroupSplitsAndRebalances(t *testing.T) {
	if s.newEOS == nil {
		t.Skip("backend does not declare exactly-once (kafkatest.ExactlyOnce)")
	}
	s.groupSplitsAndRebalances(t, s.newEOS, true)
}

func (s *suite) groupSplitsAndRebalances(t *testing.T, nc NewClientFunc, eos bool) {
	topic := Topic{"split", 6}
	all := partitionsOf(topic)
	c := NewCluster(t, []Topic{topic, {"split-out", 3}})
	brokers := c.ListenAddrs()
	const group = "g-split"
	var committed syncRecords
	var process func(context.Context, []processor.Record) error
	start := func(name string) *member {
		cl := s.client(t, nc, c, group, topic.Name)
		if eos {
			process = func(ctx context.Context, recs []processor.Record) error {
				out := make([]processor.Record, len(recs))
				for i, r := range recs {
					out[i] = processor.Record{Topic: "split-out", Key: r.Key, Value: append([]byte("out:"), r.Value...)}
				}
				return cl.Produce(ctx, out)
			}
		}
		return startMember(name, cl, &committed, process)
	}

	a := start("a")
	b := start("b")
	eventually.True(t, 20*time.Second, "two members to split the partitions", func() bool {
		ok, _ := splitOK(all, a.c, b.c)
		return ok
	})

	const chunks, per = 30, 10
	var produced []*kgo.Record
	var cm *member
	for i := range chunks {
		recs := inputs(per, topic.Name)
		for j, r := range recs {
			r.Value = fmt.Appendf(nil, "chunk%02d-%d", i, j)
		}
		produced = append(produced, Produce(t, brokers, recs)...)
		if i == chunks/3 {
			cm = start("c")
		}
		time.Sleep(30 * time.Millisecond)
	}
	members := []*member{a, b, cm}
	eventually.True(t, 30*time.Second, "every produced record to be committed", func() bool {
		return committed.distinct() >= len(produced)
	})
	var desc string
	eventually.True(t, 20*time.Second, "three members to split the partitions", func() bool {
		var ok bool
		ok, desc = splitOK(all, a.c, b.c, cm.c)
		return ok
	})
	t.Logf("assignments: %s", desc)
	for _, m := range members {
		m.stop(t)
	}

	committed.mu.Lock()
	defer committed.mu.Unlock()
	for _, r := range produced {
		k := key{processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.Offset}
		switch n := committed.recs[k]; {
		case n == 0:
			t.Errorf("record %s/%d@%d lost", r.Topic, r.Partition, r.Offset)
		case n > 1:
			t.Errorf("record %s/%d@%d committed %d times", r.Topic, r.Partition, r.Offset, n)
		}
	}
	for _, m := range members {
		m.mu.Lock()
		t.Logf("member %s: committed %d records, %d batches refused as not owner, errors %v", m.name, len(m.committed), m.notOwner, m.pollErrs)
		if len(m.committed) == 0 {
			t.Errorf("member %s committed nothing", m.name)
		}
		m.mu.Unlock()
	}

	// The group's committed offsets are the end of every partition.
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := testCtx(t, 10*time.Second)
	offs, err := kadm.NewClient(adm).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	end := map[int32]int64{}
	for _, r := range produced {
		end[r.Partition] = max(end[r.Partition], r.Offset+1)
	}
	for p, want := range end {
		got, ok := offs.Lookup(topic.Name, p)
		if !ok || got.At != want {
			t.Errorf("partition %d: committed %v, want %d", p, got.At, want)
		}
	}

	if eos {
		out := Consume(t, brokers, "split-out", true, len(produced), 500*time.Millisecond)
		want := make([]string, len(produced))
		for i, r := range produced {
			want[i] = "out:" + string(r.Value)
		}
		slices.Sort(want)
		if got := kvalues(out); !slices.Equal(got, want) {
			t.Errorf("read_committed consumer sees %d outputs for %d inputs (want each exactly once)", len(got), len(want))
		}
	}
}

// While a member holds a polled batch, a joining member gets none of its
// partitions; once it commits, the rebalance completes, and the joining member
// starts exactly after the committed offsets.
func (s *suite) testRebalanceWaitsForCommit(t *testing.T) {
	topic := Topic{"hold", 4}
	c := NewCluster(t, []Topic{topic})
	brokers := c.ListenAddrs()
	ctx := testCtx(t, 40*time.Second)
	in := Produce(t, brokers, inputs(40, topic.Name))
	const group = "g-hold"

	a := s.client(t, s.newClient, c, group, topic.Name)
	batch, err := a.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	owned := a.Assigned()
	if len(owned) != int(topic.Partitions) {
		t.Fatalf("single member owns %v, want all %d partitions", owned, topic.Partitions)
	}

	var committed syncRecords
	b := startMember("b", s.client(t, s.newClient, c, group, topic.Name), &committed, nil)
	time.Sleep(1500 * time.Millisecond) // well past several heartbeats: the rebalance has begun
	if got := b.c.Assigned(); len(got) != 0 {
		t.Fatalf("joining member got %v while the first member holds an uncommitted batch", got)
	}
	if got := a.Assigned(); !slices.Equal(got, owned) {
		t.Fatalf("holding member's assignment changed to %v before its commit (had %v)", got, owned)
	}
	if n := committed.distinct(); n != 0 {
		t.Fatalf("joining member committed %d records while the first member holds its partitions", n)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatalf("commit of the held batch: %v", err)
	}
	committed.add(batch)
	am := startMember("a", a, &committed, nil)
	eventually.True(t, 20*time.Second, "every record to be committed", func() bool {
		return committed.distinct() >= len(in)
	})
	eventually.True(t, 20*time.Second, "both members to split the partitions", func() bool {
		ok, _ := splitOK(partitionsOf(topic), a, b.c)
		return ok
	})
	am.stop(t)
	b.stop(t)
	committed.mu.Lock()
	defer committed.mu.Unlock()
	for k, n := range committed.recs {
		if n > 1 {
			t.Errorf("record %s/%d@%d committed %d times", k.tp.Topic, k.tp.Partition, k.offset, n)
		}
	}
	if len(committed.recs) != len(in) {
		t.Errorf("committed %d distinct records, want %d", len(committed.recs), len(in))
	}
}

// Poll returns promptly when its context ends or the client is closed; after
// Close it returns processor.ErrClosed.
func (s *suite) testPollHonoursContextAndClose(t *testing.T) {
	c := NewCluster(t, []Topic{{"in", 2}})
	cl := s.client(t, s.newClient, c, "g-ctx", "in")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	recs, err := cl.Poll(ctx)
	if len(recs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll on an empty topic: got %d records, err %v; want context.DeadlineExceeded", len(recs), err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Poll took %v to notice its deadline", d)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel2() }()
	start = time.Now()
	if _, err := cl.Poll(ctx2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll with a cancelled context: want context.Canceled, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Poll took %v to notice cancellation", d)
	}

	// Close wakes a blocked Poll.
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Poll(context.Background())
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := cl.Close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, processor.ErrClosed) {
			t.Fatalf("Poll blocked during Close: want processor.ErrClosed, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a blocked Poll")
	}
	if _, err := cl.Poll(context.Background()); !errors.Is(err, processor.ErrClosed) {
		t.Fatalf("Poll after Close: want processor.ErrClosed, got %v", err)
	}
	if err := cl.Close(cctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Exactly-once: records produced in an aborted batch are invisible to a
// read_committed consumer and the batch is delivered again; committed batches are
// visible exactly once; a new member resumes after the transactional commit.
func (s *suite) testEOSAbortedInvisible(t *testing.T) {
	if s.newEOS == nil {
		t.Skip("backend does not declare exactly-once (kafkatest.ExactlyOnce)")
	}
	c := NewCluster(t, []Topic{{"in", 3}, {"out", 3}})
	brokers := c.ListenAddrs()
	ctx := testCtx(t, 40*time.Second)
	in := Produce(t, brokers, inputs(24, "in"))
	cl := s.client(t, s.newEOS, c, "g-eos", "in")

	toOut := func(recs []processor.Record) []processor.Record {
		out := make([]processor.Record, len(recs))
		for i, r := range recs {
			out[i] = processor.Record{Topic: "out", Key: r.Key, Value: append([]byte("out:"), r.Value...),
				Headers: []processor.Header{{Key: "src-offset", Value: fmt.Appendf(nil, "%d", r.Offset)}}}
		}
		return out
	}

	batch, err := cl.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if err := cl.Produce(ctx, toOut(batch)); err != nil {
		t.Fatalf("produce in transaction: %v", err)
	}
	if err := cl.Abort(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if n := len(Consume(t, brokers, "out", false, len(batch), 300*time.Millisecond)); n != len(batch) {
		t.Fatalf("read_uncommitted consumer sees %d aborted records, want %d (were they produced?)", n, len(batch))
	}
	if got := Consume(t, brokers, "out", true, 0, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("read_committed consumer sees %d records of an aborted transaction", len(got))
	}

	// The batch comes again; process everything with commits.
	seen := map[string]int{}
	for len(seen) < len(in) {
		recs, err := cl.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if err := cl.Produce(ctx, toOut(recs)); err != nil {
			t.Fatalf("produce: %v", err)
		}
		if err := cl.Commit(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		for _, r := range recs {
			seen[string(r.Value)]++
		}
	}
	for _, r := range batch {
		if seen[string(r.Value)] == 0 {
			t.Fatalf("record %s of the aborted batch was not delivered again", describe(r))
		}
	}
	out := Consume(t, brokers, "out", true, len(in), 500*time.Millisecond)
	want := make([]string, len(in))
	for i, r := range in {
		want[i] = "out:" + string(r.Value)
	}
	slices.Sort(want)
	if !slices.Equal(kvalues(out), want) {
		t.Fatalf("read_committed consumer sees %v\nwant each output exactly once: %v", kvalues(out), want)
	}
	if err := cl.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	next := s.client(t, s.newEOS, c, "g-eos", "in")
	expectQuiet(t, next, 700*time.Millisecond)
}

// Exactly-once: a transaction whose offset commit the broker refuses (lost
// generation) aborts, Commit reports processor.ErrNotOwner, its outputs stay
// invisible to read_committed consumers, and the batch is delivered again.
func (s *suite) testEOSNotOwner(t *testing.T) {
	if s.newEOS == nil {
		t.Skip("backend does not declare exactly-once (kafkatest.ExactlyOnce)")
	}
	c := NewCluster(t, []Topic{{"in", 2}, {"out", 2}})
	brokers := c.ListenAddrs()
	ctx := testCtx(t, 30*time.Second)
	in := Produce(t, brokers, inputs(10, "in"))
	cl := s.client(t, s.newEOS, c, "g-eos-lost", "in")

	produce := func(recs []processor.Record) {
		out := make([]processor.Record, len(recs))
		for i, r := range recs {
			out[i] = processor.Record{Topic: "out", Key: r.Key, Value: append([]byte("out:"), r.Value...)}
		}
		if err := cl.Produce(ctx, out); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	batch, err := cl.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	produce(batch)
	failNextCommit(c, "g-eos-lost")
	if err := cl.Commit(ctx); !errors.Is(err, processor.ErrNotOwner) {
		t.Fatalf("commit refused with ILLEGAL_GENERATION: want processor.ErrNotOwner, got %v", err)
	}
	if got := Consume(t, brokers, "out", true, 0, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("read_committed consumer sees %d records of a refused transaction", len(got))
	}
	seen := map[string]bool{}
	for len(seen) < len(in) {
		recs, err := cl.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		produce(recs)
		if err := cl.Commit(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		for _, r := range recs {
			seen[string(r.Value)] = true
		}
	}
	for _, r := range batch {
		if !seen[string(r.Value)] {
			t.Fatalf("record %s of the refused batch was not delivered again", describe(r))
		}
	}
	if out := Consume(t, brokers, "out", true, len(in), 500*time.Millisecond); len(out) != len(in) {
		t.Fatalf("read_committed consumer sees %d outputs, want %d", len(out), len(in))
	}
}

// Exactly-once: records produced outside a batch (no Poll before, e.g. outputs of
// timers) are committed in a transaction of their own and visible to
// read_committed consumers; the next batch still works.
func (s *suite) testEOSProduceOutsideBatch(t *testing.T) {
	if s.newEOS == nil {
		t.Skip("backend does not declare exactly-once (kafkatest.ExactlyOnce)")
	}
	c := NewCluster(t, []Topic{{"in", 1}, {"out", 2}})
	brokers := c.ListenAddrs()
	ctx := testCtx(t, 30*time.Second)
	cl := s.client(t, s.newEOS, c, "g-eos-timer", "in")
	recs := []processor.Record{{Topic: "out", Key: []byte("lead-1"), Value: []byte("timer-1")}, {Topic: "out", Key: []byte("lead-2"), Value: []byte("timer-2")}}
	if err := cl.Produce(ctx, recs); err != nil {
		t.Fatalf("produce outside a batch: %v", err)
	}
	if got := kvalues(Consume(t, brokers, "out", true, 2, 300*time.Millisecond)); !slices.Equal(got, []string{"timer-1", "timer-2"}) {
		t.Fatalf("read_committed consumer sees %v, want the two records produced outside a batch", got)
	}
	in := Produce(t, brokers, inputs(5, "in"))
	got := pollUntil(t, ctx, cl, len(in), true)
	if !slices.Equal(values(got), kvalues(in)) {
		t.Fatalf("after a transaction of its own, polled %v, want %v", values(got), kvalues(in))
	}
}

// Keep: records of the batch the processor did not process (the event-time
// merge keeps them for a later batch) are not committed, and the next Poll
// delivers them again; the rest of the batch is committed. Exactly-once: the
// transaction commits the kept partitions only up to the first kept record.
func (s *suite) testKeepRedeliversTheRest(t *testing.T) {
	s.keepRedelivers(t, s.newClient, "g-keep")
}

func (s *suite) testEOSKeepRedeliversTheRest(t *testing.T) {
	if s.newEOS == nil {
		t.Skip("backend does not declare exactly-once (kafkatest.ExactlyOnce)")
	}
	s.keepRedelivers(t, s.newEOS, "g-eos-keep")
}

func (s *suite) keepRedelivers(t *testing.T, nc NewClientFunc, group string) {
	c := NewCluster(t, []Topic{{"in", 2}})
	brokers := c.ListenAddrs()
	ctx := testCtx(t, 40*time.Second)
	in := Produce(t, brokers, inputs(40, "in"))
	cl := s.client(t, nc, c, group, "in")

	var batch []processor.Record
	for len(batch) < 4 {
		b, err := cl.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if len(b) < 4 { // too small to keep part of it: commit and poll on
			if err := cl.Commit(ctx); err != nil {
				t.Fatalf("commit: %v", err)
			}
			continue
		}
		batch = b
	}
	// Keep the second half of the first partition of the batch.
	tp := processor.TopicPartition{Topic: batch[0].Topic, Partition: batch[0].Partition}
	var ofTP []processor.Record
	for _, r := range batch {
		if r.Topic == tp.Topic && r.Partition == tp.Partition {
			ofTP = append(ofTP, r)
		}
	}
	from := ofTP[len(ofTP)/2].Offset
	cl.Keep(map[processor.TopicPartition]int64{tp: from})
	if err := cl.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// The group committed tp up to the first kept record.
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	offs, err := kadm.NewClient(adm).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	if got, ok := offs.Lookup(tp.Topic, tp.Partition); !ok || got.At != from {
		t.Fatalf("%s/%d committed at %v, want %d (the first kept record)", tp.Topic, tp.Partition, got.At, from)
	}
	// Everything not yet processed comes, each record once, the kept ones
	// first on their partition.
	seen := map[string]bool{}
	for _, r := range batch {
		if !(r.Topic == tp.Topic && r.Partition == tp.Partition && r.Offset >= from) {
			seen[string(r.Value)] = true
		}
	}
	var rest []processor.Record
	for _, r := range in {
		if !seen[string(r.Value)] {
			rest = append(rest, processor.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
		}
	}
	got := pollUntil(t, ctx, cl, len(rest), true)
	var gotTP []int64
	for _, r := range got {
		if r.Topic == tp.Topic && r.Partition == tp.Partition {
			gotTP = append(gotTP, r.Offset)
		}
	}
	if len(gotTP) == 0 || gotTP[0] != from {
		t.Fatalf("after Keep, %s/%d resumed at %v, want %d", tp.Topic, tp.Partition, gotTP, from)
	}
	want := make([]string, len(rest))
	for i, r := range rest {
		want[i] = string(r.Value)
	}
	slices.Sort(want)
	if g := values(got); !slices.Equal(g, want) {
		t.Fatalf("after Keep got %v\nwant each unprocessed record once: %v", g, want)
	}
	// Everything processed is committed, the kept records' partition too
	// (they came back from memory: the client had polled them already).
	end := map[int32]int64{}
	for _, r := range in {
		end[r.Partition] = max(end[r.Partition], r.Offset+1)
	}
	if offs, err = kadm.NewClient(adm).FetchOffsets(ctx, group); err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for p, want := range end {
		if got, ok := offs.Lookup(tp.Topic, p); !ok || got.At != want {
			t.Errorf("in/%d committed at %v after everything was processed, want %d", p, got.At, want)
		}
	}
}
