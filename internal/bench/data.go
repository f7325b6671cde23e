package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/scoring"
)

// dataset is the generated history, shared by every scenario: the first n records
// are the throughput phase's backlog, the rest are fed at a fixed rate to measure
// latency.
type dataset struct {
	recs   []journeys.Record
	n      int
	seqOf  map[string]int32 // event id → index in recs, for records of the latency phase
	people int64            // people who arrived during the throughput records
	bytes  int64            // payload bytes of the throughput records
	start  time.Time        // event time of the history's start
}

// generate makes the history of the workload: n records for the backlog,
// then latency more.
func generate(workload string, seed int64, leads, n, latency int) (*dataset, error) {
	if workload == Uniform {
		return generateUniform(seed, leads, n, latency)
	}
	g, err := journeys.New(journeys.Config{Seed: seed, Leads: leads, Endless: true})
	if err != nil {
		return nil, fmt.Errorf("bench: journeys: %w", err)
	}
	d := &dataset{recs: make([]journeys.Record, 0, n+latency), n: n, seqOf: make(map[string]int32, latency),
		start: g.Config().Start}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		return nil, err
	}
	for len(d.recs) < n+latency {
		r, ok := g.Next()
		if !ok {
			return nil, errors.New("bench: the journey generator ran dry")
		}
		i := len(d.recs)
		d.recs = append(d.recs, r)
		if i < n {
			d.bytes += int64(len(r.Value))
			if i == n-1 {
				d.people = g.Stats().Leads
			}
			continue
		}
		d.index(dec, i)
	}
	return d, nil
}

// index records the event id of latency record i.
func (d *dataset) index(dec *events.Decoder, i int) {
	r := &d.recs[i]
	if ev, err := dec.Decode(sourceOf(r.Topic), r.Value); err == nil && ev.ID != "" {
		if _, dup := d.seqOf[ev.ID]; !dup { // a re-send: latency counts from the first send
			d.seqOf[ev.ID] = int32(i)
		}
	}
}

// uniformEvents are the uniform workload's track events, drawn with equal
// chance: most score a few points under the b2b-saas rules, one raises a
// hand (a stage change to sql), two match no rule.
var uniformEvents = []struct{ name, props string }{
	{"Newsletter Signed Up", `{"list":"monthly"}`},
	{"Social Followed", `{"network":"linkedin"}`},
	{"Whitepaper Downloaded", `{"level":"basic","title":"Lead scoring 101"}`},
	{"Whitepaper Downloaded", `{"level":"advanced","title":"Scoring at scale"}`},
	{"Webinar Attended", `{"webinar":"pipeline-review"}`},
	{"Button Clicked", `{"button":"read-more"}`},
	{"Feature Tour Viewed", `{"step":3}`},
	{"Demo Requested", `{"form":"contact"}`},
}

// uniformSpacing is the event time between two events of the uniform
// workload: a million events span 11.6 days.
const uniformSpacing = time.Second

// uniformGen generates the uniform workload: event i is a Segment `track` of
// lead-NNNNNN (drawn uniformly from leads, seeded), keyed by that user id, at
// uniformSpacing after event i-1, with a unique message id. It never runs dry.
type uniformGen struct {
	rng         *rand.Rand
	seed        int64
	leads, next int
	start       time.Time
	b           []byte
}

func newUniform(seed int64, leads int) *uniformGen {
	return &uniformGen{rng: rand.New(rand.NewPCG(uint64(seed), 0x756e69666f726d)), // "uniform"
		seed: seed, leads: leads, start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
}

// record returns the next record and the index of its lead.
func (g *uniformGen) record() (journeys.Record, int) {
	lead := g.rng.IntN(g.leads)
	ev := &uniformEvents[g.rng.IntN(len(uniformEvents))]
	at := g.start.Add(time.Duration(g.next) * uniformSpacing)
	user := fmt.Sprintf("lead-%06d", lead)
	g.b = fmt.Appendf(g.b[:0], `{"type":"track","messageId":"uniform-%d-%d","userId":%q,"event":%q,"properties":%s,"timestamp":%q}`,
		g.seed, g.next, user, ev.name, ev.props, at.Format("2006-01-02T15:04:05.000Z"))
	g.next++
	return journeys.Record{Topic: journeys.TopicWeb, Key: []byte(user), Value: slices.Clone(g.b), Time: at}, lead
}

// Next returns the next record; it always has one.
func (g *uniformGen) Next() (journeys.Record, bool) {
	r, _ := g.record()
	return r, true
}

// generateUniform makes the uniform workload's history.
func generateUniform(seed int64, leads, n, latency int) (*dataset, error) {
	g := newUniform(seed, leads)
	d := &dataset{recs: make([]journeys.Record, 0, n+latency), n: n, seqOf: make(map[string]int32, latency), start: g.start}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		return nil, err
	}
	seen := make([]bool, leads)
	for i := range n + latency {
		r, lead := g.record()
		d.recs = append(d.recs, r)
		if i < n {
			d.bytes += int64(len(r.Value))
			if !seen[lead] {
				seen[lead] = true
				d.people++
			}
			continue
		}
		d.index(dec, i)
	}
	return d, nil
}

func sourceOf(topic string) scoring.Source {
	switch topic {
	case journeys.TopicWeb:
		return scoring.SourceWeb
	case journeys.TopicEmail:
		return scoring.SourceEmail
	case journeys.TopicFeedback:
		return scoring.SourceFeedback
	}
	return scoring.SourceUnknown
}

// backlog returns the throughput phase's records; latency the rest.
func (d *dataset) backlog() []journeys.Record { return d.recs[:d.n] }
func (d *dataset) latency() []journeys.Record { return d.recs[d.n:] }
