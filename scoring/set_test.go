package scoring_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// twoModels are two product lines scoring the same person differently: the
// same event names, different points and thresholds, and stages of the same
// names (so their stage changes and boards must be told apart by model).
func twoModels(t *testing.T) (saas, shop *scoring.Engine) {
	t.Helper()
	saas = testrules.Parse(t, "saas.yaml", []byte(`
version: saas-1
name: saas
decay: {half_life: 30d}
rules:
  - {name: pricing, points: 20, match: {source: web, type: page, path: /pricing}}
  - {name: demo, points: 50, match: {source: web, type: track, event: Demo Requested}}
stages:
  - name: visitor
  - name: mql
    entry: [{score: 30}]
    exit: {below: 20, to: visitor}
`))
	shop = testrules.Parse(t, "shop.yaml", []byte(`
version: shop-7
name: shop
rules:
  - {name: pricing, points: 5, match: {source: web, type: page, path: /pricing}}
stages:
  - name: visitor
  - name: mql
    entry: [{score: 10}]
`))
	return saas, shop
}

func page(id, path string, at time.Time) *scoring.Event {
	return &scoring.Event{ID: id, Source: scoring.SourceWeb, Kind: "page", Path: path, Time: at.UnixMilli(),
		Identity: scoring.Identity{AnonymousID: "a1"}}
}

// twoPricingPages is a lead of the two models' set after two pricing
// pages a minute apart from at, and the second page's outcomes.
func twoPricingPages(t *testing.T, saas, shop *scoring.Engine, at time.Time) (*scoring.Set, scoring.Lead, []scoring.Outcome) {
	t.Helper()
	set, err := scoring.NewSet(saas, shop)
	if err != nil {
		t.Fatal(err)
	}
	l := set.NewLead()
	var outs []scoring.Outcome
	for i := range 2 {
		outs = set.ApplyStitched(&l, nil, page(string(rune('a'+i)), "/pricing", at.Add(time.Duration(i)*time.Minute)), outs)
	}
	return set, l, outs
}

func TestSetAppliesEveryModel(t *testing.T) {
	saas, shop := twoModels(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	set, l, outs := twoPricingPages(t, saas, shop, at)
	// saas: 40 ≥ 30 → mql on the second page; shop: 5 then 10 → mql on the second.
	if len(outs) != 2 || len(outs[0].Transitions) != 1 || len(outs[1].Transitions) != 1 {
		t.Fatalf("outcomes %+v", outs)
	}
	if l.States[0].Stage != "mql" || l.States[1].Stage != "mql" || l.Pending() != 2 {
		t.Fatalf("stages %q %q pending %d", l.States[0].Stage, l.States[1].Stage, l.Pending())
	}
	if s := saas.Score(&l.States[0], at.Add(time.Minute).UnixMilli()); s < 39.99 || s > 40 {
		t.Fatalf("saas score %v", s)
	}
	// saas decays below 20 (half-life 30 d: after a month); shop never does.
	next, ok := set.NextChange(&l)
	if want, _ := saas.NextChange(&l.States[0]); !ok || next != want {
		t.Fatalf("next change %v %v, want saas's %v", next, ok, want)
	}
	if n := set.Advance(&l, next); n != 1 || l.States[0].Stage != "visitor" || l.States[1].Stage != "mql" {
		t.Fatalf("advance fired %d: %q %q", n, l.States[0].Stage, l.States[1].Stage)
	}
	l.ClearPending()
	if l.Pending() != 0 {
		t.Fatal("pending after ClearPending")
	}
	// A re-send is a duplicate under every model.
	outs = set.ApplyStitched(&l, nil, page("a", "/pricing", at.Add(40*24*time.Hour)), outs)
	if s := scoring.Summary(outs); s.Status != scoring.Duplicate {
		t.Fatalf("re-send: %v", s.Status)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []scoring.Status
		want scoring.Status
	}{
		{"one applied", []scoring.Status{scoring.Ignored, scoring.Applied}, scoring.Applied},
		{"all duplicates", []scoring.Status{scoring.Duplicate, scoring.Duplicate}, scoring.Duplicate},
		{"ignored and duplicate", []scoring.Status{scoring.Duplicate, scoring.Ignored}, scoring.Ignored},
		{"single", []scoring.Status{scoring.Ignored}, scoring.Ignored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs := make([]scoring.Outcome, len(tc.in))
			for i, s := range tc.in {
				outs[i] = scoring.Outcome{Status: s, Late: i == 1, Transitions: []scoring.Transition{{}}}
				if s == scoring.Ignored {
					outs[i].Why = "bot"
				}
			}
			got := scoring.Summary(outs)
			if got.Status != tc.want || got.Transitions != nil || got.Late != (len(outs) > 1) {
				t.Fatalf("Summary = %+v", got)
			}
			if (got.Why == "bot") != (tc.want == scoring.Ignored) {
				t.Fatalf("why %q for %v", got.Why, got.Status)
			}
		})
	}
}

func TestNewSetRefuses(t *testing.T) {
	saas, shop := twoModels(t)
	unnamed := testrules.Parse(t, "x.yaml", []byte("version: x\nrules: []\nstages: [{name: visitor}]\n"))
	for _, tc := range []struct {
		name string
		engs []*scoring.Engine
		want string
	}{
		{"none", nil, "at least one"},
		{"unnamed among several", []*scoring.Engine{saas, unnamed}, "has no name"},
		{"same name twice", []*scoring.Engine{saas, saas}, `two models are named "saas"`},
	} {
		if _, err := scoring.NewSet(tc.engs...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := scoring.NewSet(unnamed); err != nil {
		t.Errorf("one unnamed model: %v", err)
	}
	if _, err := scoring.NewSet(shop); err != nil {
		t.Errorf("one named model: %v", err)
	}
}

// TestLeadEncoding: a lead of one model encodes as that state alone (what
// stores held before models had names), and decodes under a set of several
// as the first model's; several states round-trip by name, whatever the set's
// order; a model the set does not run keeps its state through a rewrite.
func TestLeadEncoding(t *testing.T) {
	saas, shop := twoModels(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	one := scoring.SingleSet(saas)
	l1 := one.NewLead()
	one.ApplyStitched(&l1, nil, page("p1", "/pricing", at), nil)
	b1, err := l1.AppendBinary(nil, one.Names())
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := l1.States[0].MarshalBinary()
	if !bytes.Equal(b1, plain) {
		t.Fatal("a one-model lead does not encode as its state alone")
	}

	both, _ := scoring.NewSet(saas, shop)
	l2, err := both.Decode(b1)
	if err != nil {
		t.Fatal(err)
	}
	if l2.States[0].Contribs[0].Points != 20 || l2.States[1].Stage != "visitor" || len(l2.States[1].Contribs) != 0 {
		t.Fatalf("old state under two models: %+v", l2.States)
	}
	both.ApplyStitched(&l2, nil, page("p2", "/pricing", at.Add(time.Hour)), nil)
	b2, err := l2.AppendBinary(nil, both.Names())
	if err != nil {
		t.Fatal(err)
	}

	reversed, _ := scoring.NewSet(shop, saas)
	l3, err := reversed.Decode(b2)
	if err != nil {
		t.Fatal(err)
	}
	if l3.States[0].Stage != "visitor" || saas.Score(&l3.States[1], at.Add(time.Hour).UnixMilli()) < 39 {
		t.Fatalf("reversed set: shop %q saas %+v", l3.States[0].Stage, l3.States[1].Contribs)
	}

	// Only shop runs now: saas's state is kept as stored, and comes back.
	onlyShop := scoring.SingleSet(shop)
	l4, err := onlyShop.Decode(b2)
	if err != nil {
		t.Fatal(err)
	}
	b4, err := l4.AppendBinary(nil, onlyShop.Names())
	if err != nil {
		t.Fatal(err)
	}
	l5, err := both.Decode(b4)
	if err != nil {
		t.Fatal(err)
	}
	if s := saas.Score(&l5.States[0], at.Add(time.Hour).UnixMilli()); s < 39 {
		t.Fatalf("saas state lost through a shop-only rewrite: %v", s)
	}

	for _, bad := range [][]byte{{2}, {2, 1, 4, 's'}, append(append([]byte{}, b2...), 0)} {
		if _, err := both.Decode(bad); !errors.Is(err, scoring.ErrCorruptState) {
			t.Errorf("Decode(%x): %v, want ErrCorruptState", bad, err)
		}
	}
}

// TestSetStitchesEveryModel: an identify that joins two leads merges each
// model's state of the absorbed lead into the same model's state.
func TestSetStitchesEveryModel(t *testing.T) {
	saas, shop := twoModels(t)
	set, _ := scoring.NewSet(saas, shop)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	anon, user := set.NewLead(), set.NewLead()
	set.ApplyStitched(&anon, nil, page("p1", "/pricing", at), nil)
	set.ApplyStitched(&user, nil, page("p2", "/pricing", at.Add(time.Minute)), nil)
	outs := set.ApplyStitched(&user, []scoring.AbsorbedLead{{ID: "anon:a1", Lead: &anon}},
		&scoring.Event{ID: "i1", Source: scoring.SourceWeb, Kind: "identify", Time: at.Add(2 * time.Minute).UnixMilli(),
			Identity: scoring.Identity{UserID: "u1", AnonymousID: "a1"}}, nil)
	for i, e := range set.Engines() {
		if e.Score(&user.States[i], at.Add(2*time.Minute).UnixMilli()) < 2*[]float64{19.99, 4.99}[i] {
			t.Errorf("%s: stitched score %v", e.Model().Name, e.Score(&user.States[i], at.Add(2*time.Minute).UnixMilli()))
		}
		if user.States[i].Stage != "mql" || len(outs[i].Transitions) != 1 || outs[i].Transitions[0].TriggerID != "i1" {
			t.Errorf("%s: stage %q transitions %+v", e.Model().Name, user.States[i].Stage, outs[i].Transitions)
		}
	}
}
