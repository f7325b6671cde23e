// Package cputime measures the CPU time a process has used, for benchmarks that
// must hold on a machine shared with other work (where ns/op measures contention).
// Benchmarks report it per operation with cputimetest.Report.
package cputime
