//go:build race

package backtest_test

// raceEnabled: the race detector slows replays about tenfold, so the largest
// default tests use smaller histories under it.
const raceEnabled = true
