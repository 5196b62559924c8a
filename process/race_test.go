//go:build linux && (amd64 || arm64) && race

package process

// raceEnabled reports whether the test binary runs under the race
// detector, which makes the heaviest tests move fewer messages.
const raceEnabled = true
