package output

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/leadscore/leadscore/scoring"
)

func TestStageChangeEncodingMatchesJSON(t *testing.T) {
	trigger := "evt-1"
	odd := "a<b>&c\"d\\e\n\t\r\b\f\x01\x1f\u2028\u2029é😀\xff\xfe end"
	full := StageChange{ID: "sc_1", Type: "lead.stage_changed", LeadID: "user:u1",
		Identities: Identities{UserID: "u1", AnonymousIDs: []string{"a1", "a2"}, Emails: []string{"x@example.com"}},
		From:       "mql", To: "sql", Direction: "forward", Score: 54.25, Fit: 12, Grade: "A",
		Cause: Cause{Kind: "criteria", Rule: "demo", Feedback: "accepted", Reason: "fit"}, TriggerEventID: &trigger,
		Contributors: []scoring.Contribution{{Rule: "pricing", Points: 20}, {Rule: "demo", Points: -3.5}},
		EventTime:    "2026-01-01T00:00:00.000Z", ProcessedAt: "2026-01-01T00:00:01.000Z", ModelVersion: "v1", Late: true}
	for _, tc := range []struct {
		name string
		sc   StageChange
	}{
		{"zero", StageChange{}},
		{"full", full},
		{"empty contributors and lists", StageChange{Contributors: []scoring.Contribution{}, Identities: Identities{AnonymousIDs: []string{}}}},
		{"emails only", StageChange{Identities: Identities{Emails: []string{"a@b"}}}},
		{"escapes everywhere", StageChange{ID: odd, LeadID: odd, Identities: Identities{UserID: odd, Emails: []string{odd}},
			Cause: Cause{Kind: odd, Reason: odd}, TriggerEventID: &odd, Contributors: []scoring.Contribution{{Rule: odd}}}},
		{"floats", StageChange{Score: 1e-7, Fit: 1e21, Contributors: []scoring.Contribution{{Points: -1e-6}, {Points: 123456789.123456},
			{Points: math.Copysign(0, -1)}, {Points: 0.1 + 0.2}, {Points: 1e20}, {Points: 5e-324}, {Points: math.MaxFloat64}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.sc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.sc.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestStageChangeEncodingRefusesNaN(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := (&StageChange{Score: f}).Marshal(); err == nil {
			t.Errorf("score %v encoded; json.Marshal refuses it", f)
		}
	}
}

func FuzzStageChangeEncoding(f *testing.F) {
	f.Add("sc_1", "u<1>", "a&1", "x@example.com", "rule\n", 54.25, -3.5e-9, true)
	f.Add("", "", "", "", "", 0.0, 1e21, false)
	f.Add("\xff\u2028", "\"\\", "é", "😀", "\x00", 1e-7, 123.456, true)
	f.Fuzz(func(t *testing.T, id, user, anon, email, rule string, score, points float64, late bool) {
		if math.IsNaN(score) || math.IsInf(score, 0) || math.IsNaN(points) || math.IsInf(points, 0) {
			return
		}
		sc := StageChange{ID: id, LeadID: user, Identities: Identities{UserID: user, AnonymousIDs: []string{anon}, Emails: []string{email}},
			Score: score, Fit: points, Grade: rule, Cause: Cause{Kind: rule, Rule: rule}, TriggerEventID: &anon,
			Contributors: []scoring.Contribution{{Rule: rule, Points: points}}, EventTime: id, Late: late}
		want, err := json.Marshal(&sc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Marshal:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkStageChangeMarshal(b *testing.B) {
	trigger := "evt-1"
	sc := StageChange{ID: "sc_7adcb13afc36b5dbbc845090b566896b", Type: "lead.stage_changed", LeadID: "user:crm-004211",
		Identities: Identities{UserID: "crm-004211", AnonymousIDs: []string{"57f985d3-4f27-4ef9-8208-606b1f4a3c02"}, Emails: []string{"claire@acme.example"}},
		From:       "mql", To: "sql", Direction: "forward", Score: 54.25, Fit: 12, Grade: "A", Cause: Cause{Kind: "criteria", Rule: "sql"},
		TriggerEventID: &trigger, Contributors: []scoring.Contribution{{Rule: "pricing", Points: 20}, {Rule: "demo", Points: 30}, {Rule: "email", Points: 4.25}},
		EventTime: "2026-01-01T00:00:00.000Z", ProcessedAt: "2026-01-01T00:00:01.000Z", ModelVersion: "b2b-saas@3"}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(&sc)
		}
	})
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			_, _ = sc.Marshal()
		}
	})
}
