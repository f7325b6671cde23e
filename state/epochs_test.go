package state

import (
	"context"
	"testing"
)

// A topic's first id keeps the topic's name as source; an id the store has not
// seen, after another, is a recreated topic and gets a new source; an id seen
// before keeps its epoch.
func testTopicEpochs(t *testing.T, st *Store) {
	ctx := context.Background()
	steps := []struct {
		name string
		ids  map[string]string
		want map[string]TopicEpoch
	}{
		{"first start", map[string]string{"web": "A", "mail": "M"}, map[string]TopicEpoch{
			"web": {Topic: "web", ID: "A", Source: "web"}, "mail": {Topic: "mail", ID: "M", Source: "mail"}}},
		{"restart", map[string]string{"web": "A", "mail": "M"}, map[string]TopicEpoch{
			"web": {Topic: "web", ID: "A", Source: "web"}, "mail": {Topic: "mail", ID: "M", Source: "mail"}}},
		{"web recreated", map[string]string{"web": "B", "mail": "M"}, map[string]TopicEpoch{
			"web": {Topic: "web", ID: "B", Epoch: 1, Source: "web~1", New: true, Previous: "A"}, "mail": {Topic: "mail", ID: "M", Source: "mail"}}},
		{"restart after", map[string]string{"web": "B"}, map[string]TopicEpoch{
			"web": {Topic: "web", ID: "B", Epoch: 1, Source: "web~1"}}},
		{"recreated again", map[string]string{"web": "C"}, map[string]TopicEpoch{
			"web": {Topic: "web", ID: "C", Epoch: 2, Source: "web~2", New: true, Previous: "B"}}},
	}
	for _, s := range steps {
		got, err := st.TopicEpochs(ctx, s.ids)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(got) != len(s.want) {
			t.Fatalf("%s: %d epochs, want %d", s.name, len(got), len(s.want))
		}
		for topic, w := range s.want {
			if got[topic] != w {
				t.Errorf("%s: %s: %+v, want %+v", s.name, topic, got[topic], w)
			}
		}
	}
	if _, err := st.TopicEpochs(ctx, map[string]string{"web": ""}); err == nil {
		t.Error("a topic without an id was accepted")
	}
}
