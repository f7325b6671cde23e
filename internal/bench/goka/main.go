// Command leadscore-goka is the goka scenario of `leadscore bench`: a lead
// scorer built the way a Go team would build one on github.com/lovoo/goka, the
// leading Go stream-processing library, to compare leadscore against.
//
// It runs leadscore's own scoring engine (same rules, same stage changes) in
// one goka processor group: the three input topics are its inputs, each lead's
// state lives in the group table (goka's leveldb storage, backed by the
// compacted "<group>-table" topic), and every transition is emitted to the
// stage-change topic as leadscore's JSON stage change. A lead is its Kafka key:
// goka keeps state per key, so events of one person sent under different keys
// (an anonymous id, then a user id or an e-mail address) score as different
// leads — identity stitching across keys would need a re-keying step that a
// plain goka group does not have.
//
// It lives in a module of its own so that goka and sarama stay out of the
// leadscore binary: the bench builds it and starts it as a process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// config is the command line.
type config struct {
	brokers, group                     string
	web, email, feedback, stages, dead string
	rules, storage                     string
	start                              int64 // the processing clock's start, Unix ms
	commitInterval                     time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "", "Kafka brokers, comma-separated")
	flag.StringVar(&c.group, "group", "", "goka group (consumer group; its table is <group>-table)")
	flag.StringVar(&c.web, "web", "", "input topic of Segment messages")
	flag.StringVar(&c.email, "email", "", "input topic of SendGrid events")
	flag.StringVar(&c.feedback, "feedback", "", "input topic of sales feedback")
	flag.StringVar(&c.stages, "stage-changes", "", "output topic of stage changes")
	flag.StringVar(&c.dead, "dead-letter", "", "output topic of undecodable events")
	flag.StringVar(&c.rules, "rules", "", "rules file (YAML; the bench writes the rules it scores with to one)")
	flag.StringVar(&c.storage, "storage", "", "directory of the leveldb table storage")
	flag.Int64Var(&c.start, "start", 0, "processing clock at start, Unix ms (default: the wall clock)")
	flag.DurationVar(&c.commitInterval, "commit-interval", 100*time.Millisecond, "how often consumed offsets are committed")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("leadscore-goka: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		log.Fatal(err)
	}
}

// stateCodec stores a lead's scoring.State in the group table in its own
// binary encoding.
type stateCodec struct{}

func (stateCodec) Encode(v any) ([]byte, error) {
	st, ok := v.(*scoring.State)
	if !ok {
		return nil, fmt.Errorf("state codec: %T is not a *scoring.State", v)
	}
	return st.MarshalBinary()
}

func (stateCodec) Decode(b []byte) (any, error) {
	st := new(scoring.State)
	if err := st.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("state codec: %w", err)
	}
	return st, nil
}

// scorer is the processor's callback state, shared by every partition's
// goroutine: decoders, which serve one goroutine at a time, come from a pool.
type scorer struct {
	eng          *scoring.Engine
	stages, dead string
	now          func() time.Time
	sources      map[goka.Stream]scoring.Source
	decoders     sync.Pool
}

func (s *scorer) process(ctx goka.Context, msg any) {
	payload, _ := msg.([]byte)
	dec, _ := s.decoders.Get().(*events.Decoder)
	if dec == nil {
		var err error
		if dec, err = events.NewDecoder(events.Options{}); err != nil {
			ctx.Fail(err)
		}
	}
	// Back to the pool once the event is applied: it may share the decoder's
	// buffers until the next Decode.
	defer s.decoders.Put(dec)
	ev, err := dec.Decode(s.sources[ctx.Topic()], payload)
	if err != nil {
		reason := "decode_error"
		var de *events.Error
		if errors.As(err, &de) {
			reason = string(de.Reason)
		}
		dl := output.NewDeadLetter(output.DeadLetterInfo{
			Reason: reason, Message: err.Error(),
			Source: output.Source{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset()},
			Key:    []byte(ctx.Key()), Value: payload, At: s.now().UnixMilli(), Version: "goka",
		})
		v, err := dl.Marshal()
		if err != nil {
			ctx.Fail(err)
		}
		ctx.Emit(goka.Stream(s.dead), ctx.Key(), v)
		return
	}
	// No index: the lead is the event's own primary identity, which is what
	// its Kafka key names.
	res := scoring.Resolve(&ev, func(string) (string, bool) { return "", false })
	lead := res.Lead
	if lead == "" { // no identity: nothing to score (the naive design's choice too)
		return
	}
	var st *scoring.State
	if v, ok := ctx.Value().(*scoring.State); ok && v != nil {
		st = v
	} else {
		ns := s.eng.NewState()
		st = &ns
	}
	out := s.eng.Apply(st, &ev)
	if out.Status == scoring.Duplicate {
		return
	}
	ctx.SetValue(st)
	now := s.now().UnixMilli()
	for i := range out.Transitions {
		sc := output.NewStageChange(s.eng, lead, output.Identities{}, &out.Transitions[i], now)
		v, err := sc.Marshal()
		if err != nil {
			ctx.Fail(err)
		}
		ctx.Emit(goka.Stream(s.stages), lead, v)
	}
}

func run(ctx context.Context, c config) error {
	if c.brokers == "" || c.group == "" || c.web == "" || c.email == "" || c.feedback == "" || c.stages == "" || c.dead == "" || c.storage == "" || c.rules == "" {
		return errors.New("-brokers, -group, -storage, -rules and every topic flag are required")
	}
	src, err := os.ReadFile(c.rules)
	if err != nil {
		return err
	}
	model, err := rules.Parse(c.rules, src)
	if err != nil {
		return err
	}
	eng, err := scoring.NewEngine(model)
	if err != nil {
		return err
	}
	now := time.Now
	if c.start > 0 {
		t0, start := time.Now(), time.UnixMilli(c.start)
		now = func() time.Time { return start.Add(time.Since(t0)) }
	}
	s := &scorer{eng: eng, stages: c.stages, dead: c.dead, now: now, sources: map[goka.Stream]scoring.Source{
		goka.Stream(c.web): scoring.SourceWeb, goka.Stream(c.email): scoring.SourceEmail, goka.Stream(c.feedback): scoring.SourceFeedback}}

	// goka's defaults, except: inputs are read from their start (a backlog);
	// offsets are committed every 100 ms instead of every second (the bench
	// waits for the commit of the last offset); batches are not compressed,
	// as leadscore's are not by default.
	sc := goka.DefaultConfig()
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Interval = c.commitInterval
	sc.Producer.Compression = sarama.CompressionNone
	goka.ReplaceGlobalConfig(sc)
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1 // a one-broker cluster

	g := goka.DefineGroup(goka.Group(c.group),
		goka.Inputs(goka.Streams{goka.Stream(c.web), goka.Stream(c.email), goka.Stream(c.feedback)}, new(codec.Bytes), s.process),
		goka.Persist(stateCodec{}),
		goka.Output(goka.Stream(c.stages), new(codec.Bytes)),
		goka.Output(goka.Stream(c.dead), new(codec.Bytes)),
	)
	p, err := goka.NewProcessor(strings.Split(c.brokers, ","), g,
		goka.WithStorageBuilder(storage.DefaultBuilder(c.storage)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, tm)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(sc)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(sc)),
		goka.WithLogger(quiet{}))
	if err != nil {
		return fmt.Errorf("goka processor: %w", err)
	}
	go func() {
		if err := p.WaitForReadyContext(ctx); err == nil {
			log.Print("running")
		}
	}()
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("goka processor: %w", err)
	}
	return nil
}

// quiet drops goka's informational logging (a line per partition and
// rebalance); errors reach run as Run's error.
type quiet struct{}

func (quiet) Print(...any)          {}
func (quiet) Println(...any)        {}
func (quiet) Printf(string, ...any) {}
