// Package testrules builds a scoring engine from rules (YAML) for tests: the
// parse, compile and engine steps every test that scores events needs, with
// the test failed on any error. It imports only rules and scoring, so any
// package's tests can use it.
package testrules

import (
	"testing"

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
