// Package cputime measures the CPU time a process has used, for benchmarks that
// must hold on a machine shared with other work (where ns/op measures contention).
package cputime

import (
	"testing"
	"time"
)

// Report reports CPU nanoseconds per operation since start (a Now value) and the
// events per second of CPU time they allow.
func Report(b *testing.B, start time.Duration) {
	cpu := Now() - start
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
}
