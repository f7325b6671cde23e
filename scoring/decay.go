package scoring

import "math"

// decayFactor is 2^(-dt/h): what one point becomes after dt milliseconds.
func decayFactor(dt, h int64) float64 {
	if h <= 0 || dt == 0 {
		return 1
	}
	return math.Exp2(-float64(dt) / float64(h))
}

// crossing returns the first whole millisecond after t0 at which a score s0 (at t0)
// decaying with half-life h is strictly below x, and false when it never will be
// (no decay, or x ≤ 0 < s0). If s0 is already below x it returns t0.
//
// The exact crossing is t0 + h·log2(s0/x); we return the next millisecond so that
// the state evaluated at the returned instant is unambiguously below x.
func crossing(s0 float64, t0, h int64, x float64) (int64, bool) {
	if s0 < x {
		return t0, true
	}
	if h <= 0 || x <= 0 {
		return 0, false
	}
	dt := float64(h) * math.Log2(s0/x)
	if dt > math.MaxInt64/4 {
		return 0, false
	}
	return t0 + int64(math.Floor(dt)) + 1, true
}
