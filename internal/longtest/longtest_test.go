package longtest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestX":                       "^TestX$",
		"TestX/franz-go-exactly-once": "^TestX$/^franz-go-exactly-once$",
		"TestY/a.b(c)":                `^TestY$/^a\.b\(c\)$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
		if !regexp.MustCompile(strings.Split(runPattern(name), "/")[0]).MatchString(strings.Split(name, "/")[0]) {
			t.Errorf("pattern of %q does not match it", name)
		}
	}
	if got := pkgDir(); got != "./internal/longtest" {
		t.Errorf("pkgDir() = %q", got)
	}
}

// TestSkipMessage runs a skipped test in a child process and checks that the
// skip says how to run it, and that LEADSCORE_LONG=1 runs it.
func TestSkipMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping with -short: it runs this test binary again")
	}
	bin, err := os.Executable()
	if err != nil {
		t.Skipf("skipping: the test binary's path is unknown: %v", err)
	}
	for env, want := range map[string]string{
		"":  `skipped: a long test, outside the default run; run it with LEADSCORE_LONG=1 go test -run '^TestGated$/^sub$' ./internal/longtest (.ci/run sets LEADSCORE_LONG)`,
		"0": "skipped: a long test",
		"1": "the gated test ran",
	} {
		cmd := exec.Command(bin, "-test.run", "^TestGated$", "-test.v")
		cmd.Env = append(cmd.Environ(), "LONGTEST_CHILD=1", "LEADSCORE_LONG="+env)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("LEADSCORE_LONG=%q: %v; want %q in:\n%s", env, err, want, out)
		}
	}
}

func TestGated(t *testing.T) {
	if os.Getenv("LONGTEST_CHILD") == "" {
		t.Skip("run by TestSkipMessage")
	}
	t.Run("sub", func(t *testing.T) {
		Skip(t)
		t.Log("the gated test ran")
	})
}
