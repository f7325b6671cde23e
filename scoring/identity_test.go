package scoring

import (
	"slices"
	"testing"
)

// TestResolve states the identity rules on small indexes, and checks that
// ResolveKeys with the event's own keys answers exactly as Resolve.
func TestResolve(t *testing.T) {
	cases := []struct {
		name  string
		ev    Event
		index map[string]string // identity key → lead
		want  Resolution
	}{
		{
			name: "new visitor",
			ev:   Event{Source: SourceWeb, Identity: Identity{AnonymousID: "a1"}},
			want: Resolution{Lead: "anon:a1", Index: []string{"anon:a1"}},
		},
		{
			name:  "known visitor",
			ev:    Event{Source: SourceWeb, Identity: Identity{AnonymousID: "a1"}},
			index: map[string]string{"anon:a1": "anon:a1"},
			want:  Resolution{Lead: "anon:a1", Index: []string{"anon:a1"}},
		},
		{
			name:  "visitor identifies: its lead is absorbed into the user's",
			ev:    Event{Source: SourceWeb, Kind: "identify", Identity: Identity{AnonymousID: "a1", UserID: "u1", Email: "jo@example.com"}},
			index: map[string]string{"anon:a1": "anon:a1"},
			want: Resolution{Lead: "user:u1", Absorb: []string{"anon:a1"},
				Index: []string{"user:u1", "email:jo@example.com", "anon:a1"}},
		},
		{
			name:  "e-mail event of an identified user",
			ev:    Event{Source: SourceEmail, Identity: Identity{Email: "jo@example.com"}},
			index: map[string]string{"email:jo@example.com": "user:u1"},
			want:  Resolution{Lead: "user:u1", Index: []string{"email:jo@example.com"}},
		},
		{
			name:  "two user leads are not merged without an alias",
			ev:    Event{Source: SourceWeb, Identity: Identity{UserID: "u2", Email: "jo@example.com"}},
			index: map[string]string{"email:jo@example.com": "user:u1", "user:u2": "user:u2"},
			want:  Resolution{Lead: "user:u2", Index: []string{"user:u2", "email:jo@example.com"}},
		},
		{
			name:  "alias absorbs the previous id's lead",
			ev:    Event{Source: SourceWeb, Kind: "alias", Identity: Identity{UserID: "u2", PreviousID: "u1"}},
			index: map[string]string{"user:u1": "user:u1"},
			want:  Resolution{Lead: "user:u2", Absorb: []string{"user:u1"}, Index: []string{"anon:u1", "user:u1", "user:u2"}},
		},
		{
			name:  "sales feedback follows the lead id through the index",
			ev:    Event{Source: SourceFeedback, Identity: Identity{LeadID: "anon:a1"}},
			index: map[string]string{"anon:a1": "user:u1"},
			want:  Resolution{Lead: "user:u1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) {
				l, ok := c.index[k]
				return l, ok
			}
			got := Resolve(&c.ev, lookup)
			if !sameResolution(got, c.want) {
				t.Errorf("Resolve = %+v, want %+v", got, c.want)
			}
			if again := ResolveKeys(&c.ev, c.ev.Identity.Keys(), lookup); !sameResolution(again, got) {
				t.Errorf("ResolveKeys = %+v, Resolve = %+v", again, got)
			}
		})
	}
}

func sameResolution(a, b Resolution) bool {
	return a.Lead == b.Lead && slices.Equal(a.Absorb, b.Absorb) && slices.Equal(a.Index, b.Index)
}
