package wiring

import (
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/scoring"
)

// TestConsoleAccountTopic: the console reads the account stage-change topic
// only when a model in force scores accounts (the processor produces to it
// only then).
func TestConsoleAccountTopic(t *testing.T) {
	topics := processor.DefaultTopics()
	abm := scoring.SingleSet(testrules.Load(t, "../../examples/rules/b2b-abm.yaml"))
	leadsOnly := scoring.SingleSet(testrules.Load(t, "../../examples/rules/b2b-saas.yaml"))
	if got := consoleAccountTopic(topics, abm); got != topics.AccountStageChanges {
		t.Errorf("with accounts: %q, want %q", got, topics.AccountStageChanges)
	}
	if got := consoleAccountTopic(topics, leadsOnly); got != "" {
		t.Errorf("without accounts: %q, want none", got)
	}
	if got := consoleAccountTopic(topics, nil); got != "" {
		t.Errorf("no models: %q, want none", got)
	}
}
