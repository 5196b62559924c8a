//go:build race

// Package hb tells the race detector about the happens-before edges that
// shared words provide. The detector does not see atomic operations on
// memory outside the Go heap, so it would take data handed over through a
// shmkit lock or queue for racy. Under -race every release also touches an
// ordinary Go word keyed by the shared word's address, and every acquire
// reads it; without -race both are empty and vanish.
package hb

import (
	"sync"
	"sync/atomic"
)

// Enabled is whether the race detector runs: a fast path that must stay
// small enough to inline guards its calls with it (if hb.Enabled costs
// nothing when it is false).
const Enabled = true

var words sync.Map // the shared word's address (a pointer) -> *atomic.Uint32

func word(addr any) *atomic.Uint32 {
	w, _ := words.LoadOrStore(addr, new(atomic.Uint32))
	return w.(*atomic.Uint32)
}

// Release marks a release through the shared word at addr.
func Release[T any](addr *T) { word(addr).Add(1) }

// Acquire marks an acquire through the shared word at addr.
func Acquire[T any](addr *T) { word(addr).Load() }
