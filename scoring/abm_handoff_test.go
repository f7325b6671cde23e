package scoring_test

import (
	"strings"
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// handoffRules are abmRules with a lead funnel whose SQL entry reads the
// account: an MQL whose account is an MQA.
var handoffRules = strings.Replace(abmRules, `stages:
  - name: visitor
accounts:`, `stages:
  - name: visitor
  - name: mql
    entry: [{score: 15}]
    exit: {below: 10, to: visitor}
  - name: sql
    entry: [{min_stage: mql, account_stage: mqa}]
accounts:`, 1)

// fixedView answers every account stage question with one stage.
type fixedView struct{ stage int }

func (v fixedView) AccountStage(int, string, int64) int { return v.stage }

func TestAccountStageCondition(t *testing.T) {
	e := testrules.Parse(t, "handoff.yaml", []byte(handoffRules))
	if !e.Model().UsesAccountStages() {
		t.Fatal("UsesAccountStages = false")
	}
	inAcme := func(id string, min int) *scoring.Event {
		return abmEvent(id, min, func(ev *scoring.Event) { ev.Account = "acme" })
	}
	for _, tc := range []struct {
		name      string
		view      scoring.AccountView
		evs       []*scoring.Event
		wantStage string
		wantCause scoring.CauseKind
	}{
		{"account an MQA: the MQL goes on to SQL", fixedView{2}, []*scoring.Event{inAcme("a", 0), inAcme("b", 1)}, "sql", scoring.CauseAccount},
		{"account engaged: MQL only", fixedView{1}, []*scoring.Event{inAcme("a", 0), inAcme("b", 1)}, "mql", scoring.CauseCriteria},
		{"no view: the condition never holds", nil, []*scoring.Event{inAcme("a", 0), inAcme("b", 1)}, "mql", scoring.CauseCriteria},
		{"no account: the condition never holds", fixedView{2}, []*scoring.Event{abmEvent("a", 0, nil), abmEvent("b", 1, nil)}, "mql", scoring.CauseCriteria},
		{"an MQA account does not make an MQL", fixedView{2}, []*scoring.Event{inAcme("a", 0)}, "visitor", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := e.NewState()
			var last scoring.Outcome
			for _, ev := range tc.evs {
				last = e.ApplyViewing(&st, ev, tc.view, 0)
			}
			if st.Stage != tc.wantStage {
				t.Fatalf("stage %s, want %s", st.Stage, tc.wantStage)
			}
			if tc.wantCause != 0 {
				if n := len(last.Transitions); n != 1 || last.Transitions[0].Cause.Kind != tc.wantCause {
					t.Fatalf("transitions %+v, want one caused by %v", last.Transitions, tc.wantCause)
				}
			}
		})
	}
}

// twoDemoPages is a new lead of acme after two demo pages a minute apart
// (20 points: an MQL), its account seen through view.
func twoDemoPages(e *scoring.Engine, view scoring.AccountView) scoring.State {
	st := e.NewState()
	for _, ev := range []*scoring.Event{abmEvent("a", 0, nil), abmEvent("b", 1, nil)} {
		ev.Account = "acme"
		e.ApplyViewing(&st, ev, view, 0)
	}
	return st
}

// An SQL that got there by its account stays as long as its own score
// keeps it: the account does not prolong the stay, so the lead's next change
// needs nothing but the lead.
func TestAccountStageDoesNotHoldAStay(t *testing.T) {
	rules := strings.Replace(handoffRules, `    entry: [{min_stage: mql, account_stage: mqa}]`,
		`    entry: [{min_stage: mql, account_stage: mqa}]
    exit: {below: 12, to: mql}`, 1)
	e := testrules.Parse(t, "handoff.yaml", []byte(rules))
	st := twoDemoPages(e, fixedView{2})
	if st.Stage != "sql" {
		t.Fatalf("stage %s, want sql", st.Stage)
	}
	due, ok := e.NextChange(&st)
	// 20 points decay below 12 after log2(20/12) half-lives of 10 days.
	if !ok || due <= abmT0.UnixMilli() {
		t.Fatalf("NextChange = %d, %v: the stay must end with the score", due, ok)
	}
	trs := e.Advance(&st, due)
	if len(trs) != 1 || trs[0].To != "mql" || trs[0].Cause.Kind != scoring.CauseDecay {
		t.Fatalf("Advance: %+v", trs)
	}
}

func TestAccountStageAt(t *testing.T) {
	e := testrules.Parse(t, "abm.yaml", []byte(abmRules))
	a := e.NewAccount()
	at := abmT0.UnixMilli()
	for i, u := range []scoring.MemberUpdate{
		{Account: "acme", Lead: "user:ana", At: at, EventID: "e1", Score: 20},
		{Account: "acme", Lead: "user:bo", At: at, EventID: "e2", Score: 10, Role: "signer"},
	} {
		e.ApplyMember(&a, &u)
		if i == 1 && a.Stage != "mqa" {
			t.Fatalf("stage %s after the updates, want mqa", a.Stage)
		}
	}
	day := int64(24 * 3600 * 1000)
	for _, tc := range []struct {
		at   int64
		want string
	}{
		{at, "mqa"},
		{at + 3*day, "mqa"},      // 30 → 24.6: above the MQA exit (20)
		{at + 10*day, "engaged"}, // 15: below 20, above the engaged exit (10)
		{at + 30*day, "target"},  // 3.75
	} {
		if got := e.AccountStageAt(&a, tc.at); got != e.Model().Accounts.StageIndex(tc.want) {
			t.Errorf("AccountStageAt(+%dd) = %d, want %s", (tc.at-at)/day, got, tc.want)
		}
	}
	if a.Stage != "mqa" || a.At != at {
		t.Fatalf("AccountStageAt changed the account: %s at %d", a.Stage, a.At)
	}
}

func TestAccountRose(t *testing.T) {
	e := testrules.Parse(t, "handoff.yaml", []byte(handoffRules))
	mql := func() scoring.State {
		st := twoDemoPages(e, fixedView{0})
		if st.Stage != "mql" {
			t.Fatalf("setup: stage %s, want mql", st.Stage)
		}
		return st
	}
	rise := scoring.Transition{From: "engaged", To: "mqa", At: abmEvent("c", 60, nil).Time, TriggerID: "bo-7"}
	t.Run("the MQL moves at the rise", func(t *testing.T) {
		st := mql()
		trs := e.AccountRose(&st, "acme", &rise)
		if len(trs) != 1 || trs[0].To != "sql" || trs[0].Cause.Kind != scoring.CauseAccount ||
			trs[0].TriggerID != "bo-7" || trs[0].At != rise.At || trs[0].Late {
			t.Fatalf("transitions %+v", trs)
		}
		if st.Pending != 2 {
			t.Fatalf("outbox %d, want the MQL and the SQL change", st.Pending)
		}
		if again := e.AccountRose(&st, "acme", &rise); again != nil {
			t.Fatalf("told twice: %+v", again)
		}
	})
	t.Run("a rise to engaged does not make an SQL", func(t *testing.T) {
		st := mql()
		at := st.ScoreAt
		low := rise
		low.From, low.To = "target", "engaged"
		if trs := e.AccountRose(&st, "acme", &low); len(trs) != 0 || st.Stage != "mql" {
			t.Fatalf("transitions %+v, stage %s", trs, st.Stage)
		}
		// Left at its own instant: an event older than the rise is not late.
		if st.ScoreAt != at {
			t.Fatalf("ScoreAt moved %d → %d", at, st.ScoreAt)
		}
		if out := e.ApplyViewing(&st, abmEvent("c", 30, func(ev *scoring.Event) { ev.Account = "acme" }), fixedView{1}, 0); out.Late {
			t.Fatal("the member's next event is late")
		}
	})
	t.Run("another account's rise is not the lead's", func(t *testing.T) {
		st := mql()
		if trs := e.AccountRose(&st, "globex", &rise); trs != nil || st.Stage != "mql" {
			t.Fatalf("transitions %+v, stage %s", trs, st.Stage)
		}
	})
	t.Run("the lead's own changes due before the rise come first", func(t *testing.T) {
		st := mql()
		late := rise
		late.At = abmEvent("z", 60*24*30, nil).Time // 30 days on: 20 points are 2.5
		trs := e.AccountRose(&st, "acme", &late)
		if len(trs) != 1 || trs[0].To != "visitor" || trs[0].Cause.Kind != scoring.CauseDecay {
			t.Fatalf("transitions %+v: want only the decay to visitor", trs)
		}
	})
}
