package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/scoring"
)

// naive is what a quick implementation does: for each event, decode it, read its
// identity index entries and lead states from Redis (one round trip; a second
// when the index points at a lead the event does not name), apply it, write the
// state and index back (one pipelined round trip), and produce each stage change
// synchronously. Offsets are committed after each polled batch. It has none of
// leadscore's guarantees (no fencing, no idempotency, no outbox, no timers) and
// is here only as the yardstick the issue names. Identity resolution and
// stitching are the replay oracle's, so its stage changes are leadscore's.
type naive struct {
	cl     *kgo.Client
	rdb    redis.UniversalClient
	prefix string
	eng    *scoring.Engine
	dec    *events.Decoder
	topics processor.Topics
	now    func() time.Time
	limit  int
}

func newNaive(e *scenarioEnv, group string, t processor.Topics, prefix string) (worker, error) {
	cl, err := groupClient(e, group, t, false)
	if err != nil {
		return nil, err
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		cl.Close()
		return nil, err
	}
	limit := e.cfg.MaxPollRecords
	if limit == 0 {
		limit = 5000
	}
	return &naive{cl: cl, rdb: e.rdb, prefix: prefix, eng: e.eng, dec: dec, topics: t, now: e.clock, limit: limit}, nil
}

func (n *naive) idxKey(k string) string   { return n.prefix + "i:" + k }
func (n *naive) stateKey(l string) string { return n.prefix + "s:" + l }
func (n *naive) idsKey(l string) string   { return n.prefix + "m:" + l }

func (n *naive) run(ctx context.Context) error {
	defer func() {
		n.cl.AllowRebalance() // a poll cut short by the cancel still blocks rebalances
		n.cl.Close()
	}()
	for ctx.Err() == nil {
		fs := n.cl.PollRecords(ctx, n.limit)
		if ctx.Err() != nil {
			break
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("naive: poll: %w", err)
		}
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			if err == nil {
				err = n.handle(ctx, r)
			}
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if err := n.cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("naive: commit: %w", err)
		}
		n.cl.AllowRebalance()
	}
	return nil
}

func (n *naive) source(topic string) scoring.Source {
	switch topic {
	case n.topics.Web:
		return scoring.SourceWeb
	case n.topics.Email:
		return scoring.SourceEmail
	case n.topics.Feedback:
		return scoring.SourceFeedback
	}
	return scoring.SourceUnknown
}

func (n *naive) handle(ctx context.Context, r *kgo.Record) error {
	ev, err := n.dec.Decode(n.source(r.Topic), r.Value)
	if err != nil {
		var de *events.Error
		reason := "decode_error"
		if errors.As(err, &de) {
			reason = string(de.Reason)
		}
		dl := output.NewDeadLetter(output.DeadLetterInfo{
			Reason: reason, Message: err.Error(),
			Source: output.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
			Key:    r.Key, Value: r.Value, At: n.now().UnixMilli(), Version: "naive",
		})
		v, _ := dl.Marshal()
		return n.produce(ctx, n.topics.DeadLetter, r.Key, v)
	}
	// Read: the index entries of every identity the event names, and the states
	// of the leads named like them (lead ids are identity keys).
	keys := ev.Identity.Keys()
	if ev.Kind == "alias" && ev.Identity.PreviousID != "" {
		keys = append(keys, scoring.PrefixAnon+ev.Identity.PreviousID, scoring.PrefixUser+ev.Identity.PreviousID)
	}
	if ev.Identity.LeadID != "" && !slices.Contains(keys, ev.Identity.LeadID) {
		keys = append(keys, ev.Identity.LeadID)
	}
	get := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		get = append(get, n.idxKey(k))
	}
	for _, k := range keys {
		get = append(get, n.stateKey(k))
	}
	vals, err := n.rdb.MGet(ctx, get...).Result()
	if err != nil {
		return fmt.Errorf("naive: redis read: %w", err)
	}
	index := map[string]string{}
	states := map[string][]byte{}
	for i, k := range keys {
		if s, ok := vals[i].(string); ok {
			index[k] = s
		}
		if s, ok := vals[len(keys)+i].(string); ok {
			states[k] = []byte(s)
		}
	}
	res := scoring.Resolve(&ev, func(k string) (string, bool) {
		l, ok := index[k]
		if !ok && !slices.Contains(keys, k) { // not read above: ask (rare)
			s, err := n.rdb.Get(ctx, n.idxKey(k)).Result()
			if err == nil {
				index[k], l, ok = s, s, true
			}
		}
		return l, ok
	})
	if res.Lead == "" {
		return nil
	}
	// A second read when the lead or the leads absorbed were not named by the
	// event, and for the identity lists of absorbed leads (to re-point them).
	var more []string
	for _, l := range append([]string{res.Lead}, res.Absorb...) {
		if _, ok := states[l]; !ok && !slices.Contains(keys, l) {
			more = append(more, l)
		}
	}
	absorbedIDs := map[string][]string{}
	if len(more) > 0 || len(res.Absorb) > 0 {
		pipe := n.rdb.Pipeline()
		gets := make([]*redis.StringCmd, len(more))
		for i, l := range more {
			gets[i] = pipe.Get(ctx, n.stateKey(l))
		}
		mems := make([]*redis.StringSliceCmd, len(res.Absorb))
		for i, a := range res.Absorb {
			mems[i] = pipe.SMembers(ctx, n.idsKey(a))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("naive: redis read: %w", err)
		}
		for i, l := range more {
			if b, err := gets[i].Bytes(); err == nil {
				states[l] = b
			}
		}
		for i, a := range res.Absorb {
			absorbedIDs[a] = mems[i].Val()
		}
	}
	st, err := n.state(states[res.Lead])
	if err != nil {
		return err
	}
	var absorbed []scoring.Absorbed
	for _, a := range res.Absorb {
		var sa *scoring.State
		if b, ok := states[a]; ok {
			s, err := n.state(b)
			if err != nil {
				return err
			}
			sa = &s
		}
		absorbed = append(absorbed, scoring.Absorbed{ID: a, State: sa})
	}
	out := n.eng.ApplyStitched(&st, absorbed, &ev)
	// Write: the state, the index, the identity list; absorbed leads go away.
	data, err := st.MarshalBinary()
	if err != nil {
		return fmt.Errorf("naive: encoding %s: %w", res.Lead, err)
	}
	pipe := n.rdb.Pipeline()
	pipe.Set(ctx, n.stateKey(res.Lead), data, 0)
	point := func(k string) {
		pipe.Set(ctx, n.idxKey(k), res.Lead, 0)
		pipe.SAdd(ctx, n.idsKey(res.Lead), k)
	}
	for _, a := range res.Absorb {
		for _, k := range absorbedIDs[a] {
			point(k)
		}
		pipe.Del(ctx, n.stateKey(a), n.idsKey(a))
	}
	for _, k := range res.Index {
		point(k)
	}
	if _, ok := index[res.Lead]; !ok {
		point(res.Lead)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("naive: redis write: %w", err)
	}
	for i := range out.Transitions {
		tr := &out.Transitions[i]
		sc := output.NewStageChange(n.eng, res.Lead, output.Identities{}, tr, n.now().UnixMilli())
		v, _ := sc.Marshal()
		if err := n.produce(ctx, n.topics.StageChanges, []byte(res.Lead), v); err != nil {
			return err
		}
	}
	return nil
}

func (n *naive) state(b []byte) (scoring.State, error) {
	if len(b) == 0 {
		return n.eng.NewState(), nil
	}
	var st scoring.State
	if err := st.UnmarshalBinary(b); err != nil {
		return st, fmt.Errorf("naive: decoding state: %w", err)
	}
	return st, nil
}

func (n *naive) produce(ctx context.Context, topic string, key, value []byte) error {
	if err := n.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("naive: produce: %w", err)
	}
	return nil
}
