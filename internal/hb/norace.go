//go:build !race

// Package hb tells the race detector about the happens-before edges that
// shared words provide; see race.go. Without -race it does nothing.
package hb

// Release marks a release through the shared word at addr.
func Release[T any](addr *T) {}

// Acquire marks an acquire through the shared word at addr.
func Acquire[T any](addr *T) {}
