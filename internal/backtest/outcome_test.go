package backtest_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/internal/journeys"
)

func TestReadOutcomes(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // lead/kind/at
		err      string
	}{
		{"sorted by time, blank lines and unknown keys ignored",
			"{\"lead\":\"user:b\",\"outcome\":\"won\",\"at\":\"2026-03-01T00:00:00Z\",\"amount\":3}\n\n" +
				`{"lead":" ann@example.com ","outcome":"SQL","at":"2026-02-01T10:00:00+02:00"}`,
			[]string{"ann@example.com/sql/2026-02-01T08:00:00Z", "user:b/won/2026-03-01T00:00:00Z"}, ""},
		{"unknown outcome", `{"lead":"x","outcome":"closed","at":"2026-02-01T00:00:00Z"}`, nil, `line 1: unknown outcome "closed"`},
		{"missing lead", "\n" + `{"outcome":"sql","at":"2026-02-01T00:00:00Z"}`, nil, "line 2: lead is required"},
		{"missing outcome", `{"lead":"x","at":"2026-02-01T00:00:00Z"}`, nil, "line 1: outcome is required"},
		{"missing at", `{"lead":"x","outcome":"sql"}`, nil, "line 1: at is required"},
		{"bad time", `{"lead":"x","outcome":"sql","at":"yesterday"}`, nil, "line 1: at: parsing time"},
		{"not json", `lead,outcome,at`, nil, "line 1: invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := backtest.ReadOutcomes(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, o := range got {
				s = append(s, o.Lead+"/"+o.Kind.String()+"/"+o.At.Format(time.RFC3339))
			}
			if strings.Join(s, " ") != strings.Join(c.want, " ") {
				t.Errorf("got %v, want %v", s, c.want)
			}
		})
	}
}

func TestIdentityKeys(t *testing.T) {
	cases := map[string]string{
		"user:crm-1":            "user:crm-1",
		"anon:0b8e":             "anon:0b8e",
		"email:Ann@Example.COM": "email:ann@example.com",
		"Ann@Example.com":       "email:ann@example.com user:Ann@Example.com",
		"crm-000042":            "user:crm-000042",
		"  crm-7 ":              "user:crm-7",
	}
	for in, want := range cases {
		if got := strings.Join(backtest.IdentityKeys(in), " "); got != want {
			t.Errorf("IdentityKeys(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteOutcomesRoundTrip(t *testing.T) {
	in := []backtest.Outcome{
		{Lead: "user:a", Kind: backtest.SQL, At: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)},
		{Lead: "b@example.com", Kind: backtest.Lost, At: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)},
	}
	var buf bytes.Buffer
	if err := backtest.WriteOutcomes(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := backtest.ReadOutcomes(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip gave %v, want %v", out, in)
	}
}

func TestOutcomesFromTruth(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	truths := []journeys.Truth{
		{Lead: "user:crm-1", UserID: "crm-1", Email: "a@example.com", SQL: t0, Opportunity: t0.Add(time.Hour), Lost: t0.Add(2 * time.Hour)},
		{Lead: "anon:x", Email: "b@example.com", SQL: t0.Add(-time.Hour)},
		{Lead: "anon:y", SQL: t0}, // never identified: the CRM cannot name them
		{Lead: "user:crm-3", UserID: "crm-3"},
	}
	var got []string
	for _, o := range backtest.OutcomesFromTruth(truths) {
		got = append(got, o.Lead+"/"+o.Kind.String())
	}
	want := "email:b@example.com/sql user:crm-1/sql user:crm-1/opportunity user:crm-1/lost"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}
