// Package testrules builds a scoring engine from rules (YAML) for tests: the
// parse, compile and engine steps every test that scores events needs, with
// the test failed on any error. It imports only rules and scoring, so any
// package's tests can use it.
package testrules

import (
	"fmt"
	"testing"
	"time"

	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// Load reads the rules file at path and returns its engine. It fails t if the
// file cannot be read or its rules are invalid.
func Load(t testing.TB, path string) *scoring.Engine {
	t.Helper()
	m, err := rules.Load(path)
	if err != nil {
		t.Fatalf("testrules: %v", err) // names the file
	}
	return engine(t, path, m)
}

// Parse compiles the rules src, named name in errors (a file name such as
// journeys.B2BRulesFile), and returns its engine. It fails t if the rules are
// invalid.
func Parse(t testing.TB, name string, src []byte) *scoring.Engine {
	t.Helper()
	m, err := rules.Parse(name, src)
	if err != nil {
		t.Fatalf("testrules: %v", err) // names the file
	}
	return engine(t, name, m)
}

// engine builds the engine of the model m read from name.
func engine(t testing.TB, name string, m *scoring.Model) *scoring.Engine {
	t.Helper()
	e, err := scoring.NewEngine(m)
	if err != nil {
		t.Fatalf("testrules: engine of %s: %v", name, err)
	}
	return e
}

// ABMStory is the event log (Segment JSON lines) of three companies that the
// account tests of several packages score with the example ABM rules
// (examples/rules/b2b-abm.yaml), from t0 on: acme/emea (a groupId with a
// slash) with an engaged VP Marketing and Marketing Manager — its MQA — and
// a CFO who is not engaged; globex and initech with one engaged engineer
// each.
func ABMStory(t0 time.Time) []string {
	at := func(min int) string { return t0.Add(time.Duration(min) * time.Minute).UTC().Format(time.RFC3339) }
	ev := func(user, group, id string, min int, body string) string {
		return fmt.Sprintf(`{"userId":%q,"messageId":%q,"timestamp":%q,"context":{"groupId":%q,"page":{"path":"/pricing"}},%s}`,
			user, id, at(min), group, body)
	}
	const (
		pricing = `"type":"page","name":"Pricing"`
		demo    = `"type":"track","event":"Demo Requested"`
		webinar = `"type":"track","event":"Webinar Attended"`
	)
	title := func(s string) string { return fmt.Sprintf(`"type":"identify","traits":{"title":%q}`, s) }
	return []string{
		ev("vp", "acme/emea", "vp-i", 0, title("VP Marketing")),
		ev("vp", "acme/emea", "vp-p", 1, pricing),
		ev("vp", "acme/emea", "vp-d", 2, demo),
		ev("vp", "acme/emea", "vp-w", 3, webinar),
		ev("dev", "acme/emea", "dev-i", 10, title("Marketing Manager")),
		ev("dev", "acme/emea", "dev-w", 11, webinar),
		ev("dev", "acme/emea", "dev-wp", 12, `"type":"track","event":"Whitepaper Downloaded","properties":{"level":"basic"}`),
		ev("cfo", "acme/emea", "cfo-i", 20, title("CFO")),
		ev("cfo", "acme/emea", "cfo-n", 21, `"type":"track","event":"Newsletter Signed Up"`),
		ev("g1", "globex", "g1-i", 30, title("Engineer")),
		ev("g1", "globex", "g1-d", 31, demo),
		ev("g1", "globex", "g1-w", 32, webinar),
		ev("i1", "initech", "i1-i", 40, title("Engineer")),
		ev("i1", "initech", "i1-p", 41, pricing),
		ev("i1", "initech", "i1-d", 42, demo),
	}
}
