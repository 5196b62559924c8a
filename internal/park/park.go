// Package park puts goroutines to sleep on shared futex words without giving
// each of them an OS thread.
//
// A goroutine that waits in a futex system call holds an OS thread for as
// long as it sleeps; ten thousand of them would be ten thousand threads.
// Wait avoids that in two steps:
//
//  1. A short direct sleep: the goroutine itself waits in FUTEX_WAIT, for at
//     most DirectSlice, and only while fewer than MaxDirect goroutines of the
//     process do so. Round trips between processes that sleep for a few
//     microseconds pay a single system call each way.
//  2. A dispatcher: a goroutine that sleeps in futex_waitv on up to 127
//     words at once for every goroutine of the process that waits on them,
//     and hands each wake-up to its goroutines through a channel. At most
//     MaxDispatchers run, so the process holds at most MaxDirect +
//     MaxDispatchers threads in the kernel however many goroutines wait.
//
// If every dispatcher is full (more than MaxDispatchers*127 distinct words
// waited on at once), further waits poll the word with a backoff of up to
// PollMax: slower to wake, but still thread-free.
//
// Wakers need nothing special: they change the word and call FUTEX_WAKE on
// it, which wakes a direct sleeper or the dispatcher sleeping on it alike.
// The word must change before the wake; a wake without a change can be
// missed by a waiter that was about to sleep, as with any futex.
package park

import (
	"context"
	"errors"
	"time"
)

// ErrTimeout is returned by Wait when its timeout passed.
var ErrTimeout = errors.New("park: timed out")

// Tuning; see the package comment.
const (
	MaxDirect      = 2
	DirectSlice    = 2 * time.Millisecond
	MaxDispatchers = 4
	PollMax        = 4 * time.Millisecond
)

// Wait blocks while *addr == val: until a FUTEX_WAKE on addr (or a change of
// the word) is seen, timeout passes (timeout < 0: no timeout), or ctx ends.
// It returns nil in the first case, which may be spurious: callers re-check
// their condition and wait again. It returns ErrTimeout or ctx.Err()
// otherwise. addr must lie in a shared mapping that stays mapped until Wait
// returns.
func Wait(ctx context.Context, addr *uint32, val uint32, timeout time.Duration) error {
	return wait(ctx, addr, val, timeout)
}

// Stats describe the parking of this process, for tests and benchmarks.
type Stats struct {
	Direct      int // goroutines sleeping directly in the kernel now
	Dispatchers int // dispatchers running
	Words       int // distinct words the dispatchers sleep on
	Waiters     int // goroutines parked on a dispatcher
	Polling     int // goroutines polling because the dispatchers are full
}

// Snapshot reports the process's parking now.
func Snapshot() Stats { return snapshot() }
