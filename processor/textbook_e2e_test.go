package processor_test

import (
	"testing"
	"time"
)

// The textbook funnel's journeys — visits and once-per-visit scoring, the
// composite MQL, recycling that sticks, BANT answers, calendar inactivity and the
// inactivity exit — through Kafka and Redis give exactly the oracle's stage
// changes. Data only: the journeys and rules shipped in examples/.
func TestTextbookThroughKafka(t *testing.T) {
	stories := []struct {
		name  string
		files []string
		min   int
	}{
		{"one lead", []string{"../examples/textbook/journey.jsonl"}, 6},
		{"more leads", []string{"../examples/textbook/more-leads.jsonl"}, 7},
	}
	for _, s := range stories {
		t.Run(s.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, "../examples/rules/textbook-funnel.yaml", 3)
				lines := readLines(t, s.files...)
				ins := routeLines(t, lines)
				e.start(b, nil)
				e.feed(ins)
				at := lastTime(ins)
				e.clock.Set(at)
				want := e.oracle(lines, at)
				if len(want) < s.min {
					t.Fatalf("oracle gave only %d changes", len(want))
				}
				sameChanges(t, e.readTopic(topics.StageChanges, len(want), 10*time.Second), want)
			})
		})
	}
}
