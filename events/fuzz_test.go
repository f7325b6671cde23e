package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/leadscore/leadscore/scoring"
)

// The fuzz targets decode arbitrary bytes as one source. Seeds: the examples of
// schemas/testdata plus the committed corpus in testdata/fuzz/<target>, which holds
// the poison corpus of ../testdata/poison (poison-*, kept current by
// TestPoisonFuzzSeeds). Run one with e.g.
// go test -run '^$' -fuzz FuzzDecodeWeb -fuzztime 1m ./events, or all of the
// module's targets with .ci/fuzz.
//
// Invariants: Decode never panics; it returns an event or an *Error with a known
// reason; an accepted payload is valid JSON that the JSON Schema validator accepts
// too, and its event has an ID, the source, a time within bounds and an identity; a
// rejection for a reason JSON Schema can express is a rejection by the schema too.

func FuzzDecodeWeb(f *testing.F)      { fuzzDecode(f, scoring.SourceWeb) }
func FuzzDecodeEmail(f *testing.F)    { fuzzDecode(f, scoring.SourceEmail) }
func FuzzDecodeFeedback(f *testing.F) { fuzzDecode(f, scoring.SourceFeedback) }

// FuzzDecodeAny decodes arbitrary bytes of an unknown source, as the offline oracle
// (replay.ScoreLog) does for each line of a mixed log. Invariants: DecodeAny never
// panics; it returns an *Error with a known reason, or an event of one of the three
// sources that Decode with that source returns identically, so the oracle and the
// processor (which knows the source from the topic) agree.
func FuzzDecodeAny(f *testing.F) {
	for _, src := range []scoring.Source{scoring.SourceWeb, scoring.SourceEmail, scoring.SourceFeedback} {
		for _, ex := range examples(f, src) {
			f.Add(ex.payload)
		}
	}
	dAny := newTestDecoder(f, Options{})
	dSrc := newTestDecoder(f, Options{})
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := dAny.DecodeAny(payload)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !known[e.Reason] {
				t.Fatalf("error without a known reason: %v", err)
			}
			return
		}
		if _, ok := exampleDirs[ev.Source]; !ok {
			t.Fatalf("accepted with source %v", ev.Source)
		}
		again, err := dSrc.Decode(ev.Source, payload)
		if err != nil {
			t.Fatalf("DecodeAny accepts it as %v, Decode(%v) rejects it: %v", ev.Source, ev.Source, err)
		}
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("DecodeAny and Decode(%v) disagree:\n%+v\n%+v", ev.Source, ev, again)
		}
	})
}

func fuzzDecode(f *testing.F, src scoring.Source) {
	for _, ex := range examples(f, src) {
		f.Add(ex.payload)
	}
	sch := compileSchema(f, src)
	d := newTestDecoder(f, Options{})
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := d.Decode(src, payload)
		schemaOK, decided := schemaAccepts(sch, payload)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !known[e.Reason] {
				t.Fatalf("error without a known reason: %v", err)
			}
			if decided && schemaOK && !e.Reason.fastPathOnly() {
				t.Fatalf("the fast path rejects (%v) what the schema accepts", err)
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatal("accepted a payload encoding/json rejects")
		}
		if decided && !schemaOK {
			t.Fatal("the fast path accepts what the schema rejects")
		}
		if ev.ID == "" || ev.Source != src || ev.Kind == "" {
			t.Fatalf("incomplete event: ID %q, Source %v, Kind %q", ev.ID, ev.Source, ev.Kind)
		}
		if o := d.Options(); ev.Time < o.MinTime || ev.Time > o.MaxTime {
			t.Fatalf("Time %d is outside [%d, %d]", ev.Time, o.MinTime, o.MaxTime)
		}
		if id := ev.Identity; id.AnonymousID == "" && id.UserID == "" && id.Email == "" && id.LeadID == "" {
			t.Fatalf("accepted event names nobody: %+v", id)
		}
	})
}
