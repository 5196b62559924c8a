//go:build linux && (amd64 || arm64) && race

package shmap

// raceEnabled reports whether the test binary runs under the race
// detector, which makes the heaviest tests do fewer operations and kills.
const raceEnabled = true
