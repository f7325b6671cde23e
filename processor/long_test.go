package processor_test

import (
	"testing"

	"github.com/leadscore/leadscore/internal/longtest"
)

// keepByDefault leaves the subtest of backend keep in the default run and
// makes the other backends' subtests long tests (run with LEADSCORE_LONG=1,
// as .ci/run does). The tests so gated spread the backends they keep, so
// that the default run still drives each backend through a group, a crash
// and a rebalance.
func keepByDefault(t *testing.T, b backend, keep string) {
	t.Helper()
	if b.name != keep {
		longtest.Skip(t)
	}
}
