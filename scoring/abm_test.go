package scoring_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// abmRules: 10 points a demo page, a 10-day half-life; an account is engaged
// from 15 (top 2 members), MQA with 25 and two engaged members (score ≥ 8)
// one of whom can sign.
const abmRules = `
version: abm-1
decay: {half_life: 10d}
rules:
  - {name: demo_page, points: 10, match: {source: web, type: page, path: /demo}}
stages:
  - name: visitor
accounts:
  membership: {group: true, email_domain: true, free_mail: [mailbox.example]}
  top: 2
  engaged_score: 8
  roles:
    - {name: signer, trait: title, regex: "(?i)\\b(vp|chief)\\b"}
  stages:
    - name: target
    - name: engaged
      entry: [{engagement: 15}]
      exit: {below: 10, to: target}
    - name: mqa
      entry: [{engagement: 25, engaged_members: 2, roles: [signer]}]
      exit: {below: 20, to: engaged}
`

var abmT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func abmEvent(id string, min int, mut func(ev *scoring.Event)) *scoring.Event {
	ev := &scoring.Event{ID: id, Source: scoring.SourceWeb, Kind: "page", Path: "/demo",
		Time: abmT0.Add(time.Duration(min) * time.Minute).UnixMilli()}
	if mut != nil {
		mut(ev)
	}
	return ev
}

func TestAccountMembership(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	for _, tc := range []struct {
		name string
		evs  []*scoring.Event
		want string
	}{
		{"context.groupId", []*scoring.Event{abmEvent("a", 0, func(ev *scoring.Event) { ev.Account = "acme" })}, "acme"},
		{"e-mail domain", []*scoring.Event{abmEvent("a", 0, func(ev *scoring.Event) { ev.Identity.Email = "jo@eu.acme.example" })}, "domain:acme.example"},
		{"free mail names no account", []*scoring.Event{abmEvent("a", 0, func(ev *scoring.Event) { ev.Identity.Email = "jo@mailbox.example" })}, ""},
		{"a group wins over the domain", []*scoring.Event{
			abmEvent("a", 0, func(ev *scoring.Event) { ev.Identity.Email = "jo@acme.example" }),
			abmEvent("b", 1, func(ev *scoring.Event) { ev.Kind, ev.Account = "group", "acct-1" }),
			abmEvent("c", 2, func(ev *scoring.Event) { ev.Identity.Email = "jo@other.example" }),
		}, "acct-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := e.NewState()
			for _, ev := range tc.evs {
				e.Apply(&st, ev)
			}
			if st.Account != tc.want {
				t.Fatalf("account %q, want %q", st.Account, tc.want)
			}
			b, err := st.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back scoring.State
			if err := back.UnmarshalBinary(b); err != nil || back.Account != tc.want {
				t.Fatalf("round trip: %q, %v", back.Account, err)
			}
		})
	}
}

// member applies events of one person (lead) and returns the updates their
// last event tells the accounts.
func member(t *testing.T, e *scoring.Engine, lead string, st *scoring.State, ev *scoring.Event) []scoring.MemberUpdate {
	t.Helper()
	before := st.Account
	if out := e.Apply(st, ev); out.Status != scoring.Applied {
		t.Fatalf("%s: %v", ev.ID, out.Status)
	}
	return e.MemberUpdates(lead, st, before, nil, ev)
}

func TestAccountFunnel(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	acct := e.NewAccount()
	apply := func(ups []scoring.MemberUpdate) []scoring.Transition {
		var out []scoring.Transition
		for i := range ups {
			out = append(out, e.ApplyMember(&acct, &ups[i])...)
		}
		return out
	}
	in := func(ev *scoring.Event) { ev.Account = "acme" }
	vp, dev := e.NewState(), e.NewState()
	dev.Traits = scoring.Props{{Key: "title", Str: "Engineer"}}
	vp.Traits = scoring.Props{{Key: "title", Str: "VP Sales"}}

	// Engineer: 10 → target (engagement 10 < 15).
	if trs := apply(member(t, e, "user:dev", &dev, abmEvent("d1", 0, in))); len(trs) != 0 || acct.Stage != "target" {
		t.Fatalf("one engineer: %+v, %s", trs, acct.Stage)
	}
	// Engineer again: 20 → engaged.
	trs := apply(member(t, e, "user:dev", &dev, abmEvent("d2", 1, in)))
	if len(trs) != 1 || trs[0].To != "engaged" || trs[0].TriggerID != "d2" || acct.Stage != "engaged" {
		t.Fatalf("engaged: %+v", trs)
	}
	// The VP: 10 points → engagement 30 ≥ 25, two engaged members, a signer → MQA.
	trs = apply(member(t, e, "user:vp", &vp, abmEvent("v1", 2, in)))
	if len(trs) != 1 || trs[0].From != "engaged" || trs[0].To != "mqa" || math.Abs(trs[0].Score-30) > 0.01 {
		t.Fatalf("mqa: %+v", trs)
	}
	if len(trs[0].Top) != 2 || trs[0].Top[0].Rule != "user:dev" {
		t.Fatalf("top members %+v", trs[0].Top)
	}
	if n, roles := e.BuyingGroup(&acct, trs[0].At); n != 2 || strings.Join(roles, ",") != "signer" {
		t.Fatalf("buying group %d %v", n, roles)
	}

	// Nobody does anything: 30 decays below 20 after log2(1.5) half-lives
	// (5.85 days), then below 10 after log2(3) (15.85 days).
	due, ok := e.NextAccountChange(&acct)
	want := trs[0].At + int64(math.Floor(float64(10*24*time.Hour/time.Millisecond)*math.Log2(trs[0].Score/20)))
	if !ok || due < want || due > want+2 {
		t.Fatalf("next change %v (%v), want about %v", due, ok, want)
	}
	trs = e.AdvanceAccount(&acct, abmT0.Add(30*24*time.Hour).UnixMilli())
	if len(trs) != 2 || trs[0].To != "engaged" || trs[1].To != "target" || trs[0].Cause.Kind != scoring.CauseDecay || trs[1].TriggerID != "" {
		t.Fatalf("decay: %+v", trs)
	}
	if acct.Pending != 4 || len(acct.Recent) != 4 {
		t.Fatalf("outbox %d, recent %d", acct.Pending, len(acct.Recent))
	}

	// The engineer moves to another company: they leave this account.
	ups := member(t, e, "user:dev", &dev, abmEvent("d3", 31*24*60, func(ev *scoring.Event) { ev.Kind, ev.Account = "group", "globex" }))
	if len(ups) != 2 || !ups[0].Leave || ups[0].Account != "acme" || ups[1].Account != "globex" {
		t.Fatalf("updates on moving: %+v", ups)
	}
	apply(ups[:1])
	if acct.MemberCount() != 1 || !acct.Members[0].Left || acct.Members[1].Lead != "user:vp" {
		t.Fatalf("members after leaving: %+v", acct.Members)
	}
	// The engineer's older update, delivered again (a crash replay), does
	// not bring them back.
	old := scoring.MemberUpdate{Account: "acme", Lead: "user:dev", At: abmT0.Add(time.Minute).UnixMilli(), EventID: "d2", Score: 20}
	e.ApplyMember(&acct, &old)
	if acct.MemberCount() != 1 {
		t.Fatalf("a replayed update re-added a member who left: %+v", acct.Members)
	}
}

// TestAccountStitch: when a stitch joins two leads, the absorbed lead leaves
// its account, and the survivor's update carries the merged score.
func TestAccountStitch(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	anon, user := e.NewState(), e.NewState()
	e.Apply(&anon, abmEvent("a1", 0, func(ev *scoring.Event) { ev.Account = "acme" }))
	e.Apply(&user, abmEvent("u1", 1, nil))
	before := user.Account
	ev := abmEvent("i1", 2, func(ev *scoring.Event) { ev.Kind = "identify" })
	e.ApplyStitched(&user, []scoring.Absorbed{{ID: "anon:a", State: &anon}}, ev)
	ups := e.MemberUpdates("user:u", &user, before, map[string]string{"anon:a": "acme"}, ev)
	if len(ups) != 2 || !ups[0].Leave || ups[0].Lead != "anon:a" || ups[1].Lead != "user:u" || ups[1].Account != "acme" || ups[1].Score < 19.99 {
		t.Fatalf("updates %+v", ups)
	}
}

func TestAccountEncoding(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	a := e.NewAccount()
	in := func(ev *scoring.Event) { ev.Account = "acme" }
	dev, vp := e.NewState(), e.NewState()
	vp.Traits = scoring.Props{{Key: "title", Str: "VP Sales"}}
	for _, step := range []struct {
		lead string
		st   *scoring.State
		ev   *scoring.Event
	}{
		{"user:dev", &dev, abmEvent("d1", 0, in)},
		{"user:dev", &dev, abmEvent("d2", 1, in)},
		{"user:vp", &vp, abmEvent("v1", 2, func(ev *scoring.Event) {
			ev.Kind, ev.Account = "group", "acme"
			ev.AccountTraits = scoring.Props{{Key: "industry", Str: "manufacturing"}, {Key: "employees", Kind: scoring.PropNumber, Str: "420", Num: 420}}
		})},
	} {
		for _, u := range member(t, e, step.lead, step.st, step.ev) {
			e.ApplyMember(&a, &u)
		}
	}
	e.AdvanceAccount(&a, abmT0.Add(30*24*time.Hour).UnixMilli())
	back, b := roundTrip(t, &a)
	if back.Stage != a.Stage || len(back.Members) != 2 || back.Pending != a.Pending || len(back.Recent) != len(a.Recent) {
		t.Fatalf("round trip: %+v, want %+v", back, a)
	}
	if e.Engagement(&back, a.At) != e.Engagement(&a, a.At) {
		t.Fatal("engagement differs after a round trip")
	}
	for i := range b {
		if err := back.UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("a truncated account (%d of %d bytes) decoded", i, len(b))
		}
	}
}

// TestEngagementFromRank: an account leaderboard's rank, read back at any
// later instant, gives the engagement decayed to that instant.
func TestEngagementFromRank(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	acct := e.NewAccount()
	if got := e.EngagementFromRank(e.AccountRank(&acct), abmT0.UnixMilli()); got != 0 {
		t.Fatalf("an account without members: engagement %v from its rank, want 0", got)
	}
	for i, lead := range []string{"user:a", "user:b", "user:c"} {
		u := scoring.MemberUpdate{Account: "acme", Lead: lead, At: abmT0.Add(time.Duration(i) * time.Hour).UnixMilli(),
			EventID: lead, Score: float64(10 * (i + 1))}
		e.ApplyMember(&acct, &u)
	}
	rank := e.AccountRank(&acct)
	for _, after := range []time.Duration{0, time.Hour, 10 * 24 * time.Hour, 90 * 24 * time.Hour} {
		at := acct.At + after.Milliseconds()
		if got, want := e.EngagementFromRank(rank, at), e.Engagement(&acct, at); math.Abs(got-want) > 1e-9*max(1, want) {
			t.Errorf("%v after the account's instant: %v from the rank, engagement %v", after, got, want)
		}
	}
}
