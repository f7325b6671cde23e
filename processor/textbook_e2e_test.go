package processor_test

import "testing"

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
				storyThroughKafka(t, b, "../examples/rules/textbook-funnel.yaml", s.min, s.files...)
			})
		})
	}
}
