package journeys

import (
	_ "embed"
	"slices"
)

//go:embed b2b-saas.yaml
var b2bRules []byte

// B2BRulesFile is the name under which B2BRules is known in the repository:
// examples/rules/b2b-saas.yaml.
const B2BRulesFile = "examples/rules/b2b-saas.yaml"

// B2BRules returns the rules file the journeys are written for, embedded in the
// binary: a copy of examples/rules/b2b-saas.yaml (a test keeps the two equal). Its
// event names, page paths, categories and stages are the ones the generator
// produces, so `leadscore demo` works from any directory.
func B2BRules() []byte { return slices.Clone(b2bRules) }
