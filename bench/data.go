package bench

import (
	"errors"
	"fmt"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/journeys"
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

// generate makes the history: n records for the backlog, then latency more.
func generate(seed int64, leads, n, latency int) (*dataset, error) {
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
		if ev, err := dec.Decode(sourceOf(r.Topic), r.Value); err == nil && ev.ID != "" {
			if _, dup := d.seqOf[ev.ID]; !dup { // a re-send: latency counts from the first send
				d.seqOf[ev.ID] = int32(i)
			}
		}
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
