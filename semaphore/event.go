package semaphore

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/hb"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Event is a flag shared between processes: Set raises it and wakes every
// waiter in every process, Clear lowers it, Wait waits for it.
type Event struct {
	object
	word  *uint32 // bits 2-31: generation (bumped by every Set); bit 1: sleepers; bit 0: set
	tally tally   // its counters (stats.go)
}

const (
	evSet      = 1
	evSleepers = 2
	evGen      = 4
)

// NewEvent makes a cleared Event, in the default heap or where opts place
// it.
func NewEvent(opts ...shm.Option) (*Event, error) {
	return attach[Event](place(eventInfo, 0, nil, opts))
}

// OpenEvent opens the Event called name in seg.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenEvent(ctx context.Context, seg *shm.Segment, name string) (*Event, error) {
	return attach[Event](find(ctx, seg, name, eventInfo))
}

// UnmarshalBinary attaches e to the Event whose handle MarshalBinary
// encoded.
func (e *Event) UnmarshalBinary(b []byte) error { return unmarshal(e, b, eventInfo) }

func (e *Event) init(o *shm.Object) error {
	e.o, e.word, e.tally = o, mem.Uint32(o.Bytes(), offEvent), eventCounters.of(o.Bytes())
	e.closed.Store(false)
	return nil
}

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed. Other handles and processes are untouched.
func (e *Event) Close() error { return e.object.Close() }

// Free destroys the Event for every process: it closes this handle and
// gives its block back to the segment. Every process must have stopped
// using it: a waiter left in Wait would go on reading memory the segment
// may give to a new object. A second Free, through any handle, fails with
// shm.ErrStale.
func (e *Event) Free() error { return e.free() }

// Set raises the flag and wakes every waiter. A waiter that was waiting
// when Set ran returns nil even if Clear follows at once.
func (e *Event) Set() error {
	if err := e.usable("set"); err != nil {
		return err
	}
	hb.Release(e.word)
	for {
		c := atomic.LoadUint32(e.word)
		if c&evSet != 0 {
			return nil
		}
		if atomic.CompareAndSwapUint32(e.word, c, (c&^(evSleepers|evSet))+evGen|evSet) {
			e.tally.add(eSets)
			if c&evSleepers != 0 {
				e.tally.add(eWakes)
				wake(e.word)
			}
			return nil
		}
	}
}

// Clear lowers the flag.
func (e *Event) Clear() error {
	if err := e.usable("clear"); err != nil {
		return err
	}
	for {
		c := atomic.LoadUint32(e.word)
		if c&evSet == 0 || atomic.CompareAndSwapUint32(e.word, c, c&^evSet) {
			return nil
		}
	}
}

// IsSet reports whether the flag is raised.
func (e *Event) IsSet() bool { return atomic.LoadUint32(e.word)&evSet != 0 }

// Wait returns nil when the flag is raised, at once if it is already, or
// ctx.Err() when ctx ends first.
func (e *Event) Wait(ctx context.Context) error {
	if err := e.usable("wait"); err != nil {
		return err
	}
	c := atomic.LoadUint32(e.word)
	if c&evSet != 0 { // fast path
		hb.Acquire(e.word)
		return nil
	}
	gen := c &^ (evSleepers | evSet)
	for i := 0; ; i++ {
		c = atomic.LoadUint32(e.word)
		if c&evSet != 0 || c&^(evSleepers|evSet) != gen {
			hb.Acquire(e.word)
			return nil
		}
		if i < spin {
			runtime.Gosched()
			continue
		}
		if c&evSleepers == 0 && !atomic.CompareAndSwapUint32(e.word, c, c|evSleepers) {
			continue
		}
		e.tally.add(eSleeps)
		if err := park.Wait(ctx, e.word, c|evSleepers, lostWake); err != nil && err != park.ErrTimeout {
			return err
		}
	}
}

// String describes e for logs and debugging, a snapshot: its handle and
// whether it is set.
func (e *Event) String() string { return fmt.Sprintf("Event(%s, set %v)", e.Handle(), e.IsSet()) }
