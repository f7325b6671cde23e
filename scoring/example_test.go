package scoring_test

import (
	"fmt"
	"time"

	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

func ExampleEngine_Apply() {
	m, _ := rules.Parse("inline.yaml", []byte(`
version: example-1
decay: {half_life: 30d}
rules:
  - name: webinar
    points: 40
    match: {source: web, type: track, event: Webinar Attended}
stages:
  - name: visitor
  - name: mql
    entry: [{score: 30}]
    exit: {below: 25, to: visitor}
`))
	e, _ := scoring.NewEngine(m)
	st := e.NewState()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	out := e.Apply(&st, &scoring.Event{ID: "m1", Source: scoring.SourceWeb, Kind: "track",
		Name: "Webinar Attended", Time: at.UnixMilli(), Identity: scoring.Identity{UserID: "u1"}})
	tr := out.Transitions[0]
	fmt.Printf("%s → %s at score %.0f\n", tr.From, tr.To, tr.Score)

	month := at.Add(30 * 24 * time.Hour).UnixMilli()
	fmt.Printf("a month later: %.0f\n", e.Score(&st, month))

	due, _ := e.NextChange(&st)
	fmt.Println("regresses at", time.UnixMilli(due).UTC().Format(time.DateTime))
	// Output:
	// visitor → mql at score 40
	// a month later: 20
	// regresses at 2026-03-22 17:12:42
}

// A person whose sender names no account can be put in their employer's by the
// domain of their address; consumer mailboxes name no employer.
func ExampleAccountFromEmail() {
	free, err := scoring.NewFreeMail("mail.example") // the built-in list, and one more
	if err != nil {
		panic(err)
	}
	for _, email := range []string{"Claire.Martin@EU.Acme-Industries.example", "claire@gmail.com", "claire@mail.example"} {
		fmt.Println(scoring.AccountFromEmail(email, free))
	}
	// Output:
	// domain:acme-industries.example true
	//  false
	//  false
}

// An MQL whose account becomes a marketing-qualified account is handed over
// to sales at that instant: the account's rise is told to its members.
func ExampleEngine_AccountRose() {
	m, _ := rules.Parse("inline.yaml", []byte(`
version: handoff-1
rules:
  - {name: demo_page, points: 10, match: {source: web, type: page, path: /demo}}
stages:
  - name: visitor
  - name: mql
    entry: [{score: 15}]
  - name: sql
    entry: [{min_stage: mql, account_stage: mqa}]
accounts:
  stages:
    - name: target
    - name: mqa
      entry: [{engagement: 25}]
`))
	e, _ := scoring.NewEngine(m)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	acme := e.NewAccount()
	ana := e.NewState()
	for i, id := range []string{"ana-1", "ana-2"} {
		ev := &scoring.Event{ID: id, Source: scoring.SourceWeb, Kind: "page", Path: "/demo", Account: "acme",
			Time: at.Add(time.Duration(i) * time.Minute).UnixMilli(), Identity: scoring.Identity{UserID: "ana"}}
		// The oracle and the processor are the view of the accounts; here
		// acme is read directly.
		out := e.ApplyViewing(&ana, ev, accountOf{e, &acme}, 0)
		for _, tr := range out.Transitions {
			fmt.Printf("ana: %s → %s (%s)\n", tr.From, tr.To, tr.Cause.Kind)
		}
		e.ApplyMember(&acme, &scoring.MemberUpdate{Account: "acme", Lead: "user:ana", At: ev.Time, EventID: id, Score: e.Score(&ana, ev.Time)})
	}
	// Bo's event makes acme an MQA: its members hear of it.
	bo := scoring.MemberUpdate{Account: "acme", Lead: "user:bo", At: at.Add(time.Hour).UnixMilli(), EventID: "bo-1", Score: 10}
	for _, rise := range e.ApplyMember(&acme, &bo) {
		fmt.Printf("acme: %s → %s\n", rise.From, rise.To)
		for _, tr := range e.AccountRose(&ana, "acme", &rise) {
			fmt.Printf("ana: %s → %s (%s, triggered by %s)\n", tr.From, tr.To, tr.Cause.Kind, tr.TriggerID)
		}
	}
	// Output:
	// ana: visitor → mql (criteria)
	// acme: target → mqa
	// ana: mql → sql (account, triggered by bo-1)
}

// accountOf is an AccountView of one account.
type accountOf struct {
	e *scoring.Engine
	a *scoring.Account
}

func (v accountOf) AccountStage(_ int, _ string, t int64) int { return v.e.AccountStageAt(v.a, t) }
