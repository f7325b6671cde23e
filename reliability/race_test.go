//go:build race

package reliability

// raceEnabled is true in race-detector builds, where the suite skips: the
// leadscore processes it drives are not race-built.
const raceEnabled = true
