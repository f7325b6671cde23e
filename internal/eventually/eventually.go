// Package eventually holds the waits of tests for something another goroutine
// or process brings about: a condition, or a line in an output, checked again
// and again until it holds or the test's patience runs out, which fails the
// test.
package eventually

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// True checks cond every 20 ms until it holds; after d it fails t, naming what
// it waited for.
func True(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(d, 20*time.Millisecond, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Match reads out every 50 ms until re matches it, and returns the first
// group; after d it fails t with what out holds. Each check reads the whole
// output, which grows, hence the slower pace than True's.
func Match(t testing.TB, out fmt.Stringer, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	var m []string
	if !poll(d, 50*time.Millisecond, func() bool { m = re.FindStringSubmatch(out.String()); return m != nil }) {
		t.Fatalf("output never matched %s:\n%s", re, out.String())
	}
	return m[1]
}

// poll reports whether cond held within d, checked every interval.
func poll(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}
