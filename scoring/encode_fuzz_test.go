package scoring_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// FuzzStateDecode: bytes from Redis that are not a valid state fail cleanly; valid
// ones re-encode to the same bytes.
func FuzzStateDecode(f *testing.F) {
	e := testrules.Load(f, "testdata/stories.yaml")
	st := e.NewState()
	for _, ev := range []*scoring.Event{web(t0, "track", "Newsletter Signed Up"), email(t0+day, "open"),
		web(t0+2*day, "track", "Email Replied"), web(t0+3*day, "track", "Demo Requested"), feedback(t0+4*day, "rejected", "no_budget")} {
		e.Apply(&st, ev)
		b, _ := st.MarshalBinary()
		f.Add(b)
	}
	// With every extension section.
	st.ResetAt, st.Visits, st.LastWebAt, st.SessionID = t0+4*day, 3, t0+4*day, "s1"
	st.VisitStarts = []int64{t0 + 4*day}
	st.BANT = scoring.BANTAnswers{Known: 3, Yes: 1, TimeframeBy: t0 + 30*day}
	if len(st.Hits) > 0 {
		st.Hits[0].Base, st.Hits[0].Visit = 1, 2
	}
	b, _ := st.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0})
	f.Add([]byte{3, 0, 0})
	// Format 1 records, and the rich state in the current format.
	for _, g := range goldenV1 {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	rich := richState()
	b, _ = rich.MarshalBinary()
	f.Add(b)
	// Format 4: names as ids of a name table.
	table := newNameTable(richNames...)
	for _, g := range goldenNames {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s scoring.State
		if err := s.UnmarshalBinaryNames(data, table); err == nil {
			b, _ := s.AppendBinaryNames(nil, table)
			var s2 scoring.State
			if err := s2.UnmarshalBinaryNames(b, table); err != nil {
				t.Fatalf("re-encoded state does not decode with its table: %v", err)
			}
			if b2, _ := s2.AppendBinaryNames(nil, table); !bytes.Equal(b, b2) {
				t.Fatal("encoding with a table not stable")
			}
		}
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 scoring.State
		if err := s2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		b2, _ := s2.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatal("encoding not stable")
		}
	})
}
