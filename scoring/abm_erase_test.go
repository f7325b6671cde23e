package scoring_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// abmAt is an instant min minutes after abmT0, in milliseconds.
func abmAt(min int) int64 { return abmT0.Add(time.Duration(min) * time.Minute).UnixMilli() }

// erasureAccount is an MQA account of two engaged members, an engineer
// (user:dev) and a VP (user:vp), whose stage changes name both.
func erasureAccount(t *testing.T, e *scoring.Engine) scoring.Account {
	t.Helper()
	a := e.NewAccount()
	for _, u := range []scoring.MemberUpdate{
		{Account: "acme", Lead: "user:dev", At: abmAt(0), EventID: "d1", Score: 10},
		{Account: "acme", Lead: "user:dev", At: abmAt(1), EventID: "d2", Score: 20},
		{Account: "acme", Lead: "user:vp", At: abmAt(2), EventID: "v1", Score: 10, Role: "signer"},
	} {
		e.ApplyMember(&a, &u)
	}
	if a.Stage != "mqa" || !a.Mentions("user:vp") {
		t.Fatalf("the account before the erasure: %+v", a)
	}
	return a
}

// erase applies the VP's erasure at min.
func erase(e *scoring.Engine, a *scoring.Account, lead string, min int) []scoring.Transition {
	u := scoring.MemberUpdate{Account: "acme", Lead: lead, At: abmAt(min), EventID: scoring.ErasureEventID(lead), Leave: true, Erase: true}
	return e.ApplyMember(a, &u)
}

// encoded is the account's record, which must decode to the same account.
func encoded(t *testing.T, a *scoring.Account) string {
	t.Helper()
	_, b := roundTrip(t, a)
	return string(b)
}

// erasedEntry is the account's entry for the erased lead, if any.
func erasedEntry(a *scoring.Account, lead string) (scoring.Member, bool) {
	i := slices.IndexFunc(a.Members, func(m scoring.Member) bool { return m.Lead == scoring.ErasedMemberID(lead) })
	if i < 0 {
		return scoring.Member{}, false
	}
	return a.Members[i], true
}

// TestErasedMemberID: the pseudonym is fixed, so that a processor of any
// later version still recognises the erasures an older one recorded, and
// holds nothing of the lead id.
func TestErasedMemberID(t *testing.T) {
	const lead = "email:alice@acme.example"
	id, ev := scoring.ErasedMemberID(lead), scoring.ErasureEventID(lead)
	if id != "erased:324d0c8aaf755dd0fcaff5af957f7063" || ev != "erase:324d0c8aaf755dd0fcaff5af957f7063" {
		t.Errorf("pseudonyms of %s: %s, %s", lead, id, ev)
	}
	if strings.Contains(id, "alice") || scoring.ErasedMemberID("email:bob@acme.example") == id {
		t.Errorf("pseudonym %s", id)
	}
}

// TestAccountErasure: an erasure leaves the account without the person, and
// without their lead id anywhere in its record — members, stage changes,
// triggers — but still with what refuses their older updates.
func TestAccountErasure(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	a := erasureAccount(t, e)
	recent := len(a.Recent)
	trs := erase(e, &a, "user:vp", 60)
	// Without the VP, the engineer's 20, decayed for an hour, is below the
	// MQA's exit (20).
	if len(trs) != 1 || trs[0].To != "engaged" || trs[0].TriggerID != scoring.ErasureEventID("user:vp") {
		t.Fatalf("the erasure's stage change: %+v", trs)
	}
	if rec := encoded(t, &a); strings.Contains(rec, "user:vp") || !strings.Contains(rec, scoring.ErasedMemberID("user:vp")) {
		t.Fatalf("the record after the erasure: %q", rec)
	}
	if a.Mentions("user:vp") || a.MemberCount() != 1 || !a.Mentions("user:dev") {
		t.Fatalf("members after the erasure: %+v", a.Members)
	}
	if m, ok := erasedEntry(&a, "user:vp"); !ok || !m.Left || m.At != abmAt(60) || m.Score != 0 || m.Role != "" {
		t.Fatalf("the erased member's entry: %+v (%v)", m, ok)
	}
	// The MQA's stage change keeps its members, the VP under the pseudonym.
	if len(a.Recent) != recent+1 {
		t.Fatalf("%d recent stage changes, want %d", len(a.Recent), recent+1)
	}
	mqa := a.Recent[recent-1]
	if mqa.To != "mqa" || len(mqa.Top) != 2 || mqa.Top[0].Rule != "user:dev" || mqa.Top[1].Rule != scoring.ErasedMemberID("user:vp") {
		t.Fatalf("the MQA's members after the erasure: %+v", mqa.Top)
	}

	// Erasing again changes nothing; the account no longer mentions them.
	again := a
	again.Members = slices.Clone(a.Members)
	erase(e, &again, "user:vp", 60)
	if encoded(t, &again) != encoded(t, &a) {
		t.Errorf("a second erasure changed the account: %+v", again)
	}
}

// TestAccountErasureRefusesOlderUpdates: after the erasure, an update for
// the erased lead id no newer than it — an event delivered again, or one
// that was late — is refused as a left member's would be; a newer one brings
// the person back; other people are not affected.
func TestAccountErasureRefusesOlderUpdates(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	for _, tc := range []struct {
		name    string
		u       scoring.MemberUpdate
		applied bool
	}{
		{"an event of theirs delivered again", scoring.MemberUpdate{Lead: "user:vp", At: abmAt(2), EventID: "v1", Score: 10, Role: "signer"}, false},
		{"a late event of theirs", scoring.MemberUpdate{Lead: "user:vp", At: abmAt(30), EventID: "v2", Score: 40, Role: "signer"}, false},
		{"an event of the erasure's instant", scoring.MemberUpdate{Lead: "user:vp", At: abmAt(60), EventID: "v3", Score: 40}, false},
		{"an older leaving of theirs", scoring.MemberUpdate{Lead: "user:vp", At: abmAt(30), EventID: "v4", Leave: true}, false},
		{"a newer event: they are back", scoring.MemberUpdate{Lead: "user:vp", At: abmAt(120), EventID: "v5", Score: 10, Role: "signer"}, true},
		{"another person, late", scoring.MemberUpdate{Lead: "user:new", At: abmAt(30), EventID: "n1", Score: 5}, true},
		{"the other member's newer event", scoring.MemberUpdate{Lead: "user:dev", At: abmAt(90), EventID: "d3", Score: 30}, true},
		{"the other member's event delivered again", scoring.MemberUpdate{Lead: "user:dev", At: abmAt(1), EventID: "d2", Score: 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := erasureAccount(t, e)
			erase(e, &a, "user:vp", 60)
			before := encoded(t, &a)
			u := tc.u
			u.Account = "acme"
			e.ApplyMember(&a, &u)
			after := encoded(t, &a)
			if applied := after != before; applied != tc.applied {
				t.Fatalf("applied: %v, want %v; members %+v", applied, tc.applied, a.Members)
			}
			back := tc.applied && u.Lead == "user:vp"
			if a.Mentions("user:vp") != back || strings.Contains(after, "user:vp") != back {
				t.Errorf("the account mentions user:vp: %v, want %v; %q", a.Mentions("user:vp"), back, after)
			}
			// The pseudonym stays until the person is back: their own
			// entry then refuses all it did.
			if _, ok := erasedEntry(&a, "user:vp"); ok == back {
				t.Errorf("the erased entry kept: %v, want %v; members %+v", ok, !back, a.Members)
			}
		})
	}
}

// TestAccountErasureOfAMemberWhoLeft: an erasure replaces every entry of the
// lead id, one who left too, and never moves the refusals back in time.
func TestAccountErasureOfAMemberWhoLeft(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	for _, tc := range []struct {
		name    string
		leftAt  int // minutes; 0: still a member
		eraseAt int
		wantAt  int
	}{
		{"a current member", 0, 60, 60},
		{"a member who left", 30, 60, 60},
		{"an erasure older than their leaving", 30, 10, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := erasureAccount(t, e)
			if tc.leftAt != 0 {
				u := scoring.MemberUpdate{Account: "acme", Lead: "user:vp", At: abmAt(tc.leftAt), EventID: "moved", Leave: true}
				e.ApplyMember(&a, &u)
			}
			erase(e, &a, "user:vp", tc.eraseAt)
			if rec := encoded(t, &a); strings.Contains(rec, "user:vp") {
				t.Fatalf("the record holds the lead id: %q", rec)
			}
			if m, ok := erasedEntry(&a, "user:vp"); !ok || m.At != abmAt(tc.wantAt) {
				t.Fatalf("the erased entry: %+v (%v), want it at minute %d", m, ok, tc.wantAt)
			}
			u := scoring.MemberUpdate{Account: "acme", Lead: "user:vp", At: abmAt(tc.wantAt - 1), EventID: "late", Score: 50}
			if e.ApplyMember(&a, &u); a.Mentions("user:vp") {
				t.Errorf("an update older than the erased entry was applied: %+v", a.Members)
			}
		})
	}
}

// TestAccountLegacyErasure: an account written when an erasure kept the lead
// id (a left member whose leaving event is "erase:<lead id>", and the
// stage change it triggered) decodes as if erased now.
func TestAccountLegacyErasure(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	a := erasureAccount(t, e)
	u := scoring.MemberUpdate{Account: "acme", Lead: "user:vp", At: abmAt(60), EventID: "erase:user:vp", Leave: true}
	e.ApplyMember(&a, &u)
	old, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), "erase:user:vp") {
		t.Fatalf("not the old form: %q", old)
	}
	var back scoring.Account
	if err := back.UnmarshalBinary(old); err != nil {
		t.Fatal(err)
	}
	if rec := encoded(t, &back); strings.Contains(rec, "user:vp") {
		t.Fatalf("the old record, decoded and written again: %q", rec)
	}
	if m, ok := erasedEntry(&back, "user:vp"); !ok || m.At != abmAt(60) || m.EventID != scoring.ErasureEventID("user:vp") {
		t.Fatalf("the erased entry: %+v (%v)", m, ok)
	}
	if tr := back.Recent[len(back.Recent)-1]; tr.TriggerID != scoring.ErasureEventID("user:vp") || tr.To != "engaged" {
		t.Fatalf("the erasure's stage change: %+v", tr)
	}
	// A member who left by moving, not erased, keeps their lead id.
	a = erasureAccount(t, e)
	u = scoring.MemberUpdate{Account: "acme", Lead: "user:vp", At: abmAt(60), EventID: "erase:user:other", Leave: true}
	e.ApplyMember(&a, &u)
	if rec := encoded(t, &a); !strings.Contains(rec, "user:vp") {
		t.Fatalf("a member who left was taken for erased: %q", rec)
	}
}

// FuzzAccountDecode: bytes that are not a valid account fail cleanly, and
// decoding — which rewrites old erasures — neither panics nor produces an
// account that does not encode and decode again.
func FuzzAccountDecode(f *testing.F) {
	e := testrules.Parse(f, "abm.yaml", []byte(abmRules))
	a := e.NewAccount()
	for _, u := range []scoring.MemberUpdate{
		{Account: "acme", Lead: "user:dev", At: abmAt(1), EventID: "d2", Score: 20},
		{Account: "acme", Lead: "user:vp", At: abmAt(2), EventID: "v1", Score: 10, Role: "signer"},
		{Account: "acme", Lead: "user:cfo", At: abmAt(3), EventID: "c1", Score: 5},
		{Account: "acme", Lead: "user:vp", At: abmAt(60), EventID: "erase:user:vp", Leave: true},
		{Account: "acme", Lead: "user:cfo", At: abmAt(61), Leave: true, Erase: true},
	} {
		e.ApplyMember(&a, &u)
		b, err := a.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a scoring.Account
		if err := a.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back scoring.Account
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("a re-encoded account does not decode: %v", err)
		}
	})
}

// A lead that moves to another company, or absorbs a lead that was in
// another, keeps the accounts it left (State.PastAccounts): they hold its
// lead id (or the absorbed one's) as a member who left, and an erasure must
// reach them too.
func TestPastAccountsAreKept(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	st := e.NewState()
	group := func(acct string, min int) {
		ev := scoring.Event{ID: fmt.Sprintf("g-%d", min), Kind: "group", Time: abmAt(min), Account: acct,
			Identity: scoring.Identity{UserID: "vp"}}
		e.Apply(&st, &ev)
	}
	group("acme", 1)
	group("acme", 2)
	group("globex", 3)
	group("initech", 4)
	group("acme", 5)
	if st.Account != "acme" || !slices.Equal(st.PastAccounts, []string{"acme", "globex", "initech"}) {
		t.Fatalf("account %q, past %v; want acme and [acme globex initech]", st.Account, st.PastAccounts)
	}
	other := e.NewState()
	ev := scoring.Event{ID: "g-o", Kind: "group", Time: abmAt(6), Account: "umbrella", Identity: scoring.Identity{UserID: "cfo"}}
	e.Apply(&other, &ev)
	e.Merge(&st, "user:cfo", &other, abmAt(7), "stitch")
	if !slices.Contains(st.PastAccounts, "umbrella") {
		t.Fatalf("past %v: the absorbed lead's account is missing", st.PastAccounts)
	}
	back, _ := roundTrip(t, &st)
	if !slices.Equal(back.PastAccounts, st.PastAccounts) {
		t.Fatalf("past accounts after a round trip: %v, want %v", back.PastAccounts, st.PastAccounts)
	}
}
