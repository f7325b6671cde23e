// Package longtest gates the long test suites (the full crash, outage and
// backend matrices) behind the LEADSCORE_LONG environment variable, so that
// `go test ./...` stays a quick check while .ci/run, which sets it, runs
// everything. Only tests import it.
package longtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Env is the variable that enables the long tests: any value but "" and "0".
const Env = "LEADSCORE_LONG"

// Enabled reports whether the long tests run.
func Enabled() bool {
	v := os.Getenv(Env)
	return v != "" && v != "0"
}

// Skip skips t unless the long tests run, saying what it skipped and the
// command that runs it.
func Skip(t testing.TB) {
	t.Helper()
	if Enabled() {
		return
	}
	t.Skipf("skipped: a long test, outside the default run; run it with %s=1 go test -run '%s' %s (.ci/run sets %s)",
		Env, runPattern(t.Name()), pkgDir(), Env)
}

// runPattern is the -run pattern that selects exactly the test named name
// (subtests included).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// pkgDir is the package under test as a path from the module root ("./processor"),
// or "." when it cannot be told: go test runs a test in its package's directory.
func pkgDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		if filepath.Dir(dir) == dir {
			return "."
		}
	}
}
