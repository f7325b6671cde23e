// Package scoring is leadscore's domain: the compiled scoring model (engagement
// rules, decay, fit, funnel stages, sales feedback), a lead's state, and the engine
// that applies one normalised event to a state.
//
// The package is pure and deterministic. It performs no I/O and never reads the
// clock: every instant is an argument (Unix milliseconds), so replaying the same
// events through the same model gives the same states and transitions, byte for
// byte. The live processor, the offline oracle (`leadscore score`) and backtesting
// all run this same code.
//
// Scores decay lazily. A state stores each rule's contribution as it stood at one
// instant (ScoreAt); the score at any later instant t is
//
//	s(t) = Σ contribution · 2^(-(t-ScoreAt)/half_life)
//
// A late event's points are decayed from its own event time, so the score does not
// depend on the order in which events arrive. Because every contribution decays at
// the same rate, the explanation (per-rule contributions) always sums to the score.
package scoring
