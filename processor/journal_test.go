package processor

import (
	"errors"
	"reflect"
	"testing"

	"github.com/leadscore/leadscore/scoring"
)

func TestJournalRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []journalEntry
	}{
		{"empty", nil},
		{"one update", []journalEntry{{offset: 42, u: scoring.MemberUpdate{Account: "acme", Lead: "user:ana", Score: 19.305661, Role: "champion"}}}},
		{"a move: leave, then join with the group's traits, under a second model", []journalEntry{
			{offset: 7, model: 1, u: scoring.MemberUpdate{Account: "domain:acme.example", Lead: "user:bo", Leave: true}},
			{offset: 7, model: 1, u: scoring.MemberUpdate{Account: "acct-acme", Lead: "user:bo", Score: 0.1 + 0.2, Role: "decision_maker",
				Traits: scoring.Props{{Key: "industry", Kind: scoring.PropString, Str: "manufacturing"}, {Key: "employees", Kind: scoring.PropNumber, Str: "420", Num: 420}}}},
			{offset: 1 << 40, u: scoring.MemberUpdate{Account: "acct-acme", Lead: "anon:7f1c", Score: -3}},
		}},
		{"offsets out of order", []journalEntry{{offset: 9, u: scoring.MemberUpdate{Account: "a", Lead: "b"}}, {offset: 3, u: scoring.MemberUpdate{Account: "a", Lead: "c"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeJournal(encodeJournal(tc.entries))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.entries) || len(got) > 0 && !reflect.DeepEqual(got, tc.entries) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.entries)
			}
		})
	}
}

func TestJournalRefusesCorruptBytes(t *testing.T) {
	good := encodeJournal([]journalEntry{{offset: 5, u: scoring.MemberUpdate{Account: "acme", Lead: "user:ana", Score: 1,
		Traits: scoring.Props{{Key: "industry", Str: "saas"}}}}})
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"unknown format", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"count beyond the bytes", []byte{journalFormat, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeJournal(tc.data); !errors.Is(err, errCorruptJournal) {
				t.Fatalf("err %v, want errCorruptJournal", err)
			}
		})
	}
}

func FuzzDecodeJournal(f *testing.F) {
	f.Add(encodeJournal([]journalEntry{{offset: 5, model: 1, u: scoring.MemberUpdate{Account: "acme", Lead: "user:ana", Leave: true}}}))
	f.Add([]byte{journalFormat, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := decodeJournal(data)
		if err != nil {
			return
		}
		again, err := decodeJournal(encodeJournal(entries))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("re-encoding %d entries: %d, %v", len(entries), len(again), err)
		}
	})
}
