package processor

import (
	"slices"
	"testing"

	"github.com/leadscore/leadscore/state"
)

// A lead created and stitched into another in one batch has a tombstone
// without identities of its own; a stage change waiting in its outbox, produced
// again after a crash (by the timer sweep, which loads only the tombstone), must
// still name the person: the absorbing lead's identities, which include the
// tombstone's.
func TestOutboxIdentities(t *testing.T) {
	user := state.Record{LeadID: "user:crm-828", Identities: []string{"user:crm-828", "anon:a-kenji", "email:kenji@stark.example"}}
	cases := []struct {
		name   string
		w      *leadWork
		loaded map[string]state.Record
		want   []string
	}{
		{"its own identities", &leadWork{id: "anon:a", written: state.Record{Identities: []string{"anon:a", "email:a@x.example"}}},
			nil, []string{"anon:a", "email:a@x.example"}},
		{"a tombstone without any: the absorbing lead's", &leadWork{id: "anon:a-kenji", into: "user:crm-828", written: state.Record{MergedInto: "user:crm-828"}},
			map[string]state.Record{"user:crm-828": user}, user.Identities},
		{"through a chain of tombstones", &leadWork{id: "anon:a-kenji", written: state.Record{MergedInto: "anon:b"}},
			map[string]state.Record{"anon:b": {LeadID: "anon:b", MergedInto: "user:crm-828"}, "user:crm-828": user}, user.Identities},
		{"nothing known: the lead id", &leadWork{id: "anon:a-kenji", written: state.Record{MergedInto: "user:gone"}},
			nil, []string{"anon:a-kenji"}},
	}
	for _, tc := range cases {
		b := &batch{loaded: tc.loaded, doneAt: map[string]int{}}
		if got := b.outboxIdentities(tc.w); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
