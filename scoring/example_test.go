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
