//go:build unix

package scoring_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system, every thread, GC included) the
// process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU nanoseconds per operation and the events per second of CPU
// time they allow: unlike ns/op, these hold on a machine shared with other work.
func reportCPU(b *testing.B, start time.Duration) {
	cpu := cpuTime() - start
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
}
