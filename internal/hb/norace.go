//go:build !race

// Package hb tells the race detector about the happens-before edges that
// shared words provide; see race.go. Without -race it does nothing.
package hb

// Enabled is whether the race detector runs: a fast path that must stay
// small enough to inline guards its calls with it (if hb.Enabled costs
// nothing when it is false).
const Enabled = false

// Release marks a release through the shared word at addr.
func Release[T any](addr *T) {}

// Acquire marks an acquire through the shared word at addr.
func Acquire[T any](addr *T) {}
