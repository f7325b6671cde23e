// Package cputimetest reports process CPU time per benchmark operation. It is
// apart from cputime so that importing cputime (the bench harness, and through
// it the leadscore binary) does not link the testing package.
package cputimetest

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/cputime"
)

// Report reports CPU nanoseconds per operation since start (a cputime.Now
// value) and the events per second of CPU time they allow.
func Report(b *testing.B, start time.Duration) {
	cpu := cputime.Now() - start
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
}
