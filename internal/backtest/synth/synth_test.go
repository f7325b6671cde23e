package synth_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/backtest/synth"
	"github.com/leadscore/leadscore/rules"
)

func drain(t *testing.T, cfg synth.Config) ([]synth.Record, *synth.Generator) {
	t.Helper()
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []synth.Record
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		recs = append(recs, r)
	}
	return recs, g
}

func TestDeterministicOrderedAndValid(t *testing.T) {
	cfg := synth.Config{Seed: 3, Leads: 500}
	a, g := drain(t, cfg)
	b, _ := drain(t, cfg)
	if len(a) != len(b) || len(a) < 5000 {
		t.Fatalf("%d and %d records, want the same, several thousand", len(a), len(b))
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i := range a {
		if !bytes.Equal(a[i].Value, b[i].Value) {
			t.Fatalf("record %d differs between two runs", i)
		}
		if i > 0 && a[i].Time.Before(a[i-1].Time) {
			t.Fatalf("record %d at %s comes after one at %s", i, a[i].Time, a[i-1].Time)
		}
		ev, err := dec.DecodeAny(a[i].Value)
		if err != nil {
			t.Fatalf("record %d does not decode: %v\n%s", i, err, a[i].Value)
		}
		if ev.Time != a[i].Time.UnixMilli() {
			t.Fatalf("record %d: event time %d, record time %s", i, ev.Time, a[i].Time)
		}
		kinds[ev.Source.String()+" "+ev.Kind]++
	}
	for _, k := range []string{"web page", "web track", "web identify", "email open", "email click", "email unsubscribe", "email delivered"} {
		if kinds[k] == 0 {
			t.Errorf("no %s record (%v)", k, kinds)
		}
	}
	outs, err := synth.Outcomes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(outs, g.Outcomes()) || len(outs) < 20 {
		t.Errorf("Outcomes gave %d outcomes, the generator %d; want the same, a few dozen", len(outs), len(g.Outcomes()))
	}
}

func TestMoreEventsSameLeads(t *testing.T) {
	a, _ := drain(t, synth.Config{Seed: 1, Leads: 300})
	b, _ := drain(t, synth.Config{Seed: 1, Leads: 300, EventScale: 3})
	if float64(len(b)) < 2.5*float64(len(a)) {
		t.Errorf("EventScale 3 gave %d records against %d", len(b), len(a))
	}
}

func TestRulesLoadAndMatchTheActions(t *testing.T) {
	cfg := synth.Config{}
	m, err := rules.Parse("synth.yaml", synth.Rules(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for name := range cfg.Weights() {
		if m.RuleIndex(name) < 0 {
			t.Errorf("no rule for action %s", name)
		}
	}
	// Every action's payload is scored by its rule and by no other.
	recs, _ := drain(t, synth.Config{Seed: 2, Leads: 200, Anonymous: -1})
	dec, _ := events.NewDecoder(events.Options{})
	hits := map[string]int{}
	for _, r := range recs {
		ev, _ := dec.DecodeAny(r.Value)
		n := 0
		for _, rule := range m.Rules {
			if rule.Match.Matches(&ev) {
				hits[rule.Name]++
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%s matches %d rules", r.Value, n)
		}
	}
	for name := range cfg.Weights() {
		if hits[name] == 0 {
			t.Errorf("rule %s never matched", name)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		cfg  synth.Config
		want string
	}{
		{synth.Config{Leads: -1}, "negative"},
		{synth.Config{Actions: []synth.Action{{Name: "a", Kind: synth.Page, Event: "/", Rate: 1}, {Name: "a", Kind: synth.Page, Event: "/x", Rate: 1}}}, "repeated"},
		{synth.Config{Actions: []synth.Action{{Name: "b", Kind: 9, Event: "/", Rate: 1}}}, "bad kind"},
		{synth.Config{Anonymous: 1}, "below 1"},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := (synth.Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}
