//go:build race

package main

// raceEnabled is true in race-detector builds.
const raceEnabled = true
